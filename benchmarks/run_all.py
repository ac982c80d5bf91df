"""Run every benchmark (or the ones named), each in a fresh interpreter, with one thread setting.

    python3 bootstrap.py bench                          # all
    python3 bootstrap.py bench engine store             # some
    python3 bootstrap.py bench --threads 2 heads        # torch/OpenMP threads (default 1)
    python3 bootstrap.py bench --readme                 # only rewrite the README blocks from JSON

A fresh process per script keeps one script's threads, warm caches and imported modules from
leaking into the next one's figures. Each script writes ``benchmarks/results/NAME.json`` (with
the commit, the machine and the load average) and the README block generated from it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# the order they run in; scripts not listed (a new bench_*.py) run after these
ORDER = ["startup", "engine", "concepts", "heads", "store", "diffusion", "gui_stall", "sweep"]
# long window sessions over a 1.2 GiB project or 20,000 actions: named to run
ON_REQUEST = {"bigproject", "soak", "cluster"}  # cluster: starts Ray (the cluster extra)


def available() -> list[str]:
    found = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "names", nargs="*", help=f"benchmarks (default: all but {', '.join(sorted(ON_REQUEST))})"
    )
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 1) or 1))
    ap.add_argument("--readme", action="store_true", help="only regenerate the README blocks")
    args = ap.parse_args(argv)
    names = args.names or [n for n in available() if n not in ON_REQUEST]
    if args.readme:
        from _common import readme_from_json

        for name in names:
            print(f"# {name}: {'regenerated' if readme_from_json(name) else 'no JSON or no block'}")
        return 0
    env = dict(os.environ, BENCH_THREADS=str(max(1, args.threads)))
    env.setdefault("HF_HUB_OFFLINE", "1")
    failed = []
    for name in names:
        path = HERE / f"bench_{name}.py"
        if not path.exists():
            print(f"# bench_{name}.py: not present (have: {', '.join(available())})", flush=True)
            failed.append(name)
            continue
        print(f"# {name} (a fresh process, {args.threads} thread(s))", flush=True)
        code = subprocess.run([sys.executable, str(path)], cwd=HERE.parent, env=env).returncode
        if code != 0:  # one broken benchmark does not hide the others
            print(f"# {name} failed with exit code {code}", flush=True)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
