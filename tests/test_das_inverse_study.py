"""The 1-D inverse-problem study (``study=das_inverse``, thesis ch. 6): its record, statistics and
report logic on small self-made records, and the smoke experiment end to end through the CLI
(single run, resume, sweep and report, refusals)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nasgen.reporting.das_inverse_report import (
    DASInverseRun,
    correlations,
    das_inverse_table,
    psnr_stats,
    random_pool,
    read_trials,
    samples_to_beat,
    samples_to_beat_table,
    write_trials,
)


def record(method: str, valid: float | None, trial: int = 0, oneshot: float | None = None, ops: str = "all",
           candidates: list[dict] | None = None, hparams: str = "h1") -> dict:
    """A self-made trial record (pure-logic tests only: no number here is a measurement)."""
    return {"trial": trial, "seed": 100 + trial, "method": method, "task": "blur", "layout": "sequential", "ops": ops,
            "hparams": hparams, "arch": "gradient-cnn", "oneshot_psnr": oneshot, "valid_psnr": valid,
            "test_psnr": None if valid is None else valid - 0.5, "search_seconds": 1.0, "train_seconds": 2.0,
            "seconds": 3.0, "candidates": candidates or []}


def test_trials_csv_round_trips_records_with_empty_and_nan_cells(tmp_path: Path):
    records = [record("das", 20.5, 0, oneshot=18.25), record("gradient_only", math.nan, 1),
               record("random_search", 12.0, 2, candidates=[{"arch": "roll-noise", "valid_psnr": 12.0,
                                                             "test_psnr": 11.0}])]
    write_trials(tmp_path / "trials.csv", records)
    back = read_trials(tmp_path / "trials.csv")
    assert back[0]["oneshot_psnr"] == 18.25 and back[1]["oneshot_psnr"] is None and math.isnan(back[1]["valid_psnr"])
    assert back[2]["candidates"] == records[2]["candidates"] and back[0]["candidates"] == []
    assert [r["trial"] for r in back] == [0, 1, 2] and back[0]["seed"] == 100


def test_psnr_statistics_leave_out_diverged_trials_and_count_them():
    found = psnr_stats([10.0, 14.0, math.nan, 12.0, -math.inf, None])
    assert (found["max"], found["mean"], found["median"], found["n"], found["non_finite"]) == (14.0, 12.0, 12.0, 3, 2)
    assert math.isnan(psnr_stats([None, math.nan])["mean"])


def test_correlations_need_three_finite_pairs_and_a_spread():
    found = correlations([1.0, 2.0, 3.0, 4.0, None], [2.0, 4.0, 5.0, 9.0, 7.0])
    assert found["n"] == 4 and found["spearman"] == pytest.approx(1.0) and found["kendall"] == pytest.approx(1.0)
    assert 0.9 < found["pearson"] < 1.0
    assert math.isnan(correlations([1.0, 2.0], [1.0, 2.0])["pearson"])
    assert math.isnan(correlations([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])["kendall"])


def test_samples_to_beat_counts_draws_to_the_first_beater_in_seeded_orders():
    pool = [5.0, 6.0, 20.0, 7.0, math.nan, 8.0, 9.0, 21.0, 4.0, 3.0]
    found = samples_to_beat(18.0, pool, repeats=10, seed=3)
    assert (found.pool, found.beaters) == (10, 2) and len(found.counts) == 10
    assert all(1 <= c <= 9 for c in found.counts)  # at most 8 non-beaters before the first beater
    assert found.expected == pytest.approx(11 / 3)
    assert found == samples_to_beat(18.0, pool, repeats=10, seed=3)  # seeded
    # every order's count is the first position of a beater in that order
    rng = np.random.default_rng(3)
    beats = np.array([v > 18.0 for v in np.nan_to_num(pool, nan=-np.inf)])
    assert list(found.counts) == [int(np.flatnonzero(beats[rng.permutation(10)])[0]) + 1 for _ in range(10)]


def test_a_pool_without_a_beater_says_so_instead_of_extrapolating():
    found = samples_to_beat(30.0, [1.0, 2.0, 3.0])
    assert found.counts == (None,) * 10 and math.isnan(found.mean) and math.isnan(found.expected)
    runs = [DASInverseRun(Path("a"), "das_inverse_table6_1", True,
                          [record("das", 30.0, 0), record("das", 31.0, 1), record("random_sampling", 1.0, 0)])]
    _, rows = samples_to_beat_table(runs)
    assert rows[0][8] == "none: more than 1" and rows[0][9] == "0/10" and rows[0][6] == "1"


def test_the_random_pool_holds_sampling_trials_and_every_search_candidate():
    records = [record("random_sampling", 3.0), record("das", 9.0),
               record("random_search", 5.0, candidates=[{"valid_psnr": 5.0}, {"valid_psnr": 4.0},
                                                         {"valid_psnr": None}])]
    assert random_pool(records) == [3.0, 5.0, 4.0, None]


def test_the_table_groups_cells_in_the_thesis_order_with_its_numbers_beside_ours():
    done = DASInverseRun(Path("a"), "das_inverse_table6_1", True,
                         [record("das", v, t, oneshot=v - 2) for t, v in enumerate((18.0, 20.0, 22.0))])
    partial = DASInverseRun(Path("b"), "das_inverse_table6_1", False, [record("nets_only", 15.0, 0, ops="good")])
    header, rows = das_inverse_table([done, partial])
    first, second = (dict(zip(header, row)) for row in rows)
    assert (first["ops"], first["method"], second["ops"], second["method"]) == ("good", "Nets only", "all", "DAS")
    assert (second["max"], second["mean"], second["median"], second["trials"]) == ("22.00", "20.00", "20.00", "3")
    assert (second["thesis max"], second["thesis mean"], second["thesis median"]) == ("22.86", "15.64", "18.57")
    assert second["thesis table"] == "Table 6.1/6.2" and second["thesis time per trial"] == "2:53"
    assert second["one-shot PSNR mean"] == "18.00" and first["one-shot PSNR mean"] == "-"
    assert first["runs (partial)"] == "1 (1)" and second["runs (partial)"] == "1 (0)"


def test_samples_to_beat_pools_random_runs_of_the_cell_and_counts_repeated_trials_once():
    das = [record("das", v, t) for t, v in enumerate((10.0, 12.0, 14.0))]
    pool = [record("random_sampling", v, t) for t, v in enumerate((11.0, 13.0, 9.0, 8.0))]
    other_ops = [record("random_sampling", 50.0, t, ops="good") for t in range(3)]
    runs = [DASInverseRun(Path("a"), "das_inverse_table6_1", True, das + pool + other_ops),
            DASInverseRun(Path("b"), "das_inverse_table6_2", True, das)]  # the same DAS trials in Table 6.2
    header, rows = samples_to_beat_table(runs)
    assert len(rows) == 1  # good ops have no DAS trials
    row = dict(zip(header, rows[0]))
    assert (row["DAS trials"], row["DAS median"], row["random pool"], row["pool above median"]) == ("3", "12.00",
                                                                                                   "4", "1")
    assert row["thesis draws (DAS median)"] == "49 (18.57 dB)" and row["exact mean for this pool"] == "2.5"
