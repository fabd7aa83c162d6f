"""The NB201 robustness dataset benchmark and the design analysis against the real dataset
files (``<shared>/nb201/robustness``, the official release layout)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from nasgen.benchmarks.nb201 import NB201Benchmark
from nasgen.benchmarks.robustness import CORRUPTIONS, RobustnessBenchmark
from nasgen.errors import ConfigError, DataError
from nasgen.evaluation.design_analysis import (
    DesignAnalysis,
    by_kernel_parameters,
    kernel_parameters,
    neighbour_table,
    top_at_kernel_parameters,
)
from nasgen.evaluation.robustness import summarise
from nasgen.objective import Objective
from nasgen.search.oracle import Oracle
from nasgen.search.random_search import RandomSearch
from nasgen.spaces.nb201 import NB201Space

C10 = "robust/cifar10"
ATTACK_KEYS = {"fgsm": "fgsm@Linf", "pgd": "pgd@Linf", "apgd_ce": "aa_apgd-ce@Linf", "square": "aa_square@Linf"}
BEST_CLEAN = 13714  # thesis Fig. 7.7 / 7.11: best clean architecture on CIFAR-10


@pytest.fixture(scope="module")
def folder(shared_benchmarks: Path) -> Path:
    return shared_benchmarks / "nb201" / "robustness"


@pytest.fixture(scope="module")
def bench(folder: Path) -> RobustnessBenchmark:
    return RobustnessBenchmark("cifar10", path=str(folder))


def stored(folder: Path, dataset: str, key: str) -> dict[str, object]:
    """One accuracy file read straight from disk: isomorph id -> value(s)."""
    return json.loads((folder / dataset / f"{key}_accuracy.json").read_text())[dataset][key]["accuracy"]


def test_published_example_values(bench):
    # The dataset README's example: clean 0.893 and PGD eps=1/255 0.336 for index 13433, in %.
    arch = bench.space.from_index(13433)
    assert bench.query([arch], f"{C10}/clean")[0] == pytest.approx(89.3)
    assert bench.query([arch], f"{C10}/pgd@eps=1")[0] == pytest.approx(33.6)


def test_values_equal_files_via_isomorph(bench, folder):
    meta = json.loads((folder / "meta.json").read_text())
    picked = np.random.default_rng(0).choice(15_625, size=50, replace=False)
    fgsm, fog = stored(folder, "cifar10", "fgsm@Linf"), stored(folder, "cifar10", "fog")
    corruptions = {name: stored(folder, "cifar10", name) for name in CORRUPTIONS}
    attacks = [stored(folder, "cifar10", k) for k in ("fgsm@Linf", "pgd@Linf", "aa_apgd-ce@Linf", "aa_square@Linf")]
    archs = [bench.space.from_index(int(i)) for i in picked]
    for i, arch in zip(picked, archs):
        iso = meta["ids"][str(i)]["isomorph"]
        assert bench.query([arch], f"{C10}/fgsm@eps=255")[0] == pytest.approx(100 * fgsm[iso][-1])
        assert bench.query([arch], f"{C10}/fgsm@eps=0.5")[0] == pytest.approx(100 * fgsm[iso][1])
        assert bench.query([arch], f"{C10}/corruption/fog@3")[0] == pytest.approx(100 * fog[iso][2])
        assert bench.query([arch], f"{C10}/corruption/fog")[0] == pytest.approx(100 * np.mean(fog[iso]))
        all_corruptions = [v for c in corruptions.values() for v in c[iso]]
        assert bench.query([arch], f"{C10}/corruption_mean")[0] == pytest.approx(100 * np.mean(all_corruptions))
        all_attacks = [v for a in attacks for v in a[iso]]
        assert len(all_attacks) == 32
        assert bench.query([arch], f"{C10}/adversarial_mean_all_eps")[0] == pytest.approx(100 * np.mean(all_attacks))
        # Per attack: its epsilons up to 8/255 (FGSM: 10 of its 11, without 255; the others: all 7).
        per_attack = {short: np.mean([v for e, v in zip(meta["epsilons"][key], a[iso]) if e <= 8])
                      for (short, key), a in zip(ATTACK_KEYS.items(), attacks)}
        assert per_attack["fgsm"] == pytest.approx(np.mean(attacks[0][iso][:10]))
        for short, value in per_attack.items():
            assert bench.query([arch], f"{C10}/{short}_mean")[0] == pytest.approx(100 * value)
        assert bench.query([arch], f"{C10}/adversarial_mean")[0] == pytest.approx(
            100 * np.mean(list(per_attack.values())))
    nb201 = NB201Benchmark("cifar10")
    np.testing.assert_allclose(bench.query(archs, "cifar10/test_acc@200"), nb201.query(archs, "cifar10/test_acc@200"))


def test_isomorph_map_and_space_key_induce_the_same_partition(bench):
    space = NB201Space()
    classes_of_key, keys_of_class = defaultdict(set), defaultdict(set)
    for index in range(15_625):
        key = space.key(space.from_index(index))
        classes_of_key[key].add(int(bench.isomorph[index]))
        keys_of_class[int(bench.isomorph[index])].add(key)
    assert len(keys_of_class) == len(bench.unique_indices()) == 6466
    assert all(len(v) == 1 for v in classes_of_key.values())
    assert all(len(v) == 1 for v in keys_of_class.values())
    clean = bench.column(f"{C10}/clean")
    np.testing.assert_array_equal(clean, clean[bench.isomorph])


def test_metric_names(bench):
    metrics = set(bench.metrics)
    eps = {"fgsm": ["0.1", "0.5", "1", "2", "3", "4", "5", "6", "7", "8", "255"],
           "pgd": ["0.1", "0.5", "1", "2", "3", "4", "8"]}
    eps["apgd_ce"] = eps["square"] = eps["pgd"]
    expected = {f"{C10}/clean", f"{C10}/adversarial_mean", f"{C10}/adversarial_mean_all_eps", f"{C10}/corruption_mean",
                *(f"{C10}/{attack}_mean" for attack in eps),
                *(f"{C10}/{attack}@eps={e}" for attack, values in eps.items() for e in values),
                *(f"{C10}/corruption/{c}" for c in CORRUPTIONS),
                *(f"{C10}/corruption/{c}@{s}" for c in CORRUPTIONS for s in range(1, 6)),
                "cifar10/valid_acc@200", "cifar10/test_acc@200", "cifar10/valid_acc@12", "cifar10/test_acc@12"}
    assert metrics == expected
    for metric in bench.metrics:
        assert 0 <= bench.optimum(metric) <= 100, metric
    with pytest.raises(ConfigError, match="fgsm@eps=E with E in 0.1, 0.5, 1"):
        bench.column(f"{C10}/fgsm@eps=9")
    with pytest.raises(ConfigError):
        bench.column("cifar100/test_acc@200")  # another dataset's NB201 accuracy


def test_optima_against_thesis_table_7_1(bench):
    # Table 7.1's optimum row is 94.68 / 69.24 / 58.85 / 54.02 / 73.61 / 58.55. The released
    # files store fractions with three decimals, which give each single-value optimum truncated
    # to 0.1 points; the corruption mean (over 75 values) matches to two decimals.
    expected = {"clean": 94.6, "fgsm@eps=1": 69.2, "pgd@eps=1": 58.8, "apgd_ce@eps=1": 54.0, "square@eps=1": 73.6}
    for metric, value in expected.items():
        assert bench.optimum(f"{C10}/{metric}") == pytest.approx(value)
    assert bench.optimum(f"{C10}/corruption_mean") == pytest.approx(58.55, abs=0.005)
    # Thesis Fig. 7.7: best clean #13714, best mean corruption accuracy #3456.
    assert bench.space.index(bench.best_arch(f"{C10}/clean")) == BEST_CLEAN
    assert bench.space.index(bench.best_arch(f"{C10}/corruption_mean")) == 3456
    assert bench.optimum(f"{C10}/clean", maximize=False) == pytest.approx(10.0)


def test_cifar100(folder):
    bench = RobustnessBenchmark("cifar100", path=str(folder))
    clean = stored(folder, "cifar100", "clean")
    iso = str(bench.isomorph[13433])
    assert bench.query([bench.space.from_index(13433)], "robust/cifar100/clean")[0] == pytest.approx(100 * clean[iso])
    assert "cifar100/test_acc@200" in bench.metrics and "robust/cifar100/corruption_mean" in bench.metrics


def test_missing_data_errors(folder, tmp_path, monkeypatch):
    monkeypatch.delenv("NASGEN_DATA", raising=False)
    with pytest.raises(DataError, match="needs benchmark.path or data_root.*steffen-jung/robustness-dataset"):
        RobustnessBenchmark("cifar10")
    with pytest.raises(DataError, match=r"(?s)nb201/robustness/meta.json not found.*steffen-jung/robustness-dataset"):
        RobustnessBenchmark("cifar10", data_root_dir=str(tmp_path))
    partial = tmp_path / "partial"
    (partial / "cifar10").mkdir(parents=True)
    (partial / "meta.json").symlink_to(folder / "meta.json")
    for path in (folder / "cifar10").iterdir():
        if path.name != "fog_accuracy.json":
            (partial / "cifar10" / path.name).symlink_to(path)
    with pytest.raises(DataError, match="fog_accuracy.json") as error:
        RobustnessBenchmark("cifar10", path=str(partial))
    assert "snow_accuracy.json" not in str(error.value)
    with pytest.raises(DataError, match="ImageNet16-120.*only cifar10 and cifar100"):
        RobustnessBenchmark("ImageNet16-120", path=str(folder))
    with pytest.raises(ConfigError, match="valid choices"):
        RobustnessBenchmark("svhn", path=str(folder))


def test_adversarial_mean_in_evaluation_results():
    """The robustness suite's results carry the same aggregate, with its definition."""
    attacked = {"num_samples": 10, "clean_accuracy": 0.9}  # as evaluate_attack records them
    result = {"num_samples": 10, "clean": {"accuracy": 0.9},
              "attacks": {"fgsm": {"epsilons": [1.0, 8.0, 255.0], "accuracy": [0.5, 0.3, 0.0], **attacked},
                          "pgd": {"epsilons": [1.0, 8.0], "accuracy": [0.2, 0.0], **attacked}}}
    mean = summarise(result)["adversarial_mean"]
    assert mean["per_attack"] == {"fgsm": pytest.approx(0.4), "pgd": pytest.approx(0.1)}
    assert mean["accuracy"] == pytest.approx(0.25) and "epsilons <= 8/255" in mean["definition"]
    assert "adversarial_mean" not in summarise({**result, "attacks": {"fgsm": {"epsilons": [255.0],
                                                                                "accuracy": [0.0], **attacked}}})


def test_nb201_metrics_come_from_the_configured_source(folder, shared_benchmarks):
    nats_dir = shared_benchmarks / "nb201" / "nats_fixture" / "NATS-tss-v1_0-3ffb9-simple"
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        cfg = compose("config", ["benchmark=robustness", f"benchmark.path={folder}", "benchmark.nb201.source=nats",
                                 f"benchmark.nb201.path={nats_dir}", "benchmark.nb201.allow_partial=true"])
    bench = instantiate(cfg.benchmark)
    nats = NB201Benchmark(source="nats", path=str(nats_dir), allow_partial=True)
    column = bench.column("cifar10/valid_acc@200")
    assert column[11] == nats.column("cifar10/valid_acc@200")[11] and np.isnan(column[1])  # not the bundled table
    assert "cifar10/train_seconds@200" in bench.metrics and "cifar100/valid_acc@200" not in bench.metrics
    with pytest.raises(ConfigError, match="benchmark.nb201.dataset 'cifar100' differs"):
        RobustnessBenchmark("cifar10", path=str(folder), nb201=NB201Benchmark("cifar100"))


@pytest.mark.parametrize("objective", ["robust_fgsm", "robust_clean"])
def test_objective_configs(objective, folder):
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        cfg = compose("config", [f"objective={objective}", "benchmark=robustness", f"benchmark.path={folder}"])
    bench, obj = instantiate(cfg.benchmark), instantiate(cfg.objective)
    obj.check(bench)
    searched = {"robust_fgsm": f"{C10}/fgsm@eps=1", "robust_clean": f"{C10}/clean"}[objective]
    assert obj.search_metric == obj.report_metric == searched
    assert obj.metrics[0] == searched and len(obj.metrics) == 7
    assert set(obj.metrics) == {f"{C10}/clean", f"{C10}/fgsm@eps=1", f"{C10}/pgd@eps=1", f"{C10}/apgd_ce@eps=1",
                                f"{C10}/square@eps=1", f"{C10}/corruption_mean", "cifar10/test_acc@200"}


# -- design analysis ------------------------------------------------------------------------
def test_kernel_parameters(bench):
    space = bench.space
    assert kernel_parameters((3,) * 6) == 54 and kernel_parameters((2,) * 6) == 6
    assert kernel_parameters((0, 1, 4, 0, 1, 4)) == 0
    assert kernel_parameters(space.from_index(BEST_CLEAN)) == 37  # four 3x3 and one 1x1
    thesis_mean = f"{C10}/adversarial_mean_all_eps"  # the thesis' mean adversarial accuracy
    rows = {row["kernel_parameters"]: row for row in by_kernel_parameters(bench, [thesis_mean])}
    assert sum(row["archs"] for row in rows.values()) == 6466
    assert min(rows) == 0 and max(rows) == 54
    # Thesis Fig. 7.9: mean adversarial accuracy of the cells with 18 kernel parameters spans
    # [0.21, 0.40]; our evaluated isomorphs give 405 such cells (the thesis counts 408).
    at18 = rows[18]
    assert at18["archs"] == 405
    assert at18[thesis_mean]["min"] == pytest.approx(21.13, abs=0.01)
    assert at18[thesis_mean]["max"] == pytest.approx(39.91, abs=0.01)
    top = top_at_kernel_parameters(bench, 18, thesis_mean, k=20)
    assert len(top) == 20 and all(row["kernel_parameters"] == 18 for row in top)
    assert top[0][thesis_mean] == pytest.approx(at18[thesis_mean]["max"])


def test_neighbour_table_of_the_best_clean_arch(bench):
    metrics = [f"{C10}/clean", f"{C10}/adversarial_mean_all_eps", f"{C10}/corruption_mean"]
    table = neighbour_table(bench, bench.space.from_index(BEST_CLEAN), metrics)
    rows = table["neighbours"]
    assert len(rows) == 24 and sorted(row["edge"] for row in rows) == sorted(list(range(1, 7)) * 4)
    for row in rows:
        assert row["change"][f"{C10}/clean"] == pytest.approx(row[f"{C10}/clean"] - table[f"{C10}/clean"])
    # Thesis Fig. 7.11: every single change costs clean and corruption accuracy ...
    assert all(row["change"][f"{C10}/clean"] < 0 and row["change"][f"{C10}/corruption_mean"] < 0 for row in rows)
    move = {(row["edge"], row["from"], row["to"]): row["change"][f"{C10}/adversarial_mean_all_eps"] for row in rows}
    # ... while 3x3 conv -> avg pool on edge 3, and a conv instead of the skip on edge 4, gain adversarial accuracy.
    assert move[(3, "nor_conv_3x3", "avg_pool_3x3")] == pytest.approx(0.671875)
    assert move[(4, "skip_connect", "nor_conv_1x1")] > 0 and move[(4, "skip_connect", "nor_conv_3x3")] > 0
    assert move[(6, "nor_conv_3x3", "none")] == pytest.approx(-7.76875)


def test_design_analysis_suite(bench, tmp_path):
    objective = Objective(f"{C10}/fgsm@eps=1", f"{C10}/fgsm@eps=1", record=[f"{C10}/clean"])
    oracle = Oracle(bench.space, bench, objective, budget=20)
    RandomSearch(top_k=10).run(bench.space, oracle, np.random.default_rng(0))
    summary = DesignAnalysis()(oracle, bench, tmp_path)["design_analysis"]
    assert set(summary["neighbourhoods"]) == {"best", "best_clean"}
    best = oracle.records[oracle.incumbents()[-1]]
    assert summary["neighbourhoods"]["best"]["arch"] == best["arch"]
    assert summary["neighbourhoods"]["best_clean"]["index"] == BEST_CLEAN
    assert summary["at_18_kernel_parameters"]["archs"] == 405
    report = json.loads((tmp_path / "design_analysis.json").read_text())
    assert len(report["neighbourhoods"]["best"]["neighbours"]) == 24
    assert report["optima"][f"{C10}/corruption_mean"]["index"] == 3456
    for name in summary["plots"]:
        assert (tmp_path / name).stat().st_size > 0
    assert len(summary["plots"]) == 4
    skipped = DesignAnalysis()(oracle, NB201Benchmark(), tmp_path / "other")
    assert "skipped" in skipped["design_analysis"] and not (tmp_path / "other").exists()


def test_robust_experiment_end_to_end(tmp_path, shared_benchmarks):
    env = {**os.environ, "NASGEN_CACHE": str(tmp_path / "cache"), "NASGEN_DATA": str(shared_benchmarks)}
    result = subprocess.run([sys.executable, "-m", "nasgen.cli", "run", "experiment=robust_nb201", "search=local",
                             "budget=40", "evaluation.summary.report_at=[20,40]", "evaluation.design.plot=false",
                             "hydra.run.dir=run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["protocol"]["search_metric"] == f"{C10}/fgsm@eps=1"
    assert results["best"][f"{C10}/corruption_mean"] > 0 and results["queries"] == 40
    assert set(results["best_at"]) == {"20", "40"}
    assert results["design_analysis"]["neighbourhoods"]["best"]["arch"] == results["best"]["arch"]
    assert results["optimum"][f"{C10}/fgsm@eps=1"] == pytest.approx(69.2)
