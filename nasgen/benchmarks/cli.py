"""``nasgen data``: list, import and verify benchmark tables.

    nasgen data list
    nasgen data import {nats,csv,help,hwnasbench,costs,nb101} PATH [--metric FORMAT] [--force]
    nasgen data verify [TABLE ...]

NB201 is handled here; other benchmarks answer through their :class:`BenchmarkData` (registered
in ``DATA_PROVIDERS``), so that no fact of theirs lives in this module.

Errors the user can act on are raised as :class:`nasgen.errors.NasgenError`; the
top-level ``nasgen`` command prints them as one line.
"""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from nasgen.benchmarks.costs import (
    DEFAULT_CSV_METRIC,
    HELP_HINT,
    HWNAS_DATASETS,
    HWNAS_ENERGY,
    HWNAS_HINT,
    HWNAS_LATENCY,
    csv_devices,
)
from nasgen.benchmarks.nb101 import NB101Data
from nasgen.benchmarks.nb201 import (
    COST_DEFAULT_PATHS,
    COST_IMPORTS,
    IMPORT_SOURCES,
    NATS_DIRNAME,
    NATS_FILENAME,
    build_cache,
    current_import,
    metric_name,
)
from nasgen.benchmarks.tables import MetricTable
from nasgen.errors import ConfigError, NasgenError
from nasgen.paths import CACHE_ENV, DATA_ENV, cache_dir, data_root
from nasgen.spaces.nb201 import NUM_ARCHS

# Published NAS-Bench-201 optima (200-epoch test accuracy, %): a sanity check of the bundled table.
KNOWN_OPTIMA = {
    metric_name("cifar10", "test", 200): 94.373,
    metric_name("cifar100", "test", 200): 73.513,
    metric_name("ImageNet16-120", "test", 200): 47.311,
}
OPTIMUM_TOLERANCE = 1e-3


class BenchmarkData(Protocol):
    """What ``nasgen data`` asks of a benchmark's tables."""

    name: str
    import_help: str  # what ``nasgen data import NAME PATH`` accepts

    def list_tables(self, root: Path | None) -> None:
        """Print the benchmark's files under the data root ``root`` and its imported tables."""

    def import_file(self, path: Path, force: bool) -> None:
        """Import ``path`` into the cache (unless current, or ``force``) and print what it holds."""

    def checks(self) -> list[tuple[str, Callable[[], str | None]]]:
        """``(name, check)`` of each check of the imported tables; a check returns a problem or None."""


DATA_PROVIDERS: dict[str, BenchmarkData] = {provider.name: provider for provider in (NB101Data(),)}


def _archs_with_values(table: MetricTable) -> int:
    """Number of architectures with at least one non-NaN metric."""
    has_value = np.zeros(NUM_ARCHS, dtype=bool)
    for metric in table.metrics:
        has_value |= ~np.isnan(table.column(metric))
    return int(has_value.sum())


def _families(metrics: Iterable[str]) -> list[str]:
    """Metric names grouped by all but their device part, e.g. ``latency/*_ms: fpga, pixel3``."""
    groups: dict[str, list[str]] = {}
    for metric in sorted(metrics):
        family, slash, leaf = metric.rpartition("/")
        device, underscore, unit = leaf.rpartition("_")
        if not device:
            device, underscore, unit = leaf, "", ""
        groups.setdefault(f"{family}{slash}*{underscore}{unit}", []).append(device)
    return [f"{pattern}: {', '.join(devices)}" for pattern, devices in groups.items()]


def _summary(table: MetricTable) -> str:
    """Size and origin of an imported table; one broken entry should not hide the others."""
    try:
        origin = f"{table.provenance.get('source', '?')} {table.provenance.get('path', '?')}"
        return f"{len(table.metrics)} metrics, {_archs_with_values(table)} archs with values, from {origin}"
    except NasgenError as exc:
        return f"unreadable: {exc}"


def _list_costs(root: Path | None, bundled: MetricTable) -> None:
    print("\nhardware cost metrics (devices):")
    latency = [m for m in bundled.metrics if m.startswith("latency/")]
    print(f"  bundled table: {'; '.join(_families(latency))}")
    if root is None:
        print(f"  HELP / HW-NAS-Bench files: data root (${DATA_ENV}) not set")
    else:
        help_path = root / COST_DEFAULT_PATHS["help"]
        if help_path.is_file():
            try:
                devices = csv_devices(help_path)
                print(f"  HELP {help_path}: present, benchmark.costs=[help] adds {len(devices)} devices")
                print(f"    {'; '.join(_families(DEFAULT_CSV_METRIC.format(column=d) for d in devices))}")
            except NasgenError as exc:
                print(f"  HELP {help_path}: unreadable: {exc}")
        else:
            print(f"  HELP {help_path}: not found ({HELP_HINT})")
        hwnas_path = root / COST_DEFAULT_PATHS["hwnasbench"]
        if hwnas_path.is_file():
            print(f"  HW-NAS-Bench {hwnas_path}: present, benchmark.costs=[hwnasbench] adds "
                  f"{{dataset}}/latency/*_ms: {', '.join(HWNAS_LATENCY)}; {{dataset}}/energy/*_mJ: "
                  f"{', '.join(HWNAS_ENERGY)} (dataset: {', '.join(HWNAS_DATASETS)}; "
                  "CIFAR-10 also as latency/*_ms, energy/*_mJ)")
        else:
            print(f"  HW-NAS-Bench {hwnas_path}: not found ({HWNAS_HINT})")
    print("  imported cost tables:")
    imported = sorted(p for source in COST_IMPORTS for p in cache_dir().glob(f"nb201_{source}_*.npz"))
    for path in imported:
        table = MetricTable(path)
        print(f"    {path.name}  {_summary(table)}")
        with contextlib.suppress(NasgenError):  # _summary has reported it unreadable
            print(f"      {'; '.join(_families(table.metrics))}")
    if not imported:
        print("    (none; benchmark.costs imports on first use, or: nasgen data import {help,hwnasbench,costs} PATH)")


def _list(args: argparse.Namespace) -> int:
    root = data_root()
    if root is None:
        print(f"data root (${DATA_ENV}): not set")
    else:
        found = [name for name in ("nb201", NATS_DIRNAME, NATS_FILENAME) if (root / name).exists()]
        found_text = ", ".join(found) or "no known benchmark folders"
        print(f"data root (${DATA_ENV}): {root}  [found: {found_text}]")

    table = MetricTable.bundled("nb201")
    prov = table.provenance
    print(f"\nbundled table: {table.path} ({table.path.stat().st_size / 1e6:.2f} MB)")
    for field in ("rows", "units", "licence", "sha256", "built_by"):
        print(f"  {field}: {prov.get(field, '?')}")
    print("  sources:")
    for name, source in prov.get("sources", {}).items():
        print(f"    {name}  sha256 {source['sha256'][:16]}...  ({source['what']})")
    print(f"  metrics ({len(table.metrics)}):")
    width = max(map(len, table.metrics))
    for metric in sorted(table.metrics):
        column = table.column(metric)
        count = int(np.count_nonzero(~np.isnan(column)))
        span = (f"min {np.nanmin(column):9.3f}  max {np.nanmax(column):9.3f}"
                if count else "no values")
        print(f"    {metric:<{width}}  {count:6d} values  {span}")

    cache = cache_dir()
    print(f"\nimported tables in {cache} (${CACHE_ENV}):")
    imported = sorted(p for source in ("nats", "csv") for p in cache.glob(f"nb201_{source}_*.npz"))
    for path in imported:
        print(f"  {path.name}  {_summary(MetricTable(path))}")
    if not imported:
        print("  (none; add one with: nasgen data import {nats,csv} PATH)")
    _list_costs(root, table)
    for provider in DATA_PROVIDERS.values():
        provider.list_tables(root)
    return 0


def _import(args: argparse.Namespace) -> int:
    source_path = Path(args.path).expanduser()
    if args.source in DATA_PROVIDERS:
        if args.metric is not None:
            raise ConfigError(f"--metric applies to cost CSVs (source costs) only, not to {args.source}")
        DATA_PROVIDERS[args.source].import_file(source_path, args.force)
        return 0
    current = current_import(args.source, source_path, args.metric)
    if current is not None and not args.force:
        print(f"{source_path} was already imported and is unchanged (use --force to rebuild)")
        target = current
    else:
        target = build_cache(args.source, source_path, args.metric, force=args.force)
    table = MetricTable(target)
    print(f"table: {target}")
    print(f"  {len(table.metrics)} metrics, "
          f"{_archs_with_values(table)} of {NUM_ARCHS} archs with values")
    for line in _families(table.metrics):
        print(f"    {line}")
    gaps = table.gaps(NUM_ARCHS)
    if gaps:
        print(f"  warning: {gaps}; runs refuse it unless benchmark.allow_partial=true")
    return 0


def _check(name: str, check: Callable[[], str | None]) -> bool:
    """Run one check (returns a problem or None), print OK/FAIL, return whether it passed."""
    try:
        problem = check()
    except NasgenError as exc:
        problem = str(exc).replace("\n", " ")
    print(f"{'FAIL' if problem else 'OK  '}  {name}" + (f": {problem}" if problem else ""))
    return problem is None


def _verify(args: argparse.Namespace) -> int:
    bundled = MetricTable.bundled("nb201")

    def rows() -> str | None:
        wrong = [m for m in bundled.metrics if bundled.column(m).shape != (NUM_ARCHS,)]
        return f"not {NUM_ARCHS} rows: {', '.join(wrong)}" if wrong else None

    def optimum(metric: str, expected: float) -> Callable[[], str | None]:
        def check() -> str | None:
            best = float(np.nanmax(bundled.column(metric)))
            if abs(best - expected) > OPTIMUM_TOLERANCE:
                return f"max {best:.3f} != {expected}"
            return None
        return check

    checks: list[tuple[str, Callable[[], str | None]]] = [
        (f"sha256 {bundled.path}", bundled.verify),
        *((f"sha256 {path}", lambda path=path: MetricTable(path).verify()) for path in args.tables),
        (f"bundled table has {NUM_ARCHS} rows per metric", rows),
        *((f"bundled optimum {metric} = {value}", optimum(metric, value))
          for metric, value in KNOWN_OPTIMA.items()),
        *(check for provider in DATA_PROVIDERS.values() for check in provider.checks()),
    ]
    results = [_check(name, check) for name, check in checks]
    return 0 if all(results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasgen data", description="Manage NAS benchmark tables.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="show the bundled table, imported tables and the data root"
                        ).set_defaults(run=_list)

    importer = commands.add_parser("import", help="import benchmark files into the nasgen cache")
    importer.add_argument("source", choices=(*IMPORT_SOURCES, *DATA_PROVIDERS),
                          help=f"nats: an official {NATS_DIRNAME} directory or {NATS_FILENAME} file; csv: a folder of "
                               "nasgen's NB201 CSV tables (e.g. ../shared/benchmarks/nb201); help: "
                               "help_all_devices_latency.csv.gz; hwnasbench: HW-NAS-Bench-v1_0.pickle; "
                               "costs: your CSV of per-architecture costs (index or arch_str column, "
                               "one column per device); "
                               + "; ".join(provider.import_help for provider in DATA_PROVIDERS.values()))
    importer.add_argument("path", help="directory or file to import")
    importer.add_argument("--metric", metavar="FORMAT",
                          help=f"costs only: metric name of each device column (default {DEFAULT_CSV_METRIC})")
    importer.add_argument("--force", action="store_true",
                          help="import again even if the cached import is current (nasgen re-imports a "
                               "source whose files changed in size or modification time by itself)")
    importer.set_defaults(run=_import)

    verifier = commands.add_parser("verify",
                                   help="check table checksums and the bundled table's contents")
    verifier.add_argument("tables", nargs="*", type=Path, metavar="TABLE",
                          help="further .npz tables to checksum (e.g. imported ones)")
    verifier.set_defaults(run=_verify)
    return parser


def main(argv: list[str]) -> int:
    """Entry point of ``nasgen data``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)
