"""Export a concept to any supported vector format (asks for a site when a format holds one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QInputDialog, QWidget


def filters() -> tuple[list[str], dict[str, str]]:
    from workbench.io.vector_files import FORMATS

    out, by_filter = [], {}
    for name, f in FORMATS.items():
        if not f.can_export:
            continue
        flt = f"{f.description} ({' '.join('*' + e for e in f.extensions)})"
        out.append(flt)
        by_filter[flt] = name
    return out, by_filter


def export_concept_interactive(
    parent: QWidget,
    concept: Any,
    path: str | None = None,
    fmt: str | None = None,
    site: str | None = None,
    errors: Any = None,
) -> Path | None:
    """Ask for a file and format (unless given), then write. Returns the written path."""
    from workbench.io.vector_files import FORMATS, export_concept

    if path is None:
        flts, by_filter = filters()
        safe = (
            "".join(ch if ch.isalnum() or ch in "-_ " else "_" for ch in concept.name).strip()
            or "concept"
        )
        from ui.file_dialogs import save_path

        path, chosen = save_path(
            parent, f"Export {concept.name}", f"{safe}.safetensors", ";;".join(flts)
        )
        if not path:
            return None
        fmt = fmt or by_filter.get(chosen)
    options: dict[str, Any] = {}
    if fmt and FORMATS[fmt].single_site and len(concept.sites) > 1:
        if site is None:
            site, ok = QInputDialog.getItem(
                parent,
                "Which site?",
                f"{fmt} holds one vector. Export the one at:",
                concept.sites,
                len(concept.sites) * 2 // 3,
                False,
            )
            if not ok:
                return None
        options["site"] = site
    if fmt is None:
        fmt = next(
            (
                n
                for n, f in FORMATS.items()
                if f.can_export and Path(path).suffix.lower() in f.extensions
            ),
            None,
        )
    if fmt == "gguf":  # lossy by design: keep the blocks llama.cpp can steer, leave out the rest
        options["skip_unsupported"] = True
    try:
        out = export_concept(concept, path, fmt, **options)
        from ui.file_dialogs import saved

        saved(parent, path, "Exported")
        return out
    except Exception as e:
        if errors is not None:
            errors.handle(e, f"exporting {concept.name} as {fmt or Path(path).suffix}")
            return None
        raise
