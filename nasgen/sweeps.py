"""Launching a multirun sweep from Python (used by the reproduction scripts)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence


def launch_sweep(overrides: Sequence[str], sweep_dir: "str | Path", jobs: int = 1) -> float:
    """Run ``nasgen run -m <overrides>`` into ``sweep_dir`` (Hydra's joblib launcher with
    ``jobs`` parallel processes when ``jobs > 1``); return the wall-clock seconds."""
    command = [sys.executable, "-m", "nasgen.cli", "run", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    if jobs > 1:
        command += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"]
    print(" ".join(["nasgen", *command[3:]]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    print(f"sweep wall-clock: {seconds:.0f} s with {jobs} parallel job(s)\n", flush=True)
    return seconds


def add_sweep_arguments(parser: argparse.ArgumentParser, out: str | None, example: str) -> None:
    """The arguments every reproduction script takes: seeds, parallel jobs, the sweep folder
    (``out``: its default; ``None``: the script derives one), summarising only, extra overrides."""
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="run seeds first-seed .. seeds-1 (to complete a stopped sweep into a new folder)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs (one core each)")
    parser.add_argument("--out", default=out, help="sweep folder" + ("" if out else " (default outputs/reproduce/"
                                                                                  "<experiment>)"))
    parser.add_argument("--summarize-only", metavar="DIR", help="only summarise an existing sweep folder")
    parser.add_argument("overrides", nargs="*", help=f"extra Hydra overrides, e.g. {example}")
