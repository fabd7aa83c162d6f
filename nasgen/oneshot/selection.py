"""Selection rules: how a trained supernet becomes one architecture (config group ``selection``).

- :class:`MagnitudeSelection` (``magnitude``): DARTS' rule, the largest architecture weight
  (:func:`magnitude_decisions`).
- :class:`PerturbationSelection` (``pt``): DARTS-PT (Wang et al., ICLR 2021; the implementer's
  note ``wang_darts_pt.md`` section 2.3). An op's strength is how much the supernet's accuracy on
  the alpha split drops when that op alone is masked out of its edge (its mixing weight zeroed,
  the others not renormalised, so masking ``none`` changes nothing). Edge by edge in random
  order, the edge is discretised to its strongest op (a one-hot row of magnitude 1) and the
  rest of the supernet is fine-tuned before the next edge. Cells that choose their topology
  (DARTS: 2 inputs per node) then get it node by node: the input edge whose removal leaves the
  HIGHEST accuracy is deleted until ``keep_inputs`` remain.

The schedule follows the authors' code (:func:`pt_schedule`): a selection step at the start of
every ``tune_epochs_between``-th tuning epoch and at the last one. Each step decides one edge
per cell type (NB201: 6 steps, one cell type; DARTS: 14 op steps deciding a normal and a
reduction edge each, then 3 topology steps deciding a node of each). Weights are tuned with a
fresh SGD optimiser at ``tune_lr_factor`` times the search lr (constant on NB201; cosine to
``lr_min`` in the DARTS space, ``tune_lr_schedule``), alpha keeps training where the relaxation
learns it. The tuning epochs after the last step change no decision and are not run.

Every masked evaluation is a row of the selection log (``log(row)``); ``checkpoint()`` is called
after each step. A rule's progress is ``trainer.model.decisions`` (the steps done follow from it),
the trainer's state (tuning optimiser, RNG states) and the state of the ``rng`` the caller passes:
a caller that saves those three at ``checkpoint()`` and restores them resumes a killed selection
to the decisions of an uninterrupted one.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from nasgen.errors import ConfigError, choose
from nasgen.oneshot.base import CellChoices, Decisions
from nasgen.oneshot.training import TUNING_SCHEDULES
from nasgen.ranges import Float, Int, ranges

if TYPE_CHECKING:  # the trainer module imports nothing of this one; kept lazy for the type only
    from nasgen.oneshot.training import BilevelTrainer, OneShotModel

logger = logging.getLogger(__name__)

CRITERIA = ("acc", "loss", "acc_then_loss")
EDGE_ORDERS = ("random", "fixed")
NONE_OP = "none"  # the op that deletes an edge: never an edge's op in a cell that chooses its topology
# Columns of a selection-log row (the search adds the search epoch in front).
LOG_COLUMNS = ("step", "tune_epoch", "cell", "kind", "node", "edge", "op", "acc_without", "loss_without",
               "strength", "chosen")


@runtime_checkable
class SelectionRule(Protocol):
    """Decides every edge (and, where a cell chooses it, the topology) of a trained supernet."""

    name: str

    def select(self, trainer: "BilevelTrainer", rng: np.random.Generator, log: Callable[[dict], None],
               checkpoint: Callable[[], None] | None = None) -> Decisions:
        """The decisions, also left in ``trainer.model.decisions``; ``log(row)`` per masked
        evaluation or decision (:data:`LOG_COLUMNS`); ``checkpoint()`` after each decision step."""

    def settings(self) -> dict:
        """The rule's settings, recorded in ``results.json`` (empty for a rule without any)."""


# -- magnitude --------------------------------------------------------------------------------
def magnitude_decisions(model: "OneShotModel") -> Decisions:
    """DARTS' rule on ``model.strengths()``: per edge the op of the largest strength (the first
    on ties); in a cell that chooses its topology the largest op other than ``none``, and per node
    the ``keep_inputs`` input edges whose best such op is strongest (the lower edge id on ties)."""
    choices = model.supernet.choices
    decisions = Decisions.empty(choices)
    for cell, (choice, strengths) in enumerate(zip(choices, model.strengths())):
        strengths = np.asarray(strengths, dtype=np.float64)
        if choice.chooses_topology:
            allowed = np.array([[name != NONE_OP for name in ops] for ops in choice.edge_ops])
            strengths = np.where(allowed, strengths, -np.inf)
        for edge in range(choice.num_edges):
            decisions.ops[cell][edge] = int(np.argmax(strengths[edge]))
        best = strengths.max(axis=1)
        for inputs in choice.node_inputs:
            ranked = sorted(inputs, key=lambda e: -best[e])  # stable: the lower edge id wins ties
            decisions.removed[cell].update(ranked[choice.keep_inputs:])
    return decisions


class MagnitudeSelection:
    """DARTS' selection: :func:`magnitude_decisions`, logged one row per edge with its strength."""

    name = "magnitude"

    def __init__(self, **settings: object) -> None:
        if settings:  # e.g. an experiment's PT settings left for selection=magnitude
            raise ConfigError(f"selection=magnitude takes no settings, got {', '.join(sorted(settings))} (settings of "
                              "selection=pt); choose selection=pt or drop them")

    def settings(self) -> dict:
        return {}

    def select(self, trainer: "BilevelTrainer", rng: np.random.Generator, log: Callable[[dict], None],
               checkpoint: Callable[[], None] | None = None) -> Decisions:
        model = trainer.model
        decisions = magnitude_decisions(model)
        model.decisions = decisions
        for cell, (choice, strengths) in enumerate(zip(model.supernet.choices, model.strengths())):
            for edge, op in sorted(decisions.ops[cell].items()):
                log(_row(0, 0, choice, "op", edge, op, strength=float(np.asarray(strengths)[edge, op]),
                         chosen=edge not in decisions.removed[cell]))
        if checkpoint is not None:
            checkpoint()
        return decisions


# -- perturbation -----------------------------------------------------------------------------
def pt_schedule(steps: int, between: int, trailing_epoch: bool = False) -> tuple[list[int], int]:
    """``(selection_epochs, tuning_epochs)``: the tuning epoch at whose start each of ``steps``
    selection steps runs, and the length of the tuning (its lr schedule's horizon).

    The authors' code selects at every epoch ``t`` with ``t % between == 0`` or ``t`` the last
    tuning epoch, with ``between * (steps - 1)`` tuning epochs on NB201 (6 edges, 5 between:
    25 epochs, selections at 0, 5, 10, 15, 20, 24) and one more in the DARTS space
    (``trailing_epoch``; 17 steps: 81 epochs, selections at 0, 5, ..., 80). Where that rule
    yields fewer selections than steps (``between`` = 1) the tuning is lengthened until it does;
    ``between`` = 0: every step at once, no tuning."""
    if steps < 1 or between < 0:
        raise ConfigError(f"a selection schedule needs >= 1 step and >= 0 tuning epochs between steps, "
                          f"got {steps} and {between}")
    if between == 0:
        return [0] * steps, 0
    total = between * (steps - 1) + int(trailing_epoch)
    while True:
        epochs = [t for t in range(total) if t % between == 0 or t == total - 1]
        if len(epochs) >= steps:
            return epochs[:steps], total
        total += 1


def harm(acc: float, loss: float, criterion: str) -> tuple[float, ...]:
    """How much masking something hurt the supernet, comparable across candidates: a lower
    accuracy (``acc``), a higher loss (``loss``), or the accuracy with the loss breaking ties."""
    return {"acc": (-acc,), "loss": (loss,), "acc_then_loss": (-acc, loss)}[criterion]


def most_harmful(results: Sequence[tuple[float, float]], criterion: str) -> int:
    """Index of the candidate whose masking hurt most (the first on ties): the op PT keeps."""
    keys = [harm(acc, loss, criterion) for acc, loss in results]
    return max(range(len(keys)), key=lambda i: (keys[i], -i))


def least_harmful(results: Sequence[tuple[float, float]], criterion: str) -> int:
    """Index of the candidate whose masking hurt least (the first on ties): the edge PT deletes."""
    keys = [harm(acc, loss, criterion) for acc, loss in results]
    return min(range(len(keys)), key=lambda i: (keys[i], i))


def choice_nodes(choice: CellChoices) -> list[int]:
    """The nodes of a cell with more candidate inputs than it keeps (a real topology choice)."""
    return [k for k, inputs in enumerate(choice.node_inputs) if len(inputs) > choice.keep_inputs]


def step_counts(choices: Sequence[CellChoices]) -> tuple[int, int]:
    """``(op steps, topology steps)``: a step decides one edge (one node) of every cell type that
    has one left, so the cell type with the most edges (nodes with a choice) sets the count."""
    return (max(c.num_edges for c in choices),
            max((len(choice_nodes(c)) for c in choices if c.chooses_topology), default=0))


def steps_done(decisions: Decisions, choices: Sequence[CellChoices]) -> int:
    """The selection steps that ``decisions`` records (every step ends in a checkpoint)."""
    op_steps, _ = step_counts(choices)
    ops = max(len(d) for d in decisions.ops)
    if ops < op_steps:
        return ops
    return op_steps + max((sum(len(set(c.node_inputs[k]) - decisions.removed[i]) <= c.keep_inputs
                              for k in choice_nodes(c)) for i, c in enumerate(choices)), default=0)


@ranges("selection", tune_epochs_between=Int(0), tune_lr_factor=Float(0.0, above=True))
class PerturbationSelection:
    """DARTS-PT's perturbation-based selection (module docstring; note 2.3)."""

    name = "pt"

    def __init__(self, criterion: str = "acc_then_loss", edge_order: str = "random", tune_epochs_between: int = 5,
                 tune_lr_factor: float = 0.1, tune_lr_schedule: str = "constant") -> None:
        choose("selection.criterion", criterion, CRITERIA)
        choose("selection.edge_order", edge_order, EDGE_ORDERS)
        choose("selection.tune_lr_schedule", tune_lr_schedule, TUNING_SCHEDULES)
        self.criterion = criterion
        self.edge_order = edge_order
        self.tune_epochs_between = tune_epochs_between
        self.tune_lr_factor = tune_lr_factor
        self.tune_lr_schedule = tune_lr_schedule

    def settings(self) -> dict:
        return {"criterion": self.criterion, "edge_order": self.edge_order,
                "tune_epochs_between": self.tune_epochs_between, "tune_lr_factor": self.tune_lr_factor,
                "tune_lr_schedule": self.tune_lr_schedule}

    def schedule(self, choices: Sequence[CellChoices]) -> tuple[list[int], int]:
        op_steps, topology_steps = step_counts(choices)
        return pt_schedule(op_steps + topology_steps, self.tune_epochs_between, trailing_epoch=topology_steps > 0)

    def select(self, trainer: "BilevelTrainer", rng: np.random.Generator, log: Callable[[dict], None],
               checkpoint: Callable[[], None] | None = None) -> Decisions:
        model = trainer.model
        choices = model.supernet.choices
        op_steps, _ = step_counts(choices)
        at, total = self.schedule(choices)
        done = steps_done(model.decisions, choices)
        if done == 0 and total > 0:  # a resumed selection's trainer state holds the tuning optimiser already
            trainer.start_tuning(total, self.tune_lr_factor, self.tune_lr_schedule)
        tuned = at[done - 1] if done else 0
        for step in range(done, len(at)):
            while tuned < at[step]:
                row = trainer.tune_epoch(update_alpha=model.relaxation.learns_alpha)
                tuned += 1
                logger.debug("tuning epoch %d: %s", tuned, row)
            start = time.perf_counter()
            for cell, choice in enumerate(choices):
                if step < op_steps:
                    self._decide_edge(trainer, rng, log, step, at[step], cell, choice)
                elif choice.chooses_topology:
                    self._decide_node(trainer, rng, log, step, at[step], cell, choice)
            logger.info("selection step %d/%d (tuning epoch %d) in %.1f s", step + 1, len(at), at[step],
                          time.perf_counter() - start)
            if checkpoint is not None:
                checkpoint()
        return model.decisions

    def _pick(self, candidates: list[int], rng: np.random.Generator) -> int:
        return candidates[int(rng.integers(len(candidates)))] if self.edge_order == "random" else candidates[0]

    def _decide_edge(self, trainer: "BilevelTrainer", rng: np.random.Generator, log: Callable[[dict], None],
                     step: int, epoch: int, cell: int, choice: CellChoices) -> None:
        decisions = trainer.model.decisions
        undecided = [e for e in range(choice.num_edges) if e not in decisions.ops[cell]]
        if not undecided:
            return
        edge = self._pick(undecided, rng)
        results = [trainer.evaluate(trainer.model.mixing(False, mask=(cell, edge, op)))
                   for op in range(choice.num_ops)]
        keep = most_harmful(results, self.criterion)
        decisions.ops[cell][edge] = keep
        for op, (acc, loss) in enumerate(results):
            log(_row(step, epoch, choice, "op", edge, op, acc=acc, loss=loss, chosen=op == keep))

    def _decide_node(self, trainer: "BilevelTrainer", rng: np.random.Generator, log: Callable[[dict], None],
                     step: int, epoch: int, cell: int, choice: CellChoices) -> None:
        decisions = trainer.model.decisions
        removed = decisions.removed[cell]
        open_nodes = [k for k in choice_nodes(choice)
                      if len(set(choice.node_inputs[k]) - removed) > choice.keep_inputs]
        if not open_nodes:
            return
        node = self._pick(open_nodes, rng)
        remaining = [e for e in choice.node_inputs[node] if e not in removed]
        while len(remaining) > choice.keep_inputs:
            results = []
            for edge in remaining:
                removed.add(edge)
                try:
                    results.append(trainer.evaluate(trainer.model.mixing(False)))
                finally:
                    removed.discard(edge)
            drop = least_harmful(results, self.criterion)
            for i, (edge, (acc, loss)) in enumerate(zip(remaining, results)):
                log(_row(step, epoch, choice, "topology", edge, decisions.ops[cell].get(edge), acc=acc, loss=loss,
                         chosen=i == drop, node=node))
            removed.add(remaining.pop(drop))


def _row(step: int, epoch: int, choice: CellChoices, kind: str, edge: int, op: int | None, *,
         acc: float = float("nan"), loss: float = float("nan"), strength: float = float("nan"),
         chosen: bool, node: int | None = None) -> dict:
    """A selection-log row. ``chosen``: the op kept (kind ``op``) or the input edge deleted
    (kind ``topology``, where ``acc_without`` is the accuracy without that whole edge)."""
    return {"step": step, "tune_epoch": epoch, "cell": choice.name, "kind": kind,
            "node": "" if node is None else node, "edge": edge,
            "op": "" if op is None else choice.edge_ops[edge][op], "acc_without": float(acc),
            "loss_without": float(loss), "strength": float(strength), "chosen": bool(chosen)}
