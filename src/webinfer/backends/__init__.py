"""Kernel backends, listed explicitly (no discovery by file name)."""

from __future__ import annotations

from importlib import import_module

from ..errors import BackendError
from .base import Backend

# name -> (module, class); imported on demand so a missing native build only affects "native".
BACKENDS: dict[str, tuple[str, str]] = {
    "reference": (".reference", "ReferenceBackend"),
    "native": (".native", "NativeBackend"),
    "wasm": (".wasm", "WasmBackend"),
    "webgpu": (".webgpu", "WebGPUBackend"),
}


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise BackendError(f"unknown backend '{name}'; choose from {sorted(BACKENDS)} or 'auto'")
    module, cls = BACKENDS[name]
    try:
        return getattr(import_module(module, __name__), cls)
    except ImportError as exc:
        raise BackendError(f"backend '{name}' cannot be imported: {exc}") from exc


def unavailable_reason(name: str) -> str | None:
    try:
        return backend_class(name).available()
    except BackendError as exc:
        return str(exc)


def create_backend(name: str, threads: int | None) -> Backend:
    """Instantiate a named backend ('auto' is the session's choice: see choice.py)."""
    reason = unavailable_reason(name)
    if reason is not None:
        raise BackendError(f"backend '{name}' is not available: {reason}")
    return backend_class(name)(threads)
