"""Shared fixtures: the generated model set that scripts/make_models.py builds into .models/."""

from __future__ import annotations

from pathlib import Path

import pytest

from webinfer.testing import MODEL_NAMES, ensure_models

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The model set, (re)built first when missing or made by another version of the builder."""
    return ensure_models(ROOT)


@pytest.fixture(params=MODEL_NAMES)
def model_name(request: pytest.FixtureRequest) -> str:
    """Runs the requesting test once per model of the set."""
    return request.param


_SUMMARY: list[str] = []


@pytest.fixture
def summary_line():
    """Lines a test wants shown at the end of the run even when its output is captured (counts)."""
    return _SUMMARY.append


def pytest_terminal_summary(terminalreporter) -> None:
    if _SUMMARY:
        terminalreporter.section("webinfer summary")
        for line in _SUMMARY:
            terminalreporter.write_line(line)
