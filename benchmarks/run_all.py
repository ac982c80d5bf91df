"""Run every benchmark (or the ones named) and print one line per figure.

python3 bootstrap.py bench                 # all
python3 bootstrap.py bench engine store    # some
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

ALL = ["startup", "engine", "concepts", "heads", "store", "diffusion", "bigproject", "soak"]


def main(argv: list[str]) -> int:
    names = argv or ALL
    failed = []
    for name in names:
        path = HERE / f"bench_{name}.py"
        if not path.exists():
            print(f"# bench_{name}.py: not present", flush=True)
            continue
        print(f"# {name}", flush=True)
        try:
            sys.argv = [str(path)]  # each script parses its own (default) options
            importlib.import_module(f"bench_{name}").main()
        except Exception as e:  # one broken benchmark should not hide the others
            print(f"# {name} failed: {type(e).__name__}: {e}", flush=True)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
