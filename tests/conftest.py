"""Shared fixtures: the real benchmark files beside the repo, and an isolated cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from nasgen.generators.pretrain import PretrainConfig

# experiment=smoke's generator pretraining (validity about 0.97 in about a minute): every test that
# searches with AG-Net uses it through one session cache, so the suite pretrains it once per seed.
QUICK_PRETRAIN = PretrainConfig(tick_size=5000, ticks=10, validity_samples=500, target_validity=0.97)


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


@pytest.fixture(scope="session")
def quick_generator_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``NASGEN_CACHE`` shared by the session for quickly pretrained generators (also those of
    ``experiment=smoke`` runs through the CLI)."""
    return tmp_path_factory.mktemp("quick-generators")


@pytest.fixture(scope="session")
def quick_pretrain_settings() -> PretrainConfig:
    return QUICK_PRETRAIN


@pytest.fixture
def quick_pretrain(quick_generator_cache: Path, monkeypatch: pytest.MonkeyPatch) -> PretrainConfig:
    """The quick pretraining settings, with ``NASGEN_CACHE`` on the session's generator cache."""
    monkeypatch.setenv("NASGEN_CACHE", str(quick_generator_cache))
    return QUICK_PRETRAIN
