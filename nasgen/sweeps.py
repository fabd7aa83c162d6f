"""Launching a multirun sweep from Python (used by the reproduction scripts)."""
from __future__ import annotations

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
