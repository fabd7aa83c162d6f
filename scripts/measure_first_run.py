"""How long a new user waits: the first run on a fresh cache vs a run with the generator cached.

    python scripts/measure_first_run.py                 # two runs of experiment=ag_net_nb201 (a few min)
    python scripts/measure_first_run.py --pretraining   # also a run that must pretrain (pretrain.seed=1)
    python scripts/measure_first_run.py --sweep         # also the 30-run Table-2 sweep (15-30 min)

Runs ``nasgen run experiment=ag_net_nb201`` in subprocesses, one after the other, each with its
own ``$NASGEN_CACHE``: once on an empty cache (a fresh install: the generator shipped in the
package is used) and once with the generator already in the cache (copied there beforehand).
Prints wall-clock and CPU time (user + system of the run's processes) of each, the generator's
source from ``results.json``, and the ratio fresh / cached (issue 15 target: at most 1.3).
``--sweep`` times ``scripts/reproduce_nb201.py ag_net_nb201 --seeds 10 --jobs 2`` on a fresh cache;
with ``--pretraining`` too it prints the ratio to the same sweep as it was when every seed pretrained
its own generator (this sweep plus 10 pretrainings shared by the parallel jobs), measured on this
machine (target: a third; before, on the machine of docs/results.md: 1,218 s).
Times grow with the machine's load; compare runs measured side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nasgen.generators import AGNetGenerator
from nasgen.generators.pretrain import PretrainConfig, generator_stem, shipped_dir
from nasgen.spaces import NB201Space

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 10
SWEEP_BEFORE_S = 1218.0  # docs/results.md, measured before the generator shipped


def timed(command: list[str], cache: Path, cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``command`` run with ``NASGEN_CACHE=cache``."""
    env = {**os.environ, "NASGEN_CACHE": str(cache)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(name: str, work: Path, cache: Path, *overrides: str) -> dict:
    command = [sys.executable, "-m", "nasgen.cli", "run", "experiment=ag_net_nb201", f"hydra.run.dir=runs/{name}"]
    wall, cpu = timed([*command, *overrides], cache, work)
    generator = json.loads((work / "runs" / name / "results.json").read_text())["search_stats"]["pretrain"]
    print(f"{name:<12} wall {wall:7.1f} s   CPU {cpu:7.1f} s   generator: {generator['source']} "
          f"(sha256 {generator['sha256'][:12]}, pretrain.seed {generator['seed']})")
    return {"wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretraining", action="store_true", help="also time a run that pretrains (pretrain.seed=1)")
    parser.add_argument("--sweep", action="store_true", help="also time the 30-run ag_net_nb201 sweep (minutes)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs of the sweep")
    parser.add_argument("--keep", metavar="DIR", help="keep the runs and caches in DIR (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nasgen-first-run-") as tmp:
        work = Path(args.keep or tmp).resolve()  # the runs start in other folders
        fresh_cache, warm_cache = work / "fresh-cache", work / "warm-cache"
        stem = generator_stem(NB201Space(), AGNetGenerator(NB201Space().graph), PretrainConfig())
        (warm_cache / "generators").mkdir(parents=True)
        for suffix in (".pt", ".json"):
            shutil.copy(shipped_dir() / f"{stem}{suffix}", warm_cache / "generators" / f"{stem}{suffix}")

        fresh = run("fresh", work, fresh_cache)
        cached = run("cached", work, warm_cache)
        print(f"fresh / cached: wall {fresh['wall'] / cached['wall']:.2f}x, CPU {fresh['cpu'] / cached['cpu']:.2f}x "
              "(target <= 1.3)")
        pretraining_s = None
        if args.pretraining:
            pretrained = run("pretraining", work, work / "empty-cache", "pretrain.seed=1")
            pretraining_s = pretrained["wall"] - cached["wall"]
            print(f"pretraining / cached: wall {pretrained['wall'] / cached['wall']:.2f}x, "
                  f"CPU {pretrained['cpu'] / cached['cpu']:.2f}x; pretraining alone {pretraining_s:.0f} s")
        if args.sweep:
            wall, cpu = timed([sys.executable, str(ROOT / "scripts" / "reproduce_nb201.py"), "ag_net_nb201",
                               "--seeds", str(SEEDS), "--jobs", str(args.jobs), "--out", str(work / "sweep")],
                              work / "sweep-cache", ROOT)
            print(f"30-run sweep ({args.jobs} jobs): wall {wall:.0f} s, CPU {cpu:.0f} s "
                  f"(the sweep before, on the machine docs/results.md was measured on: {SWEEP_BEFORE_S:.0f} s)")
            if pretraining_s is not None:
                # before, every seed pretrained its own generator: this sweep plus one pretraining per seed
                before = wall + SEEDS * pretraining_s / args.jobs
                print(f"the same sweep with one pretraining per seed, on this machine: {before:.0f} s; "
                      f"now / before {wall / before:.2f} (target <= 0.33)")


if __name__ == "__main__":
    main()
