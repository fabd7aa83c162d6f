"""Diagnostics of a trained supernet: why magnitude selection fails (Wang 2021, chapter 2).

A diagnostic runs inside a one-shot run (``study.diagnostics.<name>``) on the trainer of the
search, after the search epochs, and writes its tables and plots into the run directory:

- :class:`AlphaVsStrength` (Figs. 2.1/2.2): per edge, the magnitude of each op (what DARTS ranks),
  the supernet's accuracy with that op masked out (what perturbation-based selection ranks: the
  larger the drop, the stronger the op), and the *discretisation accuracy*: the edge fixed to the
  op and the rest of the supernet fine-tuned (the thesis tunes "until it converges"; here a fixed
  number of epochs with the selection's tuning lr, note ambiguity 13), so how good the op really
  is for the supernet. Rank agreement (Kendall tau) between the three, and how often their
  argmax differs.
- :class:`SkipConvGap` (Fig. 2.3): mean over edges of strength(skip) - strength(conv) per search
  epoch against the supernet's accuracy, from the search's epoch log (no extra training).

Every measurement of :class:`AlphaVsStrength` works on the trainer in place and restores its whole
state (weights, alpha, BN buffers, optimisers, schedulers, decisions, RNG) afterwards; each edge is
a :class:`~nasgen.studies.base.TrialStore` trial, so a killed run resumes without remeasuring.
"""
from __future__ import annotations

import copy
import csv
import json
import math
import warnings
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from nasgen.errors import ConfigError  # noqa: E402
from nasgen.oneshot.base import CellChoices  # noqa: E402
from nasgen.paths import atomic_write  # noqa: E402
from nasgen.reporting.results import save_figure  # noqa: E402
from nasgen.studies.base import StudyContext  # noqa: E402

if TYPE_CHECKING:
    from nasgen.oneshot.training import BilevelTrainer

TUNE_SCHEDULES = ("constant", "cosine")
# Wang (2021) Fig. 2.2, line 154: on RobustDARTS' S2 (skip_connect, sep_conv_3x3; normal cell of a
# DARTS supernet on CIFAR-10), alpha picks skip_connect on 12 of 14 edges while the discretisation
# accuracy picks sep_conv_3x3 on 7 of 14.
THESIS_S2 = {"edges": 14, "alpha_picks_skip": 12, "strength_picks_conv": 7}


@runtime_checkable
class SupernetDiagnostic(Protocol):
    """A measurement of the searched supernet (config node ``study.diagnostics.<name>``)."""

    def check(self, choices: Sequence[CellChoices]) -> None:
        """Refuse, with a one-line :class:`~nasgen.errors.ConfigError` before any training, a
        supernet whose cells the diagnostic cannot measure."""

    def __call__(self, trainer: "BilevelTrainer", context: StudyContext, epoch_log: list[dict]) -> dict:
        """Measure ``trainer`` (left as it was) and ``epoch_log`` (one row per search epoch, the
        rows of ``supernet_log.csv``); write files into ``context.run_dir``; return the
        diagnostic's summary for ``results.json`` (the study files it under the diagnostic's name)
        with ``outputs``, the files written."""


def kendall(first: Sequence[float], second: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists (ties allowed); NaN where it is undefined (fewer than
    two items, or one list constant: an edge whose ops all measured the same)."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    if len(first) < 2 or np.ptp(first) == 0 or np.ptp(second) == 0 or np.isnan(first).any() or np.isnan(second).any():
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(kendalltau(first, second)[0])


def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _write_rows(path, rows: Sequence[Mapping[str, Any]]) -> None:
    with atomic_write(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


class AlphaVsStrength:
    """Magnitude vs masked accuracy vs discretisation accuracy per edge (see the module docstring).

    ``edges``: how many (cell type, edge) pairs to measure, drawn with the run's seed; ``None``:
    every undecided edge of every cell type (NB201: 6, DARTS: 28). ``tune_epochs``: fine-tuning
    epochs after discretising an edge (default 5, the tuning between two PT selections);
    ``tune_lr_factor`` / ``tune_lr_schedule``: the weight optimiser of that tuning, as the PT rule's
    (``BilevelTrainer.start_tuning``); ``update_alpha``: alpha keeps training during the tuning
    (``None``: where the relaxation learns alpha, as in DARTS+PT).

    Cost per edge: (ops + 1) passes over the alpha split for the masked accuracies and, per op,
    ``tune_epochs`` search epochs plus ``tune_epochs + 1`` passes."""

    name = "alpha_vs_strength"

    def __init__(self, edges: int | None = None, tune_epochs: int = 5, tune_lr_factor: float = 0.1,
                 tune_lr_schedule: str = "constant", update_alpha: bool | None = None) -> None:
        if edges is not None and edges < 1:
            raise ConfigError(f"alpha_vs_strength.edges must be >= 1 or null (every edge), got {edges}")
        if tune_epochs < 0 or tune_lr_factor <= 0 or tune_lr_schedule not in TUNE_SCHEDULES:
            raise ConfigError(f"alpha_vs_strength needs tune_epochs >= 0, tune_lr_factor > 0 and tune_lr_schedule in "
                              f"{TUNE_SCHEDULES}, got {tune_epochs}, {tune_lr_factor}, {tune_lr_schedule!r}")
        self.edges, self.tune_epochs = edges, tune_epochs
        self.tune_lr_factor, self.tune_lr_schedule, self.update_alpha = tune_lr_factor, tune_lr_schedule, update_alpha

    def check(self, choices: Sequence[CellChoices]) -> None:
        if all(cell.num_ops < 2 for cell in choices):
            raise ConfigError("alpha_vs_strength compares the ops of an edge; this supernet has one op per edge")

    # -- measurement ------------------------------------------------------------------------
    def chosen_edges(self, trainer: "BilevelTrainer", seed: int) -> list[tuple[int, int]]:
        """The (cell type, edge) pairs to measure: the undecided ones, ``edges`` of them drawn
        with ``seed`` (in cell/edge order)."""
        model = trainer.model
        pairs = [(c, e) for c, cell in enumerate(model.supernet.choices) for e in range(cell.num_edges)
                 if e not in model.decisions.ops[c] and e not in model.decisions.removed[c]]
        if self.edges is not None and self.edges < len(pairs):
            picked = np.random.default_rng(seed).choice(len(pairs), size=self.edges, replace=False)
            pairs = [pairs[i] for i in sorted(picked)]
        return pairs

    def _discretisation(self, trainer: "BilevelTrainer", cell: int, edge: int, op: int, update_alpha: bool,
                        ) -> list[float]:
        """Accuracy (%) of the supernet with edge ``edge`` of cell type ``cell`` fixed to ``op``,
        after 0, 1, ..., ``tune_epochs`` tuning epochs; the trainer is restored afterwards."""
        model = trainer.model
        saved = copy.deepcopy(trainer.state_dict())
        try:
            model.decisions.ops[cell][edge] = op
            accuracies = [trainer.evaluate(model.mixing(False))[0]]
            if self.tune_epochs:
                trainer.start_tuning(self.tune_epochs, self.tune_lr_factor, self.tune_lr_schedule)
                for _ in range(self.tune_epochs):
                    trainer.tune_epoch(update_alpha)
                    accuracies.append(trainer.evaluate(model.mixing(False))[0])
        finally:
            trainer.load_state_dict(saved)
        return [float(a) for a in accuracies]

    def measure_edge(self, trainer: "BilevelTrainer", cell: int, edge: int) -> dict:
        """One edge: its ops, strengths, masked accuracy/loss per op, discretisation accuracy per
        op after each tuning epoch, and the agreement of the three rankings."""
        model = trainer.model
        choice = model.supernet.choices[cell]
        update_alpha = model.relaxation.learns_alpha if self.update_alpha is None else self.update_alpha
        strengths = [float(s) for s in model.strengths()[cell][edge]]
        base_acc, base_loss = trainer.evaluate(model.mixing(False))
        masked = [trainer.evaluate(model.mixing(False, mask=(cell, edge, op))) for op in range(choice.num_ops)]
        curves = [self._discretisation(trainer, cell, edge, op, update_alpha) for op in range(choice.num_ops)]
        masked_acc = [float(acc) for acc, _ in masked]
        final = [curve[-1] for curve in curves]
        return {
            "cell": choice.name, "cell_index": cell, "edge": edge, "ops": list(choice.edge_ops[edge]),
            "supernet_epoch": trainer.epoch, "base_acc": float(base_acc), "base_loss": float(base_loss),
            "strength": strengths, "masked_acc": masked_acc, "masked_loss": [float(loss) for _, loss in masked],
            "discretised_acc": final, "discretised_acc_untuned": [curve[0] for curve in curves],
            "discretised_acc_best": [max(curve) for curve in curves], "discretised_curves": curves,
            **agreement(strengths, masked_acc, final),
        }

    def __call__(self, trainer: "BilevelTrainer", context: StudyContext, epoch_log: list[dict]) -> dict:
        settings = f"tune{self.tune_epochs}_lr{self.tune_lr_factor:g}_{self.tune_lr_schedule}_alpha{self.update_alpha}"
        results = []
        for cell, edge in self.chosen_edges(trainer, context.seed):
            key = f"{self.name}/epoch{trainer.epoch}/{settings}/cell{cell}_edge{edge}"
            results.append(context.trials.trial(key, lambda c=cell, e=edge: self.measure_edge(trainer, c, e)))
        summary = summarise_edges(results)
        outputs = []
        if results:
            _write_rows(context.run_dir / "alpha_vs_strength.csv", edge_rows(results))
            context.write_text("alpha_vs_strength.md", alpha_vs_strength_markdown(results, summary, self.tune_epochs))
            plot_alpha_vs_strength(results, context.run_dir / "alpha_vs_strength.png")
            outputs = ["alpha_vs_strength.csv", "alpha_vs_strength.md", "alpha_vs_strength.png"]
        return {**summary, "tune_epochs": self.tune_epochs, "tune_lr_factor": self.tune_lr_factor,
                "tune_lr_schedule": self.tune_lr_schedule, "supernet_epoch": trainer.epoch, "outputs": outputs}


def agreement(strengths: Sequence[float], masked_acc: Sequence[float], discretised: Sequence[float]) -> dict:
    """Rank agreement of one edge's three op scores: Kendall tau of strength vs discretisation
    accuracy, strength vs accuracy drop (-masked accuracy), drop vs discretisation accuracy, and
    the op each picks (the largest strength, the lowest masked accuracy, the best discretisation)."""
    drop = [-a for a in masked_acc]
    return {"tau_strength_discretised": kendall(strengths, discretised),
            "tau_strength_masked": kendall(strengths, drop),
            "tau_masked_discretised": kendall(drop, discretised),
            "pick_strength": int(np.argmax(strengths)), "pick_masked": int(np.argmin(masked_acc)),
            "pick_discretised": int(np.argmax(discretised))}


def summarise_edges(results: Sequence[dict]) -> dict:
    """Mean Kendall taus over edges (NaN-free edges), shares of edges whose picks differ, and how
    often each measure picks each op name."""
    def share(first: str, second: str) -> float:
        return _mean([float(r[first] != r[second]) for r in results])

    picks = {measure: {} for measure in ("strength", "masked", "discretised")}
    for r in results:
        for measure in picks:
            op = r["ops"][r[f"pick_{measure}"]]
            picks[measure][op] = picks[measure].get(op, 0) + 1
    return {"edges": len(results),
            **{f"mean_{k}": _mean([r[k] for r in results])
               for k in ("tau_strength_discretised", "tau_strength_masked", "tau_masked_discretised")},
            "argmax_differs_strength_vs_discretised": share("pick_strength", "pick_discretised"),
            "argmax_differs_strength_vs_masked": share("pick_strength", "pick_masked"),
            "argmax_differs_masked_vs_discretised": share("pick_masked", "pick_discretised"),
            "picks": picks}


def edge_rows(results: Sequence[dict]) -> list[dict]:
    """``alpha_vs_strength.csv``: one row per (cell type, edge, op), the edge's taus repeated."""
    rows = []
    for r in results:
        for op, name in enumerate(r["ops"]):
            rows.append({"cell": r["cell"], "edge": r["edge"], "op": name, "supernet_epoch": r["supernet_epoch"],
                         "strength": r["strength"][op], "masked_acc": r["masked_acc"][op],
                         "masked_loss": r["masked_loss"][op], "discretised_acc": r["discretised_acc"][op],
                         "discretised_acc_untuned": r["discretised_acc_untuned"][op],
                         "discretised_acc_best": r["discretised_acc_best"][op], "base_acc": r["base_acc"],
                         "picked_by": "+".join(m for m in ("strength", "masked", "discretised")
                                               if r[f"pick_{m}"] == op),
                         **{k: r[k] for k in ("tau_strength_discretised", "tau_strength_masked",
                                              "tau_masked_discretised")}})
    return rows


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def alpha_vs_strength_markdown(results: Sequence[dict], summary: dict, tune_epochs: int) -> str:
    lines = [
        "# Architecture weight vs operation strength (Wang 2021, Figs. 2.1/2.2)", "",
        f"{summary['edges']} edges of the supernet after search epoch {results[0]['supernet_epoch']}. Per op: its "
        "strength (the relaxation's mixing weight, what magnitude selection ranks), the alpha-split accuracy with it "
        "masked (perturbation selection: the lowest is picked), and the discretisation accuracy: the edge fixed to "
        f"the op, the rest of the supernet tuned {tune_epochs} epoch{'s' if tune_epochs != 1 else ''} (the thesis "
        "tunes to convergence; untuned and best-epoch values in the CSV). Kendall tau is NaN where one score is "
        "constant over the edge's ops.", "",
        "| measure | value |", "|---|---|",
        *(f"| {k} | {_fmt(summary[k])} |" for k in ("mean_tau_strength_discretised", "mean_tau_strength_masked",
                                                   "mean_tau_masked_discretised",
                                                   "argmax_differs_strength_vs_discretised",
                                                   "argmax_differs_strength_vs_masked",
                                                   "argmax_differs_masked_vs_discretised")),
        *(f"| picks of {measure} | {', '.join(f'{op}: {n}' for op, n in sorted(ops.items()))} |"
          for measure, ops in summary["picks"].items()),
        "",
        f"Reference (thesis, line 154; RobustDARTS S2 = {{skip_connect, sep_conv_3x3}}, DARTS supernet on CIFAR-10): "
        f"alpha picks skip_connect on {THESIS_S2['alpha_picks_skip']} of {THESIS_S2['edges']} edges, the "
        f"discretisation accuracy picks sep_conv_3x3 on {THESIS_S2['strength_picks_conv']} of {THESIS_S2['edges']}.",
        "", "| cell | edge | op | strength | masked acc | discretised acc | picked by |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in edge_rows(results):
        lines.append(f"| {row['cell']} | {row['edge']} | {row['op']} | {row['strength']:.3f} | "
                     f"{row['masked_acc']:.2f} | {row['discretised_acc']:.2f} | {row['picked_by'] or '-'} |")
    return "\n".join(lines) + "\n"


def plot_alpha_vs_strength(results: Sequence[dict], path) -> None:
    """Fig. 2.2 layout: per edge grouped bars (one per op) of the strength, the masked accuracy and
    the discretisation accuracy; the op each measure picks is hatched."""
    names = list(dict.fromkeys(name for r in results for name in r["ops"]))
    colours = {name: f"C{i}" for i, name in enumerate(names)}
    measures = (("strength", "strength (mixing weight)", "pick_strength"),
                ("masked_acc", "accuracy with the op masked (%)", "pick_masked"),
                ("discretised_acc", "discretisation accuracy (%)", "pick_discretised"))
    fig, axes = plt.subplots(len(measures), 1, figsize=(max(6.0, 0.9 * len(results) + 2), 8.5), sharex=True)
    width = 0.8 / max(len(r["ops"]) for r in results)
    for ax, (key, label, pick) in zip(axes, measures):
        for x, r in enumerate(results):
            for op, name in enumerate(r["ops"]):
                ax.bar(x - 0.4 + width * (op + 0.5), r[key][op], width, color=colours[name],
                       hatch="//" if r[pick] == op else None, edgecolor="k", lw=0.4)
        values = [v for r in results for v in r[key]]
        if key != "strength":
            low, high = min(values), max(values)
            ax.set_ylim(max(0.0, low - 0.1 * (high - low + 1)), high + 0.1 * (high - low + 1))
        ax.set_ylabel(label, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()], labels=names,
                   fontsize=7, ncol=min(4, len(names)))
    axes[0].set_title("per edge: hatched = the op the measure picks", fontsize=9)
    axes[-1].set_xticks(range(len(results)), [f"{r['cell']}:{r['edge']}" for r in results], fontsize=7, rotation=45)
    save_figure(fig, path)


class SkipConvGap:
    """Fig. 2.3: per search epoch, the mean over edges of strength(``skip_op``) - strength(``conv_op``)
    against the supernet's alpha-split accuracy, read from the epoch log (the edges that offer
    both ops; per cell type and over all). ``conv_op``: the space's conv of the comparison
    (NB201: nor_conv_3x3; DARTS: sep_conv_3x3)."""

    name = "skip_conv_gap"

    def __init__(self, conv_op: str, skip_op: str = "skip_connect") -> None:
        self.conv_op, self.skip_op = conv_op, skip_op

    def edges(self, choices: Sequence[CellChoices]) -> list[list[tuple[int, int, int]]]:
        """Per cell type: (edge, skip op index, conv op index) of the edges offering both ops."""
        return [[(e, ops.index(self.skip_op), ops.index(self.conv_op)) for e, ops in enumerate(cell.edge_ops)
                 if self.skip_op in ops and self.conv_op in ops] for cell in choices]

    def check(self, choices: Sequence[CellChoices]) -> None:
        if not any(self.edges(choices)):
            offered = sorted({op for cell in choices for ops in cell.edge_ops for op in ops})
            raise ConfigError(f"skip_conv_gap needs edges offering both {self.skip_op} and {self.conv_op}; this op set "
                              f"offers {', '.join(offered)} (choose another op set or drop the diagnostic)")

    def __call__(self, trainer: "BilevelTrainer", context: StudyContext, epoch_log: list[dict]) -> dict:
        choices = trainer.model.supernet.choices
        self.check(choices)
        rows = [self.gap_row(row, choices) for row in epoch_log]
        summary: dict[str, Any] = {"skip_op": self.skip_op, "conv_op": self.conv_op, "epochs": len(rows)}
        if not rows:
            return {**summary, "outputs": []}
        _write_rows(context.run_dir / "skip_conv_gap.csv", rows)
        gaps, accuracies = [r["skip_minus_conv"] for r in rows], [r["alpha_acc"] for r in rows]
        summary |= {"final_gap": gaps[-1], "max_gap": max(gaps), "final_alpha_acc": accuracies[-1],
                    "tau_gap_vs_alpha_acc": kendall(gaps, accuracies)}
        plot_skip_conv_gap(rows, [c.name for c in choices], context.run_dir / "skip_conv_gap.png",
                           f"{self.skip_op} - {self.conv_op}")
        return {**summary, "outputs": ["skip_conv_gap.csv", "skip_conv_gap.png"]}

    def gap_row(self, row: Mapping[str, Any], choices: Sequence[CellChoices]) -> dict:
        strengths = row_strengths(row, choices)
        row_out: dict[str, Any] = {"epoch": int(row["epoch"]), "alpha_acc": float(row["alpha_acc"]),
                                   "train_acc": float(row.get("train_acc", math.nan))}
        every = []
        for cell, edges in zip(choices, self.edges(choices)):
            gaps = [float(strengths[cell.name][e][skip] - strengths[cell.name][e][conv]) for e, skip, conv in edges]
            every += gaps
            if len(choices) > 1:
                row_out[f"skip_minus_conv_{cell.name}"] = _mean(gaps)
        row_out["skip_minus_conv"] = _mean(every)
        return row_out


def row_strengths(row: Mapping[str, Any], choices: Sequence[CellChoices]) -> dict[str, np.ndarray]:
    """Per cell type name, the ``[edges, ops]`` strengths of an epoch-log row: a column
    ``strengths_<cell>`` (or ``strengths/<cell>``) holding a nested list or its JSON text, or a
    column ``strengths`` holding the list per cell type (or a dict by cell name)."""
    def parse(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    found = {}
    for index, cell in enumerate(choices):
        for key in (f"strengths_{cell.name}", f"strengths/{cell.name}"):
            if key in row:
                found[cell.name] = np.asarray(parse(row[key]), float)
        if cell.name not in found and "strengths" in row:
            every = parse(row["strengths"])
            found[cell.name] = np.asarray(every[cell.name] if isinstance(every, dict) else every[index], float)
        if cell.name not in found:
            raise ConfigError(f"the supernet log has no strengths of cell type {cell.name} (columns: "
                              f"{', '.join(map(str, row))})")
    return found


def plot_skip_conv_gap(rows: Sequence[dict], cells: Sequence[str], path, label: str) -> None:
    """Left: the gap and the supernet accuracy over search epochs; right: gap vs accuracy (Fig. 2.3)."""
    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    left.plot(epochs, [r["skip_minus_conv"] for r in rows], color="C0", label=f"mean {label}")
    if len(cells) > 1:
        for i, cell in enumerate(cells):
            left.plot(epochs, [r[f"skip_minus_conv_{cell}"] for r in rows], color=f"C{i + 2}", lw=0.8, ls="--",
                      label=cell)
    left.axhline(0.0, color="k", lw=0.6)
    left.set_xlabel("search epoch")
    left.set_ylabel(f"strength gap {label}")
    left.legend(fontsize=7, loc="upper left")
    twin = left.twinx()
    twin.plot(epochs, [r["alpha_acc"] for r in rows], color="C1", lw=0.8)
    twin.set_ylabel("supernet alpha-split accuracy (%)", color="C1")
    scatter = right.scatter([r["alpha_acc"] for r in rows], [r["skip_minus_conv"] for r in rows], c=epochs,
                            cmap="viridis", s=12)
    fig.colorbar(scatter, ax=right, label="search epoch")
    right.axhline(0.0, color="k", lw=0.6)
    right.set_xlabel("supernet alpha-split accuracy (%)")
    right.set_ylabel(f"mean {label}")
    right.grid(alpha=0.3)
    save_figure(fig, path)
