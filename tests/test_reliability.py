"""Reliability of runs under ordinary use: fresh run folders, one owner per run directory,
resume only of the same search, torn and damaged histories, signals and one-line errors.
The end-to-end checks drive the real CLI on the bundled NB201 table with searches that need
no generator pretraining."""
from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_cli_run import history, nasgen

from nasgen.benchmarks import NB201Benchmark
from nasgen.errors import DataError
from nasgen.objective import Objective
from nasgen.rundir import claim_fresh_dir, owned
from nasgen.search.oracle import Oracle
from nasgen.spaces import NB201Space

QUICK_RUN = ("experiment=ag_net_nb201", "search=random", "budget=40")
# a search that is still going many seconds after its 16 initial random queries
LONG_RUN = ("experiment=ag_net_nb201", "search=bananas", "budget=192")
SPACE = NB201Space()
OBJECTIVE = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="module")
def finished_run(workdir: Path) -> Path:
    result = nasgen("run", *QUICK_RUN, "hydra.run.dir=finished", cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir / "finished"


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in ("history.csv", ".hydra/config.yaml", "nasgen.log")}


def take_the_next_seconds(folder: Path, seconds: int = 600) -> list[Path]:
    """Create the dated per-second folders Hydra's default layout would use from now on, as
    runs started in the same seconds would."""
    start = datetime.now()
    taken = []
    for offset in range(seconds):
        moment = start + timedelta(seconds=offset)
        path = folder / moment.strftime("%Y-%m-%d") / moment.strftime("%H-%M-%S")
        path.mkdir(parents=True, exist_ok=True)
        (path / "taken").write_text("another run")
        taken.append(path)
    return taken


def only_marker_left(taken: list[Path]) -> bool:
    return all(sorted(p.name for p in path.iterdir()) == ["taken"] for path in taken)


# -- fresh folders -------------------------------------------------------------------------
def test_claim_fresh_dir_never_returns_a_taken_folder(tmp_path: Path):
    claimed = [claim_fresh_dir(tmp_path / "day" / "10-31-07") for _ in range(3)]
    assert [p.name for p in claimed] == ["10-31-07", "10-31-07_1", "10-31-07_2"]
    assert all(p.is_dir() for p in claimed)


def test_a_run_never_writes_into_a_folder_another_run_took(tmp_path: Path):
    taken = take_the_next_seconds(tmp_path / "outputs")
    result = nasgen("run", *QUICK_RUN, "seed=1", cache=tmp_path / "cache", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert only_marker_left(taken)
    [results] = list((tmp_path / "outputs").glob("*/*/results.json"))
    assert results.parent.name.endswith("_1")
    assert json.loads(results.read_text())["seed"] == 1
    assert "seed: 1" in (results.parent / ".hydra" / "config.yaml").read_text()


def test_a_sweep_never_writes_into_a_folder_another_sweep_took(tmp_path: Path):
    taken = take_the_next_seconds(tmp_path / "outputs" / "multirun")
    result = nasgen("run", "-m", *QUICK_RUN, "seed=0,1", cache=tmp_path / "cache", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert only_marker_left(taken)
    jobs = sorted((tmp_path / "outputs" / "multirun").glob("*/*/*/results.json"))
    assert [json.loads(p.read_text())["seed"] for p in jobs] == [0, 1]
    assert jobs[0].parent.parent == jobs[1].parent.parent and jobs[0].parent.parent.name.endswith("_1")


# -- one owner per run directory --------------------------------------------------------------
def test_a_run_directory_in_use_is_refused_before_anything_is_written(finished_run: Path, workdir: Path):
    before = snapshot(finished_run)
    with owned(finished_run):  # this test process is the run that is still going
        refused = [nasgen("resume", str(finished_run), cache=workdir / "cache", cwd=workdir),
                   nasgen("run", *QUICK_RUN, f"hydra.run.dir={finished_run}", cache=workdir / "cache", cwd=workdir)]
    for result in refused:
        assert result.returncode == 1
        assert f"{finished_run} is in use by another nasgen run (process {os.getpid()})" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(finished_run) == before
    again = nasgen("resume", str(finished_run), cache=workdir / "cache", cwd=workdir)  # once the owner is gone
    assert again.returncode == 0, again.stdout + again.stderr


# -- resume only of the same search -------------------------------------------------------
@pytest.mark.parametrize("override, difference", [
    ("seed=1", "seed: 0 -> 1"),
    ("search=local", "search._target_: 'nasgen.search.random_search.RandomSearch' -> "),
])
def test_resume_refuses_overrides_that_change_the_search(override: str, difference: str, finished_run: Path,
                                                         workdir: Path):
    before = snapshot(finished_run)
    result = nasgen("resume", str(finished_run), override, cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 1
    assert difference in result.stderr and "start a new run" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(finished_run) == before


def test_resume_accepts_settings_that_do_not_change_the_search(finished_run: Path, workdir: Path):
    rows = history(finished_run)
    result = nasgen("resume", str(finished_run), "torch_threads=2", cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "40 paid queries" in result.stdout + result.stderr
    assert history(finished_run) == rows


def test_resume_keeps_the_experiment_the_run_was_composed_with(workdir: Path):
    """A run whose overrides name no experiment (runs made while the bare defaults were the default
    experiment) resumes with the experiment its ``.hydra/hydra.yaml`` records, not today's default."""
    made = nasgen("run", *QUICK_RUN, "hydra.run.dir=bare", cache=workdir / "cache", cwd=workdir)
    assert made.returncode == 0, made.stdout + made.stderr
    run_dir = workdir / "bare"
    overrides = run_dir / ".hydra" / "overrides.yaml"
    overrides.write_text(overrides.read_text().replace("- experiment=ag_net_nb201\n", ""))
    rows = history(run_dir)
    result = nasgen("resume", str(run_dir), cache=workdir / "cache", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert history(run_dir) == rows


# -- torn and damaged histories --------------------------------------------------------
def paid_history(path: Path, indices: tuple[int, ...] = (5, 50, 500)) -> list[str]:
    oracle = Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=10, history_path=path)
    oracle.query([SPACE.from_index(i) for i in indices])
    oracle.close()
    return path.read_bytes().decode().splitlines(keepends=True)


def test_a_row_cut_inside_its_last_field_is_dropped_and_paid_again(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture):
    path = tmp_path / "history.csv"
    lines = paid_history(path)
    path.write_text("".join(lines)[:-3])  # the line end and the last digit of the wall time are missing

    with caplog.at_level(logging.INFO, logger="nasgen.search.oracle"):
        resumed = Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=10, history_path=path)
    assert "2 paid queries" in caplog.text
    resumed.query([SPACE.from_index(i) for i in (5, 50, 500, 5000)])
    resumed.close()
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 5 and all(len(row) == len(rows[0]) for row in rows)
    assert [row[2] for row in rows[1:]] == ["5", "50", "500", "5000"]
    assert path.read_bytes().startswith("".join(lines[:3]).encode())  # paid rows kept byte for byte


@pytest.mark.parametrize("damage, message", [
    (lambda lines: [*lines[:2], "garbage\r\n", *lines[2:]], "line 3 of"),
    (lambda lines: [*lines, lines[1]], "written by two runs at once"),
])
def test_a_damaged_history_is_refused(damage, message: str, tmp_path: Path):
    path = tmp_path / "history.csv"
    path.write_text("".join(damage(paid_history(path))))
    with pytest.raises(DataError, match=message):
        Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=10, history_path=path)


def test_every_history_row_is_pushed_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    synced, real_fsync = [], os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.fstat(fd).st_size) or real_fsync(fd))
    paid_history(tmp_path / "history.csv")
    lines = (tmp_path / "history.csv").read_bytes().splitlines(keepends=True)
    assert synced == [sum(len(line) for line in lines[:n]) for n in range(1, len(lines) + 1)]


# -- signals and one-line errors ------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_run_says_how_to_resume_and_saves_results(signum: int, workdir: Path):
    run_dir = workdir / f"stopped-{signum}"
    env = {**os.environ, "NASGEN_CACHE": str(workdir / "cache")}
    # Started with SIGINT ignored, as a non-interactive shell starts a background job: the run must
    # stop on SIGINT all the same (it completed instead, before nasgen installed its own handler).
    running = subprocess.Popen([sys.executable, "-m", "nasgen.cli", "run", *LONG_RUN, f"hydra.run.dir={run_dir}"],
                               cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 300
    while not ((run_dir / "history.csv").is_file() and len(history(run_dir)) >= 16):  # the model now trains
        assert running.poll() is None and time.monotonic() < deadline, running.communicate()[0]
        time.sleep(0.1)
    if signum == signal.SIGTERM:  # a second writer is refused while the run is going
        second = nasgen("resume", str(run_dir), cache=workdir / "cache", cwd=workdir)
        assert second.returncode == 1 and "is in use by another nasgen run" in second.stderr
    running.send_signal(signum)
    output = running.communicate(timeout=300)[0]

    assert running.returncode == 130, output
    assert f"interrupted; resume with `nasgen resume {run_dir}`" in output
    assert "Traceback" not in output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "interrupted"
    assert 16 <= results["queries"] == len(history(run_dir)) < 192


@pytest.mark.parametrize("overrides, folder", [
    (["hydra.run.dir={blocker}/run"], "{blocker}/run"),
    (["-m", "hydra.sweep.dir={blocker}/sweep"], "{blocker}/sweep"),
    ([], "outputs/"),  # the default folder
])
def test_an_unwritable_output_folder_is_one_line(overrides: list[str], folder: str, tmp_path: Path):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where a folder should be")
    result = nasgen("run", *[o.format(blocker=blocker) for o in overrides], *QUICK_RUN, cache=tmp_path / "cache",
                    cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"nasgen: error: cannot write to the output folder {folder.format(blocker=blocker)}")
