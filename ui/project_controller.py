"""Opening, saving and closing projects; the autosave indicator; "nothing lost".

The store commits every change as it is made, so there is no unsaved state in memory. A new
project starts as a *scratch* file in the per-user data folder; "Save" on it asks where to keep
it (Save As), and closing it with work inside asks first. The store (SQLAlchemy) is imported
on first use, after the window is up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ui.state import AppState

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "projects"
FILTER = "Concept Workbench project (*.wbproj)"


def data_dir() -> Path:
    env = os.environ.get("WORKBENCH_DATA_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("concept-workbench", appauthor=False))


class ProjectController(QObject):
    """File menu actions on :class:`AppState`'s project."""

    project_changed = Signal()
    recent_changed = Signal()
    # Before the open project is copied or replaced: views write what they hold back (the
    # canvas's layout waits half a second after an edit) into the project they belong to.
    flush_requested = Signal()

    def __init__(self, state: AppState, errors: Any, parent_widget: QWidget | None = None):
        super().__init__()
        self.state = state
        self.errors = errors
        self.parent_widget = parent_widget
        self.ask = True  # tests turn confirmations off and answer through `answer`
        self.answer = QMessageBox.StandardButton.Discard
        # ... and through `recover_answer` for a scratch file left by a crash (Yes: open it,
        # Discard: delete it, anything else: keep it for later)
        self.recover_answer = QMessageBox.StandardButton.Ignore
        # ... and through `reopen_answer` for reopening the last project at a start (No: a
        # new one, as tests expect)
        self.reopen_answer = QMessageBox.StandardButton.No

    # ------------------------------------------------------------ helpers
    @property
    def project(self) -> Any:
        return self.state.project

    def ensure_project(self) -> Any:
        """The open project; an empty scratch one is started first when none is open yet (a
        start makes it once the model has loaded: work done before that must land somewhere)."""
        if self.project is None:
            self.new(confirm=False)
        return self.project

    def write(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one store change; update the indicator; errors become messages."""
        if self.ensure_project() is None:  # could not even start a scratch project (shown)
            return None
        if self.project.read_only:
            self.errors.handle(
                RuntimeError(f"The project is read-only ({self.project.read_only_reason})."), what
            )
            return None
        self.state.save_status = "Saving…"
        try:
            result = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.errors.handle(e, what)
            self._update_status()
            return None
        self._update_status()
        return result

    def _update_status(self) -> None:
        p = self.project
        if p is None:
            self.state.save_status = "No project"
        elif p.read_only:
            self.state.save_status = f"Read-only: {p.read_only_reason}"
        elif self.state.project_is_scratch:
            self.state.save_status = "Autosaved to a scratch file · Save As to keep it"
        else:
            self.state.save_status = f"All changes saved · {time.strftime('%H:%M:%S')}"

    def refresh(self, paced: bool = False) -> None:
        """Re-read the concept list and prompt sets from the project into the state.

        ``paced`` (opening a project): the names are read a chunk at a time with the event loop
        let run between chunks, so a project of 10,000 concepts does not freeze the window.
        """
        p = self.project
        if p is None:
            self.state.concepts = ()
            return
        try:
            if paced:
                rows: list[Any] = []
                while True:
                    chunk = p.concept_rows(summary=False, offset=len(rows), limit=CONCEPT_CHUNK)
                    rows += chunk
                    _breathe()
                    if self.project is not p:
                        return  # closed or replaced meanwhile: its names are no use
                    if len(chunk) < CONCEPT_CHUNK:
                        break
                if len({r.id for r in rows}) != len(rows) or len(rows) != p.count_concepts():
                    rows = p.concept_rows(summary=False)  # one changed between two chunks
                self.state.concepts = tuple(rows)
                _breathe()
                if self.project is not p:
                    return
            else:
                self.state.concepts = tuple(p.concept_rows(summary=False))
            from ui.prompt_data import from_store
            from workbench.errors import PromptSetError

            user_sets, unreadable = [], []
            for rec in p.prompt_sets():
                try:
                    ps = from_store(rec)
                except PromptSetError as e:  # listed by name below, not hidden
                    unreadable.append(f"{rec.name!r} ({e})")
                    continue
                user_sets.append({"name": ps.name, "kind": ps.kind, "set": ps, "builtin": False})
            if unreadable:
                self.errors.handle(
                    PromptSetError(
                        f"{len(unreadable)} prompt set(s) in this project cannot be read and are "
                        f"not listed: {'; '.join(unreadable)}. Delete or re-import them."
                    ),
                    "reading the project's prompt sets",
                )
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.errors.handle(e, "reading the project")
            return
        builtin = [ps for ps in self.state.prompt_sets if ps.get("builtin")]
        names = {ps["name"] for ps in user_sets}
        self.state.prompt_sets = tuple(user_sets + [b for b in builtin if b["name"] not in names])

    def has_unsaved_work(self) -> bool:
        p = self.project
        if p is None or not self.state.project_is_scratch or p.read_only:
            return False
        return bool(_work_in(p))

    def _ask(
        self,
        title: str,
        text: str,
        buttons: Any,
        default: Any,
        preset: Any,
        labels: dict[Any, str] | None = None,
    ) -> Any:
        """A question box, or ``preset`` when confirmations are off (tests). ``labels``
        renames standard buttons (the answer is still the standard button)."""
        if not self.ask:
            return preset
        if not labels:
            return QMessageBox.question(self.parent_widget, title, text, buttons, default)
        box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, self.parent_widget)
        box.setDefaultButton(default)
        for which, label in labels.items():
            button = box.button(which)
            if button is not None:
                button.setText(label)
        return QMessageBox.StandardButton(box.exec())

    # ------------------------------------------------------- crash recovery
    def orphaned_scratch(self) -> list[Path]:
        """Scratch files that no running instance holds, newest first: left by a session
        that ended without closing its window (a crash, a killed process, a power cut)."""
        from workbench.store.lock import holder_of

        folder = data_dir() / "scratch"
        if not folder.is_dir():
            return []
        current = Path(self.project.path).resolve() if self.project is not None else None
        found = []
        for path in folder.glob("*.wbproj"):
            if path.resolve() == current or _made_by_live_process(path) or holder_of(path):
                continue
            with contextlib.suppress(OSError):
                found.append((path.stat().st_mtime, path))
        return [p for _, p in sorted(found, reverse=True)]

    def recover_scratch(self) -> bool:
        """Offer the work of a session that did not close (its scratch file), newest first.

        Empty leftovers are removed silently. For one with work the user chooses: open it
        (it stays a scratch project until saved), discard it, or keep it for the next start.
        True when one was opened.
        """
        from workbench.store import Project

        for path in self.orphaned_scratch():
            try:
                p = Project.open(path)
            except Exception:  # noqa: BLE001 - unreadable: leave the file alone, the user may want it
                continue
            work = _work_in(p)
            if p.read_only:
                with contextlib.suppress(Exception):
                    p.close()
                continue
            if not work:
                with contextlib.suppress(Exception):
                    p.close()
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
            text = (
                f"Concept Workbench did not close normally last time. Its unsaved project "
                f"(last change {when}) holds {', '.join(work)}.\n\nOpen it now? You can then "
                f"save it where you like.\n\n{path}"
            )
            B = QMessageBox.StandardButton
            answer = self._ask(
                "Recover unsaved work?", text, B.Yes | B.Discard | B.Ignore, B.Yes,
                self.recover_answer,
                {B.Yes: "Open it", B.Discard: "Discard it", B.Ignore: "Keep it for later"},
            )  # fmt: skip
            if answer == QMessageBox.StandardButton.Yes:
                self._set(p, scratch=True)  # the fresh empty scratch project is removed
                self.state.save_status = "Recovered unsaved work · Save As to keep it"
                return True
            with contextlib.suppress(Exception):
                p.close()
            if answer != QMessageBox.StandardButton.Discard:
                return False  # kept for later: ask again next time
            with contextlib.suppress(OSError):
                path.unlink()
        return False

    # ------------------------------------------------------------ actions
    def _set(self, project: Any, scratch: bool) -> None:
        """Make ``project`` the open one, in steps with the event loop let run between them
        (the views' first pages, the concept names a chunk at a time, the old project's
        closing, the window's layout): opening a research-size project keeps the window
        painting instead of freezing it for a quarter of a second. Input waits until the
        project is in place (see :func:`_breathe`); when this returns, every view shows it."""
        old = self.project
        if old is not None and old is not project:
            self.flush_requested.emit()
        self.state.project_is_scratch = scratch
        self.state.project = project
        _breathe()
        if old is not None and old is not project:
            self._dispose(old)
            _breathe()
        if self.project is not project:
            return  # closed or replaced while the event loop ran (the window closing)
        self.refresh(paced=True)
        self._update_status()
        if project is not None and not scratch:
            from workbench.store.recent import add_recent

            add_recent(project.path)
            self.recent_changed.emit()
        _breathe()
        if self.project is project:
            self.project_changed.emit()

    def _dispose(self, project: Any) -> None:
        scratch_dir = data_dir() / "scratch"
        with contextlib.suppress(Exception):
            project.close()
        if Path(project.path).parent == scratch_dir:  # a scratch file that was discarded
            with contextlib.suppress(OSError):
                Path(project.path).unlink()

    def maybe_discard(self) -> bool:
        """True when the current project can be closed (saved, or the user agreed)."""
        if not self.has_unsaved_work():
            return True
        B = QMessageBox.StandardButton
        answer = self._ask(
            "Keep this work?",
            "This project has not been saved to a file of your choice yet. Save it before closing?",
            B.Save | B.Discard | B.Cancel, B.Save, self.answer,
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            return self.save_as()
        return True

    def new(self, confirm: bool = True) -> bool:
        if confirm and not self.maybe_discard():
            return False
        from workbench.store import Project

        folder = data_dir() / "scratch"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"untitled-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.wbproj"
        n = 1
        while path.exists():
            path = path.with_name(f"{path.stem}-{n}.wbproj")
            n += 1
        try:
            self._set(Project.open(path, create=True), scratch=True)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.errors.handle(e, "creating a new project")
            return False
        return True

    def open(self, path: str | os.PathLike | None = None, confirm: bool = True) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self.parent_widget, "Open project", str(Path.home()), FILTER
            )
            if not path:
                return False
        if confirm and not self.maybe_discard():
            return False
        from workbench.store import Project

        try:
            project = Project.open(
                path, create=not Path(path).exists() and str(path).endswith(".wbproj")
            )
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.errors.handle(e, f"opening {Path(path).name}")
            return False
        _breathe()
        self._set(project, scratch=False)
        if self.project is not project:
            return False  # closed while it opened (the window closing)
        if project.upgraded_from:
            self.state.save_status = (
                f"Upgraded from schema {project.upgraded_from}; backup at {project.backup_path}"
            )
        return True

    def open_example(self, name: str = "example.wbproj") -> bool:
        """Open a copy of an example project (the original in ``projects/`` stays as shipped)."""
        src = EXAMPLES / name
        if not src.exists():
            self.errors.handle(
                FileNotFoundError(
                    f"{src} is missing. Create it with `python projects/make_examples.py`."
                ),
                "opening the example project",
            )
            return False
        folder = data_dir() / "examples"
        folder.mkdir(parents=True, exist_ok=True)
        dst = folder / f"{src.stem}-{time.strftime('%Y%m%d-%H%M%S')}.wbproj"
        shutil.copyfile(src, dst)
        return self.open(dst)

    def save(self) -> bool:
        p = self.ensure_project()
        if p is None:
            return False
        if self.state.project_is_scratch or p.read_only:
            return self.save_as()
        self.write("saving", p.checkpoint)
        return True

    def save_as(self, path: str | os.PathLike | None = None) -> bool:
        p = self.ensure_project()
        if p is None:
            return False
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self.parent_widget, "Save project as", str(Path.home() / "untitled.wbproj"), FILTER
            )
            if not path:
                return False
        path = Path(path)
        if path.suffix != ".wbproj":
            path = path.with_suffix(".wbproj")
        was_scratch = self.state.project_is_scratch
        old_path = Path(p.path)
        self.flush_requested.emit()
        try:
            p.copy_to(path, overwrite=True)
            new = type(p).open(path)
        except Exception as e:  # noqa: BLE001 - shown to the user and logged (ErrorHandler)
            self.errors.handle(e, f"saving as {path.name}")
            return False
        self._set(new, scratch=False)  # closes the old one (and removes it if it was scratch)
        if was_scratch:
            with contextlib.suppress(OSError):
                old_path.unlink()
        return True

    def close(self) -> None:
        """Close the project for good (window closing): a scratch file with no work is removed."""
        p = self.project
        if p is None:
            return
        scratch = self.state.project_is_scratch  # kept work was saved as, or discarded
        self.state.project = None
        with contextlib.suppress(Exception):
            p.close()
        if scratch:
            with contextlib.suppress(OSError):
                Path(p.path).unlink()

    def recent(self) -> list[Path]:
        from workbench.store.recent import recent_projects

        return recent_projects()

    def offer_last_project(self) -> bool:
        """At a start without a project named: offer to reopen the last one (the newest of
        the recent list that still exists). True when it was opened."""
        last = next((p for p in self.recent() if Path(p).exists()), None)
        if last is None:
            return False
        B = QMessageBox.StandardButton
        answer = self._ask(
            "Reopen the last project?",
            f"Reopen {Path(last).name}, the project you worked on last?\n\n{last}",
            B.Yes | B.No, B.Yes, self.reopen_answer,
            {B.Yes: "Reopen it", B.No: "Start a new one"},
        )  # fmt: skip
        return answer == B.Yes and self.open(last, confirm=False)


CONCEPT_CHUNK = 2500  # concept names read in one step while a project opens (~8 ms each)


def _breathe() -> None:
    """Let the event loop run once between two steps of opening a project: timers fire and
    the window repaints. Input (clicks, keys, drops) waits until the project is in place, so no
    command runs on a half-opened one."""
    if QCoreApplication.instance() is not None:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)


def _work_in(p: Any) -> list[str]:
    """What a project holds, for a question about keeping it (empty: nothing worth keeping).

    Whatever cannot be read counts as work: a file damaged by the crash it is recovered from is
    the user's to judge, never deleted on a guess.
    """
    listings = [
        ("concept", lambda: len(p.concept_names())),
        ("generation", lambda: p.count_generations()),
        ("prompt set", lambda: len(p.prompt_sets())),
        ("run", lambda: p.count_runs()),
        ("canvas", lambda: sum(1 for c in p.canvases().values() if (c or {}).get("terms"))),
        ("figure", lambda: len(p.figures())),
        ("note", lambda: len(p.notes())),
    ]
    found = []
    for what, count in listings:
        try:
            n = count()
        except Exception:  # noqa: BLE001 - listed as unreadable work, not hidden
            found.append(f"{what}s that could not be read")
            continue
        if n:
            found.append(f"{n} {what}{'s' if n != 1 else ''}".replace("canvass", "canvases"))
    return found


def _made_by_live_process(path: Path, young: float = 60.0) -> bool:
    """Whether a scratch file was made moments ago by a process that still runs (its name is
    ``untitled-<time>-<pid>.wbproj``): that process may be creating it this instant, before
    its lock is written. (Older files are judged by their lock alone: a pid can be reused.)"""
    import re

    m = re.match(r"untitled-\d{8}-\d{6}-(\d+)", path.stem)
    if m is None:
        return False
    try:
        if time.time() - path.stat().st_mtime > young:
            return False
    except OSError:
        return False
    pid = int(m.group(1))
    if pid == os.getpid():
        return True
    try:
        import psutil

        return bool(psutil.pid_exists(pid))
    except Exception:  # noqa: BLE001 - unknown is treated as not alive: the file is only offered back
        return False
