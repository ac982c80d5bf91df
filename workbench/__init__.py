"""Concept Workbench engine: models, hook sites, interventions, concepts, heads, diffusion,
the project store and vector files. Never imports Qt.

Heavy modules (torch, transformers, diffusers) are imported lazily so that ``import workbench``
stays cheap for the window and the command line; importing it also puts transformers' import
structure behind a disk cache (:mod:`workbench.import_cache`; off with
``WORKBENCH_NO_IMPORT_CACHE=1``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Concept": "workbench.concepts.concept",
    "ModelRef": "workbench.models.ref",
    "HookedModel": "workbench.models.hooked",
    "load_language_model": "workbench.models.loading",
    "ModelSource": "workbench.models.loading",
    "Project": "workbench.store.project",
    "extract": "workbench.concepts.extraction",
    "ExtractionSpec": "workbench.concepts.extraction",
    "builtin_set": "workbench.concepts.prompt_sets",
    "load_prompt_set": "workbench.concepts.prompt_sets",
    "evaluate": "workbench.concepts.algebra",
    "AddVector": "workbench.models.interventions",
    "steered_generate": "workbench.models.generation",
    "generate": "workbench.models.generation",
    "SamplingSettings": "workbench.models.generation",
    "steering_sweep": "workbench.concepts.steering_sweep",
    "steering_sweep_job": "workbench.concepts.steering_sweep",
    "SteeringSweepSpec": "workbench.concepts.steering_sweep",
    "export_concept": "workbench.io.vector_files",
    "import_concept": "workbench.io.vector_files",
    "TrainingSpec": "workbench.training",
    "train_head_offsets_job": "workbench.training",
    "train_steering_vector_job": "workbench.training",
    "DeltaSpec": "workbench.weights",
    "TensorFilter": "workbench.weights",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]

# transformers' import walk (0.7 s of every process that loads a model) read from disk from
# the first import of transformers on; identical results, see workbench/import_cache.py.
from workbench import import_cache as _import_cache  # noqa: E402 - after the names

_import_cache.install()
