"""``nasgen data`` for NAS-Bench-201: list, import and verify its tables.

The bundled accuracy table, imports of a NATS-Bench archive or nasgen's CSVs, and the hardware
cost tables (HELP, HW-NAS-Bench, a user CSV) all hold one row per NB201 index; the checks compare
the bundled table with the published optima.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

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
from nasgen.errors import NasgenError
from nasgen.paths import CACHE_ENV, DATA_ENV, cache_dir
from nasgen.spaces.nb201 import NUM_ARCHS

# Published NAS-Bench-201 optima (200-epoch test accuracy, %): a sanity check of the bundled table.
KNOWN_OPTIMA = {
    metric_name("cifar10", "test", 200): 94.373,
    metric_name("cifar100", "test", 200): 73.513,
    metric_name("ImageNet16-120", "test", 200): 47.311,
}
OPTIMUM_TOLERANCE = 1e-3
ACCURACY_IMPORTS = tuple(source for source in IMPORT_SOURCES if source not in COST_IMPORTS)


class NB201Data:
    """``nasgen data`` for NB201: the bundled table, accuracy imports and hardware-cost tables."""

    name = "nb201"
    import_sources = IMPORT_SOURCES
    import_help = (f"nats: an official {NATS_DIRNAME} directory or {NATS_FILENAME} file; csv: a folder of "
                   "nasgen's NB201 CSV tables (e.g. ../shared/benchmarks/nb201); help: "
                   "help_all_devices_latency.csv.gz; hwnasbench: HW-NAS-Bench-v1_0.pickle; "
                   "costs: your CSV of per-architecture costs (index or arch_str column, "
                   f"one column per device; --metric names each column's metric, default {DEFAULT_CSV_METRIC})")
    data_names = ("nb201", NATS_DIRNAME, NATS_FILENAME)

    def list_tables(self, root: Path | None) -> None:
        bundled = MetricTable.bundled("nb201")
        _list_bundled(bundled)
        cache = cache_dir()
        print(f"\nimported tables in {cache} (${CACHE_ENV}):")
        imported = _imported(ACCURACY_IMPORTS)
        for path in imported:
            print(f"  {path.name}  {_summary(MetricTable(path))}")
        if not imported:
            print(f"  (none; add one with: nasgen data import {{{','.join(ACCURACY_IMPORTS)}}} PATH)")
        _list_costs(root, bundled)

    def import_file(self, source: str, path: Path, force: bool, metric: str | None) -> None:
        current = current_import(source, path, metric)
        if current is not None and not force:
            print(f"{path} was already imported and is unchanged (use --force to rebuild)")
            target = current
        else:
            target = build_cache(source, path, metric, force=force)
        table = MetricTable(target)
        print(f"table: {target}")
        print(f"  {len(table.metrics)} metrics, {_archs_with_values(table)} of {NUM_ARCHS} archs with values")
        for line in _families(table.metrics):
            print(f"    {line}")
        gaps = table.gaps(NUM_ARCHS)
        if gaps:
            print(f"  warning: {gaps}; runs refuse it unless benchmark.allow_partial=true")

    def checks(self) -> list[tuple[str, Callable[[], str | None]]]:
        bundled = MetricTable.bundled("nb201")

        def rows() -> str | None:
            wrong = [m for m in bundled.metrics if bundled.column(m).shape != (NUM_ARCHS,)]
            return f"not {NUM_ARCHS} rows: {', '.join(wrong)}" if wrong else None

        def optimum(metric: str, expected: float) -> Callable[[], str | None]:
            def check() -> str | None:
                best = float(np.nanmax(bundled.column(metric)))
                return f"max {best:.3f} != {expected}" if abs(best - expected) > OPTIMUM_TOLERANCE else None
            return check

        return [
            (f"sha256 {bundled.path}", bundled.verify),
            (f"bundled table has {NUM_ARCHS} rows per metric", rows),
            *((f"bundled optimum {metric} = {value}", optimum(metric, value))
              for metric, value in KNOWN_OPTIMA.items()),
        ]


def _imported(sources: Iterable[str]) -> list[Path]:
    """Cached NB201 imports of the given sources, by name."""
    return sorted(path for source in sources for path in cache_dir().glob(f"nb201_{source}_*.npz"))


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


def _list_bundled(table: MetricTable) -> None:
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
        span = f"min {np.nanmin(column):9.3f}  max {np.nanmax(column):9.3f}" if count else "no values"
        print(f"    {metric:<{width}}  {count:6d} values  {span}")


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
    imported = _imported(COST_IMPORTS)
    for path in imported:
        table = MetricTable(path)
        print(f"    {path.name}  {_summary(table)}")
        with contextlib.suppress(NasgenError):  # _summary has reported it unreadable
            print(f"      {'; '.join(_families(table.metrics))}")
    if not imported:
        print(f"    (none; benchmark.costs imports on first use, or: nasgen data import "
              f"{{{','.join(COST_IMPORTS)}}} PATH)")
