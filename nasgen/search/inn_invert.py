"""Search by inverting a performance-conditioned generator at a target accuracy (G.-Y. Chen, MSc
thesis 2023, Algorithm 1; ``../shared/notes/chen_inn_generator.md`` sections 2.6 and 5).

1. The graph VAE of the generator (``generator=inn``) is pretrained on the whole space without
   labels, once per space (cached like every pretrained generator).
2. ``init_train`` architectures drawn from the generator's training split and ``init_valid`` from
   its validation part are queried (both count against the budget) and labelled with the search
   metric times :func:`~nasgen.search.ag_net.search_target_scale` (a fraction for a percentage);
   each is repeated ``generator.finetune.repeat`` times. The invertible network (and, with
   ``generator.finetune.mode: e2e``, the VAE) is fine-tuned on them by the generator's own
   fine-tuning settings (``generator.finetune``, shared with the INN studies), without rank weights.
3. Each round: ``candidates`` new architectures are decoded from ``INN^-1([z, target_y])``,
   ``z ~ N(0, I)`` (``candidate_source: random``: random unqueried ones, the thesis' Ours-Random,
   which keeps the predictor and drops the generator); each candidate is re-encoded and the INN's
   forward direction predicts its accuracy; the ``top_k`` best predicted are queried, join the
   training set as often as the initial ones, and the model is retrained from its current weights with rank
   weights ``1 / (rank_k |B| + rank)`` within each mini-batch, early stopping on the fixed
   validation set.

Decisions where the thesis leaves a choice (the note's ambiguities):

- a candidate is new when no isomorphic architecture was queried (the training and the
  validation set are queried) and none is among the round's candidates already: the Oracle's
  isomorphism-aware key for every space (A14; the author's code compares NB201 op strings);
- too few new candidates: decoding restarts with latent noise of the next ``noise_schedule``
  level (the author's code schedule cut at the thesis' 0.1, A9), ``retries_per_level`` decoding
  rounds of ``candidates`` latent points per level; the level reached is recorded per round. A
  round that still has fewer than ``top_k`` candidates is topped up with random unqueried
  architectures (counted in ``random_top_up``), as nasgen's AG-Net does, rather than querying fewer;
- the last round queries only ``budget - spent`` architectures (A17: 192 queries = 100 + 18 x 5 + 2)
  and is not followed by a retraining that nothing would use;
- decoding is deterministic (argmax types, edges with p > 0.5) with one latent sample per
  candidate (A16).

Resuming: the state after the fine-tuning and after every round (trainer state with its
optimiser, random streams, labelled sets as architecture strings, statistics) is written
atomically beside ``history.csv``. A resumed run restores the last one, replays its queries from
the history, and redoes only the round that was cut, whose paid queries the Oracle replays; so
it ends with the history of an uninterrupted run. Replaying the whole search instead (as the
searches without a checkpoint do) would repeat every retraining, minutes per round on a CPU.
"""
from __future__ import annotations

import logging
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from nasgen.errors import ConfigError, choose
from nasgen.generators.base import PerformanceConditionedGenerator, graph_targets
from nasgen.generators.inn import LabelledSchedule
from nasgen.generators.inn_training import INNTrainer, joined, labelled_set
from nasgen.generators.pretrain import PretrainConfig, initial_generator, pretrain
from nasgen.objective import Objective
from nasgen.paths import atomic_write
from nasgen.ranges import Float, Int, ranges
from nasgen.search.ag_net import search_target_scale
from nasgen.search.common import random_unseen, require_one_cell, unseen_from
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace
from nasgen.utils import torch_generator

log = logging.getLogger(__name__)

CHECKPOINT = "inn_search.checkpoint.pt"  # beside history.csv
# the author's code schedule of latent noise std, cut at the thesis' range 0.0-0.1 (note A9)
NOISE_SCHEDULE = (0.0, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1)


@dataclass
class Labelled:
    """Labelled architectures in query order and their labels (fractions)."""

    archs: list[Arch] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def add(self, archs: Sequence[Arch], y: np.ndarray) -> None:
        self.archs += list(archs)
        self.y += [float(v) for v in y]

    def strings(self, space: SearchSpace) -> dict:
        return {"archs": [space.to_str(a) for a in self.archs], "y": self.y}

    @classmethod
    def from_strings(cls, space: SearchSpace, saved: dict) -> "Labelled":
        return cls([space.from_str(s) for s in saved["archs"]], list(saved["y"]))


@ranges("search", init_train=Int(1), init_valid=Int(1), candidates=Int(1), top_k=Int(1),
        retries_per_level=Int(1), max_rounds=Int(0), target_y=Float(), rank_k=Float(0.0))
class INNInvertSearch:
    """``search=inn_invert`` (the module docstring gives the loop and its decisions).

    Args:
        generator: builds the performance-conditioned generator for a space's graph (``generator=inn``).
        pretrain: pretraining seed and cache; the seed also chooses the generator's training split
            the initial labelled sets are drawn from.
        profile: the name of the compute profile whose caps the schedules carry (``profile=cpu``).
        retrain: :class:`~nasgen.generators.inn.LabelledSchedule` settings of each round's
            retraining. The fine-tuning on the initial sets, its mode (e2e | partial), learning rate
            and repeats are the generator's (``generator.finetune``): one place for the settings the
            INN studies fine-tune by too.
        init_train, init_valid: initial labelled architectures (both are queried and count).
        candidates: new architectures per round (thesis: 100); top_k: of them queried (5).
        target_y: the label the INN is inverted at (1.0 = 100 %, thesis).
        noise_schedule, retries_per_level: the latent noise fallback when candidates run short.
        max_rounds: rounds after the fine-tuning at most (thesis: 100).
        rank_weights, rank_k: rank weights ``1 / (rank_k |B| + rank)`` in the retraining.
        candidate_source: ``generated`` (inversion) | ``random`` (Ours-Random, thesis Tables 3-4).
    """

    def __init__(self, generator: Callable[[GraphSpec], nn.Module], pretrain: "PretrainConfig | dict | None" = None,
                 profile: str = "paper", retrain: "LabelledSchedule | dict | None" = None,
                 init_train: int = 50, init_valid: int = 50, candidates: int = 100,
                 top_k: int = 5, target_y: float = 1.0, noise_schedule: Sequence[float] = NOISE_SCHEDULE,
                 retries_per_level: int = 10, max_rounds: int = 100, rank_weights: bool = True,
                 rank_k: float = 0.01, candidate_source: str = "generated", device: str = "cpu") -> None:
        self.make_generator = generator
        self.pretrain_config = pretrain if isinstance(pretrain, PretrainConfig) else PretrainConfig(**(pretrain or {}))
        choose("search.candidate_source", candidate_source, ("generated", "random"))
        if not noise_schedule or any(not 0 <= level for level in noise_schedule):
            raise ConfigError(f"search.noise_schedule must list latent noise levels >= 0, got {list(noise_schedule)}")
        self.profile = profile
        self.retrain = _schedule(retrain, LabelledSchedule(epochs=50, early_stop=10))
        self.init_train, self.init_valid = init_train, init_valid
        self.candidates, self.top_k, self.target_y = candidates, top_k, target_y
        self.noise_schedule, self.retries_per_level = [float(level) for level in noise_schedule], retries_per_level
        self.max_rounds = max_rounds
        self.rank_k = rank_k if rank_weights else None
        self.candidate_source = candidate_source
        self.device = torch.device(device)
        self.stats: dict = {}

    def check(self, space: SearchSpace, objective: Objective) -> None:
        require_one_cell(space, "inn_invert")
        if objective.constrained or not objective.maximize:
            raise ConfigError("search=inn_invert inverts its generator at a target accuracy: it maximises one "
                              "metric without cost constraints")
        built = initial_generator(self.make_generator, space, self.pretrain_config)
        if not isinstance(built, PerformanceConditionedGenerator):
            raise ConfigError(f"search=inn_invert needs a performance-conditioned generator (invertible between "
                              f"latent code and accuracy); {type(built).__name__} is not one: use generator=inn")

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        self.check(space, oracle.objective)
        initial = self.init_train + self.init_valid
        if oracle.budget < initial + 1:
            raise ConfigError(f"budget={oracle.budget} leaves no query after the {initial} initial labelled "
                              f"architectures (search.init_train + search.init_valid)")
        started = time.perf_counter()
        model, record = pretrain(self.make_generator, space, self.pretrain_config, self.device)
        pretrain_seconds = time.perf_counter() - started
        # Whether the VAE was trained now or loaded must not change the run: torch's own stream
        # (dropout, the INN's sampling where it uses it) restarts from the search seed.
        torch.manual_seed(int(rng.integers(2**31)))
        torch_rng = torch_generator(rng, self.device)
        finetune = model.finetune
        trainer = INNTrainer(model, mode=finetune.mode, lr=finetune.lr, device=self.device)
        checkpoint = None if oracle.history_path is None else oracle.history_path.with_name(CHECKPOINT)
        restored = self._restore(checkpoint, space, oracle, trainer, rng, torch_rng)
        if restored is None:
            self.stats = {"profile": self.profile, "pretrain": record, "mode": finetune.mode,
                          "candidate_source": self.candidate_source, "rank_k": self.rank_k,
                          "seconds": {"pretrain": 0.0, "finetune": 0.0, "search": 0.0}, "rounds": [], "resumed": []}
            train, valid, scale = self._initial(model, trainer, space, oracle, rng, torch_rng)
            self._save(checkpoint, space, oracle, trainer, rng, torch_rng, train, valid, scale)
        else:
            train, valid, scale = restored
        self.stats["seconds"]["pretrain"] += pretrain_seconds
        train_set = labelled_set(space, train.archs, np.array(train.y), finetune.repeat)
        valid_set = labelled_set(space, valid.archs, np.array(valid.y), finetune.repeat)
        while oracle.remaining > 0 and len(self.stats["rounds"]) < self.max_rounds:
            start = time.perf_counter()
            chosen, y, round_stats = self._round(model, space, oracle, rng, torch_rng, scale)
            train.add(chosen, y)
            train_set = joined(train_set, labelled_set(space, chosen, y, finetune.repeat))
            if oracle.remaining > 0:  # a model retrained after the last query would serve nothing
                round_stats["retrain"] = trainer.fit(train_set, valid_set, self.retrain, self.rank_k, torch_rng)
            round_stats["seconds"] = time.perf_counter() - start
            self.stats["rounds"].append(round_stats)
            self.stats["seconds"]["search"] += round_stats["seconds"]
            log.info("inn_invert round %d: %d queries, %d candidates (noise %g, validity %.3f), best predicted "
                     "%.4f, best so far %.4g", len(self.stats["rounds"]), oracle.spent, round_stats["candidates"],
                     round_stats["noise_std"] or 0.0, round_stats["decoded_validity"] or 0.0,
                     max(round_stats["predicted_y"]), oracle.values(oracle.objective.search_metric).max())
            self._save(checkpoint, space, oracle, trainer, rng, torch_rng, train, valid, scale)

    def _initial(self, model: nn.Module, trainer: INNTrainer, space: SearchSpace, oracle: Oracle,
                 rng: np.random.Generator, torch_rng: torch.Generator) -> tuple[Labelled, Labelled, float]:
        """Query the initial training and validation architectures and fine-tune on them. The
        validation cells are drawn once the training cells are queried, so that none is
        isomorphic to one of them (NB201 lists isomorphic cells under several indices)."""
        train_pool, valid_pool = self._initial_pools(model, space, oracle)
        train_archs = unseen_from(train_pool, space, oracle, rng, self.init_train, "the initial training cells")
        train_values = oracle.query(train_archs)
        valid_archs = unseen_from(valid_pool, space, oracle, rng, self.init_valid, "the initial validation cells")
        valid_values = oracle.query(valid_archs)
        scale = search_target_scale(oracle, np.concatenate([train_values, valid_values]))
        train, valid = Labelled(), Labelled()
        train.add(train_archs, train_values * scale)
        valid.add(valid_archs, valid_values * scale)
        repeat = model.finetune.repeat
        fitted = trainer.fit(labelled_set(space, train.archs, np.array(train.y), repeat),
                             labelled_set(space, valid.archs, np.array(valid.y), repeat),
                             model.finetune, None, torch_rng)
        self.stats["init"] = {"train": len(train_archs), "valid": len(valid_archs), "queries": oracle.spent,
                              "target_scale": scale}
        self.stats["finetune"] = fitted
        self.stats["seconds"]["finetune"] += fitted["seconds"]
        log.info("inn_invert: fine-tuned (%s) on %d + %d labelled architectures: %s", model.finetune.mode,
                 len(train_archs), len(valid_archs), fitted)
        return train, valid, scale

    def _initial_pools(self, model: nn.Module, space: SearchSpace, oracle: Oracle) -> tuple[list[Arch], list[Arch]]:
        """Where the initial cells are drawn from: the generator's training split and its validation
        part (the first half of the held-out cells). A partial table that skips what it lacks (the
        labelled NB101 cells) holds almost none of a split of the space: both come from the table."""
        if oracle.evaluable_archs is not None:
            return oracle.evaluable_archs, oracle.evaluable_archs
        training, held_out = model.training_split(space, self.pretrain_config.seed)
        return training, held_out[:len(held_out) // 2]

    def _round(self, model: nn.Module, space: SearchSpace, oracle: Oracle, rng: np.random.Generator,
               torch_rng: torch.Generator, scale: float) -> tuple[list[Arch], np.ndarray, dict]:
        """One round's candidates, predictions and queries; the queried architectures, their labels
        and the round's statistics."""
        if self.candidate_source == "random":
            candidates = random_unseen(space, oracle, rng,
                                       min(self.candidates, space.distinct_architectures - oracle.spent))
            stats: dict = {"noise_std": None, "decoding_rounds": 0, "decoded_validity": None}
        else:
            candidates, stats = self._generated(model, space, oracle, torch_rng)
        found = len(candidates)
        if found < self.top_k:
            known = {space.key(a) for a in candidates}
            extra = [a for a in random_unseen(space, oracle, rng, self.top_k) if space.key(a) not in known]
            candidates += extra[: self.top_k - found]
        predicted = self._predict(model, space, candidates)
        order = np.argsort(-predicted, kind="stable")[: min(self.top_k, oracle.remaining)]
        chosen = [candidates[i] for i in order]
        y = oracle.query(chosen) * scale
        return chosen, y, {"queries": oracle.spent, "candidates": found, "random_top_up": len(candidates) - found,
                           **stats, "predicted_y": [float(predicted[i]) for i in order], "queried_y": y.tolist()}

    @torch.no_grad()
    def _generated(self, model: nn.Module, space: SearchSpace, oracle: Oracle,
                   torch_rng: torch.Generator) -> tuple[list[Arch], dict]:
        """Up to ``candidates`` new valid architectures decoded at the target, and how they were found."""
        model.eval()
        found: dict = {}
        decoded = valid = rounds = 0
        level = self.noise_schedule[0]
        for level in self.noise_schedule:
            for _ in range(self.retries_per_level):
                scores = model.generate(self.target_y, self.candidates, torch_rng, noise_std=level)
                archs = scores.decode(space, sample=False)
                rounds, decoded = rounds + 1, decoded + len(archs)
                for arch in archs:
                    if arch is None:
                        continue
                    valid += 1
                    key = space.key(arch)
                    if len(found) < self.candidates and key not in found and not oracle.seen(arch):
                        found[key] = arch
                if len(found) == self.candidates:
                    break
            if len(found) == self.candidates:
                break
        if len(found) < self.candidates:
            log.warning("inn_invert: only %d new candidates after every noise level (up to %g)", len(found), level)
        return list(found.values()), {"noise_std": level, "decoding_rounds": rounds,
                                      "decoded_validity": valid / max(decoded, 1)}

    @torch.no_grad()
    def _predict(self, model: nn.Module, space: SearchSpace, archs: list[Arch]) -> np.ndarray:
        """The INN's forward prediction for each architecture, from its re-encoded latent mean."""
        model.eval()
        types, edges = graph_targets(space, archs)
        return model.predict(types.to(self.device), edges.to(self.device)).float().cpu().numpy()

    # -- checkpoint ------------------------------------------------------------------------
    def _save(self, path: Path | None, space: SearchSpace, oracle: Oracle, trainer: INNTrainer,
              rng: np.random.Generator, torch_rng: torch.Generator, train: Labelled, valid: Labelled,
              scale: float) -> None:
        if path is None:
            return
        state = {"trainer": trainer.state_dict(), "rng": rng.bit_generator.state, "torch_rng": torch_rng.get_state(),
                 "torch_global": torch.get_rng_state(), "queried": [r["arch"] for r in oracle.records],
                 "train": train.strings(space), "valid": valid.strings(space), "scale": scale, "stats": self.stats}
        with atomic_write(path) as f:
            torch.save(state, f)

    def _restore(self, path: Path | None, space: SearchSpace, oracle: Oracle, trainer: INNTrainer,
                 rng: np.random.Generator, torch_rng: torch.Generator) -> tuple[Labelled, Labelled, float] | None:
        """The labelled sets and label scale of the checkpoint at ``path``, with trainer, random
        streams, statistics and the Oracle's records restored; ``None`` (start from the beginning)
        where there is none or the history no longer holds every query it counts."""
        if path is None or not path.is_file():
            return None
        try:
            state = torch.load(path, weights_only=True)
            queried = [space.from_str(s) for s in state["queried"]]
        except (OSError, KeyError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            log.warning("%s is damaged (%s); starting the search over (the queries history.csv holds are "
                        "replayed, not paid again)", path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return None
        if not all(oracle.in_history(arch) for arch in queried):
            log.warning("%s counts queries that history.csv does not hold; starting the search over (the "
                        "queries the history holds are replayed, not paid again)", path)
            return None
        oracle.query(queried)  # replayed from the history, in the order they were paid
        trainer.load_state_dict(state["trainer"])
        rng.bit_generator.state = state["rng"]
        torch_rng.set_state(state["torch_rng"])
        torch.set_rng_state(state["torch_global"])
        self.stats = state["stats"]
        self.stats["resumed"].append(len(self.stats["rounds"]))
        log.info("inn_invert: resumed after round %d (%d queries) from %s", len(self.stats["rounds"]),
                 oracle.spent, path)
        return Labelled.from_strings(space, state["train"]), Labelled.from_strings(space, state["valid"]), \
            state["scale"]


def _schedule(value: "LabelledSchedule | dict | None", default: LabelledSchedule) -> LabelledSchedule:
    if value is None:
        return default
    return value if isinstance(value, LabelledSchedule) else LabelledSchedule(**value)
