"""The oracle: budget, isomorphism-aware de-duplication, history on disk, resume."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from nasgen.benchmarks import NB201Benchmark
from nasgen.objective import Objective
from nasgen.search.oracle import BudgetExhausted, Oracle
from nasgen.spaces import NB201Space

SPACE = NB201Space()
OBJECTIVE = Objective("cifar10/valid_acc@200", "cifar10/test_acc@200", record=["latency/pixel3_ms"])


class CountingBenchmark(NB201Benchmark):
    """The real bundled table, counting how many architectures were looked up."""

    def __init__(self) -> None:
        super().__init__("cifar10")
        self.looked_up = 0

    def query(self, archs, metric):
        if metric == OBJECTIVE.search_metric:
            self.looked_up += len(archs)
        return super().query(archs, metric)


def isomorphic_pair() -> tuple[tuple, tuple]:
    """Two different cells of one isomorphism class (a `none` edge hides what it carries)."""
    a = SPACE.from_str("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    b = SPACE.from_str("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert a != b and SPACE.key(a) == SPACE.key(b)
    return a, b


def test_budget_is_enforced_and_partial_batches_are_kept(tmp_path):
    oracle = Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=5, history_path=tmp_path / "h.csv")
    archs = [SPACE.from_index(i) for i in range(8)]
    with pytest.raises(BudgetExhausted):
        oracle.query(archs)
    assert oracle.spent == 5 and oracle.remaining == 0
    assert [r["index"] for r in oracle.records] == [0, 1, 2, 3, 4]


def test_isomorphic_duplicates_are_free_and_return_the_same_value(tmp_path):
    benchmark = CountingBenchmark()
    oracle = Oracle(SPACE, benchmark, OBJECTIVE, budget=10, history_path=tmp_path / "h.csv")
    a, b = isomorphic_pair()
    first = oracle.query([a])
    second = oracle.query([b, a])
    assert oracle.spent == 1 and benchmark.looked_up == 1
    assert second[0] == second[1] == first[0]
    assert oracle.seen(b)


def test_history_rows_are_written_as_queries_happen(tmp_path):
    path = tmp_path / "history.csv"
    oracle = Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=10, history_path=path)
    oracle.query([SPACE.from_index(13)])
    with open(path, newline="") as f:  # read before close: the row must already be there
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["query", "arch", "index", "cifar10/valid_acc@200", "cifar10/test_acc@200",
                             "latency/pixel3_ms", "wall_time_s"]
    expected = NB201Benchmark("cifar10").query([SPACE.from_index(13)], "cifar10/test_acc@200")[0]
    assert rows[0]["index"] == "13" and float(rows[0]["cifar10/test_acc@200"]) == pytest.approx(expected)
    oracle.close()


def test_resume_replays_paid_queries_without_paying_again(tmp_path):
    path = tmp_path / "history.csv"
    archs = [SPACE.from_index(i) for i in (5, 50, 500)]
    first = Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=4, history_path=path)
    values = first.query(archs)
    first.close()

    benchmark = CountingBenchmark()
    resumed = Oracle(SPACE, benchmark, OBJECTIVE, budget=4, history_path=path)
    assert np.allclose(resumed.query(archs), values)
    assert benchmark.looked_up == 0 and resumed.spent == 3
    resumed.query([SPACE.from_index(5000)])
    resumed.close()
    assert benchmark.looked_up == 1
    with open(path, newline="") as f:
        assert [r["index"] for r in csv.DictReader(f)] == ["5", "50", "500", "5000"]


def test_incumbents_follow_the_search_metric_only(tmp_path):
    oracle = Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=20)
    oracle.query([SPACE.from_index(i) for i in range(20)])
    valid = oracle.values(OBJECTIVE.search_metric)
    positions = oracle.incumbents()
    assert all(valid[p] == valid[: i + 1].max() for i, p in enumerate(positions))


def test_resume_drops_a_row_cut_off_by_the_kill(tmp_path):
    path = tmp_path / "history.csv"
    first = Oracle(SPACE, NB201Benchmark("cifar10"), OBJECTIVE, budget=4, history_path=path)
    first.query([SPACE.from_index(i) for i in (5, 50)])
    first.close()
    text = path.read_text()
    path.write_text(text + text.splitlines()[-1][:25])  # half a row, no newline

    benchmark = CountingBenchmark()
    resumed = Oracle(SPACE, benchmark, OBJECTIVE, budget=4, history_path=path)
    resumed.query([SPACE.from_index(i) for i in (5, 50, 500)])
    resumed.close()
    assert benchmark.looked_up == 1
    with open(path, newline="") as f:
        assert [r["index"] for r in csv.DictReader(f)] == ["5", "50", "500"]
