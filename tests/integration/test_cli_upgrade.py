"""An older project read from the command line: refused read-only with the command that upgrades
it, then upgraded with a backup, and read."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from workbench.cli import main

FIXTURE = Path(__file__).parents[1] / "store" / "fixtures" / "rev_0001.wbproj"


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def test_project_upgrade_then_read(tmp_path, capsys):
    path = tmp_path / "old.wbproj"
    shutil.copyfile(FIXTURE, path)
    before = path.read_bytes()
    assert main(["project", "info", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"workbench project upgrade {path}" in err and "Traceback" not in err
    assert path.read_bytes() == before  # a read never changes the file
    assert main(["project", "upgrade", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["upgraded_from"], out["schema_revision"]) == ("0001", "0002")
    assert _dump(Path(out["backup"])) == _dump(FIXTURE)  # the file as it was
    assert main(["project", "runs", str(path), "--analysis", "head_scores"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert (run["analysis"], run["name"], run["tensors"]) == (
        "head_scores",
        "induction",
        ["scores"],
    )
    assert main(["project", "runs", str(path), "--id", str(run["id"])]) == 0
    stored = json.loads(capsys.readouterr().out)
    assert stored["tensors"] == {"scores": {"shape": [2, 2], "dtype": "float32"}}
    assert main(["project", "generations", str(path), "--kind", "image", "--json"]) == 0  # old flag
    (gen,) = json.loads(capsys.readouterr().out)
    assert gen["medium"] == "image" and gen["prompt"] == "a cat"


def test_project_upgrade_says_what_it_did_in_words(tmp_path, capsys):
    """Without --json, one sentence: the revisions and where the backup is; a second run says
    there is nothing to upgrade."""
    path = tmp_path / "old.wbproj"
    shutil.copyfile(FIXTURE, path)
    assert main(["project", "upgrade", str(path)]) == 0
    out = capsys.readouterr().out
    backup = tmp_path / "old.before-upgrade-0001.wbproj"
    assert out.strip() == (
        f"upgraded {path} from schema revision 0001 to 0002; the file as it was is kept in "
        f"{backup}."
    )
    assert _dump(backup) == _dump(FIXTURE)
    assert main(["project", "upgrade", str(path)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{path} is already at schema revision 0002; nothing to upgrade."
    )
    assert main(["project", "upgrade", str(tmp_path / "missing.wbproj")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not (tmp_path / "missing.wbproj").exists()
