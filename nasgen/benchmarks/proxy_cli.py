"""``nasgen data score-proxies``: fill the proxy store for a whole space, a sample or a list.

    nasgen data score-proxies [--proxies a,b,c] [--sample N [--seed S] | --archs FILE] [--device cuda]
                              [hydra overrides, e.g. benchmark=proxy_darts search_space=darts
                               benchmark.input.dataset=cifar10]

The benchmark is composed from the package's configs exactly as a run composes it
(``experiment=none benchmark=proxy`` unless the overrides name others), so the store's settings
hash, and with it the values, are the ones a run with the same overrides reads. Cells already
stored are skipped (a killed job resumes); every value is appended as soon as it is scored.
Afterwards each proxy's ``timing.json`` (in its store folder) records the wall-clock per cell
over the stored rows and the peak resident memory of this process.
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from nasgen.benchmarks.proxy import ProxyBenchmark
from nasgen.errors import ConfigError, DataError
from nasgen.reporting.console import progress_bar
from nasgen.spaces.base import Arch, IndexedSpace, arch_id


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``score-proxies`` subcommand of ``nasgen data``."""
    scorer = commands.add_parser("score-proxies", help="score architectures with training-free proxies into the "
                                                       "proxy store ($NASGEN_CACHE/proxies), resumably",
                                 description=__doc__.split("\n\n")[0])
    scorer.add_argument("--proxies", help="comma-separated proxy names (default: the benchmark's proxies)")
    which = scorer.add_mutually_exclusive_group()
    which.add_argument("--sample", type=int, metavar="N", help="a fixed random sample of N architectures "
                                                               "(default: every architecture of an indexed space)")
    which.add_argument("--archs", type=Path, metavar="FILE", help="architectures to score, one string per line")
    scorer.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    scorer.add_argument("--device", help="cpu | cuda | cuda:N (the config's `device` otherwise)")
    scorer.add_argument("overrides", nargs="*", help="Hydra overrides of the composed config")
    scorer.set_defaults(run=run)


def composed_benchmark(overrides: list[str]) -> ProxyBenchmark:
    """The benchmark a run with these overrides builds: an ``experiment=`` brings its own benchmark
    (``benchmark=`` still overrides it); without one, ``experiment=none`` and ``benchmark=proxy``
    unless the overrides choose another benchmark."""
    from nasgen.build import build  # the run's builder; imported here to keep `nasgen data` light

    def chosen(group: str) -> bool:
        return any(o.lstrip("+~").startswith(f"{group}=") for o in overrides)

    defaults = [] if chosen("experiment") else \
        ["experiment=none", *([] if chosen("benchmark") else ["benchmark=proxy"])]
    GlobalHydra.instance().clear()
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        cfg = compose("config", [*defaults, *overrides])
    benchmark = build(cfg.benchmark, "benchmark")
    if not isinstance(benchmark, ProxyBenchmark):
        raise ConfigError(f"score-proxies needs a proxy benchmark (benchmark=proxy or proxy_darts), "
                          f"got {type(benchmark).__name__}")
    return benchmark


def architectures(benchmark: ProxyBenchmark, sample: int | None, seed: int, archs: Path | None) -> list[Arch]:
    """The architectures to score, without repeats (by id), in a fixed order."""
    space = benchmark.space
    if archs is not None:
        try:
            lines = [line.strip() for line in archs.read_text().splitlines()]
        except OSError as exc:
            raise DataError(f"cannot read --archs {archs}: {exc.strerror}") from None
        chosen = [space.from_str(line) for line in lines if line and not line.startswith("#")]
    elif sample is not None:
        if sample < 1:
            raise ConfigError(f"--sample must be a positive integer, got {sample}")
        chosen = space.sample(sample, np.random.default_rng(seed))
    elif isinstance(space, IndexedSpace):
        chosen = space.enumerate()
    else:
        raise ConfigError(f"the {space.name} space cannot be listed whole; use --sample N or --archs FILE")
    unique = {arch_id(space, arch): arch for arch in reversed(chosen)}
    return [unique[key] for key in dict.fromkeys(arch_id(space, arch) for arch in chosen)]


def run(args: argparse.Namespace) -> int:
    overrides = [*args.overrides, *([f"device={args.device}"] if args.device else [])]
    benchmark = composed_benchmark(overrides)
    proxies = args.proxies.split(",") if args.proxies else list(benchmark.plans)
    for name in proxies:
        if name not in benchmark.plans:
            raise ConfigError(f"proxy {name!r} is not one of the benchmark's: {', '.join(benchmark.plans)} "
                              f"(add it with benchmark.proxies=[...])")
    archs = architectures(benchmark, args.sample, args.seed, args.archs)
    before = {name: len(benchmark.plans[name].store) for name in proxies}
    start = time.perf_counter()
    for arch in progress_bar(archs, desc=f"scoring {', '.join(proxies)}", unit="cell"):
        benchmark.score(arch, proxies)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if platform.system() != "Darwin" else 1024**2)
    print(f"{len(archs)} cells of {benchmark.space.name} in {seconds:.1f} s on {benchmark.device}, "
          f"peak RSS {peak_mb:.0f} MB")
    wanted = {arch_id(benchmark.space, arch) for arch in archs}
    for name in proxies:
        store = benchmark.plans[name].store
        per_cell = np.array([s for i, _, _, s in store.rows() if i in wanted]) if store.persist else np.array([])
        timing = {"proxy": name, "cells_requested": len(archs), "cells_scored_now": len(store) - before[name],
                  "cells_stored": len(store),
                  "seconds_per_cell_mean": float(per_cell.mean()) if len(per_cell) else None,
                  "seconds_per_cell_median": float(np.median(per_cell)) if len(per_cell) else None,
                  "seconds_total_stored": float(per_cell.sum()), "peak_rss_MB": round(peak_mb, 1),
                  "device": str(benchmark.device), "torch_threads": torch.get_num_threads(),
                  "python": sys.version.split()[0], "torch": torch.__version__}
        # a run that scored nothing keeps the timing (and peak memory) of the run that did
        where = (store.write_timing(timing) if timing["cells_scored_now"] else store.folder) if store.persist \
            else "kept in memory only (benchmark.store=false)"
        mean = f"{timing['seconds_per_cell_mean']:.4f} s/cell" if len(per_cell) else "no timing"
        print(f"  proxy/{name}: {timing['cells_scored_now']} scored now, {len(store)} stored, {mean} -> {where}")
    return 0
