"""Architecture design vs robustness on the NB201 robustness dataset (Lukasik thesis 2023,
Section 7.4.3; Jung, Lukasik, Keuper, ICLR 2023).

Reusable functions over all evaluated (non-isomorphic) cells of a
:class:`~nasgen.benchmarks.robustness.RobustnessBenchmark`:

- :func:`kernel_parameters`: cell kernel-parameter count, 1 per 1x1 and 9 per 3x3 conv (0..54);
- :func:`plot_robust_vs_clean`: mean adversarial / corruption accuracy vs clean accuracy,
  coloured by kernel parameters (Fig. 7.8);
- :func:`by_kernel_parameters`, :func:`top_at_kernel_parameters`, :func:`plot_by_kernel_parameters`:
  robust accuracy per kernel-parameter count and the best cells at one count (Figs. 7.9, 7.10);
- :func:`neighbour_table`, :func:`plot_neighbours`: every edit-distance-1 neighbour of a cell
  and the change of each metric relative to it (Fig. 7.11).

:class:`DesignAnalysis` is the evaluation suite running them after a search.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nasgen.benchmarks.base import Benchmark  # noqa: E402
from nasgen.benchmarks.robustness import RobustnessBenchmark  # noqa: E402
from nasgen.errors import ConfigError  # noqa: E402
from nasgen.objective import Objective  # noqa: E402
from nasgen.ranges import Int, ranges  # noqa: E402
from nasgen.reporting.results import save_figure, write_json  # noqa: E402
from nasgen.search.oracle import Oracle  # noqa: E402
from nasgen.spaces.nb201 import EDGES, OPS, NB201Arch  # noqa: E402

log = logging.getLogger(__name__)

KERNEL_PARAMETERS = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}
SHORT_OPS = {"none": "zero", "skip_connect": "skip", "nor_conv_1x1": "1x1", "nor_conv_3x3": "3x3",
             "avg_pool_3x3": "avg"}
# Metrics of the neighbour tables, relative to robust/<dataset>/: Table 7.1's columns plus
# the two means the thesis' design figures use (its "mean adversarial accuracy" is the
# mean over every attack and epsilon, `adversarial_mean_all_eps`).
DEFAULT_METRICS = ("clean", "fgsm@eps=1", "pgd@eps=1", "apgd_ce@eps=1", "square@eps=1", "adversarial_mean_all_eps",
                   "corruption_mean")


def kernel_parameters(arch: NB201Arch) -> int:
    """Cell kernel-parameter count: 1 per 1x1 convolution, 9 per 3x3 convolution (0..54)."""
    return sum(KERNEL_PARAMETERS.get(OPS[op], 0) for op in arch)


def robust_metric(benchmark: RobustnessBenchmark, name: str) -> str:
    """Full metric name of ``name`` relative to ``robust/<dataset>/`` (full names pass through)."""
    return name if name.startswith("robust/") else f"robust/{benchmark.dataset}/{name}"


def _available(benchmark: RobustnessBenchmark, names: Sequence[str]) -> list[str]:
    """Full names of ``names`` that ``benchmark`` has (ImageNet16-120 has no corruptions)."""
    return [m for m in (robust_metric(benchmark, n) for n in names) if m in benchmark.metrics]


def unique_archs(benchmark: RobustnessBenchmark, metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Index, kernel parameters and ``metrics`` (%) of every evaluated cell (one per
    isomorphism class, 6,466 in NB201)."""
    index = benchmark.unique_indices()
    result = {"index": index,
              "kernel_parameters": np.array([kernel_parameters(benchmark.space.from_index(int(i))) for i in index])}
    for metric in metrics:
        result[metric] = benchmark.column(metric)[index]
    return result


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}


def by_kernel_parameters(benchmark: RobustnessBenchmark, metrics: Sequence[str]) -> list[dict]:
    """Per kernel-parameter count: number of evaluated cells and mean/min/max of each metric (Fig. 7.9)."""
    table = unique_archs(benchmark, metrics)
    rows = []
    for count in np.unique(table["kernel_parameters"]):
        members = table["kernel_parameters"] == count
        rows.append({"kernel_parameters": int(count), "archs": int(members.sum()),
                     **{m: _stats(table[m][members]) for m in metrics}})
    return rows


def _describe(benchmark: RobustnessBenchmark, index: int, metrics: Sequence[str]) -> dict:
    arch = benchmark.space.from_index(index)
    return {"index": index, "arch": benchmark.space.to_str(arch), "isomorph": int(benchmark.isomorph[index]),
            "kernel_parameters": kernel_parameters(arch), **{m: float(benchmark.column(m)[index]) for m in metrics}}


def top_at_kernel_parameters(benchmark: RobustnessBenchmark, count: int, metric: str, k: int = 20,
                             metrics: Sequence[str] = ()) -> list[dict]:
    """The ``k`` evaluated cells with kernel-parameter count ``count`` that are best by ``metric`` (Fig. 7.10)."""
    table = unique_archs(benchmark, [metric])
    members = table["index"][table["kernel_parameters"] == count]
    order = np.argsort(-benchmark.column(metric)[members], kind="stable")[:k]
    return [_describe(benchmark, int(i), list(dict.fromkeys([metric, *metrics]))) for i in members[order]]


def neighbour_table(benchmark: RobustnessBenchmark, arch: NB201Arch, metrics: Sequence[str]) -> dict:
    """``arch`` and all 24 cells at edit distance 1 (one edge's op changed), each with its
    values of ``metrics`` and their change relative to ``arch`` (Fig. 7.11).

    Edges are numbered 1-6 in arch-string order, as in the thesis. Neighbours that are
    isomorphic to each other share their values; ``isomorph`` tells them apart.
    """
    space = benchmark.space
    base = _describe(benchmark, space.index(arch), metrics)
    rows = []
    for neighbour in space.neighbours(arch):
        edge = next(e for e in range(len(EDGES)) if neighbour[e] != arch[e])
        row = {"edge": edge + 1, "from": OPS[arch[edge]], "to": OPS[neighbour[edge]],
               **_describe(benchmark, space.index(neighbour), metrics)}
        # Rounded: the values have 0.1 % resolution, the float noise of the difference is not information.
        row["change"] = {m: round(row[m] - base[m], 6) for m in metrics}
        row["same_class_as_base"] = row["isomorph"] == base["isomorph"]
        rows.append(row)
    return {**base, "neighbours": rows}


def summarize_neighbours(table: dict, metrics: Sequence[str]) -> dict:
    """Per metric: how many distinct neighbour classes improve on the cell, and the best neighbour."""
    distinct = {row["isomorph"]: row for row in table["neighbours"] if not row["same_class_as_base"]}
    summary = {"index": table["index"], "arch": table["arch"], **{m: table[m] for m in metrics},
               "distinct_neighbours": len(distinct), "improving_neighbours": {}, "best_neighbour": {}}
    for metric in metrics:
        summary["improving_neighbours"][metric] = sum(row["change"][metric] > 0 for row in distinct.values())
        best = max(distinct.values(), key=lambda row: row["change"][metric], default=None)
        if best is not None:
            summary["best_neighbour"][metric] = {"arch": best["arch"], "index": best["index"],
                                                 "move": f"edge {best['edge']}: {best['from']} -> {best['to']}",
                                                 "change": best["change"][metric]}
    return summary


# -- plots ------------------------------------------------------------------------------------
def _label(metric: str) -> str:
    return metric.split("/", 2)[-1].replace("_", " ") + " (%)"


def plot_robust_vs_clean(benchmark: RobustnessBenchmark, path: Path) -> None:
    """Mean adversarial and mean corruption accuracy vs clean accuracy of every evaluated
    cell, coloured by kernel-parameter count (Fig. 7.8)."""
    clean = robust_metric(benchmark, "clean")
    robust = _available(benchmark, ["adversarial_mean_all_eps", "corruption_mean"])
    table = unique_archs(benchmark, [clean, *robust])
    fig, axes = plt.subplots(1, len(robust), figsize=(5.6 * len(robust), 4.4), squeeze=False)
    for ax, metric in zip(axes[0], robust):
        points = ax.scatter(table[clean], table[metric], c=table["kernel_parameters"], cmap="viridis", s=4,
                            vmin=0, vmax=54)
        ax.set_xlabel(_label(clean))
        ax.set_ylabel(_label(metric))
        ax.grid(alpha=0.3)
        fig.colorbar(points, ax=ax, label="cell kernel parameters")
    fig.suptitle(f"{benchmark.dataset}: {len(table['index'])} evaluated NB201 cells", fontsize=10)
    save_figure(fig, path)


def plot_by_kernel_parameters(benchmark: RobustnessBenchmark, path: Path, highlight: int | None = 18) -> None:
    """Each robust mean by kernel-parameter count, cells with count ``highlight`` in orange (Fig. 7.9)."""
    robust = _available(benchmark, ["adversarial_mean_all_eps", "corruption_mean"])
    table = unique_archs(benchmark, robust)
    fig, axes = plt.subplots(1, len(robust), figsize=(5.6 * len(robust), 4.0), squeeze=False)
    for ax, metric in zip(axes[0], robust):
        marked = table["kernel_parameters"] == highlight
        ax.scatter(table["kernel_parameters"][~marked], table[metric][~marked], s=4, alpha=0.5)
        if marked.any():
            ax.scatter(table["kernel_parameters"][marked], table[metric][marked], s=4, color="tab:orange",
                       label=f"{highlight} kernel parameters ({int(marked.sum())} cells)")
            ax.legend(fontsize=8)
        ax.set_xlabel("cell kernel parameters")
        ax.set_ylabel(_label(metric))
        ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_neighbours(benchmark: RobustnessBenchmark, table: dict, path: Path) -> None:
    """All evaluated cells (grey), ``table``'s cell (red) and its edit-distance-1 neighbours
    (one marker per move, legend ``from -> to (edge)``), robust means vs clean accuracy (Fig. 7.11)."""
    clean = robust_metric(benchmark, "clean")
    robust = _available(benchmark, ["adversarial_mean_all_eps", "corruption_mean"])
    everything = unique_archs(benchmark, [clean, *robust])
    fig, axes = plt.subplots(1, len(robust), figsize=(6.4 * len(robust), 4.8), squeeze=False)
    markers = "ovs^D<>pPX*h"
    for ax, metric in zip(axes[0], robust):
        ax.scatter(everything[clean], everything[metric], s=3, color="lightgrey")
        for i, row in enumerate(table["neighbours"]):
            if row["same_class_as_base"]:
                continue
            move = f"{SHORT_OPS[row['from']]} -> {SHORT_OPS[row['to']]} ({row['edge']})"
            ax.scatter(row[clean], row[metric], s=24, marker=markers[i % len(markers)],
                       color=plt.cm.tab20(i % 20), label=move)
        ax.scatter(table[clean], table[metric], s=60, color="red", marker="*", label=f"#{table['index']}", zorder=3)
        values = [table[metric], *(row[metric] for row in table["neighbours"])]
        cleans = [table[clean], *(row[clean] for row in table["neighbours"])]
        # Zoom on the neighbourhood; the grey cloud stays as context.
        ax.set_xlim(min(cleans) - 2, max(cleans) + 1)
        ax.set_ylim(min(values) - 2, max(values) + 2)
        ax.set_xlabel(_label(clean))
        ax.set_ylabel(_label(metric))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"{benchmark.dataset}: edit-distance-1 neighbours of {table['arch']}", fontsize=9)
    save_figure(fig, path)


# -- the suite --------------------------------------------------------------------------------
@ranges("evaluation.design", highlight_kernel_parameters=Int(0), top_k=Int(1))
class DesignAnalysis:
    """Evaluation suite: the design analysis above for the robustness benchmark of the run.

    ``archs`` names the cells whose neighbourhoods are analysed: ``best`` (the best found by
    the search), ``best_clean`` (the best cell of the space by clean accuracy, #13714 on
    CIFAR-10), or any arch string / NB201 index. ``metrics`` are relative to ``robust/<dataset>/``.
    """

    def __init__(self, archs: Sequence["str | int"] = ("best", "best_clean"),
                 metrics: Sequence[str] = DEFAULT_METRICS, highlight_kernel_parameters: int = 18,
                 top_k: int = 20, plot: bool = True) -> None:
        self.archs, self.metrics = list(archs), list(metrics)
        self.highlight, self.top_k, self.plot = highlight_kernel_parameters, top_k, plot

    def _resolve(self, name: "str | int", oracle: Oracle, benchmark: RobustnessBenchmark) -> NB201Arch | None:
        if name == "best":
            if not oracle.spent:
                return None
            return benchmark.space.from_str(oracle.records[oracle.incumbents()[-1]]["arch"])
        if name == "best_clean":
            return benchmark.best_arch(robust_metric(benchmark, "clean"))
        return benchmark.space.parse(name)

    def check(self, objective: Objective, benchmark: Benchmark) -> None:
        """Metrics or cells the robustness benchmark lacks (other benchmarks skip the analysis)."""
        if not isinstance(benchmark, RobustnessBenchmark):
            return
        unknown = [m for m in self.metrics if robust_metric(benchmark, m) not in benchmark.metrics]
        if unknown:
            raise ConfigError(f"evaluation design metrics {', '.join(unknown)} are not in the robustness benchmark "
                              f"({benchmark.dataset}); e.g. clean, pgd@eps=1, adversarial_mean")
        for name in self.archs:
            if name not in ("best", "best_clean"):
                benchmark.space.parse(name)

    def __call__(self, oracle: Oracle, benchmark: Benchmark, run_dir: Path) -> dict:
        if not isinstance(benchmark, RobustnessBenchmark):
            reason = f"needs the NB201 robustness benchmark (benchmark=robustness), not {benchmark.name}"
            log.info("design analysis skipped: %s", reason)
            return {"design_analysis": {"skipped": reason}}
        self.check(oracle.objective, benchmark)
        metrics = [robust_metric(benchmark, m) for m in self.metrics]
        means = _available(benchmark, ["adversarial_mean_all_eps", "corruption_mean"])
        clean = robust_metric(benchmark, "clean")
        report: dict = {
            "dataset": benchmark.dataset,
            "evaluated_archs": len(benchmark.unique_indices()),
            "optima": {m: _describe(benchmark, benchmark.space.index(benchmark.best_arch(m)), [m])
                       for m in [clean, *means]},
            "by_kernel_parameters": by_kernel_parameters(benchmark, means),
            f"top_{self.top_k}_at_{self.highlight}_kernel_parameters": {
                m: top_at_kernel_parameters(benchmark, self.highlight, m, self.top_k, [clean]) for m in means},
            "neighbourhoods": {},
        }
        summary: dict = {"file": "design_analysis.json", "optima": report["optima"], "neighbourhoods": {}}
        at_highlight = [row for row in report["by_kernel_parameters"] if row["kernel_parameters"] == self.highlight]
        if at_highlight:
            summary[f"at_{self.highlight}_kernel_parameters"] = at_highlight[0]
        plots = []
        if self.plot:
            plot_robust_vs_clean(benchmark, run_dir / "design_robust_vs_clean.png")
            plot_by_kernel_parameters(benchmark, run_dir / "design_by_kernel_parameters.png", self.highlight)
            plots += ["design_robust_vs_clean.png", "design_by_kernel_parameters.png"]
        for name in self.archs:
            arch = self._resolve(name, oracle, benchmark)
            if arch is None:
                continue
            table = neighbour_table(benchmark, arch, metrics)
            key = str(name)
            report["neighbourhoods"][key] = table
            summary["neighbourhoods"][key] = summarize_neighbours(table, metrics)
            if self.plot:
                plot_name = f"design_neighbours_{key if key.isidentifier() else table['index']}.png"
                plot_neighbours(benchmark, table, run_dir / plot_name)
                plots.append(plot_name)
        summary["plots"] = plots
        write_json(run_dir / "design_analysis.json", report)
        return {"design_analysis": summary}
