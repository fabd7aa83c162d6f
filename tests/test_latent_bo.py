"""Latent-space Bayesian optimisation (search=latent_bo): the kriging believer on a sparse GP,
EI batch selection, what each decoded point costs, the refusal of a generator without encoder,
and an end-to-end run with the real SVGe (tiny schedule) that resumes to the same history."""
from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement
from test_cli_run import nasgen

from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.generators import AGNetGenerator
from nasgen.objective import Objective
from nasgen.predictors.sparse_gp import SparseGaussianProcess
from nasgen.search.latent_bo import KrigingBelieverEI, LatentBayesianOptimisation, kriging_believer_batch
from nasgen.search.oracle import Oracle
from nasgen.spaces import NB201Space

SPACE = NB201Space()
OBJECTIVE = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200")


@pytest.fixture(scope="module")
def one_dimensional_gp() -> tuple[SparseGaussianProcess, np.ndarray]:
    """A sparse GP (fewer inducing points than data) on a bump at x = 0.7 in [0, 1]."""
    torch.set_num_threads(1)
    x = np.linspace(0.0, 1.0, 25)[:, None]
    y = np.exp(-((x[:, 0] - 0.7) ** 2) / 0.05)
    gp = SparseGaussianProcess(inducing_points=10, steps=150, lr=0.05)
    gp.fit(x, y, generator=torch.Generator().manual_seed(0))
    return gp, x


def test_the_sparse_gp_learns_the_bump(one_dimensional_gp):
    gp, x = one_dimensional_gp
    mean, std = gp.predict_distribution(np.array([[0.7], [0.1]]))
    assert mean[0] > 0.7 and abs(mean[1]) < 0.2 and np.all(std > 0)


def test_the_believer_keeps_the_mean_and_removes_the_variance_only_at_the_pending_point(one_dimensional_gp):
    gp, _ = one_dimensional_gp
    pending = torch.tensor([[0.4]], dtype=torch.float64)
    plain = KrigingBelieverEI(gp.model, 0.5, None)
    believer = KrigingBelieverEI(gp.model, 0.5, pending)
    points = torch.tensor([[[0.4]], [[0.95]]], dtype=torch.float64)
    with torch.no_grad():
        mean, sigma = plain._mean_and_sigma(points)
        believed_mean, believed_sigma = believer._mean_and_sigma(points)
    torch.testing.assert_close(believed_mean, mean)
    assert float(believed_sigma[0]) < 0.01 * float(sigma[0])  # believed exactly: no variance left there
    assert float(believed_sigma[1]) == pytest.approx(float(sigma[1]), rel=0.05)  # far away: nearly unchanged


def test_without_pending_points_the_believer_is_botorchs_log_ei(one_dimensional_gp):
    gp, _ = one_dimensional_gp
    grid = torch.linspace(0, 1, 11, dtype=torch.float64).view(-1, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(KrigingBelieverEI(gp.model, 0.8, None)(grid),
                                   LogExpectedImprovement(gp.model, best_f=0.8)(grid))


def test_the_batch_starts_at_the_ei_maximum_and_spreads_out(one_dimensional_gp):
    gp, x = one_dimensional_gp
    batch = kriging_believer_batch(gp, x, 3, np.random.default_rng(0), restarts=4, raw_samples=64, maxiter=50)
    grid = torch.linspace(0, 1, 2001, dtype=torch.float64).view(-1, 1, 1)
    with torch.no_grad():
        best = float(gp.model.posterior(torch.as_tensor(x)).mean.max())
        log_ei = KrigingBelieverEI(gp.model, best, None)(grid)
    assert batch.shape == (3, 1) and np.all((0 <= batch) & (batch <= 1))
    assert abs(batch[0, 0] - float(grid[log_ei.argmax()])) < 0.01
    assert np.min(np.abs(np.diff(np.sort(batch[:, 0])))) > 0.005  # the believer moves the later points away
    again = kriging_believer_batch(gp, x, 3, np.random.default_rng(0), restarts=4, raw_samples=64, maxiter=50)
    # same rng, same batch (to rounding: the second GP posterior reuses factors the first one cached)
    np.testing.assert_allclose(batch, again, rtol=1e-9)


def test_a_generator_without_encoder_is_refused():
    search = LatentBayesianOptimisation(functools.partial(AGNetGenerator, latent_dim=4, hidden_dim=4))
    with pytest.raises(ConfigError, match="AGNetGenerator has none: use generator=svge"):
        search.check(SPACE, OBJECTIVE)


def test_invalid_and_repeated_decodes_are_labelled_without_a_query(monkeypatch: pytest.MonkeyPatch):
    oracle = Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=3)
    seen, first, second, third = (SPACE.from_index(i) for i in (10, 20, 30, 40))
    oracle.query([seen])
    search = LatentBayesianOptimisation(functools.partial(AGNetGenerator))
    decoded = [None, first, first, seen, second, third]
    monkeypatch.setattr(search, "_decode", lambda generator, space, points: decoded)
    labels, counts = search._evaluate(None, SPACE, oracle, np.zeros((6, 2)), 1.0, worst=-1.0)
    truth = NB201Benchmark("cifar10").query([first, seen, second], OBJECTIVE.search_metric)
    # the budget (3) pays for `first` and `second`; the batch ends before `third`
    assert labels == [-1.0, truth[0], truth[0], truth[1], truth[2]]
    assert counts == {"paid": 2, "invalid": 1, "repeats": 2} and oracle.spent == 3


TINY = ("experiment=svge_bo192_nb201", "budget=20", "generator.epochs=1", "generator.train_fraction=0.02",
        "generator.node_dim=8", "generator.latent_dim=4", "search.initial_samples=8", "search.batch_size=4",
        "search.surrogate.steps=20", "search.surrogate.inducing_points=8", "search.raw_samples=16",
        "search.restarts=1", "search.maxiter=5", "torch_threads=1")


@pytest.mark.slow  # trains a tiny SVGe and runs the CLI three times: about a minute
def test_an_svge_run_resumes_to_the_same_history(tmp_path: Path):
    """A run killed after some paid queries (its history cut there) resumes by replaying them
    and then makes exactly the choices the uninterrupted run made. (An SVGe trained this briefly
    decodes no valid cell, so every batch point is an invalid one labelled without a query and
    the run stops after STALL_BATCHES such batches: the history holds the initial queries.)"""
    whole = nasgen("run", *TINY, "hydra.run.dir=whole", cache=tmp_path / "cache", cwd=tmp_path)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    rows = (tmp_path / "whole" / "history.csv").read_bytes().splitlines(keepends=True)
    stats = json.loads((tmp_path / "whole" / "results.json").read_text())["search_stats"]
    assert len(rows) == 1 + stats["initial"] + stats["paid"] and stats["initial"] == 8
    assert stats["invalid"] + stats["repeats"] + stats["paid"] == 4 * len(stats["batches"])
    killed = tmp_path / "killed"
    shutil.copytree(tmp_path / "whole", killed, ignore=shutil.ignore_patterns("results.json", "*.lock"))
    (killed / "history.csv").write_bytes(b"".join(rows[:5]))
    resumed = nasgen("resume", str(killed), cache=tmp_path / "cache", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    resumed_rows = (killed / "history.csv").read_bytes().splitlines(keepends=True)
    assert resumed_rows[:5] == rows[:5]  # replayed, not paid again
    assert [r.rsplit(b",", 1)[0] for r in resumed_rows] == [r.rsplit(b",", 1)[0] for r in rows]  # same choices
    assert json.loads((killed / "results.json").read_text())["search_stats"]["batches"] == stats["batches"]
