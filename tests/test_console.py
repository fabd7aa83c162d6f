"""What a user sees while and after a run works: no progress-bar frames in piped output,
metric values without float32 noise, a search curve that shows the interesting range."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from nasgen.benchmarks import NB201Benchmark
from nasgen.benchmarks.training import TrainingBenchmark
from nasgen.evaluation.attacks import evaluate_attacks
from nasgen.evaluation.corruptions import evaluate_corruptions
from nasgen.evaluation.training_free import measure
from nasgen.generators import AGNetGenerator
from nasgen.generators.pretrain import PretrainConfig, pretrain
from nasgen.objective import Objective
from nasgen.reporting import results
from nasgen.reporting.console import format_value
from nasgen.search.oracle import Oracle
from nasgen.spaces import NB201Space

SPACE = NB201Space()
FLOAT32_NOISE = re.compile(r"\d\.\d{5,}")  # e.g. 91.55333709716797


@pytest.mark.parametrize("value, text", [(91.55333709716797, "91.55"), (np.float32(73.5133), "73.51"),
                                         (0.89312345, "0.8931"), (1447.3, "1447"), (9.87654, "9.877"),
                                         (100.0, "100.0"), (2.5e-7, "2.5e-07"), (0.0, "0"), (7, "7"),
                                         (float("nan"), "nan"), ("x", "x")])
def test_values_print_with_four_significant_digits(value, text):
    assert format_value(value) == text


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    return torch.tensor(data.images[:16] / 16.0, dtype=torch.float32)[:, None], torch.tensor(data.target[:16])


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)).eval()


BARS = {
    "attacks": lambda x, y: evaluate_attacks(tiny_cnn(), x, y, {"fgsm": {"epsilons": [1, 8]}}, num_classes=10,
                                             batch_size=8),
    "corruptions": lambda x, y: evaluate_corruptions(tiny_cnn(), x, y, ["fog"], [1, 2], num_classes=10, batch_size=8),
    "measures": lambda x, y: measure(tiny_cnn(), x, y, batches=2, batch_size=8, hessian_iterations=2),
    "pretraining": lambda x, y: pretrain(AGNetGenerator, SPACE, PretrainConfig(tick_size=64, ticks=2,
                                                                               validity_samples=20)),
    "training": lambda x, y: TrainingBenchmark(dataset="digits", epochs=2, channels=4, cells_per_stage=1,
                                               max_train_samples=128).results(SPACE.from_index(6111)),
}


@pytest.mark.parametrize("part", BARS)
def test_progress_bars_stay_out_of_piped_output(part, digits, capsys: pytest.CaptureFixture):
    """Captured stderr is not a terminal, like output piped into a file or a job log."""
    assert not sys.stderr.isatty()
    BARS[part](*digits)
    captured = capsys.readouterr()
    assert captured.err == "" and "\r" not in captured.out


def test_run_log_prints_metric_values_without_float32_noise(tmp_path: Path):
    env = {**os.environ, "NASGEN_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "nasgen.cli", "run", "experiment=ag_net_nb201", "search=random",
                             "budget=5", "evaluation.summary.plot=false", "hydra.run.dir=run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    best = next(line for line in result.stdout.splitlines() if "best architecture" in line)
    assert re.search(r"cifar10/valid_acc@200 = \d+\.\d\d,", best), best
    assert not FLOAT32_NOISE.search(result.stdout), result.stdout


def test_search_curve_shows_the_range_after_a_bad_first_query(monkeypatch: pytest.MonkeyPatch):
    benchmark = NB201Benchmark("cifar10")
    objective = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200")
    valid = benchmark.table.column(objective.search_metric)
    oracle = Oracle(SPACE, benchmark, objective, budget=40)
    worst = SPACE.from_index(int(np.nanargmin(valid)))  # a random start can draw a cell like this
    oracle.query([worst, *[a for a in SPACE.sample(60, np.random.default_rng(0)) if a != worst][:39]])
    optima = {m: benchmark.optimum(m) for m in objective.metrics}
    figures = []
    monkeypatch.setattr(results, "save_figure", lambda fig, path: figures.append(fig))
    results.plot_search_curve(oracle, Path("unused.png"), optima)
    low, high = figures[0].axes[0].get_ylim()
    plt.close(figures[0])
    first = oracle.values(objective.search_metric)[0]
    later = np.concatenate([oracle.values(m)[oracle.incumbents()][10:] for m in objective.metrics])
    assert first < 20 < low  # the first query's ~10 % does not stretch the axis
    assert high >= max(optima.values())
    assert max(optima.values()) - later.min() >= 0.5 * (high - low)  # the curves after it fill the axis
