"""`nasgen run` end to end through the real command line: outputs, determinism, resume,
and one-line errors for bad configs."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE_QUERIES = 32


def nasgen(*args: str, cache: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NASGEN_CACHE": str(cache)}
    env.pop("NASGEN_DATA", None)  # the bundled tables must be enough
    return subprocess.run([sys.executable, "-m", "nasgen.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def run_once(folder: Path, experiment: str) -> Path:
    """``nasgen run experiment=...`` in ``folder`` (its own cache there); the run directory."""
    result = nasgen("run", f"experiment={experiment}", "hydra.run.dir=run", cache=folder, cwd=folder)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "run"


def history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def without_wall_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in rows]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, quick_generator_cache: Path) -> Path:
    """Runs and their cache; the pretrained generators come from the session's quick cache."""
    workdir = tmp_path_factory.mktemp("runs")
    (quick_generator_cache / "generators").mkdir(exist_ok=True)
    (workdir / "cache").mkdir()
    (workdir / "cache" / "generators").symlink_to(quick_generator_cache / "generators")
    return workdir


@pytest.fixture(scope="module")
def smoke_run(workdir: Path) -> Path:
    result = nasgen("run", "experiment=smoke", "hydra.run.dir=first", cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir / "first"


def test_smoke_run_writes_every_output(smoke_run: Path):
    for name in ("history.csv", "results.json", "best_arch.json", "search_curve.png", "nasgen.log",
                 ".hydra/config.yaml", ".hydra/overrides.yaml"):
        assert (smoke_run / name).is_file(), name
    rows = history(smoke_run)
    assert len(rows) == SMOKE_QUERIES
    assert list(rows[0]) == ["query", "arch", "index", "cifar10/valid_acc@200", "cifar10/test_acc@200", "wall_time_s"]
    results = json.loads((smoke_run / "results.json").read_text())
    assert results["status"] == "complete" and results["queries"] == SMOKE_QUERIES
    assert results["protocol"]["search_metric"] == "cifar10/valid_acc@200"
    assert results["protocol"]["report_metric"] == "cifar10/test_acc@200"
    best = max(rows, key=lambda r: float(r["cifar10/valid_acc@200"]))
    assert results["best"]["arch"] == best["arch"]
    assert results["best"]["cifar10/test_acc@200"] == pytest.approx(float(best["cifar10/test_acc@200"]))
    assert results["optimum"]["cifar10/test_acc@200"] == pytest.approx(94.3733, abs=1e-3)


def test_same_seed_gives_the_same_search(smoke_run: Path, workdir: Path):
    again = nasgen("run", "experiment=smoke", "hydra.run.dir=second", cache=workdir / "cache", cwd=workdir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert without_wall_time(history(workdir / "second")) == without_wall_time(history(smoke_run))


def test_killed_run_resumes_without_repeating_paid_queries(smoke_run: Path, workdir: Path):
    killed = workdir / "killed"
    killed.mkdir()
    (killed / ".hydra").mkdir()
    for name in ("overrides.yaml", "config.yaml"):
        (killed / ".hydra" / name).write_text((smoke_run / ".hydra" / name).read_text())
    full = (smoke_run / "history.csv").read_text().splitlines(keepends=True)
    (killed / "history.csv").write_text("".join(full[:21]))  # header + 20 paid queries

    result = nasgen("resume", str(killed), cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "20 paid queries" in result.stdout + result.stderr
    resumed = history(killed)
    assert resumed[:20] == history(smoke_run)[:20]  # untouched, wall times included
    assert without_wall_time(resumed) == without_wall_time(history(smoke_run))


def test_existing_history_is_never_overwritten(smoke_run: Path, workdir: Path):
    result = nasgen("run", "experiment=smoke", f"hydra.run.dir={smoke_run}", cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 1
    assert "nasgen resume" in result.stdout + result.stderr


@pytest.mark.parametrize("override, message", [
    ("benchmark.dataset=cifar11", "valid choices: cifar10, cifar100, ImageNet16-120"),
    ("search.alpha=2", "search.alpha must be in [0.0, 1.0]"),
    ("budget=0", "budget must be a positive integer"),
    ("budget=true", "budget must be a positive integer, got True"),
    ("search=bananas search.initial_samples=0", "search.initial_samples must be a positive integer, got 0"),
    ("objective.search_metric=cifar10/valid_acc@7", "available: cifar10/test_acc@200"),
    ("search=nope", "Available options in 'search'"),
    ("epochs=3", "Could not override 'epochs'"),
])
def test_bad_config_stops_with_one_clear_message(override: str, message: str, workdir: Path):
    result = nasgen("run", "experiment=smoke", *override.split(), "hydra.run.dir=bad", cache=workdir / "cache",
                    cwd=workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert message in output
    assert "Traceback" not in output


@pytest.mark.parametrize("overrides", [[], ["seed=3"]])
def test_nasgen_run_is_the_quickstart_with_or_without_overrides(overrides: list[str], workdir: Path):
    result = nasgen("run", *overrides, "--cfg", "job", cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "name: quickstart" in result.stdout and "nasgen.benchmarks.training.TrainingBenchmark" in result.stdout
    assert f"seed: {3 if overrides else 0}" in result.stdout


def test_nasgen_run_help_names_the_default_experiment(workdir: Path):
    result = nasgen("run", "--help", cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "The default experiment is experiment=quickstart" in result.stdout
    assert "experiment=none" in result.stdout


def test_smoke_experiment_with_another_search(workdir: Path):
    result = nasgen("run", "experiment=smoke", "search=random", "hydra.run.dir=smoke_random",
                    cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(history(workdir / "smoke_random")) == SMOKE_QUERIES


def test_quickstart_composes_training_and_robustness(workdir: Path):
    result = nasgen("run", "experiment=quickstart", "--cfg", "job", cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "nasgen.benchmarks.training.TrainingBenchmark" in result.stdout
    assert "nasgen.evaluation.robustness.RobustnessSuite" in result.stdout
    assert "search_metric: ${benchmark.dataset}/valid_acc@${benchmark.epochs}" in result.stdout
