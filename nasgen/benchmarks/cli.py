"""``nasgen data``: list, import and verify benchmark tables.

    nasgen data list
    nasgen data import {nats,csv} PATH [--force]
    nasgen data verify [TABLE ...]

Errors the user can act on are raised as :class:`nasgen.errors.NasgenError`; the
top-level ``nasgen`` command prints them as one line.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nasgen.benchmarks.nb201 import NATS_DIRNAME, build_cache, metric_name
from nasgen.benchmarks.tables import MetricTable
from nasgen.errors import NasgenError
from nasgen.paths import CACHE_ENV, DATA_ENV, cache_dir, data_root
from nasgen.spaces.nb201 import NUM_ARCHS

# Published NAS-Bench-201 optima (200-epoch test accuracy, %): a sanity check of the bundled table.
KNOWN_OPTIMA = {
    metric_name("cifar10", "test", 200): 94.373,
    metric_name("cifar100", "test", 200): 73.513,
    metric_name("ImageNet16-120", "test", 200): 47.311,
}
OPTIMUM_TOLERANCE = 1e-3


def _archs_with_values(table: MetricTable) -> int:
    """Number of architectures with at least one non-NaN metric."""
    has_value = np.zeros(NUM_ARCHS, dtype=bool)
    for metric in table.metrics:
        has_value |= ~np.isnan(table.column(metric))
    return int(has_value.sum())


def _list(args: argparse.Namespace) -> int:
    root = data_root()
    if root is None:
        print(f"data root (${DATA_ENV}): not set")
    else:
        found = [name for name in ("nb201", NATS_DIRNAME) if (root / name).exists()]
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
    imported = sorted(cache.glob("nb201_*.npz"))
    for path in imported:
        cached = MetricTable(path)
        try:
            origin = f"{cached.provenance.get('source', '?')} {cached.provenance.get('path', '?')}"
            summary = (f"{len(cached.metrics)} metrics, "
                       f"{_archs_with_values(cached)} archs with values, from {origin}")
        except NasgenError as exc:  # one broken entry should not hide the others
            summary = f"unreadable: {exc}"
        print(f"  {path.name}  {summary}")
    if not imported:
        print("  (none; add one with: nasgen data import {nats,csv} PATH)")
    return 0


def _import(args: argparse.Namespace) -> int:
    source_path = Path(args.path).expanduser()
    existing = set(cache_dir().glob("nb201_*.npz"))
    # build_cache owns the cache naming and returns an existing entry without work,
    # so ask it for the target first and only rebuild when --force names an old one.
    target = build_cache(args.source, source_path)
    if target in existing:
        if args.force:
            for stale in (target, target.with_suffix(".json")):
                stale.unlink(missing_ok=True)
            target = build_cache(args.source, source_path)
        else:
            print(f"{source_path} was already imported (use --force to rebuild)")
    table = MetricTable(target)
    print(f"table: {target}")
    print(f"  {len(table.metrics)} metrics, "
          f"{_archs_with_values(table)} of {NUM_ARCHS} archs with values")
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
    ]
    results = [_check(name, check) for name, check in checks]
    return 0 if all(results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasgen data", description="Manage NAS benchmark tables.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="show the bundled table, imported tables and the data root"
                        ).set_defaults(run=_list)

    importer = commands.add_parser("import", help="import benchmark files into the nasgen cache")
    importer.add_argument("source", choices=("nats", "csv"),
                          help=f"nats: an official {NATS_DIRNAME} directory; csv: a folder of "
                               "nasgen's NB201 CSV tables (e.g. ../shared/benchmarks/nb201)")
    importer.add_argument("path", help="directory to import")
    importer.add_argument("--force", action="store_true",
                          help="delete and rebuild an existing import")
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
