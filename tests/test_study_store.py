"""The trial store that makes studies resumable: a finished trial is read back, not recomputed."""
from __future__ import annotations

from pathlib import Path

from nasgen.studies.base import TrialStore


def test_a_finished_trial_is_read_back_instead_of_run_again(tmp_path: Path):
    calls = []

    def compute(value: float):
        calls.append(value)
        return {"rmse": value, "curve": [1.0, 0.5]}

    store = TrialStore(tmp_path / "trials")
    assert not store.has_trials()
    first = store.trial("gnn/size=100/seed=0", lambda: compute(0.25))
    resumed = TrialStore(tmp_path / "trials")
    again = resumed.trial("gnn/size=100/seed=0", lambda: compute(9.0))
    other = resumed.trial("gnn/size=1000/seed=0", lambda: compute(0.5))
    assert first == again == {"rmse": 0.25, "curve": [1.0, 0.5]} and other["rmse"] == 0.5
    assert calls == [0.25, 0.5] and resumed.reused == 1 and resumed.has_trials()


def test_keys_that_are_not_file_names_get_distinct_files(tmp_path: Path):
    store = TrialStore(tmp_path)
    keys = ["a/b", "a_b", "x" * 300, "x" * 299 + "y"]
    assert len({store.path(k) for k in keys}) == len(keys)
    assert all(len(store.path(k).name) < 140 for k in keys)
