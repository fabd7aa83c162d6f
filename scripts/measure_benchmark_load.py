"""Measure the cost of opening an NB201 table and querying one metric for every arch.

    python scripts/measure_benchmark_load.py [--shared ../shared/benchmarks] [--repeats 5]

Each measurement runs in a fresh interpreter, so nothing is cached in memory; the
figures are medians over ``--repeats`` runs. Per run it reports the wall time of
importing nasgen's NB201 benchmark module, of opening the table, and of querying
``--metric`` for all 15,625 archs (including the space's arch -> index map, built on first
use); the rise of peak RSS (``ru_maxrss``) caused by open + query; and the peak of Python
allocations during open + query (tracemalloc, measured in separate runs because tracing
slows the timed code). Cases: (a) the bundled table,
(b) a NATS-Bench archive imported into a temporary ``$NASGEN_CACHE`` (import timed too).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NATS_FIXTURE = "nb201/nats_fixture/NATS-tss-v1_0-3ffb9-simple"
NATS_FIXTURE_RECORDS = (0, 11, 284)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(case: str, metric: str, nats: str, trace: bool) -> dict[str, float]:
    """One measurement, run in a fresh interpreter; returns times in ms and memory in MB."""
    start = time.perf_counter()
    from nasgen.benchmarks.nb201 import NB201Benchmark, build_cache
    from nasgen.spaces.nb201 import NB201Space

    imported = time.perf_counter()
    result = {"import_module_ms": (imported - start) * 1e3}
    if case == "import":
        build_cache("nats", Path(nats))
        result["build_cache_ms"] = (time.perf_counter() - imported) * 1e3
        return result

    archs = NB201Space().enumerate()  # the caller's arch list is not part of the table's cost
    if case == "nats":  # the fixture holds three records: query those
        archs = [archs[i] for i in NATS_FIXTURE_RECORDS]
    rss_before = _peak_rss_mb()
    if trace:
        tracemalloc.start()
    opened_at = time.perf_counter()
    if case == "bundled":
        bench = NB201Benchmark(source="bundled")
    else:
        bench = NB201Benchmark(source="nats", path=nats, allow_partial=True)
    queried_at = time.perf_counter()
    values = bench.query(archs, metric)
    done = time.perf_counter()
    assert len(values) == len(archs)
    if trace:
        return {"tracemalloc_peak_mb": tracemalloc.get_traced_memory()[1] / 1e6}
    result.update(open_ms=(queried_at - opened_at) * 1e3, query_ms=(done - queried_at) * 1e3,
                  open_query_ms=(done - opened_at) * 1e3,
                  rss_increase_mb=_peak_rss_mb() - rss_before)
    return result


def run_child(case: str, args: argparse.Namespace, env: dict[str, str],
              trace: bool = False) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", case,
               "--metric", args.metric, "--shared", args.shared]
    if trace:
        command.append("--trace")
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report(title: str, figures: dict[str, float]) -> None:
    print(title)
    for key, value in figures.items():
        unit = "ms" if key.endswith("_ms") else "MB"
        print(f"  {key.rsplit('_', 1)[0]:<22} {value:9.2f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "benchmarks"),
                        help="folder holding nb201/ (default: ../shared/benchmarks)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--metric", default="cifar10/valid_acc@200")
    parser.add_argument("--child", choices=("bundled", "nats", "import"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    nats = str(Path(args.shared) / NATS_FIXTURE)

    if args.child:
        print(json.dumps(child(args.child, args.metric, nats, args.trace)))
        return
    if not Path(nats).is_dir():
        sys.exit(f"NATS-Bench fixture not found: {nats} (pass --shared)")

    print(f"{args.repeats} fresh-process runs each, medians; "
          f"metric {args.metric} for all 15,625 archs (b: the fixture's 3 records)\n")
    with tempfile.TemporaryDirectory(prefix="nasgen-measure-") as tmp:
        env = {**os.environ, "NASGEN_CACHE": tmp}
        cases = (("bundled", "(a) bundled table"),
                 ("nats", f"(b) NATS-Bench cache imported from {nats}"))
        for case, title in cases:
            if case == "nats":
                # Each import run starts from an empty cache; the last leaves the table for (b).
                imports = []
                for _ in range(args.repeats):
                    for stale in Path(tmp).glob("nb201_*"):
                        stale.unlink()
                    imports.append(run_child("import", args, env))
                report("one-off import of the NATS-Bench archive", medians(imports))
            runs = medians([run_child(case, args, env) for _ in range(args.repeats)])
            traced = medians([run_child(case, args, env, trace=True) for _ in range(args.repeats)])
            report(title, {**runs, **traced})
            print()


if __name__ == "__main__":
    main()
