"""Performance-predictor studies of thesis chapter 3 on a tabular benchmark's labelled
architectures: a supervised split (Table 3.1), the error against the training-set size (Table
3.3) and zero-shot prediction for cells of an unseen size (Table 3.2).

Every study trains ``${predictor}`` (the GNN by default) and the baselines its config lists (other
options of the ``predictor`` group, relocated under ``study.baselines`` by the config's defaults),
each on ``seeds`` consecutive seeds from the run's; one (setting, predictor, seed) is one trial
of the run's :class:`~nasgen.studies.base.TrialStore`. Models learn ``objective.search_metric``.

Splits never put isomorphic architectures on both sides (:meth:`SearchSpace.key` classes go
whole to one side), and all labelled architectures are used: NB201's 15,625 cells are 6,466
classes, whose duplicates would otherwise be answered from the training set.

Errors are reported as the thesis does, for accuracies as fractions: RMSE in units of 1e-2 and
MSE in 1e-3. A metric in % (:class:`~nasgen.benchmarks.base.MetricUnits`) is divided by 100
first, so RMSE x1e-2 equals the RMSE in percentage points; other metrics are reported in their
own units. The thesis' numbers are on the full NAS-Bench-101 table (423,624 cells) and stand
next to ours as reference rows.
"""
from __future__ import annotations

import csv
import time
from collections import defaultdict
from functools import partial
from typing import Callable, Iterator, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import kendalltau, spearmanr  # noqa: E402

from nasgen.benchmarks.base import Benchmark, MetricUnits, TabularBenchmark  # noqa: E402
from nasgen.errors import ConfigError  # noqa: E402
from nasgen.models.message_passing import real_nodes, unflatten  # noqa: E402
from nasgen.objective import Objective  # noqa: E402
from nasgen.paths import atomic_write  # noqa: E402
from nasgen.predictors.base import EpochwisePredictor, Predictor  # noqa: E402
from nasgen.predictors.oracle import BenchmarkPredictor  # noqa: E402
from nasgen.ranges import Int, ranges  # noqa: E402
from nasgen.reporting.report import _markdown  # noqa: E402
from nasgen.reporting.results import save_figure  # noqa: E402
from nasgen.spaces.base import GraphSpec, SearchSpace  # noqa: E402
from nasgen.studies.base import StudyContext  # noqa: E402

PredictorFactory = Callable[[GraphSpec], Predictor]
# (setting, training rows, test rows) of the labelled set
Split = tuple[str, np.ndarray, np.ndarray]
GT_BINS = 9  # thesis Fig. 3.2: squared error by 9 ground-truth accuracy bins

# Thesis reference rows (the ch3 note; full NB101 table, 3 runs): RMSE x1e-2, mean ± relative std.
THESIS_SUPERVISED = {"RF width-depth": "6.10 ± 0.40%", "RF one-hot": "6.32 ± 0.01%", "MLP one-hot": "6.32 ± 0.02%",
                     "RNN one-hot": "6.30 ± 0.01%", "GNN encoder": "4.86 ± 0.10%"}
THESIS_ZERO_SHOT = {"RF width-depth": ("(unreadable in the thesis)", "7.30 ± 0.5%"),
                    "RF one-hot": ("7.00 ± 0.04%", "6.30 ± 0.1%"), "MLP one-hot": ("6.47 ± 2.40%", "9.40 ± 12.7%"),
                    "RNN one-hot": ("6.20 ± 4.70%", "6.90 ± 3.3%"), "GNN encoder": ("5.23 ± 3.90%", "5.73 ± 1.7%")}
# MSE x1e-3 on NB101 test accuracy at 1,000 / 10,000 / 100,000 training cells, mean ± std.
THESIS_TRAIN_SIZE = {"Semi-supervised assessor (Tang et al. 2020)": ("3.1 ± 3e-4", "2.6 ± 2e-4", "1.6 ± 2e-4"),
                     "GNN encoder": ("4.4 ± 3e-4", "2.2 ± 1e-4", "1.5 ± 1e-5")}


class LabelledSet:
    """The benchmark's architectures with a finite value of the metric: their flat graph
    vectors ``x``, targets ``y`` and isomorphism classes ``classes`` (one int per row)."""

    def __init__(self, space: SearchSpace, benchmark: TabularBenchmark, metric: str) -> None:
        archs = benchmark.archs()
        values = np.asarray(benchmark.query(archs, metric), dtype=np.float64)
        keep = np.flatnonzero(np.isfinite(values))
        self.archs = [archs[i] for i in keep]
        self.y = values[keep]
        self.x = space.encode(self.archs)
        index: dict = {}
        self.classes = np.array([index.setdefault(space.key(arch), len(index)) for arch in self.archs])

    def class_order(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """The rows of each isomorphism class, the classes in a random order."""
        members: dict[int, list[int]] = defaultdict(list)
        for row, group in enumerate(self.classes):
            members[int(group)].append(row)
        for group in rng.permutation(len(members)):
            yield np.array(members[int(group)])


def metric_scale(benchmark: Benchmark, metric: str) -> tuple[float, str]:
    """Factor that turns the metric into a fraction, and the unit the tables use."""
    if isinstance(benchmark, MetricUnits) and benchmark.unit(metric) == "%":
        return 0.01, "fraction"
    unit = benchmark.unit(metric) if isinstance(benchmark, MetricUnits) else None
    return 1.0, unit or "metric units"


def measure(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """RMSE, MSE (the true values' units), Kendall tau and Spearman rho."""
    error = predicted - true
    return {"rmse": float(np.sqrt(np.mean(error ** 2))), "mse": float(np.mean(error ** 2)),
            "kendall_tau": float(kendalltau(predicted, true)[0]), "spearman_rho": float(spearmanr(predicted, true)[0])}


def mean_std(values: Sequence[float], scale: float = 1.0, relative: bool = False) -> str:
    """``mean ± std`` (over seeds) of ``values * scale``; ``relative``: the std in % of the mean."""
    mean, std = float(np.mean(values)) * scale, float(np.std(values)) * scale
    if relative:
        return f"{mean:.2f} ± {100 * std / abs(mean) if mean else 0.0:.2f}%"
    return f"{mean:.3f} ± {std:.3f}"


@ranges("study", seeds=Int(1))
class PredictorStudy:
    """What the three studies share: the predictors, seeds, trials and outputs. A subclass says
    how the labelled set is split (:meth:`splits`) and how the rows become its table."""

    log_epochs = False  # whether the test error is measured after every epoch (zero-shot study)
    keep_predictions = False  # whether trials keep their test predictions (for the scatter plot)

    def __init__(self, predictor: PredictorFactory, predictor_name: str = "gnn",
                 baselines: Mapping[str, PredictorFactory] | None = None, seeds: int = 3,
                 name: str = "predictor_study") -> None:
        # a baseline set to null (an experiment's way to drop one of its study's list) is left out
        self.predictors = {predictor_name: predictor,
                           **{name: make for name, make in (baselines or {}).items() if make is not None}}
        self.seeds, self.name = seeds, name

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        if not isinstance(benchmark, TabularBenchmark):
            raise ConfigError(f"a predictor study needs a tabular benchmark (labelled architectures to split); "
                              f"{type(benchmark).__name__} is not")
        for name, make in self.predictors.items():
            with torch.random.fork_rng(devices=[]):  # building initialises modules; keep the run's stream
                if isinstance(make(space.graph), BenchmarkPredictor):
                    raise ConfigError(f"predictor {name} looks the benchmark up and learns nothing: a predictor "
                                      "study compares learned predictors")

    def splits(self, data: LabelledSet, space: SearchSpace, seed: int) -> list[Split]:
        raise NotImplementedError

    def report(self, rows: list[dict], context: StudyContext, scale: float, unit: str) -> str:
        """The markdown table of the trials' rows."""
        raise NotImplementedError

    def plot(self, rows: list[dict], trials: list[dict], scale: float, ax_pair: Sequence[plt.Axes]) -> None:
        raise NotImplementedError

    def __call__(self, context: StudyContext) -> dict:
        metric = context.objective.search_metric
        data = LabelledSet(context.space, context.benchmark, metric)
        scale, unit = metric_scale(context.benchmark, metric)
        trials = []
        for seed in range(context.seed, context.seed + self.seeds):
            for setting, train, test in self.splits(data, context.space, seed):
                for name, make in self.predictors.items():
                    labels = {"setting": setting, "predictor": name, "seed": seed}
                    trials.append(context.trials.trial(f"{setting}-{name}-seed{seed}", partial(
                        self._trial, labels, make, context.space.graph, data, train, test)))
        rows = [{k: v for k, v in trial.items() if not isinstance(v, list)} for trial in trials]
        outputs = [self._write_csv(context, f"{self.name}.csv", rows),
                   context.write_text(f"{self.name}.md", self.report(rows, context, scale, unit))]
        curves = [{"setting": t["setting"], "predictor": t["predictor"], "seed": t["seed"], "epoch": epoch + 1,
                   "test_rmse": value} for t in trials for epoch, value in enumerate(t.get("epoch_rmse", []))]
        if curves:
            outputs.append(self._write_csv(context, f"{self.name}_epochs.csv", curves))
        fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
        self.plot(rows, trials, scale, axes)
        save_figure(fig, context.run_dir / f"{self.name}.png")
        outputs.append(context.run_dir / f"{self.name}.png")
        return {"outputs": [str(path) for path in outputs], "trials": len(trials), "unit": unit,
                "labelled_architectures": len(data.y), "isomorphism_classes": int(data.classes.max()) + 1}

    def _trial(self, labels: dict, make: PredictorFactory, graph: GraphSpec, data: LabelledSet, train: np.ndarray,
               test: np.ndarray) -> dict:
        """Fit a fresh predictor with seed ``labels['seed']`` and measure it on the test rows."""
        seed = labels["seed"]
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # module initialisation at construction
        predictor = make(graph)
        x_train, y_train, x_test, y_test = data.x[train], data.y[train], data.x[test], data.y[test]
        started = time.perf_counter()
        epoch_rmse = []
        if self.log_epochs and isinstance(predictor, EpochwisePredictor):
            for _ in predictor.fit_epochs(x_train, y_train, generator=generator):
                epoch_rmse.append(measure(predictor.predict(x_test), y_test)["rmse"])
        else:
            predictor.fit(x_train, y_train, generator=generator)
        fit_seconds = time.perf_counter() - started
        predicted = np.asarray(predictor.predict(x_test), dtype=np.float64)
        result = {**labels, "train_size": len(train), "test_size": len(test), **measure(predicted, y_test),
                  "fit_seconds": round(fit_seconds, 2)}
        if epoch_rmse:
            result["epoch_rmse"] = epoch_rmse
        if self.keep_predictions:
            result |= {"true": y_test.tolist(), "predicted": predicted.tolist()}
        return result

    @staticmethod
    def _write_csv(context: StudyContext, name: str, rows: list[dict]) -> object:
        path = context.run_dir / name
        with atomic_write(path, "w") as f:
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
            writer.writeheader()
            writer.writerows(rows)
        return path

    def grouped(self, rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
        """Rows by (predictor, setting), in the order they came."""
        groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for row in rows:
            groups[(row["predictor"], row["setting"])].append(row)
        return groups

    def protocol_line(self, context: StudyContext, unit: str, rows: list[dict]) -> str:
        seeds = sorted({row["seed"] for row in rows})
        return (f"{context.space.name} on {context.benchmark.name}, models learn {context.objective.search_metric} "
                f"(errors in {unit} units), seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}); training and test sets "
                "share no isomorphism class.")


class SupervisedStudy(PredictorStudy):
    """Thesis Table 3.1: train on ``fractions[0]`` of the labelled architectures, test on the
    next ``fractions[1]``; the last ``fractions[2]`` (the thesis' validation set) stays unused,
    since every model trains its fixed number of epochs. RMSE (mean ± std and ± relative std),
    Kendall tau and Spearman rho; plot: predicted vs true, squared error by 9 ground-truth bins."""

    keep_predictions = True

    def __init__(self, predictor: PredictorFactory, fractions: Sequence[float] = (0.7, 0.2, 0.1), **kwargs) -> None:
        super().__init__(predictor, **kwargs)
        if len(fractions) != 3 or min(fractions) < 0 or not 0.99 < sum(fractions) < 1.01 or not fractions[0] > 0:
            raise ConfigError(f"study.fractions must be three non-negative train/test/validation shares summing "
                              f"to 1, got {list(fractions)}")
        self.fractions = tuple(fractions)

    def splits(self, data: LabelledSet, space: SearchSpace, seed: int) -> list[Split]:
        total, sides, start = len(data.y), ([], [], []), 0
        bounds = np.cumsum(self.fractions) * total
        for members in data.class_order(np.random.default_rng(seed)):
            sides[int(np.searchsorted(bounds, start, side="right"))].extend(members)
            start += len(members)
        train, test = np.array(sides[0], dtype=np.int64), np.array(sides[1], dtype=np.int64)
        if len(train) < 2 or len(test) < 2:
            raise ConfigError(f"study.fractions {list(self.fractions)} leave {len(train)} training and {len(test)} "
                              f"test architectures of {total}: at least 2 each")
        return [("split", train, test)]

    def report(self, rows: list[dict], context: StudyContext, scale: float, unit: str) -> str:
        body = []
        for (name, _), members in self.grouped(rows).items():
            rmse = [r["rmse"] * scale / 1e-2 for r in members]
            body.append([name, mean_std(rmse), mean_std(rmse, relative=True),
                         mean_std([r["kendall_tau"] for r in members]),
                         mean_std([r["spearman_rho"] for r in members]),
                         f"{members[0]['train_size']} / {members[0]['test_size']}",
                         f"{np.mean([r['fit_seconds'] for r in members]):.0f}"])
        body += [[f"thesis: {name}", "-", value, "-", "-", "296,558 / 84,725 (NB101)", "-"]
                 for name, value in THESIS_SUPERVISED.items()]
        header = ["predictor", "RMSE (x1e-2)", "RMSE ± relative std", "Kendall tau", "Spearman rho",
                  "train / test cells", "fit s"]
        return (f"# {self.name}: supervised prediction (thesis Table 3.1 layout)\n\n"
                f"{self.protocol_line(context, unit, rows)} Split {'/'.join(map(str, self.fractions))} "
                "train/test/validation (validation unused). The thesis reports no rank correlations.\n\n"
                + _markdown(header, body) + "\n")

    def plot(self, rows: list[dict], trials: list[dict], scale: float, ax_pair: Sequence[plt.Axes]) -> None:
        scatter, bins = ax_pair
        first_seed = min(t["seed"] for t in trials)
        for trial in (t for t in trials if t["seed"] == first_seed):
            true, predicted = np.array(trial["true"]) * scale, np.array(trial["predicted"]) * scale
            shown = np.random.default_rng(0).permutation(len(true))[:500]
            scatter.scatter(true[shown], predicted[shown], s=5, alpha=0.5, label=trial["predictor"])
            edges = np.linspace(true.min(), true.max(), GT_BINS + 1)
            which = np.clip(np.searchsorted(edges, true, side="right") - 1, 0, GT_BINS - 1)
            error = [np.mean((predicted - true)[which == b] ** 2) if np.any(which == b) else np.nan
                     for b in range(GT_BINS)]
            bins.plot((edges[:-1] + edges[1:]) / 2, error, marker="o", label=trial["predictor"])
        low, high = scatter.get_xlim()
        scatter.plot([low, high], [low, high], color="grey", lw=0.8)
        scatter.set(xlabel="true", ylabel="predicted", title=f"test set, seed {first_seed} (500 shown)")
        bins.set(yscale="log", xlabel="true value (9 bins)", ylabel="mean squared error",
                 title="squared error by ground-truth bin")
        scatter.legend(fontsize=8)


class TrainSizeStudy(PredictorStudy):
    """Thesis Table 3.3: train on ``train_sizes`` random architectures (whole isomorphism
    classes, the last one cut), test on every architecture of the classes not drawn. MSE
    (x1e-3) and Kendall tau against the training-set size."""

    def __init__(self, predictor: PredictorFactory, train_sizes: Sequence[int] = (100, 1000, 10000),
                 **kwargs) -> None:
        super().__init__(predictor, **kwargs)
        if not train_sizes or min(train_sizes) < 2:
            raise ConfigError(f"study.train_sizes must be sizes of at least 2, got {list(train_sizes)}")
        self.train_sizes = tuple(train_sizes)

    def splits(self, data: LabelledSet, space: SearchSpace, seed: int) -> list[Split]:
        classes = list(data.class_order(np.random.default_rng(seed)))
        splits = []
        for size in self.train_sizes:
            drawn = np.cumsum([len(members) for members in classes])
            whole = int(np.searchsorted(drawn, size))  # classes used (the last one maybe in part)
            if whole >= len(classes) - 1:
                raise ConfigError(f"study.train_sizes: {size} training architectures leave too few for testing "
                                  f"of the {len(data.y)} labelled ones; use sizes below {int(0.9 * len(data.y))}")
            train = np.concatenate(classes[: whole + 1])[:size]
            splits.append((f"n{size}", train, np.concatenate(classes[whole + 1:])))
        return splits

    def report(self, rows: list[dict], context: StudyContext, scale: float, unit: str) -> str:
        groups = self.grouped(rows)
        names = list(dict.fromkeys(name for name, _ in groups))
        settings = [f"n{size}" for size in self.train_sizes]
        mse_scale = scale ** 2 / 1e-3

        def cells(measure: str, factor: float) -> list[list[str]]:
            return [[name] + [mean_std([r[measure] * factor for r in groups[(name, s)]]) if (name, s) in groups
                              else "-" for s in settings] for name in names]

        thesis = [[f"thesis: {name}", *values] for name, values in THESIS_TRAIN_SIZE.items()]
        header = ["predictor", *map(str, self.train_sizes)]
        tested = {s: groups[(names[0], s)][0]["test_size"] for s in settings if (names[0], s) in groups}
        return (f"# {self.name}: error against training-set size (thesis Table 3.3 layout)\n\n"
                f"{self.protocol_line(context, unit, rows)} Tested on all architectures of the classes not drawn "
                f"({', '.join(f'{s[1:]}: {n}' for s, n in tested.items())} test cells). The thesis rows are on NB101 "
                "test accuracy at 1,000 / 10,000 / 100,000 training cells.\n\n"
                f"## MSE (x1e-3)\n\n{_markdown(header, cells('mse', mse_scale))}\n\n"
                f"## Kendall tau\n\n{_markdown(header, cells('kendall_tau', 1.0))}\n\n"
                "## Thesis, MSE (x1e-3) on NB101 test accuracy\n\n"
                f"{_markdown(['model', '1000', '10000', '100000'], thesis)}\n")

    def plot(self, rows: list[dict], trials: list[dict], scale: float, ax_pair: Sequence[plt.Axes]) -> None:
        groups = self.grouped(rows)
        for ax, (measure, factor, label) in zip(ax_pair, (("mse", scale ** 2 / 1e-3, "MSE (x1e-3)"),
                                                          ("kendall_tau", 1.0, "Kendall tau"))):
            for name in dict.fromkeys(name for name, _ in groups):
                sizes = [size for size in self.train_sizes if (name, f"n{size}") in groups]
                values = np.array([[r[measure] * factor for r in groups[(name, f"n{size}")]] for size in sizes])
                ax.errorbar(sizes, values.mean(1), yerr=values.std(1), marker="o", capsize=3, label=name)
            ax.set(xscale="log", xlabel="training architectures", ylabel=label)
            ax.grid(alpha=0.3)
        ax_pair[0].legend(fontsize=8)


class ZeroShotStudy(PredictorStudy):
    """Thesis Table 3.2: train on the cells of some node counts, test on the cells of another
    (``splits``: a list of ``{train: [counts], test: [counts]}``), with the test RMSE measured
    after every epoch of the predictors trained in epochs (the thesis sees it rise, then fall).
    A cell's node count is its number of non-padding nodes; spaces without padding (every graph
    the same size, NB201) are refused."""

    log_epochs = True

    def __init__(self, predictor: PredictorFactory, node_splits: Sequence[Mapping[str, Sequence[int]]] = (),
                 **kwargs) -> None:
        super().__init__(predictor, **kwargs)
        if not node_splits or any(set(split) != {"train", "test"} for split in node_splits):
            raise ConfigError("study.node_splits must list {train: [node counts], test: [node counts]} splits")
        self.node_splits = [(tuple(split["train"]), tuple(split["test"])) for split in node_splits]

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        if space.graph.pad_type is None:
            raise ConfigError(f"zero-shot prediction by cell size needs cells of different sizes; every "
                              f"{space.name} graph has {space.graph.max_nodes} nodes")
        super().check(space, benchmark, objective)

    @staticmethod
    def node_counts(data: LabelledSet, graph: GraphSpec) -> np.ndarray:
        """Non-padding nodes of each labelled architecture (all its cells)."""
        node_features, adjacency = unflatten(torch.as_tensor(data.x), graph)
        return real_nodes(node_features, adjacency, graph).sum(1).reshape(len(data.y), -1).sum(1).numpy()

    def splits(self, data: LabelledSet, space: SearchSpace, seed: int) -> list[Split]:
        counts = self.node_counts(data, space.graph)
        splits = []
        for train_counts, test_counts in self.node_splits:
            train, test = np.flatnonzero(np.isin(counts, train_counts)), np.flatnonzero(np.isin(counts, test_counts))
            if len(train) < 2 or len(test) < 2:
                present = dict(zip(*np.unique(counts, return_counts=True)))
                raise ConfigError(f"zero-shot split train {list(train_counts)} -> test {list(test_counts)} nodes "
                                  f"has {len(train)} training and {len(test)} test cells; cells per node count: "
                                  f"{ {int(k): int(v) for k, v in present.items()} }")
            splits.append((f"{''.join(map(str, train_counts))}to{''.join(map(str, test_counts))}", train, test))
        return splits

    def report(self, rows: list[dict], context: StudyContext, scale: float, unit: str) -> str:
        groups = self.grouped(rows)
        names = list(dict.fromkeys(name for name, _ in groups))
        settings = list(dict.fromkeys(setting for _, setting in groups))
        labels = [f"train {{{','.join(a)}}} -> test {b} nodes" for a, b in (s.split("to") for s in settings)]

        def cell(name: str, setting: str) -> str:
            members = groups.get((name, setting))
            if not members:
                return "-"
            rmse = mean_std([r["rmse"] * scale / 1e-2 for r in members], relative=True)
            return f"{rmse} (tau {np.mean([r['kendall_tau'] for r in members]):.2f}, " \
                   f"{members[0]['train_size']} / {members[0]['test_size']} cells)"

        body = [[name] + [cell(name, s) for s in settings] for name in names]
        thesis = [[f"thesis: {name}", f"{{2,3,4,5,7}} -> 6: {a}", f"{{2,3,4,5,6}} -> 7: {b}"]
                  for name, (a, b) in THESIS_ZERO_SHOT.items()]
        return (f"# {self.name}: zero-shot prediction by cell size (thesis Table 3.2 layout)\n\n"
                f"{self.protocol_line(context, unit, rows)} RMSE (x1e-2) mean ± relative std, Kendall tau and "
                f"train / test cells; per-epoch test RMSE in {self.name}_epochs.csv.\n\n"
                + _markdown(["predictor", *labels], body) + "\n\n## Thesis (full NB101)\n\n"
                + _markdown(["predictor", "interpolation", "extrapolation"], thesis) + "\n")

    def plot(self, rows: list[dict], trials: list[dict], scale: float, ax_pair: Sequence[plt.Axes]) -> None:
        settings = list(dict.fromkeys(t["setting"] for t in trials))
        for ax, setting in zip(ax_pair, settings):
            by_predictor: dict[str, list[list[float]]] = defaultdict(list)
            for trial in trials:
                if trial["setting"] == setting and trial.get("epoch_rmse"):
                    by_predictor[trial["predictor"]].append(trial["epoch_rmse"])
            for name, curves in by_predictor.items():
                curve = np.array(curves) * scale / 1e-2
                epochs = np.arange(1, curve.shape[1] + 1)
                line, = ax.plot(epochs, curve.mean(0), label=name)
                ax.fill_between(epochs, curve.min(0), curve.max(0), color=line.get_color(), alpha=0.2)
            train, test = setting.split("to")
            ax.set(xlabel="epoch", ylabel="test RMSE (x1e-2)", title=f"train {{{','.join(train)}}} -> test {test}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
