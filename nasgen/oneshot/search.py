"""One-shot NAS as a study (``study=oneshot``): train a supernet, derive cells, look them up.

:class:`OneShotSearch` trains the space's supernet (``network``, config node ``study.network``)
with a relaxation and schedule (config group ``supernet``) on ``dataset`` (its train split, cut
into a weight half and an alpha half) and, after every search epoch, derives the magnitude cell
(the largest architecture weight per edge) and looks it up in the run's benchmark. At each of
``selection_epochs`` the selection rule (config group ``selection``) runs on a copy of that
epoch's supernet, so the search goes on from the untouched one: the trajectory of DARTS-PT's
Fig. 3.1, magnitude cell vs selected cell over search epochs. The last selection epoch gives the
final cell of each rule.

The supernet trains on the user's data and the cells are scored by the benchmark on its own
datasets (NB201: CIFAR-10/100 and ImageNet16-120, 200-epoch test accuracy): a transfer
measurement, labelled so in ``results.json``.

Outputs in the run directory: ``supernet_log.csv`` (per search epoch: losses, alpha-split
accuracy, op strengths per cell type, the mean skip-minus-conv weight gap), ``trajectory.csv``
(per epoch and rule: the cell and its benchmark values), ``selection_log.csv`` (every masked
evaluation and decision), ``genotype.json``, ``trajectory.png``; ``results.json`` gets ``final``
(per rule: cell and values) and ``protocol``.

Resuming (``nasgen resume RUN_DIR``) repeats no paid work: ``checkpoints/supernet.pt`` holds the
latest epoch (with the log rows so far), ``checkpoints/supernet_epoch{E}.pt`` each selection
epoch's supernet, ``checkpoints/pt_epoch{E}.pt`` a selection's progress after each of its steps,
and a finished selection is a trial of the run's :class:`~nasgen.studies.base.TrialStore`.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import re
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from nasgen.benchmarks.base import Benchmark  # noqa: E402
from nasgen.data.datasets import DATASETS  # noqa: E402
from nasgen.data.datasets import INFO as DATASET_INFO  # noqa: E402
from nasgen.errors import ConfigError, DataError, choose  # noqa: E402
from nasgen.objective import Objective  # noqa: E402
from nasgen.oneshot.base import Decisions, Relaxation, Supernet, SupernetBuilder  # noqa: E402
from nasgen.oneshot.diagnostics import SupernetDiagnostic  # noqa: E402
from nasgen.oneshot.selection import LOG_COLUMNS, SelectionRule, magnitude_decisions  # noqa: E402
from nasgen.oneshot.training import BilevelTrainer, OneShotModel, SupernetSchedule, search_data  # noqa: E402
from nasgen.paths import atomic_write  # noqa: E402
from nasgen.reporting.console import format_value, progress_bar  # noqa: E402
from nasgen.reporting.results import save_figure, write_json  # noqa: E402
from nasgen.spaces.base import Arch, IndexedSpace, SearchSpace  # noqa: E402
from nasgen.studies.base import StudyContext  # noqa: E402

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LATEST = "supernet.pt"
MAGNITUDE = "magnitude"
SKIP_OP = "skip_connect"  # the parameter-free op DARTS collapses to (the all-skip reference cell)
CHECKPOINT_VERSION = 1
# <dataset>/<split>_acc@<epochs>, e.g. cifar10/test_acc@200 or nb301_yahpo/cifar10/valid_acc@100
ACCURACY = re.compile(r"^(?P<dataset>.+)/(?P<split>\w+)_acc@(?P<epochs>\d+)$")


def lookup_metrics(benchmark: Benchmark) -> list[str]:
    """The accuracies a derived cell is scored with: every ``<dataset>/<split>_acc@<epochs>``
    metric of the benchmark at its longest training (NB201: test and valid accuracy after 200
    epochs on its three datasets; NB301: what its surrogate predicts)."""
    found = [(m, ACCURACY.match(m)) for m in benchmark.metrics]
    found = [(m, match) for m, match in found if match]
    if not found:
        return []
    longest = max(int(match["epochs"]) for _, match in found)
    return [m for m, match in found if int(match["epochs"]) == longest]


def describe(space: SearchSpace, benchmark: Benchmark, metrics: Sequence[str], arch: Arch | None) -> dict:
    """A derived cell as text, its table index where the space has one, and its benchmark values
    of ``metrics`` (NaN where the benchmark has none, e.g. a cell with a noise op)."""
    if arch is None:
        return {"arch": "", "index": "", **{m: math.nan for m in metrics}}
    values = {}
    for metric in metrics:
        try:
            values[metric] = float(benchmark.query([arch], metric)[0])
        except DataError:
            values[metric] = math.nan
    index = space.index(arch) if isinstance(space, IndexedSpace) else ""
    return {"arch": space.to_str(arch), "index": index, **values}


def panel_metrics(metrics: Sequence[str]) -> dict[str, str]:
    """Per dataset, the metric a trajectory panel shows: test accuracy where there is one."""
    panels: dict[str, str] = {}
    for metric in metrics:
        match = ACCURACY.match(metric)
        if match and (match["dataset"] not in panels or match["split"] == "test"):
            panels[match["dataset"]] = metric
    return panels


def skip_minus_conv(model: OneShotModel) -> float | None:
    """Mean over the edges of every cell type of the skip weight minus the weight of the edge's
    first 3x3 convolution (thesis Fig. 2.3); None where an edge lacks one of them."""
    gaps = []
    for choice, strengths in zip(model.supernet.choices, model.strengths()):
        for e, ops in enumerate(choice.edge_ops):
            conv = next((i for i, name in enumerate(ops) if "conv_3x3" in name), None)
            if SKIP_OP not in ops or conv is None:
                return None
            gaps.append(float(strengths[e][ops.index(SKIP_OP)] - strengths[e][conv]))
    return float(np.mean(gaps))


def genotype(supernet: Supernet, decisions: Decisions) -> Arch | None:
    """The space's architecture of complete ``decisions`` (None where it is none, e.g. a noise op)."""
    ops = [[decisions.ops[c][e] for e in range(choice.num_edges)] for c, choice in enumerate(supernet.choices)]
    kept = [[e for e in range(choice.num_edges) if e not in decisions.removed[c]]
            for c, choice in enumerate(supernet.choices)]
    return supernet.genotype(ops, kept)


def all_skip(supernet: Supernet) -> Arch | None:
    """The collapsed cell, skip connections on every edge (each node keeping its first inputs),
    where every edge offers one; None otherwise."""
    choices = supernet.choices
    if not all(SKIP_OP in ops for choice in choices for ops in choice.edge_ops):
        return None
    decisions = Decisions([{e: ops.index(SKIP_OP) for e, ops in enumerate(c.edge_ops)} for c in choices],
                          [{e for inputs in c.node_inputs for e in inputs[c.keep_inputs:]} if c.chooses_topology
                           else set() for c in choices])
    return genotype(supernet, decisions)


class OneShotSearch:
    """The one-shot study (module docstring): ``network`` builds the space's supernet,
    ``supernet`` is ``{relaxation, schedule}`` (config group ``supernet``), ``selection`` the
    rule run at ``selection_epochs``, ``diagnostics`` name -> :class:`SupernetDiagnostic`
    run on the final supernet (checked against its cells before training)."""

    def __init__(self, network: SupernetBuilder, supernet: Mapping | None, selection: SelectionRule | None,
                 dataset: str = "digits", selection_epochs: Sequence[int] = (100,),
                 diagnostics: Mapping[str, SupernetDiagnostic] | None = None, device: str = "cpu",
                 data_root_dir: str | None = None) -> None:
        if supernet is None:
            raise ConfigError("study=oneshot trains a supernet: choose supernet=darts, fix_alpha or drnas")
        if selection is None:
            raise ConfigError("study=oneshot derives cells with a selection rule: choose selection=magnitude or pt")
        if not isinstance(selection, SelectionRule):
            raise ConfigError(f"selection builds a {type(selection).__name__}, not a selection rule")
        if not isinstance(supernet.get("relaxation"), Relaxation):
            raise ConfigError("supernet.relaxation must build a Relaxation (nasgen.oneshot.relaxations)")
        choose("study.dataset", dataset, DATASETS)
        try:
            self.schedule = SupernetSchedule(**dict(supernet.get("schedule") or {}))
        except TypeError as exc:
            raise ConfigError(f"supernet.schedule: {exc}") from None
        self.network = network
        self.relaxation: Relaxation = supernet["relaxation"]
        self.selection = selection
        self.dataset = dataset
        self.selection_epochs = [int(e) for e in selection_epochs]
        self.diagnostics = dict(diagnostics or {})
        self.device = device
        self.data_root_dir = data_root_dir
        epochs = self.schedule.epochs
        if not self.selection_epochs or self.selection_epochs != sorted(set(self.selection_epochs)) or \
                not 1 <= self.selection_epochs[0] <= self.selection_epochs[-1] <= epochs:
            raise ConfigError(f"study.selection_epochs={self.selection_epochs} must be increasing search epochs in "
                              f"1..{epochs} (supernet.schedule.epochs); e.g. study.selection_epochs=[{epochs}]")

    @property
    def op_set(self) -> str:
        return self.network.op_set

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        if self.network.space_name != space.name:
            raise ConfigError(f"study.network builds {self.network.space_name} supernets, not supernets of the "
                              f"{space.name} space; choose search_space={self.network.space_name} or the "
                              f"{space.name} space's supernet")
        choose(f"{space.name} op set (study.network.op_set)", self.op_set, self.network.op_sets())
        info = DATASET_INFO[self.dataset]
        choices = self.network.build(self.op_set, info.num_classes, info.input_shape).choices
        for diagnostic in self.diagnostics.values():  # refused before the supernet trains, not after
            diagnostic.check(choices)
        if not lookup_metrics(benchmark):
            raise ConfigError(f"benchmark {benchmark.name} has no <dataset>/<split>_acc@<epochs> metric to score the "
                              "derived cells with")

    def settings(self) -> dict:
        """Everything that changes the supernet's training (a checkpoint of other settings is refused)."""
        return {"network": self.network.settings(), "op_set": self.op_set, "relaxation": self.relaxation.name,
                "schedule": self.schedule.to_dict(), "dataset": self.dataset}

    # -- the run ---------------------------------------------------------------------------
    def __call__(self, context: StudyContext) -> dict:
        self.context = context
        self.folder = context.run_dir / CHECKPOINTS
        self.metrics = lookup_metrics(context.benchmark)
        self.data = search_data(self.dataset, self.data_root_dir, self.schedule.train_portion)
        trainer = self._trainer()
        state = self._load(self.folder / LATEST)
        epoch_log: list[dict] = state["supernet_log"] if state else []
        magnitude: list[dict] = state["trajectory"] if state else []
        if state:
            trainer.load_state_dict(state["trainer"])
            log.info("resuming the supernet after search epoch %d", trainer.epoch)
        self.selections: dict[int, dict] = {}
        for epoch in self.selection_epochs:
            if epoch <= trainer.epoch:  # snapshot taken before the run stopped
                self._select(epoch)
        epochs = self.schedule.epochs
        bar = progress_bar(total=epochs, initial=trainer.epoch, desc="supernet epochs")
        while trainer.epoch < epochs:
            row = trainer.search_epoch()
            epoch = trainer.epoch
            epoch_log.append(self._epoch_row(trainer, row))
            magnitude.append(self._cell_row(epoch, MAGNITUDE, trainer.model, magnitude_decisions(trainer.model),
                                            row.get("seconds", math.nan)))
            state = {"version": CHECKPOINT_VERSION, "settings": self.settings(), "trainer": trainer.state_dict(),
                     "supernet_log": epoch_log, "trajectory": magnitude}
            self._save(self.folder / LATEST, state)
            self._write_logs(epoch_log, magnitude)
            bar.update(1)
            log.info("search epoch %d/%d: train acc %s, alpha-split acc %s, magnitude cell %s %s", epoch, epochs,
                     format_value(row.get("train_acc")), format_value(epoch_log[-1]["alpha_acc"]),
                     magnitude[-1]["arch"], self._headline(magnitude[-1]))
            if epoch in self.selection_epochs:
                self._save(self.folder / f"supernet_epoch{epoch}.pt", state)
                self._select(epoch)
        bar.close()
        self._write_logs(epoch_log, magnitude)
        results: dict[str, Any] = {"diagnostics": {}}
        outputs = ["supernet_log.csv", "trajectory.csv", "selection_log.csv"]
        for name, diagnostic in self.diagnostics.items():
            found = context.trials.trial(f"diagnostic_{name}", lambda d=diagnostic: d(trainer, context, epoch_log))
            outputs += found.get("outputs", [])
            results["diagnostics"][name] = {k: v for k, v in found.items() if k != "outputs"}
        final = self._final(magnitude)
        write_json(context.run_dir / "genotype.json", final)
        self._plot(magnitude, trainer.model.supernet, context.run_dir / "trajectory.png")
        outputs += ["genotype.json", "trajectory.png"]
        return {**results, "final": {rule: {k: v for k, v in cell.items() if k != "decisions"}
                                     for rule, cell in final.items()},
                "protocol": self._protocol(), "search": {
                    "epochs": epochs, "seconds": round(sum(float(r["seconds"]) for r in epoch_log), 2),
                    "selection_seconds": {str(e): s["seconds"] for e, s in self.selections.items()}},
                "outputs": sorted(set(outputs))}

    def _trainer(self) -> BilevelTrainer:
        info = self.data.info
        supernet = self.network.build(self.op_set, info.num_classes, tuple(info.input_shape))
        model = OneShotModel(supernet, self.relaxation)
        return BilevelTrainer(model, self.data, self.schedule, self.context.device, self.context.seed)

    def _epoch_row(self, trainer: BilevelTrainer, row: Mapping) -> dict:
        model = trainer.model
        acc, loss = trainer.evaluate(model.mixing(False))
        gap = skip_minus_conv(model)
        return {"epoch": trainer.epoch, "train_loss": row.get("train_loss"), "train_acc": row.get("train_acc"),
                "alpha_acc": acc, "alpha_loss": loss, "seconds": row.get("seconds"),
                **{f"strengths_{choice.name}": json.dumps(np.round(np.asarray(s, dtype=float), 5).tolist())
                   for choice, s in zip(model.supernet.choices, model.strengths())},
                "skip_minus_conv": "" if gap is None else gap}

    def _cell_row(self, epoch: int, rule: str, model: OneShotModel, decisions: Decisions, seconds: float) -> dict:
        return {"epoch": epoch, "rule": rule, **self._describe(genotype(model.supernet, decisions)), "seconds": seconds}

    def _describe(self, arch: Arch | None) -> dict:
        return describe(self.context.space, self.context.benchmark, self.metrics, arch)

    def _headline(self, row: Mapping) -> str:
        panels = panel_metrics(self.metrics)
        return ", ".join(f"{m} {format_value(row[m])}" for m in panels.values())

    # -- selection ---------------------------------------------------------------------------
    def _select(self, epoch: int) -> dict:
        """The selection rule on a copy of epoch ``epoch``'s supernet, once (a trial)."""
        name = self.selection.name

        def run() -> dict:
            trainer = self._trainer()
            snapshot = self._load(self.folder / f"supernet_epoch{epoch}.pt")
            if snapshot is None:
                raise DataError(f"{self.folder}/supernet_epoch{epoch}.pt is missing: the selection at epoch {epoch} "
                                "cannot run on its supernet; start the run again")
            trainer.load_state_dict(snapshot["trainer"])
            rng = np.random.default_rng([self.context.seed, epoch])
            progress_path = self.folder / f"pt_epoch{epoch}.pt"
            progress = self._load(progress_path)
            rows: list[dict] = progress["log"] if progress else []
            spent = progress["seconds"] if progress else 0.0
            if progress:
                trainer.load_state_dict(progress["trainer"])
                rng.bit_generator.state = progress["rng"]
                log.info("resuming the %s selection at epoch %d after %d decided steps", name, epoch,
                         len({r["step"] for r in rows}))
            start = time.perf_counter()

            def checkpoint() -> None:
                self._save(progress_path, {"version": CHECKPOINT_VERSION, "settings": self.settings(),
                                           "trainer": trainer.state_dict(), "rng": rng.bit_generator.state,
                                           "log": list(rows), "seconds": spent + time.perf_counter() - start})

            decisions = self.selection.select(trainer, rng, lambda row: rows.append({"epoch": epoch, **row}),
                                              checkpoint)
            seconds = round(spent + time.perf_counter() - start, 2)
            return {**self._cell_row(epoch, name, trainer.model, decisions, seconds),
                    "decisions": decisions.to_dict(), "log": rows}

        # the search's own random streams go on as if no selection had run (a resumed run skips it)
        numpy_state = np.random.get_state()
        devices = [self.context.device] if str(self.context.device).startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            result = self.context.trials.trial(f"selection_{name}_epoch{epoch}", run)
        np.random.set_state(numpy_state)
        self.selections[epoch] = result
        log.info("%s selection at epoch %d (%.0f s): %s %s", name, epoch, result["seconds"], result["arch"],
                 self._headline(result))
        return result

    # -- outputs -----------------------------------------------------------------------------
    def _trajectory(self, magnitude: list[dict]) -> list[dict]:
        selected = [] if self.selection.name == MAGNITUDE else \
            [{k: v for k, v in s.items() if k not in ("decisions", "log")} for s in self.selections.values()]
        return sorted(magnitude + selected, key=lambda r: (r["epoch"], r["rule"] != MAGNITUDE))

    def _write_logs(self, epoch_log: list[dict], magnitude: list[dict]) -> None:
        run_dir = self.context.run_dir
        _write_csv(run_dir / "supernet_log.csv", epoch_log)
        _write_csv(run_dir / "trajectory.csv", self._trajectory(magnitude),
                   ["epoch", "rule", "arch", "index", *self.metrics, "seconds"])
        _write_csv(run_dir / "selection_log.csv", [r for s in self.selections.values() for r in s["log"]],
                   ["epoch", *LOG_COLUMNS])

    def _final(self, magnitude: list[dict]) -> dict:
        """Per rule, the cell of the last selection epoch (the rule's own row: its decisions)."""
        last = self.selection_epochs[-1]
        cells = {MAGNITUDE: next(r for r in magnitude if r["epoch"] == last),
                 self.selection.name: self.selections[last]}
        return {rule: {"epoch": row["epoch"], "arch": row["arch"], "index": row["index"],
                       "metrics": {m: row[m] for m in self.metrics},
                       **({"decisions": row["decisions"]} if "decisions" in row else {})}
                for rule, row in cells.items()}

    def _protocol(self) -> dict:
        return {"benchmark": self.context.benchmark.name, "search_dataset": self.dataset,
                "supernet": self.relaxation.name, "selection": self.selection.name, "op_set": self.op_set,
                # false (fixed alpha): every weight stays equal and the magnitude cell is the first op everywhere
                "alpha_learned": self.relaxation.learns_alpha,
                "network": self.network.settings(), "schedule": self.schedule.to_dict(),
                **({"selection_settings": settings} if (settings := self.selection.settings()) else {}),
                "selection_epochs": self.selection_epochs, "device": self.context.device,
                "reported": self.metrics,
                "evaluation": f"transfer: the supernet trained on {self.dataset}, its cells scored by the "
                              f"{self.context.benchmark.name} benchmark on its datasets"}

    def _plot(self, magnitude: list[dict], supernet: Supernet, path: Path) -> None:
        """DARTS-PT Fig. 3.1's layout: per dataset, the magnitude cell's and the selected cell's
        accuracy over the search epochs, with the all-skip cell as reference."""
        panels = panel_metrics(self.metrics)
        reference = self._describe(all_skip(supernet))
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
        rows = self._trajectory(magnitude)
        for ax, (dataset, metric) in zip(axes[0], panels.items()):
            # a fixed-alpha supernet's magnitude cell is the first op everywhere, no search result
            shown = (MAGNITUDE, self.selection.name) if self.relaxation.learns_alpha else (self.selection.name,)
            for rule in dict.fromkeys(shown):
                points = [(r["epoch"], r[metric]) for r in rows if r["rule"] == rule]
                ax.plot(*zip(*points), "-" if rule == MAGNITUDE else "o-", label=rule, markersize=4)
            if np.isfinite(reference.get(metric, math.nan)):
                ax.axhline(reference[metric], color="grey", linestyle="--", linewidth=1, label="all-skip cell")
            ax.set(title=dataset, xlabel="search epoch", ylabel=metric)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=8)
        fig.suptitle(f"{self.relaxation.name} supernet on {self.dataset} ({self.op_set}), "
                     f"{self.context.benchmark.name} lookups", fontsize=9)
        save_figure(fig, path)

    # -- checkpoints -------------------------------------------------------------------------
    def _save(self, path: Path, state: dict) -> None:
        with atomic_write(path) as f:
            torch.save(state, f)

    def _load(self, path: Path) -> dict | None:
        """A checkpoint of this study's settings, None where there is none or it is unreadable
        (the work it held is then done again)."""
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # a damaged file: redo its work rather than fail the run
            log.warning("ignoring the unreadable checkpoint %s (%s)", path, exc)
            return None
        return same_settings(path, state, self.settings())


def same_settings(path: Path, state: dict, settings: dict) -> dict:
    """``state``, a study's checkpoint read from ``path``, if it was made with ``settings``; one made
    with other settings is refused in one line (resuming it would mix two experiments)."""
    if state.get("settings") != settings:
        raise ConfigError(f"{path} was made with other settings ({state.get('settings')}) than this run's "
                          f"({settings}); resume it with its own config or start a new run")
    return state


def _write_csv(path: Path, rows: list[dict], columns: Sequence[str] | None = None) -> None:
    columns = list(columns or (rows[0].keys() if rows else []))
    with atomic_write(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
