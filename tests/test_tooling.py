"""Project-wide checks: the engine stays Qt-free (by contract and by running it without Qt)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_import_linter_contract_holds():
    out = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for contract in ("The engine never imports Qt", "The engine's layers"):
        assert f"{contract} KEPT" in out.stdout


def test_engine_runs_with_qt_absent():
    """Import every engine module and run a capture + steered generation with the Qt bindings
    made unimportable, as on a headless server without PySide6."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        BLOCKED = ("PySide6", "shiboken6", "superqt", "pyqtgraph", "qtpy", "PyQt5", "PyQt6")

        class NoQt:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is blocked: the engine must not need Qt")
                return None

        sys.meta_path.insert(0, NoQt())
        import workbench
        for m in pkgutil.walk_packages(workbench.__path__, "workbench."):
            if not m.name.endswith("__main__"):
                importlib.import_module(m.name)
        sys.path.insert(0, "tests")
        import torch
        from tiny import tiny_hooked
        from workbench.models.generation import SamplingSettings, steered_generate
        from workbench.models.interventions import AddVector
        hm = tiny_hooked("llama")
        acts = hm.capture(["the king is"], ["blocks.1.hook_resid_post"])
        out = steered_generate(hm, "the king", [AddVector("blocks.1.hook_resid_post", vector=torch.ones(hm.d_model))], SamplingSettings(max_new_tokens=3))
        assert not any(k.split(".")[0] in BLOCKED for k in sys.modules)
        print("ok", acts["blocks.1.hook_resid_post"].shape)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr
