"""The two reporting protocols: the test accuracy of the best-by-validation architecture
(``best_at``, nasgen's) and the separate maxima over all queried architectures
(``max_over_queried``, the INN thesis'), in results.json and in ``nasgen report``."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from nasgen.benchmarks import NB201Benchmark
from nasgen.cli import main
from nasgen.evaluation.search_summary import SearchSummary
from nasgen.objective import Objective
from nasgen.reporting.references import REFERENCES
from nasgen.reporting.report import MAIN_TABLE, MAX_TABLE, max_over_queried_table, table, write_report
from nasgen.reporting.results import running_best
from nasgen.search.oracle import Oracle
from nasgen.spaces import NB201Space

IN16 = "ImageNet16-120"


def test_running_best_skips_infeasible_queries_and_minimises_when_asked():
    values = np.array([3.0, 5.0, 1.0, 4.0])
    feasible = np.array([False, False, True, True])
    best = running_best(values, feasible)
    assert np.isnan(best[:2]).all() and best[2:].tolist() == [1.0, 4.0]
    assert running_best(values, np.ones(4, bool), maximize=False).tolist() == [3.0, 3.0, 1.0, 1.0]


def test_results_keep_the_best_by_validation_and_add_the_separate_maxima(tmp_path: Path):
    # The thesis' ImageNet16-120 optimum row: the best-valid cell (10676) is not the best-test cell (857).
    space = NB201Space()
    objective = Objective(f"{IN16}/valid_acc@200", f"{IN16}/test_acc@200")
    oracle = Oracle(space, NB201Benchmark(IN16), objective, budget=3)
    oracle.query([space.from_index(i) for i in (857, 10676, 0)])
    summary = SearchSummary(report_at=[1, 2], plot=False)(oracle, NB201Benchmark(IN16), tmp_path)
    assert summary["best_at"]["2"]["index"] == 10676
    assert summary["best_at"]["2"][objective.report_metric] == pytest.approx(46.20, abs=0.01)
    maxima = summary["max_over_queried"]
    assert set(maxima) == set(summary["best_at"]) == {"1", "2", "3"}
    assert maxima["1"] == pytest.approx({objective.search_metric: 46.38, objective.report_metric: 47.31}, abs=0.01)
    assert maxima["3"] == pytest.approx({objective.search_metric: 46.73, objective.report_metric: 47.31}, abs=0.01)


def write_run(root: Path, name: str, valid: list[float], test: list[float], method: str = "inn_invert",
              seed: int = 0) -> Path:
    """A finished run directory as nasgen writes it (config, Hydra choices, history), by hand."""
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    config = {"seed": seed, "budget": len(valid), "benchmark": {"dataset": "cifar10"},
              "objective": {"search_metric": "v", "report_metric": "t", "maximize": True},
              "evaluation": {"summary": {"report_at": [2]}}}
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (run / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": {"search": method}}}}))
    with open(run / "history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query", "arch", "index", "v", "t", "wall_time_s"])
        writer.writerows([i, f"a{i}", i, v, t, 0.0] for i, (v, t) in enumerate(zip(valid, test)))
    return run


def rows_by_method(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["method"]: row for row in csv.DictReader(f)}


def test_report_writes_both_protocols_each_under_its_name(tmp_path: Path):
    # seed 0: the best valid (0.9) comes with test 0.5, the best test (0.8) with valid 0.1
    write_run(tmp_path / "runs", "s0", valid=[0.1, 0.9, 0.2], test=[0.8, 0.5, 0.6])
    write_run(tmp_path / "runs", "s1", valid=[0.3, 0.4, 0.5], test=[0.7, 0.6, 0.9], seed=1)
    markdown = write_report([tmp_path / "runs"], tmp_path / "out")
    assert MAIN_TABLE in markdown and MAX_TABLE in markdown
    assert "test_of_best_valid" in MAIN_TABLE and "max_test_over_queried" in MAX_TABLE
    main_row = rows_by_method(tmp_path / "out" / "report.csv")["inn_invert"]
    max_row = rows_by_method(tmp_path / "out" / "max_over_queried.csv")["inn_invert"]
    assert (main_row["reported @2"], main_row["reported @3"]) == ("0.55 ± 0.05", "0.70 ± 0.20")
    assert (max_row["reported @2"], max_row["searched @2"]) == ("0.75 ± 0.05", "0.65 ± 0.25")
    assert (max_row["reported @3"], max_row["searched @3"]) == ("0.85 ± 0.05", "0.70 ± 0.20")
    assert max_row["seeds"] == main_row["seeds"] == "2"


def test_reference_rows_sit_beside_their_dataset_in_their_query_column(tmp_path: Path):
    write_run(tmp_path / "runs", "s0", valid=[0.1, 0.9, 0.2], test=[0.8, 0.5, 0.6])
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--budgets", "3",
                 "--reference", "chen_t2", "--reference", "chen_t4", "chen_t2"]) == 0
    with open(tmp_path / "out" / "max_over_queried.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    datasets = [row["dataset"] for row in rows]
    assert datasets[0] == "cifar10" and datasets == sorted(datasets, key=["cifar10", "cifar100", IN16].index)
    assert {"n @3", "n @190", "n @192", "n @400", "n @500"} <= set(rows[0])  # the reference query counts join
    ours = next(row for row in rows if row["method"] == "Chen 2023 Table 2: Ours" and row["dataset"] == IN16
                and row["n @400"] == "10")
    assert (ours["searched @400"], ours["reported @400"]) == ("46.70 ± 0.06", "47.20 ± 0.20")
    assert ours["reported @190"] == "-"
    ag_net = [row for row in rows if row["method"] == "Chen 2023 Table 2: AG-Net [protocol unknown]"]
    assert len(ag_net) == 6  # 192 and 400 queries on three datasets
    optimal = next(row for row in rows
                   if row["method"] == "Chen 2023 Table 2: Optimal" and row["dataset"] == "cifar100")
    assert optimal["searched @3"].startswith("74.39 [sic") and optimal["reported @500"] == "73.51"
    assert sum(row["method"] == "Chen 2023 Table 2: RS [protocol unknown]" for row in rows) == 3  # named twice, once
    assert "protocol unknown" in (tmp_path / "out" / "report.md").read_text()
    # the main table stays the runs' own (the references are of the other protocol)
    assert set(rows_by_method(tmp_path / "out" / "report.csv")) == {"inn_invert"}


def test_every_reference_cell_names_the_three_nb201_datasets():
    for name, rows in REFERENCES.items():
        assert {row.dataset for row in rows} == {"cifar10", "cifar100", IN16}, name
        assert all(row.searched and row.reported for row in rows)


def test_an_unknown_reference_is_refused_by_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path), "--reference", "chen_t9"])
    assert "chen_t9" in capsys.readouterr().err


def test_the_default_curves_of_the_table_are_the_incumbents(tmp_path: Path):
    from nasgen.reporting.report import find_runs

    runs = find_runs([write_run(tmp_path, "s0", valid=[0.1, 0.9], test=[0.8, 0.5])])
    assert table(runs, [2])[1][0][-3:] == ["0.50 ± 0.00", "0.90 ± 0.00", "1"]
    assert max_over_queried_table(runs, [2])[1][0][-3:] == ["0.80 ± 0.00", "0.90 ± 0.00", "1"]
