"""Helpers for the repository's model tests and benchmarks (not needed to run models)."""

from .backends import require_backend
from .models import (
    DIGITS_TEST,
    MODEL_NAMES,
    Sample,
    ensure_models,
    load_manifest,
    load_samples,
    model_path,
    rel_error,
)

__all__ = [
    "DIGITS_TEST",
    "MODEL_NAMES",
    "Sample",
    "ensure_models",
    "load_manifest",
    "load_samples",
    "model_path",
    "rel_error",
    "require_backend",
]
