"""Shared fixtures: where the shared conformance data lives, and a fresh tektite home."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """``../shared/conformance``; tests that need it skip with a clear message when it is absent."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE} (it sits beside the project in CI)")
    return CONFORMANCE


@pytest.fixture()
def tektite_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, isolated tektite home for one test."""
    home = tmp_path / "tektite-home"
    home.mkdir()
    monkeypatch.setenv("TEKTITE_HOME", str(home))
    return home
