"""Vector files: export concepts to, and import them from, the formats the field uses.

See :mod:`workbench.io.vector_files` for the formats and the entry points re-exported here.
"""

from workbench.io.vector_files import (
    FORMATS,
    VectorFormat,
    detect_format,
    export_concept,
    import_concept,
)

__all__ = ["FORMATS", "VectorFormat", "detect_format", "export_concept", "import_concept"]
