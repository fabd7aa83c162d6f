"""``nasgen data``: list, import and verify benchmark tables.

    nasgen data list
    nasgen data import SOURCE PATH [--metric FORMAT] [--force]
    nasgen data verify [TABLE ...]
    nasgen data score-proxies [--proxies a,b] [--sample N | --archs FILE] [overrides]  (proxy_cli.py)

Each benchmark answers through its :class:`BenchmarkData` provider, registered in
``DATA_PROVIDERS``: this module parses the arguments, hands ``import SOURCE PATH`` to the
provider that owns ``SOURCE``, prints each provider's listing and runs each provider's checks,
so that no fact of a benchmark (its size, its files, its optima) lives here.

Errors the user can act on are raised as :class:`nasgen.errors.NasgenError`; the
top-level ``nasgen`` command prints them as one line.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from nasgen.benchmarks.nb101 import NB101Data
from nasgen.benchmarks.nb201_data import NB201Data
from nasgen.benchmarks.proxy_cli import add_parser as add_score_proxies
from nasgen.benchmarks.tables import MetricTable
from nasgen.errors import NasgenError
from nasgen.paths import DATA_ENV, data_root


class BenchmarkData(Protocol):
    """What ``nasgen data`` asks of a benchmark's tables.

    A provider prints its own lines (a listing, an import report) rather than returning records
    for this module to format: the benchmarks' reports share no layout worth a record type.
    """

    name: str  # the benchmark's name, as in ``benchmark=NAME``
    import_sources: Sequence[str]  # the SOURCE names of ``nasgen data import SOURCE PATH`` it owns
    import_help: str  # what each of its sources accepts, for ``nasgen data import --help``
    data_names: Sequence[str]  # folders and files under the data root that it reads

    def list_tables(self, root: Path | None) -> None:
        """Print the benchmark's files under the data root ``root`` and its bundled and imported tables."""

    def import_file(self, source: str, path: Path, force: bool, metric: str | None) -> None:
        """Import ``path`` as ``source`` into the cache (unless current, or ``force``) and print what it
        holds; ``metric`` is the ``--metric`` format, refused by a source that names no metrics."""

    def checks(self) -> list[tuple[str, Callable[[], str | None]]]:
        """``(name, check)`` of each check of its tables; a check returns a problem or None (or raises)."""


DATA_PROVIDERS: dict[str, BenchmarkData] = {provider.name: provider for provider in (NB201Data(), NB101Data())}


def _owner(source: str) -> BenchmarkData:
    """The provider that imports ``source`` (argparse has already refused unknown sources)."""
    return next(p for p in DATA_PROVIDERS.values() if source in p.import_sources)


def _list(args: argparse.Namespace) -> int:
    root = data_root()
    if root is None:
        print(f"data root (${DATA_ENV}): not set")
    else:
        found = [name for p in DATA_PROVIDERS.values() for name in p.data_names if (root / name).exists()]
        found_text = ", ".join(found) or "no known benchmark folders"
        print(f"data root (${DATA_ENV}): {root}  [found: {found_text}]")
    for provider in DATA_PROVIDERS.values():
        provider.list_tables(root)
    return 0


def _import(args: argparse.Namespace) -> int:
    _owner(args.source).import_file(args.source, Path(args.path).expanduser(), args.force, args.metric)
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
    checks = [
        *(check for provider in DATA_PROVIDERS.values() for check in provider.checks()),
        *((f"sha256 {path}", lambda path=path: MetricTable(path).verify()) for path in args.tables),
    ]
    results = [_check(name, check) for name, check in checks]
    return 0 if all(results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasgen data", description="Manage NAS benchmark tables.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="show the bundled table, imported tables and the data root"
                        ).set_defaults(run=_list)

    importer = commands.add_parser("import", help="import benchmark files into the nasgen cache")
    importer.add_argument("source", choices=[s for p in DATA_PROVIDERS.values() for s in p.import_sources],
                          help="; ".join(provider.import_help for provider in DATA_PROVIDERS.values()))
    importer.add_argument("path", help="directory or file to import")
    importer.add_argument("--metric", metavar="FORMAT",
                          help="metric name of each device column, for a source of per-device columns "
                               "(see SOURCE)")
    importer.add_argument("--force", action="store_true",
                          help="import again even if the cached import is current (nasgen re-imports a "
                               "source whose files changed in size or modification time by itself)")
    importer.set_defaults(run=_import)

    verifier = commands.add_parser("verify",
                                   help="check table checksums and the bundled table's contents")
    verifier.add_argument("tables", nargs="*", type=Path, metavar="TABLE",
                          help="further .npz tables to checksum (e.g. imported ones)")
    verifier.set_defaults(run=_verify)
    add_score_proxies(commands)
    return parser


def main(argv: list[str]) -> int:
    """Entry point of ``nasgen data``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)
