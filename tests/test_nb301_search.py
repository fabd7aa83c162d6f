"""Every search method on NAS-Bench-301 (the DARTS space, YAHPO surrogate) end to end through the
real command line, and the cell-by-cell protocol of AG-Net: phases, fixed cells, resume."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from search_runs import nasgen, rows, run_sweeps, sweep_runs

from nasgen.benchmarks import NB301Benchmark
from nasgen.spaces import DartsSpace

BUDGET = 24
METRIC = "nb301_yahpo/cifar10/valid_acc@98"
# The shipped generator (default pretraining settings): short retraining and decoding only.
QUICK_AG_NET = ["search.epochs=2", "search.max_decode_batches=4"]
# (sweep folder, its overrides, the methods it runs one after the other)
SWEEPS = (("baselines", ["search=random,local,evolution,bananas,bo,gp_bo"],
           ("random", "local", "evolution", "bananas", "bo", "gp_bo")),
          ("ag_net", [*QUICK_AG_NET, "search=ag_net_nb301,ag_net_nb301_xgb,ag_net_nb301_xgb_ranking"],
           ("ag_net_nb301", "ag_net_nb301_xgb", "ag_net_nb301_xgb_ranking")))
CELL_BY_CELL = {"ag_net_nb301", "ag_net_nb301_xgb", "ag_net_nb301_xgb_ranking"}
# the predictor each AG-Net search option chooses, under the experiment that sweeps them
PREDICTORS = {"ag_net_nb301": "MLPPredictor", "ag_net_nb301_xgb": "XGBPredictor",
              "ag_net_nb301_xgb_ranking": "XGBRankingPredictor"}
SPACE = DartsSpace()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, shared_benchmarks: Path) -> Path:
    workdir = tmp_path_factory.mktemp("nb301")
    run_sweeps(workdir, shared_benchmarks, ["experiment=ag_net_nb301", f"budget={BUDGET}"], SWEEPS)
    return workdir


@pytest.mark.parametrize("folder, job, method", sweep_runs(SWEEPS))
def test_every_method_searches_nb301(sweep: Path, shared_benchmarks: Path, folder: str, job: int, method: str):
    run_dir = sweep / folder / str(job)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "complete" and results["queries"] == BUDGET and results["method"] == method
    protocol = results["protocol"]
    assert protocol["search_metric"] == protocol["report_metric"] == METRIC
    assert protocol["surrogate"] == "YAHPO-Gym v2 nb301 ONNX surrogate"
    history = rows(run_dir)
    genotypes = [SPACE.from_str(row["arch"]) for row in history]
    assert len({SPACE.key(g) for g in genotypes}) == BUDGET  # no isomorphic repeat was paid twice
    surrogate = NB301Benchmark(data_root_dir=str(shared_benchmarks))
    values = [float(row[METRIC]) for row in history]
    assert values == pytest.approx(surrogate.query(genotypes, METRIC).tolist(), abs=1e-4)
    assert results["best"][METRIC] == pytest.approx(max(values), abs=1e-4)

    if method in PREDICTORS:
        assert results["config"]["predictor"]["_target_"].endswith(f".{PREDICTORS[method]}")
    if method in CELL_BY_CELL:
        # thesis protocol: normal cells with one random reduction cell, then reduction cells
        # with the best normal cell of the first phase
        first, second = genotypes[:BUDGET // 2], genotypes[BUDGET // 2:]
        assert len({g.reduce for g in first}) == 1 and len({g.normal for g in first}) == len(first)
        best_first = max(zip(values, first), key=lambda pair: pair[0])[1]
        assert {g.normal for g in second} == {best_first.normal}
        assert [p["cell_type"] for p in results["search_stats"]["phases"]] == ["normal", "reduce"]
        assert results["protocol"]["cell_search"] == {"first_cell": "normal", "first_share": 0.5, "first_others": 1}
    else:  # the baselines search whole architectures
        assert len({g.reduce for g in genotypes}) > 1 and "cell_search" not in results["protocol"]


def test_a_killed_cell_by_cell_run_resumes_to_the_same_history(tmp_path: Path, shared_benchmarks: Path):
    """The same seed draws the same fixed cell, replays the paid queries of the first phase and
    of the second phase's start, and pays only for the rest."""
    overrides = ["experiment=ag_net_nb301", "search=random", "cell_search.all_searches=true",
                 "cell_search.first_cell=reduce", f"budget={BUDGET}"]
    complete = tmp_path / "complete"
    result = nasgen("run", *overrides, f"hydra.run.dir={complete}", cwd=tmp_path, data=shared_benchmarks)
    assert result.returncode == 0, result.stderr[-3000:]
    killed = tmp_path / "killed"
    shutil.copytree(complete / ".hydra", killed / ".hydra")
    lines = (complete / "history.csv").read_text().splitlines(keepends=True)
    (killed / "history.csv").write_text("".join(lines[:BUDGET // 2 + 5]))  # header + phase 1 + 4 of phase 2

    result = nasgen("resume", str(killed), cwd=tmp_path, data=shared_benchmarks)
    assert result.returncode == 0, result.stderr[-3000:]
    strip = [{k: v for k, v in row.items() if k != "wall_time_s"} for row in rows(complete)]
    assert [{k: v for k, v in row.items() if k != "wall_time_s"} for row in rows(killed)] == strip
    genotypes = [SPACE.from_str(row["arch"]) for row in rows(killed)]
    assert len({g.normal for g in genotypes[:BUDGET // 2]}) == 1  # reduction cells searched first
