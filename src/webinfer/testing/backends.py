"""Which backends a test may find missing: a GPU adapter is optional, the CPU backends are not."""

from __future__ import annotations

from ..backends import unavailable_reason

OPTIONAL = ("webgpu",)  # needs an adapter; scripts/setup_webgpu.sh installs Mesa's lavapipe


def require_backend(name: str) -> None:
    """Skip (with the reason) when an optional backend is unavailable; fail for the others."""
    import pytest

    reason = unavailable_reason(name)
    if reason is None:
        return
    if name in OPTIONAL:
        pytest.skip(f"backend {name} unavailable: {reason}")
    pytest.fail(f"backend {name} unavailable: {reason}")
