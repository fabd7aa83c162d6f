"""Running every search method of a benchmark through the real command line, for the tests of
each benchmark's searches (tests/test_nb101_search.py, tests/test_nb301_search.py)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

# (sweep folder, its overrides, the methods it runs one after the other)
Sweep = tuple[str, list[str], tuple[str, ...]]


def nasgen(*args: str, cwd: Path, data: Path) -> subprocess.CompletedProcess:
    """``nasgen`` in ``cwd`` with its own generator cache and ``data`` as NASGEN_DATA."""
    env = {**os.environ, "NASGEN_DATA": str(data), "NASGEN_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "nasgen.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def run_sweeps(workdir: Path, data: Path, common: Sequence[str], sweeps: Sequence[Sweep]) -> None:
    """Each sweep as one multirun (one process; its runs one after the other) into
    ``workdir/<folder>/<job>``."""
    for folder, overrides, _ in sweeps:
        result = nasgen("run", "-m", *common, *overrides, f"hydra.sweep.dir={folder}",
                        "hydra.sweep.subdir=${hydra.job.num}", cwd=workdir, data=data)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def sweep_runs(sweeps: Sequence[Sweep]) -> list[tuple[str, int, str]]:
    """``(folder, job, method)`` of every run of ``sweeps``, to parametrise a test over."""
    return [(folder, job, method) for folder, _, methods in sweeps for job, method in enumerate(methods)]
