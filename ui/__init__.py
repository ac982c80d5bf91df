"""The desktop app (PySide6): a thin view over the engine in ``workbench``.

Importing it makes PySide6's per-import check cheap (see :func:`ui.compat.quicken_pyside_import_hook`):
every module imported after PySide6, torch and transformers included, pays for that check.
"""

from ui.compat import quicken_pyside_import_hook

quicken_pyside_import_hook()
