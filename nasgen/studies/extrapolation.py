"""Zero-shot extrapolation to cells larger than the space's (thesis Table 4.4, NB101 8-node cells).

From a start cell of the space's largest size (default: the best labelled one by the objective's
search metric), every one-node expansion (:class:`~nasgen.spaces.base.ExpandableSpace`, one or
more rules) is ranked by a predictor trained on the labelled cells, in the graph layout of the
grown space (the labelled cells padded to it). With ``predictor=svge`` that is SVGe's encoder and
its MLP fine-tuned jointly (message passing reads graphs of any size, so a model trained on
7-node cells can score 8-node ones). No expanded cell has a label offline: the thesis trained its
top 5 on CIFAR-10 from scratch, so the study reports the ranking and the predicted values only.

The thesis' start cell is the best NB101 cell by validation accuracy; with the full table that is
the default start here too (the overall best has 7 nodes). NASLib's 500 real cells hold a single
7-node cell; ``study.start`` takes any cell string, e.g. the thesis' cell (its experiment file).

The thesis counts 1,384 graphs. The SVGe authors' released script builds 384 of them by the
``ends`` rule (3 operations x 2 ends x 64 edge sets) and adds 1,000 random 8-node graphs that are
not expansions of the cell; the ``insert`` rule is the full one-node expansion.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nasgen.benchmarks.base import Benchmark  # noqa: E402
from nasgen.errors import ConfigError  # noqa: E402
from nasgen.evaluation.predictor_quality import write_csv  # noqa: E402
from nasgen.objective import Objective  # noqa: E402
from nasgen.predictors.base import Predictor  # noqa: E402
from nasgen.reporting.report import _markdown  # noqa: E402
from nasgen.reporting.results import save_figure, write_json  # noqa: E402
from nasgen.spaces.base import Arch, ExpandableSpace, GraphSpec, SearchSpace  # noqa: E402
from nasgen.studies.base import StudyContext  # noqa: E402
from nasgen.studies.labelled import fit_predict, labelled_archs, real_nodes, require_table  # noqa: E402

# Thesis Table 4.4 (NB101) and the count of Section 4.4.5.
THESIS_COUNT = 1384
THESIS_ROWS = (("NB101 7 nodes, oracle (best validation)", 95.15, 94.09),
               ("NB101 8 nodes, SVGe top 5 trained on CIFAR-10", 95.18, 94.92))


class ExtrapolationStudy:
    """Rank the one-node expansions of a start cell by a predictor trained on the labelled cells.

    Args:
        predictor: the ``predictor`` group's factory (called with the grown space's GraphSpec).
        start: the start cell as the space's string; ``None``: the best labelled cell of the
            space's largest size.
        rules: the expansion rules whose cells are ranked together (each counted on its own).
        seeds: one predictor fit per seed (a trial each); cells are ranked by the mean prediction.
        train_size: labelled cells to train on (a random subset, one per isomorphism class;
            thesis: 1,000); ``None``: all the table has.
        top: how many cells ``top5.json`` and the table list.
    """

    def __init__(self, predictor: Callable[[GraphSpec], Predictor], start: str | None = None,
                 rules: Sequence[str] = ("insert", "ends"), seeds: Sequence[int] = (0, 1, 2),
                 train_size: int | None = None, top: int = 5) -> None:
        if not rules or not seeds or top < 1:
            raise ConfigError("study extrapolate needs at least one rule, one seed and top >= 1")
        self.make_predictor = predictor
        self.start, self.rules, self.seeds = start, tuple(rules), tuple(seeds)
        self.train_size, self.top = train_size, top

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        if not isinstance(space, ExpandableSpace):
            raise ConfigError(f"study extrapolate grows cells by one node, which search_space {space.name} cannot "
                              f"(it is no ExpandableSpace; nb101 is)")
        require_table(benchmark, "extrapolate")
        if self.start is not None:
            self._checked_start(space, space.from_str(self.start))

    @staticmethod
    def _checked_start(space: SearchSpace, arch: Arch) -> Arch:
        nodes = real_nodes(space, arch)
        if nodes < space.graph.max_nodes:
            raise ConfigError(f"start cell {space.to_str(arch)} has {nodes} nodes; its one-node expansions stay "
                              f"inside {space.name} (up to {space.graph.max_nodes}): start from a cell of "
                              f"{space.graph.max_nodes} nodes")
        return arch

    def _start(self, space: SearchSpace, archs: list[Arch], values: np.ndarray, maximize: bool) -> Arch:
        if self.start is not None:
            return self._checked_start(space, space.from_str(self.start))
        largest = [i for i, arch in enumerate(archs) if real_nodes(space, arch) == space.graph.max_nodes]
        if not largest:
            raise ConfigError(f"the benchmark labels no cell of {space.graph.max_nodes} nodes to start from; "
                              f"give one as study.start")
        scores = values[largest] if maximize else -values[largest]
        return archs[largest[int(np.argmax(scores))]]

    def __call__(self, context: StudyContext) -> dict:
        space, objective = context.space, context.objective
        assert isinstance(space, ExpandableSpace)  # check() refused the others
        started = time.perf_counter()
        metric = objective.search_metric
        archs, values = labelled_archs(space, context.benchmark, metric, self.train_size, context.seed)
        start = self._start(space, archs, values, objective.maximize)
        start_value = float(np.asarray(context.benchmark.query([start], metric), dtype=np.float64)[0]) \
            if space.key(start) in {space.key(a) for a in archs} else None
        grown = space.expanded_space()
        candidates: dict = {}
        rules_of: dict = {}
        counts = {}
        for rule in self.rules:
            cells = space.expansions(start, rule)
            counts[rule] = {"cells": len(cells), "within_edge_limit": sum(
                space.max_edges is None or _edges(grown, c) <= space.max_edges for c in cells)}
            for cell in cells:
                key = grown.key(cell)
                candidates.setdefault(key, cell)
                rules_of.setdefault(key, []).append(rule)
        cells = list(candidates.values())
        x_train, x_cells = grown.encode(archs), grown.encode([*cells, start])

        def predicted(seed: int) -> list[float]:
            return fit_predict(self.make_predictor, grown.graph, x_train, values, x_cells, seed)

        predictions = np.array([context.trials.trial(f"predict-seed={seed}", lambda s=seed: predicted(s))
                                for seed in self.seeds])
        mean, std = predictions.mean(0), predictions.std(0)
        order = np.argsort(-mean[:-1] if objective.maximize else mean[:-1], kind="stable")
        rows = [{"rank": rank + 1, "arch": grown.to_str(cells[i]), "rules": "+".join(rules_of[grown.key(cells[i])]),
                 "edges": _edges(grown, cells[i]), "predicted_mean": float(mean[i]), "predicted_std": float(std[i]),
                 **{f"predicted_seed{seed}": float(p) for seed, p in zip(self.seeds, predictions[:, i])}}
                for rank, i in enumerate(order)]
        summary = {"start": space.to_str(start), "start_true": start_value, "start_predicted": float(mean[-1]),
                   "metric": metric, "labelled_train_cells": len(archs), "counts": counts,
                   "union": len(cells), "thesis_count": THESIS_COUNT, "seeds": list(self.seeds),
                   "top": rows[:self.top], "ground_truth": "none offline (8-node cells are not in any table)"}
        outputs = [self._write(context, summary, rows, values)]
        write_json(context.run_dir / "top5.json", summary)
        write_csv(rows, context.run_dir / "extrapolation.csv")
        self._plot(context, mean[:-1], summary, values)
        outputs += [context.run_dir / name for name in ("top5.json", "extrapolation.csv", "extrapolation.png")]
        return {"outputs": [str(p) for p in outputs], "extrapolation": {k: v for k, v in summary.items() if k != "top"},
                "top": rows[:self.top], "study_seconds": time.perf_counter() - started}

    def _write(self, context: StudyContext, summary: dict, rows: list[dict], values: np.ndarray):
        metric = summary["metric"]
        count_rows = [[rule, str(c["cells"]), str(c["within_edge_limit"])]
                      for rule, c in summary["counts"].items()]
        count_rows += [["union of the rules", str(summary["union"]), "-"],
                       ["thesis (authors' script: 384 by `ends` + 1,000 random 8-node graphs)",
                        str(THESIS_COUNT), "-"]]
        top_rows = [[str(r["rank"]), f"`{r['arch']}`", r["rules"], str(r["edges"]),
                     f"{r['predicted_mean']:.2f} ± {r['predicted_std']:.2f}"] for r in rows[:self.top]]
        start_true = "not labelled" if summary["start_true"] is None else f"{summary['start_true']:.2f}"
        text = (f"# Extrapolation to one node more (thesis Table 4.4 protocol)\n\n"
                f"**No ground truth offline**: the expanded cells are in no table (the thesis trained its top 5 "
                f"on CIFAR-10 from scratch); the values below are predictions of {metric}.\n\n"
                f"Start cell: `{summary['start']}` ({metric}: {start_true}, "
                f"predicted {summary['start_predicted']:.2f}); "
                f"predictor trained on {summary['labelled_train_cells']} labelled cells (one per isomorphism class; "
                f"best label {np.max(values):.2f}), seeds {summary['seeds']}.\n\n"
                f"## Expansions counted\n\n"
                + _markdown(["rule", "distinct cells",
                             f"of them within {context.space.name}'s edge limit ({context.space.max_edges})"],
                            count_rows)
                + f"\n\n## Top {self.top} by mean prediction\n\n"
                + _markdown(["rank", "cell", "rule", "edges", f"predicted {metric}"], top_rows)
                + "\n\n## Thesis (CIFAR-10 training of the top 5; not reproducible offline)\n\n"
                + _markdown(["", "val acc (%)", "test acc (%)"],
                            [[name, f"{val:.2f}", f"{test:.2f}"] for name, val, test in THESIS_ROWS]))
        return context.write_text("extrapolation.md", text)

    @staticmethod
    def _plot(context: StudyContext, predicted: np.ndarray, summary: dict, values: np.ndarray) -> None:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        ax.hist(predicted, bins=40, color="tab:blue", alpha=0.8, label=f"{len(predicted)} expansions (predicted)")
        ax.axvline(summary["start_predicted"], color="tab:orange", ls="--", label="start cell, predicted")
        if summary["start_true"] is not None:
            ax.axvline(summary["start_true"], color="tab:green", label="start cell, table")
        ax.axvline(float(np.max(values)), color="black", ls=":", label="best labelled cell")
        ax.set_xlabel(f"predicted {summary['metric']}")
        ax.set_ylabel("cells")
        ax.legend(fontsize=7)
        save_figure(fig, context.run_dir / "extrapolation.png")


def _edges(space: SearchSpace, arch: Arch) -> int:
    return int(np.asarray(space.to_graph(arch)[1]).sum())
