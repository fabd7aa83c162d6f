"""Shared fixtures: the real benchmark files beside the repo, and an isolated cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_benchmarks() -> Path:
    """``$NASGEN_SHARED`` or ``../shared/benchmarks`` next to the repo; skip if absent."""
    default = Path(__file__).parents[1].parent / "shared" / "benchmarks"
    path = Path(os.environ.get("NASGEN_SHARED") or default)
    if not (path / "nb201").is_dir():
        pytest.skip(f"shared benchmark data not found at {path} (set NASGEN_SHARED)")
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test imports into its own cache, never the user's."""
    cache = tmp_path / "nasgen-cache"
    monkeypatch.setenv("NASGEN_CACHE", str(cache))
    return cache
