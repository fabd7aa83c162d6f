"""``nasgen data`` subcommands."""
from __future__ import annotations

import ast
import shutil

import pytest

from nasgen.benchmarks import cli
from nasgen.benchmarks.cli import DATA_PROVIDERS, build_parser, main
from nasgen.errors import DataError

NATS = "nb201/nats_fixture/NATS-tss-v1_0-3ffb9-simple"


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cifar10/test_acc@200" in out and "licence: MIT" in out and "sha256" in out
    assert "NASGEN_DATA" in out


def test_verify_bundled(capsys):
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.count("OK") == 5


def test_import_nats_then_list_verify_and_force(shared_benchmarks, isolated_cache, capsys):
    fixture = str(shared_benchmarks / NATS)
    assert main(["import", "nats", fixture]) == 0
    (table,) = isolated_cache.glob("nb201_nats_*.npz")
    assert table.with_suffix(".json").is_file()
    assert "3 of 15625 archs with values" in capsys.readouterr().out

    assert main(["list"]) == 0
    assert table.name in capsys.readouterr().out
    assert main(["verify", str(table)]) == 0

    # A marker in the sidecar shows whether the entry was rebuilt (timestamps may be coarse).
    sidecar = table.with_suffix(".json")
    sidecar.write_text(sidecar.read_text().replace('"source"', '"marker": 1, "source"'))
    assert main(["import", "nats", fixture]) == 0
    assert "already imported" in capsys.readouterr().out and '"marker"' in sidecar.read_text()
    assert main(["import", "nats", fixture, "--force"]) == 0
    assert '"marker"' not in sidecar.read_text() and main(["verify", str(table)]) == 0


def test_verify_fails_on_missing_table(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.npz")]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_import_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="how to get it"):
        main(["import", "nats", str(tmp_path / "nowhere")])


def test_import_notices_records_added_to_the_folder(shared_benchmarks, isolated_cache, tmp_path, capsys):
    fixture = shared_benchmarks / NATS
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in ("meta", "000000"):
        shutil.copy2(fixture / f"{name}.pickle.pbz2", folder / f"{name}.pickle.pbz2")
    assert main(["import", "nats", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "1 of 15625 archs with values" in out
    assert "warning: " in out and "runs refuse it unless benchmark.allow_partial=true" in out

    shutil.copy2(fixture / "000011.pickle.pbz2", folder / "000011.pickle.pbz2")
    assert main(["import", "nats", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "already imported" not in out and "2 of 15625 archs with values" in out
    assert len(list(isolated_cache.glob("nb201_nats_*.npz"))) == 1


def test_cli_holds_no_fact_of_a_benchmark():
    # Every name cli.py takes from a nasgen module other than the generic table, path and error
    # modules is a provider class: a benchmark constant imported there would show up here.
    # (score-proxies lives in its own module, which works on any proxy benchmark.)
    generic = {"nasgen.errors", "nasgen.paths", "nasgen.benchmarks.tables", "nasgen.benchmarks.proxy_cli"}
    tree = ast.parse(open(cli.__file__, encoding="utf-8").read())
    specific = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module.startswith("nasgen") and node.module not in generic for alias in node.names}
    assert specific == {type(provider).__name__ for provider in DATA_PROVIDERS.values()}


def test_every_import_source_belongs_to_one_provider():
    sources = [source for provider in DATA_PROVIDERS.values() for source in provider.import_sources]
    assert len(sources) == len(set(sources)) and {"nats", "costs", "nb101"} <= set(sources)
    for source in sources:
        assert build_parser().parse_args(["import", source, "somewhere"]).source == source
    with pytest.raises(SystemExit):
        build_parser().parse_args(["import", "nb999", "somewhere"])
