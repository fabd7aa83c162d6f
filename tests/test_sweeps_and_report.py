"""Multirun sweeps with the local parallel launcher, `nasgen report` on finished and
partial sweeps, and generator caching under concurrent jobs."""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot
import numpy as np
import pytest

from nasgen.generators import AGNetGenerator
from nasgen.generators.pretrain import PretrainConfig, pretrain
from nasgen.reporting.report import _final_budget
from nasgen.spaces import NB201Space


def nasgen(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NASGEN_CACHE": str(cache), "NASGEN_JOBS": "2"}
    return subprocess.run([sys.executable, "-m", "nasgen.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    result = nasgen("run", "-m", "hydra/launcher=local_parallel", "experiment=none", "search=random,local", "seed=0,1",
                    "budget=20",
                    "evaluation.summary.report_at=[10,20]", "hydra.sweep.dir=sweep", cwd=root, cache=root / "cache")
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "sweep"


def report_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["method"]: row for row in csv.DictReader(f)}


def test_parallel_sweep_runs_every_job(sweep: Path):
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 4
    assert all((job / "results.json").is_file() and (job / "history.csv").is_file() for job in jobs)


def test_report_tabulates_methods_with_seed_counts(sweep: Path, tmp_path: Path):
    result = nasgen("report", str(sweep), "--out", str(tmp_path), "--budgets", "10", "20", cwd=tmp_path,
                    cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    rows = report_rows(tmp_path / "report.csv")
    assert set(rows) == {"random", "local"}
    assert rows["local"]["seeds"] == "2" and rows["local"]["n @20"] == "2"
    assert rows["local"]["reported metric"] == "cifar10/test_acc@200"
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert "| cifar10 | local |" in (tmp_path / "report.md").read_text()


def test_report_counts_partial_runs(sweep: Path, tmp_path: Path):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(sweep, partial)
    interrupted = next(job for job in sorted(partial.iterdir())
                       if job.is_dir() and "search=random" in (job / ".hydra" / "overrides.yaml").read_text())
    (interrupted / "results.json").unlink()
    lines = (interrupted / "history.csv").read_text().splitlines(keepends=True)
    (interrupted / "history.csv").write_text("".join(lines[:13]))  # header + 12 queries
    result = nasgen("report", str(partial), "--budgets", "10", "20", cwd=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    rows = report_rows(partial / "report" / "report.csv")
    assert rows["random"]["seeds"] == "2"
    assert rows["random"]["n @10"] == "2" and rows["random"]["n @20"] == "1"


def test_report_defaults_to_the_budgets_the_runs_have(sweep: Path, tmp_path: Path):
    result = nasgen("report", str(sweep), "--out", str(tmp_path), cwd=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "report.csv", newline="") as f:
        header = next(csv.reader(f))
    assert [column for column in header if column.startswith("n @")] == ["n @10", "n @20"]  # report_at and budget
    rows = report_rows(tmp_path / "report.csv")
    assert rows["random"]["n @20"] == "2" and rows["random"]["reported @20"] != "-"


def test_report_counts_distinct_seeds_and_says_runs(sweep: Path, tmp_path: Path):
    import shutil

    repeated = tmp_path / "repeated"
    shutil.copytree(sweep, repeated)
    local = next(job for job in sorted(repeated.iterdir())
                 if job.is_dir() and "search=local" in (job / ".hydra" / "overrides.yaml").read_text())
    shutil.copytree(local, repeated / "again")  # the same seed run twice
    result = nasgen("report", str(repeated), cwd=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    rows = report_rows(repeated / "report" / "report.csv")
    assert (rows["local"]["seeds"], rows["local"]["runs"]) == ("2", "3")
    assert (rows["random"]["seeds"], rows["random"]["runs"]) == ("2", "2")


def test_report_curves_hold_every_mean_and_band(sweep: Path, monkeypatch: pytest.MonkeyPatch):
    from nasgen.reporting import report

    figures = []
    monkeypatch.setattr(report, "save_figure", lambda fig, path: figures.append(fig))
    report.plot_curves(report.find_runs([sweep]), Path("unused.png"))
    (ax,) = figures[0].axes
    plotted = np.concatenate([line.get_ydata() for line in ax.lines]
                             + [band.get_paths()[0].vertices[:, 1] for band in ax.collections])
    low, high = ax.get_ylim()
    assert low <= plotted.min() and plotted.max() <= high
    matplotlib.pyplot.close(figures[0])


def test_report_on_an_empty_folder_says_so(tmp_path: Path):
    result = nasgen("report", str(tmp_path), cwd=tmp_path, cache=tmp_path / "cache")
    assert result.returncode == 1 and "no nasgen runs" in result.stderr


def _pretrain_in_subprocess(cache: str, queue: multiprocessing.Queue) -> None:
    os.environ["NASGEN_CACHE"] = cache
    _, stats = pretrain(AGNetGenerator, NB201Space(),
                        PretrainConfig(tick_size=1600, ticks=2, validity_samples=100, seed=7))
    queue.put(stats["source"])


def test_concurrent_jobs_pretrain_a_generator_once(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    jobs = [context.Process(target=_pretrain_in_subprocess, args=(str(tmp_path), queue)) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=300)
    assert sorted(queue.get(timeout=5) for _ in jobs) == ["cache", "trained"]
    assert len(list((tmp_path / "generators").glob("*.pt"))) == 1


def test_robustness_table_averages_the_suite_summaries():
    from nasgen.reporting.report import Run, robustness_table

    def run(seed_clean: float, fgsm: float) -> Run:
        summary = {"clean_accuracy": seed_clean, "attacks": {"fgsm": {"1": fgsm, "8": 0.1}},
                   "corruption_mean_accuracy": 0.5, "measures": {"jacobian_norm": 2.0, "hessian_max_eigenvalue": 1.0}}
        return Run(Path("."), "ag_net", "ag_net", "digits", "s", "r", True, robustness=summary)

    header, rows = robustness_table([run(0.9, 0.6), run(0.8, 0.4)])
    assert header[:5] == ["dataset", "method", "runs", "clean", "fgsm @eps=1"]
    assert rows == [["digits", "ag_net", "2", "85.00 ± 5.00", "50.00 ± 10.00", "50.00 ± 0.00", "2 ± 0", "1 ± 0"]]


def test_a_run_that_completed_below_its_budget_is_reported_where_it_ended(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"status": "complete", "queries": 1136}))
    assert _final_budget(tmp_path, 1500) == 1136
    (tmp_path / "results.json").write_text(json.dumps({"status": "interrupted", "queries": 700}))
    assert _final_budget(tmp_path, 1500) == 1500  # a killed run is still headed for its budget
