"""First launch: the bootstrap names the system libraries Qt lacks (from ldd's output) and the
command that installs them; the model cache's key follows the GGUF file and the library
versions; the installer spec and the self-test exist where the README says."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bootstrap():
    spec = importlib.util.spec_from_file_location("wb_bootstrap", ROOT / "bootstrap.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# What ldd printed for PySide6's libqxcb.so on a bare Debian 12 (paths shortened).
LDD_QXCB = """\
\tlinux-vdso.so.1 (0x00007ffd0b5f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-shape.so.0 => /lib/x86_64-linux-gnu/libxcb-shape.so.0 (0x00007f)
\tlibxkbcommon-x11.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""
LDD_GUI = """\
\tlibEGL.so.1 => not found
\tlibfontconfig.so.1 => /lib/x86_64-linux-gnu/libfontconfig.so.1 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibweird-thing.so.3 => not found
"""


def test_qt_check_names_every_missing_library_and_the_install_command():
    b = _bootstrap()
    missing = b.missing_from_ldd([LDD_QXCB, LDD_GUI])
    assert missing == [
        "libEGL.so.1",
        "libweird-thing.so.3",
        "libxcb-cursor.so.0",
        "libxcb-icccm.so.4",
        "libxcb-keysyms.so.1",
        "libxkbcommon-x11.so.0",
    ]
    packages, unknown = b.apt_packages(missing)
    assert packages == [
        "libegl1",
        "libxcb-cursor0",
        "libxcb-icccm4",
        "libxcb-keysyms1",
        "libxkbcommon-x11-0",
    ]
    assert unknown == ["libweird-thing.so.3"]
    msg = b.qt_library_message(missing)
    for soname in missing:
        assert soname in msg  # every one is named, not just the first (Qt's own message)
    assert (
        "apt-get install libegl1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0"
        in msg
    )
    assert "apt-file search" in msg  # what to do about the one with no known package


def test_qt_check_runs_ldd_on_the_plugin_and_reports_through_the_launcher(tmp_path, capsys):
    """The check reads ldd's output for the xcb plugin and Qt's libraries (a fake ldd here),
    and ``bootstrap.py app`` would stop with that message instead of Qt's abort."""
    b = _bootstrap()
    pyside = tmp_path / "PySide6"
    for rel in b.QT_FILES:
        (pyside / rel).parent.mkdir(parents=True, exist_ok=True)
        (pyside / rel).write_bytes(b"")
    fake = tmp_path / "ldd"
    outputs = {"libqxcb.so": LDD_QXCB, "libQt6Gui.so.6": LDD_GUI}
    script = "import sys, json\nout = json.loads(%r)\nname = sys.argv[1].rsplit('/', 1)[-1]\nprint(out.get(name, '\\tlibc.so.6 => /lib/libc.so.6 (0x1)'))\n"
    fake.write_text(f"#!{sys.executable}\n" + script % json.dumps(outputs))
    fake.chmod(0o755)
    missing = b.qt_missing_libraries(pyside, str(fake))
    assert {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libEGL.so.1"} <= set(missing)


def test_qt_check_is_skipped_offscreen_and_off_linux(monkeypatch):
    b = _bootstrap()
    called = []
    monkeypatch.setattr(b, "qt_missing_libraries", lambda *a, **k: called.append(a) or ["x"])
    py = Path(sys.executable)
    assert b.check_qt_libraries(py, {"QT_QPA_PLATFORM": "offscreen"})
    monkeypatch.setattr(b.sys, "platform", "win32")
    assert b.check_qt_libraries(py, {})
    assert not called


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd is Linux's")
def test_qt_check_on_this_machine_agrees_with_ldd():
    """On this machine, the check's answer is exactly what ldd says about the xcb plugin."""
    b = _bootstrap()
    spec = importlib.util.find_spec("PySide6")
    pyside = Path(spec.submodule_search_locations[0])
    plugin = pyside / "Qt/plugins/platforms/libqxcb.so"
    if not plugin.exists():
        pytest.skip("this PySide6 has no xcb plugin")
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    direct = set(b.missing_from_ldd([out]))
    assert direct <= set(b.qt_missing_libraries(pyside))


def test_model_cache_key_follows_the_file_and_the_library_versions():
    from workbench.models.loading import cache_key

    v = {"transformers": "5.24.0", "gguf": "0.19.0", "torch": "2.13.0+cpu"}
    base = cache_key("a" * 64, v)
    assert base == cache_key("a" * 64, dict(v))
    assert base != cache_key("b" * 64, v)  # another model file
    for lib in v:
        assert base != cache_key("a" * 64, {**v, lib: v[lib] + ".post1"}), lib


def test_sha_memo_follows_the_file(tmp_path, monkeypatch):
    from workbench.models import loading

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "m.gguf"
    f.write_bytes(b"one")
    first = loading._memo_sha256(f)
    assert first == loading.file_sha256(f)
    assert loading._memo_sha256(f) == first  # from the memo
    f.write_bytes(b"two!")  # another size and time: hashed again
    os.utime(f, ns=(1, 1))
    assert loading._memo_sha256(f) == loading.file_sha256(f) != first


def test_installer_files_are_where_the_readme_says():
    for rel in (
        "installer/concept_workbench.spec",
        "installer/launcher.py",
        "installer/build.py",
        "installer/README.md",
        "installer/linux/concept-workbench.desktop",
    ):
        assert (ROOT / rel).is_file(), rel
    text = (ROOT / "installer/linux/concept-workbench.desktop").read_text()
    assert "Exec=" in text and "Icon=" in text and "Type=Application" in text


def test_a_new_cache_removes_the_old_conversions_of_the_same_file(tmp_path):
    from workbench.models.loading import _remove_stale_caches

    models = tmp_path / "models"
    for name, sha in (("v2-new", "a" * 64), ("v2-old", "a" * 64), ("v2-other", "b" * 64)):
        (models / name).mkdir(parents=True)
        (models / name / "workbench-cache.json").write_text(json.dumps({"sha256": sha}))
    (models / "v2-broken").mkdir()  # no metadata: not ours to judge, left alone
    _remove_stale_caches(models / "v2-new", "a" * 64)
    assert sorted(p.name for p in models.iterdir()) == ["v2-broken", "v2-new", "v2-other"]


@pytest.mark.embedded
def test_install_time_cache_is_what_the_app_loads():
    """bootstrap.py calls ensure_embedded_cache; the app's load then reads that folder."""
    from workbench.models.loading import cached_folder, ensure_embedded_cache, load_language_model

    said = []
    folder = ensure_embedded_cache(said.append)
    assert folder == cached_folder() and (folder / "model.safetensors").exists()
    assert said and str(folder) in said[-1]
    hm = load_language_model(device="cpu")
    assert hm.info["from_cache"]
    meta = json.loads((folder / "workbench-cache.json").read_text())
    assert set(meta["versions"]) == {"transformers", "gguf", "torch"}
