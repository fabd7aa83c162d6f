"""The NAS-Bench-201 robustness dataset (Jung, Lukasik, Keuper, "Neural Architecture Design
and Robustness: A Dataset", ICLR 2023) as a benchmark.

The dataset evaluates each of the 6,466 non-isomorphic NB201 cells (the networks trained by
NAS-Bench-201) under adversarial attacks and common corruptions. Every one of the 15,625
cells is answered by its evaluated isomorph (``meta.json``: ``ids[i]['isomorph']``).

Official layout (the dataset release of github.com/steffen-jung/robustness-dataset)::

    <folder>/meta.json                          ids -> nb201-string, isomorph; epsilons per attack
    <folder>/<dataset>/<key>_accuracy.json      {dataset: {key: {"accuracy": {isomorph id: value(s)}}}}

with ``key`` in ``clean`` (one value), ``fgsm@Linf``, ``pgd@Linf``, ``aa_apgd-ce@Linf``,
``aa_square@Linf`` (one value per epsilon, in units of 1/255) and 15 CIFAR-C corruptions
(one value per severity 1-5; not evaluated for ImageNet16-120).

Metric names (``E`` formatted as in ``meta.json`` without trailing zeros: 0.1, 0.5, 1, 2, 255)::

    robust/{dataset}/clean
    robust/{dataset}/{fgsm,pgd,apgd_ce,square}@eps=E
    robust/{dataset}/{fgsm,pgd,apgd_ce,square}_mean   the attack's mean over its epsilons <= 8/255
    robust/{dataset}/adversarial_mean          mean of the four attack means (eps <= 8/255)
    robust/{dataset}/adversarial_mean_all_eps  mean over all 32 stored attack values (FGSM's 11
                                               including eps=255, 7 each for the others): the
                                               thesis' "mean adversarial accuracy" (Figs. 7.8-7.11)
    robust/{dataset}/corruption/{name}@{1..5}
    robust/{dataset}/corruption/{name}         mean over the 5 severities
    robust/{dataset}/corruption_mean           mean over all 15 x 5 corruption accuracies
    {dataset}/...                              NB201 metrics of the configured NB201 benchmark
                                               (``nb201``: bundled by default, or nats / csv)

All values are accuracies in % (the stored fractions x 100), like the NB201 accuracies.
The stored fractions have three decimals, so single values have a resolution of 0.1 %.
"""
from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

import numpy as np

from nasgen.benchmarks.base import TableLookups, UnitsFromNames
from nasgen.benchmarks.nb201 import NB201Benchmark
from nasgen.errors import ConfigError, DataError, choose
from nasgen.evaluation.corruptions import CORRUPTIONS, SEVERITIES  # the 15 CIFAR-C corruptions
from nasgen.paths import data_root
from nasgen.spaces.nb201 import NUM_ARCHS, NB201Arch, NB201Space

log = logging.getLogger(__name__)

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
DEFAULT_DIRNAME = "nb201/robustness"
# Short metric name -> key of the accuracy file.
ATTACKS = {"fgsm": "fgsm@Linf", "pgd": "pgd@Linf", "apgd_ce": "aa_apgd-ce@Linf", "square": "aa_square@Linf"}
# CIFAR-10-C / CIFAR-100-C exist; the release has no corrupted ImageNet16-120.
HAS_CORRUPTIONS = {"cifar10": True, "cifar100": True, "ImageNet16-120": False}
HINT = ("the dataset is not bundled with nasgen (its data licence is not stated): download meta.zip and "
        "<dataset>-accuracies.zip from the dataset release of github.com/steffen-jung/robustness-dataset "
        "(http://data.robustness.vision/), unzip them into one folder (meta.json beside cifar10/, cifar100/, ...) "
        f"and point benchmark.path at it, or put it at <data_root>/{DEFAULT_DIRNAME} ($NASGEN_DATA)")


# The adversarial aggregate. FGSM is stored at 11 epsilons up to 255/255 (where accuracy is
# near chance), the other attacks at 7 up to 8/255, so a plain mean over the stored values
# weighs FGSM 11/32 and counts eps=255 like eps=1; such a number does not compare across papers.
# adversarial_mean gives each attack the same weight and stops at 8/255, the largest budget
# all four attacks share.
ADVERSARIAL_MEAN_MAX_EPS = 8.0
ADVERSARIAL_MEAN_DEFINITION = ("mean over the attacks (each weighing equally) of each attack's mean accuracy "
                               f"over its epsilons <= {ADVERSARIAL_MEAN_MAX_EPS:g}/255")
Accuracy = TypeVar("Accuracy", float, np.ndarray)


def adversarial_means(by_attack: Mapping[str, Mapping[float, Accuracy]]) -> dict[str, Accuracy]:
    """``{attack: mean over eps <= 8/255, ..., "adversarial_mean": mean of those}`` from
    ``{attack: {eps (in 1/255): accuracy}}`` (floats, or arrays over architectures). Attacks
    without an epsilon <= 8/255 are left out of the aggregate."""
    means = {attack: np.mean([acc for eps, acc in values.items() if eps <= ADVERSARIAL_MEAN_MAX_EPS], axis=0)
             for attack, values in by_attack.items() if min(values, default=np.inf) <= ADVERSARIAL_MEAN_MAX_EPS}
    if not means:
        raise ConfigError(f"no attack has an epsilon <= {ADVERSARIAL_MEAN_MAX_EPS:g}/255 for adversarial_mean")
    return {**means, "adversarial_mean": np.mean(list(means.values()), axis=0)}


def format_eps(eps: float) -> str:
    """Epsilon (in 1/255) as written in metric names: 0.1, 0.5, 1, 2, 255."""
    return f"{eps:g}"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read robustness dataset file {path} ({exc}); re-download it.\n  {HINT}") from None


class RobustnessBenchmark(TableLookups, UnitsFromNames):
    """Robust accuracies of every NB201 cell on one dataset, plus the NB201 metrics of that dataset
    from ``nb201`` (the configured NB201 benchmark: bundled, the official NATS archive or the CSVs;
    the bundled table when not given).

    Files are parsed on first use of a metric that needs them (all 20 files of CIFAR-10
    together take about 0.25 s), so no import step or cache is needed.
    """

    name = "nb201_robustness"

    def __init__(self, dataset: str = "cifar10", path: "str | None" = None,
                 data_root_dir: "str | None" = None, nb201: NB201Benchmark | None = None) -> None:
        choose("benchmark.dataset", dataset, DATASETS)
        if nb201 is not None and nb201.dataset != dataset:
            raise ConfigError(f"benchmark.nb201.dataset {nb201.dataset!r} differs from benchmark.dataset {dataset!r}")
        self.dataset = dataset
        self.space = NB201Space()
        self.folder = self._locate(path, data_root_dir)
        self.isomorph, self.epsilons = self._read_meta(self.folder / "meta.json")
        self._check_files()
        self.nb201 = nb201 if nb201 is not None else NB201Benchmark(dataset)
        self._raw: dict[str, np.ndarray] = {}
        self._columns: dict[str, np.ndarray] = {}
        self._recipes = self._metric_recipes()

    # -- files --------------------------------------------------------------------------
    def _locate(self, path: "str | None", data_root_dir: "str | None") -> Path:
        root = data_root(data_root_dir)
        if path is None and root is None:
            raise DataError(f"the NB201 robustness dataset needs benchmark.path or data_root ($NASGEN_DATA); {HINT}")
        folder = Path(path).expanduser() if path else root / DEFAULT_DIRNAME
        if not (folder / "meta.json").is_file():
            raise DataError(f"NB201 robustness dataset file {folder / 'meta.json'} not found\n  how to get it: {HINT}")
        return folder

    def _read_meta(self, path: Path) -> tuple[np.ndarray, dict[str, list[float]]]:
        meta = _read_json(path)
        try:
            ids, epsilons = meta["ids"], meta["epsilons"]
            isomorph = np.array([int(ids[str(i)]["isomorph"]) for i in range(NUM_ARCHS)], dtype=np.int64)
            epsilons = {key: [float(e) for e in epsilons[key]] for key in ATTACKS.values()}
            # Ids must be official NB201 indices: the values are looked up by index.
            misplaced = next((i for i in range(NUM_ARCHS)
                              if ids[str(i)]["nb201-string"] != self.space.to_str(self.space.from_index(i))), None)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path} is not the robustness dataset's meta.json (missing or bad entry {exc}); "
                            f"re-download it.\n  {HINT}") from None
        if misplaced is not None:
            raise DataError(f"{path}: id {misplaced} is not NB201 index {misplaced} (its nb201-string differs)")
        # The loader relies on the isomorph being a member of its own class.
        if not np.array_equal(isomorph[isomorph], isomorph):
            raise DataError(f"{path}: an 'isomorph' entry is not its own isomorph; the file is corrupt")
        return isomorph, epsilons

    @property
    def keys(self) -> tuple[str, ...]:
        """Accuracy-file keys this dataset has."""
        return ("clean", *ATTACKS.values(), *(CORRUPTIONS if HAS_CORRUPTIONS[self.dataset] else ()))

    def _file(self, key: str) -> Path:
        return self.folder / self.dataset / f"{key}_accuracy.json"

    def _check_files(self) -> None:
        if not (self.folder / self.dataset).is_dir():
            extra = (" nasgen's shared development copy holds only cifar10 and cifar100; ImageNet16-120 is part "
                     "of the official release (ImageNet16-120-accuracies.zip)." if self.dataset == "ImageNet16-120"
                     else "")
            raise DataError(f"NB201 robustness results for {self.dataset} not found: {self.folder / self.dataset} "
                            f"is missing.{extra}\n  how to get it: {HINT}")
        missing = [str(self._file(k)) for k in self.keys if not self._file(k).is_file()]
        if missing:
            raise DataError(f"NB201 robustness dataset file(s) not found: {', '.join(missing)}\n"
                            f"  how to get it: {HINT}")

    def raw(self, key: str) -> np.ndarray:
        """``[15625, k]`` stored fractions of accuracy file ``key`` per NB201 index (k = 1 for
        ``clean``, one per epsilon for attacks, one per severity for corruptions)."""
        if key not in self._raw:
            path = self._file(key)
            try:
                accuracy = _read_json(path)[self.dataset][key]["accuracy"]
                unique = np.unique(self.isomorph)
                values = np.array([accuracy[str(i)] for i in unique], dtype=np.float64).reshape(len(unique), -1)
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path} lacks the accuracy of evaluated architecture {exc} or is malformed; "
                                f"re-download it.\n  {HINT}") from None
            row_of = np.zeros(NUM_ARCHS, dtype=np.int64)
            row_of[unique] = np.arange(len(unique))
            self._raw[key] = values[row_of[self.isomorph]]
        return self._raw[key]

    # -- metrics ------------------------------------------------------------------------
    def _slice(self, key: str, column: int) -> np.ndarray:
        return self.raw(key)[:, column]

    def _mean(self, *keys: str) -> np.ndarray:
        """Mean over every stored value of the files ``keys`` (all epsilons / severities)."""
        return np.concatenate([self.raw(k) for k in keys], axis=1).mean(axis=1)

    def _adversarial(self, name: str) -> np.ndarray:
        """Column ``name`` of :func:`adversarial_means` (an attack or ``adversarial_mean``)."""
        by_attack = {short: dict(zip(self.epsilons[key], self.raw(key).T)) for short, key in ATTACKS.items()}
        return adversarial_means(by_attack)[name]

    def _metric_recipes(self) -> dict[str, Callable[[], np.ndarray]]:
        """Metric name -> function computing its column as fractions from the raw files."""
        prefix = f"robust/{self.dataset}"
        recipes: dict[str, Callable[[], np.ndarray]] = {f"{prefix}/clean": partial(self._slice, "clean", 0)}
        for short, key in ATTACKS.items():
            for j, eps in enumerate(self.epsilons[key]):
                recipes[f"{prefix}/{short}@eps={format_eps(eps)}"] = partial(self._slice, key, j)
        for name in (*ATTACKS, "adversarial_mean"):
            recipes[f"{prefix}/{name}{'_mean' if name in ATTACKS else ''}"] = partial(self._adversarial, name)
        recipes[f"{prefix}/adversarial_mean_all_eps"] = partial(self._mean, *ATTACKS.values())
        if HAS_CORRUPTIONS[self.dataset]:
            for name in CORRUPTIONS:
                for s in SEVERITIES:
                    recipes[f"{prefix}/corruption/{name}@{s}"] = partial(self._slice, name, s - 1)
                recipes[f"{prefix}/corruption/{name}"] = partial(self._mean, name)
            recipes[f"{prefix}/corruption_mean"] = partial(self._mean, *CORRUPTIONS)
        return recipes

    def unit(self, metric: str) -> str | None:
        return "%" if metric.startswith("robust/") else super().unit(metric)

    @property
    def metrics(self) -> tuple[str, ...]:
        own = tuple(m for m in self.nb201.metrics if m.startswith(f"{self.dataset}/"))
        return (*self._recipes, *own)

    def column(self, metric: str) -> np.ndarray:
        """Values of ``metric`` (%) for all 15,625 NB201 indices."""
        if metric in self._recipes:
            if metric not in self._columns:
                # x100 of 3-decimal fractions leaves binary noise (89.30000000000001) in
                # history.csv; rounding at 1e-10 removes it and changes no value that matters.
                self._columns[metric] = np.round(100.0 * self._recipes[metric](), 10)
            return self._columns[metric]
        if metric.startswith(f"{self.dataset}/") and metric in self.nb201.metrics:
            return self.nb201.column(metric)
        raise ConfigError(f"metric {metric!r} is not provided by the NB201 robustness benchmark ({self.dataset}); "
                          f"available: {self._describe_metrics()}")

    def _describe_metrics(self) -> str:
        prefix = f"robust/{self.dataset}"
        attacks = "; ".join(f"{prefix}/{short}@eps=E with E in {', '.join(map(format_eps, self.epsilons[key]))}"
                            for short, key in ATTACKS.items())
        parts = [f"{prefix}/clean", attacks, f"{prefix}/{{{','.join(ATTACKS)}}}_mean",
                 f"{prefix}/adversarial_mean ({ADVERSARIAL_MEAN_DEFINITION})", f"{prefix}/adversarial_mean_all_eps"]
        if HAS_CORRUPTIONS[self.dataset]:
            parts += [f"{prefix}/corruption/NAME[@1..5] with NAME in {', '.join(CORRUPTIONS)}",
                      f"{prefix}/corruption_mean"]
        parts += [m for m in self.nb201.metrics if m.startswith(f"{self.dataset}/")]
        return "; ".join(parts)

    def query(self, archs: Sequence[NB201Arch], metric: str) -> np.ndarray:
        column = self.column(metric)
        index = np.fromiter((self.space.index(a) for a in archs), dtype=np.int64, count=len(archs))
        values = np.asarray(column[index], dtype=np.float64)
        if np.isnan(values).any():
            raise DataError(f"no {metric} for NB201 index {', '.join(map(str, index[np.isnan(values)][:5]))} "
                            f"in {self.folder}; the dataset files are incomplete")
        return values

    def unique_indices(self) -> np.ndarray:
        """NB201 indices of the evaluated (non-isomorphic) architectures, ascending."""
        return np.unique(self.isomorph)

    def arch_at(self, row: int) -> NB201Arch:
        """Rows are NB201 indices (the lowest index of an isomorphism class wins ties)."""
        return self.space.from_index(row)

    def archs(self) -> list[NB201Arch]:
        """All 15,625 NB201 cells in index order."""
        return self.space.enumerate()
