"""Every search method on NAS-Bench-101 end to end through the real command line.

The full NB101 table is user-supplied and not here, so the runs search the real partial table
that is: NASLib's labelled cells (292 distinct cells, 108-epoch validation accuracy), with
``benchmark.skip_missing=true`` so that searches pass over the cells it lacks without paying.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from search_runs import rows, run_sweeps, sweep_runs

from nasgen.benchmarks.nb101 import NB101Benchmark
from nasgen.spaces.nb101 import NB101Space

BUDGET = 24
PARTIAL_TABLE = ["benchmark.source=naslib_zc", "benchmark.skip_missing=true", "objective=nb101_valid_only"]
QUICK_PRETRAIN = ["pretrain.ticks=2", "pretrain.tick_size=320", "pretrain.validity_samples=200"]
# Few decoding batches: almost no decoded cell is in the partial table, so every iteration would
# otherwise decode all of max_decode_batches.
QUICK_AG_NET = [*QUICK_PRETRAIN, "search.max_decode_batches=4", "search.epochs=2"]
# (sweep folder, its overrides, the methods it runs one after the other)
SWEEPS = (("baselines", ["search=random,local,evolution,bananas,bo,gp_bo"],
           ("random", "local", "evolution", "bananas", "bo", "gp_bo")),
          ("ag_net", [*QUICK_AG_NET, "variant=ag_net,ag_net_xgb,ag_net_xgb_ranking"],
           ("ag_net", "ag_net_xgb", "ag_net_xgb_ranking")),
          ("latent", [*QUICK_PRETRAIN, "search.max_decode_batches=4", "variant=latent_random_lso"],
           ("latent_random_lso",)))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, shared_benchmarks: Path) -> Path:
    """Every method in three multiruns (each one process, runs one after the other)."""
    workdir = tmp_path_factory.mktemp("nb101")
    run_sweeps(workdir, shared_benchmarks, ["experiment=ag_net_nb101", *PARTIAL_TABLE, f"budget={BUDGET}"], SWEEPS)
    return workdir


@pytest.mark.parametrize("folder, job, method", sweep_runs(SWEEPS))
def test_every_method_searches_nb101(sweep: Path, shared_benchmarks: Path, folder: str, job: int, method: str):
    run_dir = sweep / folder / str(job)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "complete" and results["queries"] == BUDGET and results["method"] == method
    assert results["protocol"]["search_metric"] == results["protocol"]["report_metric"] == "cifar10/valid_acc@108"
    history = rows(run_dir)
    space = NB101Space()
    cells = [space.from_str(row["arch"]) for row in history]
    assert len({space.key(cell) for cell in cells}) == BUDGET  # no isomorphic repeat was paid twice
    table = NB101Benchmark(source="naslib_zc", data_root_dir=str(shared_benchmarks))
    # every paid query is a cell of the table, with the table's value
    assert table.evaluable(cells).all()
    values = [float(row["cifar10/valid_acc@108"]) for row in history]
    assert values == pytest.approx(table.query(cells, "cifar10/valid_acc@108").tolist(), abs=1e-4)
    assert results["best"]["cifar10/valid_acc@108"] == pytest.approx(max(values), abs=1e-4)


def test_random_draws_on_a_skipping_partial_table_come_from_the_table(shared_benchmarks: Path):
    # The space's sampler almost never hits one of the table's 292 cells (90 % of its draws have
    # 7 nodes, most table cells fewer): the searches' random draws come from the table itself.
    from nasgen.errors import NasgenError
    from nasgen.objective import Objective
    from nasgen.search.common import random_unseen
    from nasgen.search.oracle import Oracle

    table = NB101Benchmark(source="naslib_zc", data_root_dir=str(shared_benchmarks), skip_missing=True)
    space = NB101Space()
    metric = "cifar10/valid_acc@108"
    oracle = Oracle(space, table, Objective(metric, metric), budget=292)
    rng = np.random.default_rng(0)
    first = random_unseen(space, oracle, rng, 10)
    oracle.query(first)
    rest = random_unseen(space, oracle, rng, 282)
    assert len({space.key(cell) for cell in first + rest}) == 292 and table.evaluable(rest).all()
    oracle.query(rest)
    with pytest.raises(NasgenError, match="only 0 of the 292 architectures of the nb101 table"):
        random_unseen(space, oracle, rng, 1)
