"""Shared fixtures: the real benchmark files beside the repo, and an isolated cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nasgen.generators.pretrain import PretrainConfig

# The default pretraining settings (also experiment=smoke's): their generator ships with nasgen, so
# the tests that search with AG-Net never pretrain (tests/test_pretrain.py covers training itself).
QUICK_PRETRAIN = PretrainConfig()

# Under pytest-xdist (`make test`: -n auto) every worker is a process of its own: torch's default of
# one thread per core in each of them would oversubscribe the cores, so each takes its share.
torch.set_num_threads(max(1, torch.get_num_threads() // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With ``--dist loadgroup`` a module's tests run on one worker, so its module-scoped fixtures
    (sweeps, trained models, finished runs) are built once, not once per worker; a test may name
    a group of its own (the composition grid groups by experiment) to spread a long module."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


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


@pytest.fixture
def one_torch_thread():
    """Tiny models run far faster on one thread than contending for a busy machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def quick_generator_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``NASGEN_CACHE`` shared by the session's AG-Net searches (also ``experiment=smoke`` runs
    through the CLI): a generator pretrained by one of them is not pretrained again."""
    return tmp_path_factory.mktemp("quick-generators")


@pytest.fixture(scope="session")
def quick_pretrain_settings() -> PretrainConfig:
    return QUICK_PRETRAIN


@pytest.fixture
def quick_pretrain(quick_generator_cache: Path, monkeypatch: pytest.MonkeyPatch) -> PretrainConfig:
    """The default pretraining settings, with ``NASGEN_CACHE`` on the session's generator cache."""
    monkeypatch.setenv("NASGEN_CACHE", str(quick_generator_cache))
    return QUICK_PRETRAIN
