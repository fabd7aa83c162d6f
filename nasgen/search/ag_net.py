"""AG-Net search: generative latent space optimisation by weighted retraining
(Lukasik, Jung, Keuper, ECCV 2022; thesis Algorithm 6).

1. Pretrain the generator on the space (no queries; cached).
2. Query ``initial_samples`` random architectures.
3. Until the budget is spent: weight the queried data by rank, ``w = 1 / (k N + rank)``;
   retrain generator and predictor jointly for ``epochs`` on
   ``(1 - alpha) L_gen + alpha L_pred`` with a weighted sampler and weighted losses;
   decode latent vectors drawn uniformly from ``[-bound, bound]^d`` until at least
   ``num_candidates`` valid, not yet queried architectures; query the ``top_k`` whose
   generated score vectors the predictor rates highest.

Decoding samples node types and edges from the generated scores (Algorithm 5); with
``decode: argmax`` the weighted retraining quickly makes every ``z`` decode to an
already queried architecture, so sampling is the default.

Hardware-aware search (paper Sec. 4.3, thesis Algorithm 7) is switched on by an objective
with a cost (``objective.cost_metric``, ``objective.cost_limit``): a second predictor learns
the cost, the loss becomes ``(1 - alpha) L_gen + alpha [lambda L_acc + (1 - lambda) L_cost]``
with each term divided by its largest value in the batch (at least 1) so that none can
dominate, the rank behind the weights is ``(rank_acc + joint * rank_cost)`` multiplied by
``penalty`` for infeasible architectures, and candidates are ranked the same way on the
predicted values (with ``joint: false``: by predicted accuracy among predicted-feasible ones).

Variants and ablations (paper Sec. 4.1, Tables 6-8):
- a non-differentiable predictor (``predictor=xgb``: XGBoost on the binary architecture
  vector) ranks the candidates while the generator is retrained on the weighted reconstruction
  loss only; ``predictor=xgb_ranking`` adds a rank loss whose gradient reaches the generator
  through blackbox differentiation (:mod:`nasgen.predictors.ranking`); ``predictor=oracle``
  ranks the candidates by the benchmark itself (an upper bound);
- ``weighting: uniform`` drops the latent space optimisation (no rank weights);
- ``backprop: false`` trains the predictor on the queried architectures' binary vectors, so
  no predictor gradient reaches the generator;
- ``keep_top: k`` retrains on the ``k`` best queried architectures only (degenerate setting).
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from nasgen.benchmarks.base import Benchmark, MetricUnits
from nasgen.errors import ConfigError, choose
from nasgen.generators.base import GraphScores, graph_targets
from nasgen.generators.pretrain import PretrainConfig, pretrain
from nasgen.objective import Objective
from nasgen.predictors.base import DifferentiablePredictor, Predictor, RankLossPredictor
from nasgen.predictors.oracle import BenchmarkPredictor
from nasgen.ranges import Float, Int, ranges
from nasgen.search.common import random_unseen, require_one_cell
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace
from nasgen.utils import torch_generator

log = logging.getLogger(__name__)


def rank_weights(values: np.ndarray, k: float, maximize: bool = True) -> np.ndarray:
    """Weighted-retraining weights ``1 / (k N + rank)`` with rank 0 for the best value
    (rank = number of strictly better points, as in Tripp et al. 2020)."""
    scores = -values if maximize else values
    ranks = rankdata(scores, method="min") - 1
    return 1.0 / (k * len(values) + ranks)


def constrained_rank_weights(values: np.ndarray, costs: np.ndarray, feasible: np.ndarray, k: float, joint: bool,
                             penalty: float, maximize: bool = True) -> np.ndarray:
    """Weights ``1 / (k N + rank)`` where the rank orders ``(rank_value + joint * rank_cost) *
    (penalty if infeasible else 1)`` (1-based ranks, best first)."""
    return rank_weights(_penalised_rank(values, costs, feasible, joint, penalty, maximize), k, maximize=False)


def _penalised_rank(values: np.ndarray, costs: np.ndarray, feasible: np.ndarray, joint: bool, penalty: float,
                    maximize: bool) -> np.ndarray:
    rank = rankdata(-values if maximize else values, method="min")
    if joint:
        rank = rank + rankdata(costs, method="min")
    return rank * np.where(feasible, 1.0, penalty)


def search_target_scale(oracle: Oracle, values: Sequence[float]) -> float:
    """What the predictor's targets are multiplied by, so that they lie in about [0, 1] whatever
    the metric: :func:`target_scale` of the first queried values."""
    return target_scale(oracle.benchmark, oracle.objective.search_metric, values)


def target_scale(benchmark: Benchmark, metric: str, values: Sequence[float]) -> float:
    """1/100 for a percentage (the benchmark says so), else one over the largest magnitude among
    ``values`` (studies pass their labelled values)."""
    if isinstance(benchmark, MetricUnits) and benchmark.unit(metric) == "%":
        return 0.01
    largest = float(np.max(np.abs(values))) if len(values) else 0.0
    return 1.0 / largest if largest > 0 else 1.0


def _scaled(loss: torch.Tensor) -> torch.Tensor:
    """``loss`` divided by its largest value in the batch when that exceeds 1 (no gradient
    through the divisor), so that each term of a multi-target loss is at most 1."""
    return loss / loss.detach().max().clamp(min=1.0)


def weighted_retrain(generator: nn.Module, optimizer: torch.optim.Optimizer, space: SearchSpace, archs: list[Arch],
                     weights: np.ndarray, epochs: int, batch_size: int, torch_rng: torch.Generator,
                     device: torch.device,
                     loss: Callable[[GraphScores, torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> float:
    """Weighted retraining (Tripp et al. 2020, as in AG-Net): batches drawn in proportion to
    ``weights`` and each sample's loss multiplied by its weight. ``loss(scores, reconstruction,
    batch)`` gives the per-sample loss (default: the reconstruction loss); returns its mean."""
    types, edges = (t.to(device) for t in graph_targets(space, archs))
    w = torch.as_tensor(weights, dtype=torch.float32)
    generator.train()
    total, count = 0.0, 0
    for _ in range(epochs):
        order = torch.multinomial(w, len(archs), replacement=True, generator=torch_rng)
        for batch in order.split(batch_size):
            batch = batch.to(device)
            scores, gen_loss = generator.training_loss(types[batch], edges[batch], torch_rng)
            per_sample = gen_loss if loss is None else loss(scores, gen_loss, batch)
            batch_loss = (w.to(device)[batch] * per_sample).mean()
            optimizer.zero_grad()
            batch_loss.backward()
            optimizer.step()
            total, count = total + batch_loss.item(), count + 1
    return total / max(count, 1)


@ranges("search", initial_samples=Int(1), top_k=Int(1), epochs=Int(0), alpha=Float(0.0, 1.0),
        rank_weight_k=Float(0.0), batch_size=Int(1), lr=Float(0.0, above=True),
        target_scale=Float(0.0, above=True, optional=True),
        num_candidates=Int(1), latent_bound=Float(0.0, above=True), decode_batch=Int(1), max_decode_batches=Int(1),
        accuracy_weight=Float(0.0, 1.0), penalty=Float(1.0), keep_top=Int(1, optional=True))
class AGNetSearch:
    """Generative LSO search loop; every number of the paper's Algorithm 6 is an argument."""

    def __init__(
        self,
        generator: Callable[[GraphSpec], nn.Module],
        predictor: Callable[[GraphSpec], Predictor],
        pretrain: "PretrainConfig | dict | None" = None,
        initial_samples: int = 16,
        top_k: int = 16,
        epochs: int = 30,
        alpha: float = 0.9,
        rank_weight_k: float = 0.01,
        batch_size: int = 16,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.5, 0.999),
        target_scale: float | None = None,
        num_candidates: int = 100,
        latent_bound: float = 3.0,
        decode_batch: int = 256,
        max_decode_batches: int = 200,
        decode: str = "sample",
        joint: bool = False,
        accuracy_weight: float = 0.5,
        penalty: float = 1000.0,
        weighting: str = "rank",
        backprop: bool = True,
        keep_top: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.make_generator, self.make_predictor = generator, predictor
        self.pretrain_config = pretrain if isinstance(pretrain, PretrainConfig) else PretrainConfig(**(pretrain or {}))
        self.initial_samples, self.top_k, self.epochs = initial_samples, top_k, epochs
        self.alpha, self.rank_weight_k, self.batch_size = alpha, rank_weight_k, batch_size
        self.lr, self.betas, self.target_scale = lr, tuple(betas), target_scale
        self.num_candidates, self.latent_bound = num_candidates, latent_bound
        self.decode_batch, self.max_decode_batches = decode_batch, max_decode_batches
        choose("search.decode", decode, ("sample", "argmax"))
        self.sample = decode == "sample"
        self.joint, self.accuracy_weight, self.penalty = joint, accuracy_weight, penalty
        choose("search.weighting", weighting, ("rank", "uniform"))
        self.weighting, self.backprop, self.keep_top = weighting, backprop, keep_top
        self.device = torch.device(device)
        self.stats: dict = {"iterations": []}

    def check(self, space: SearchSpace, objective: Objective) -> None:
        require_one_cell(space, "AG-Net")
        if self.joint and not objective.cost_metric:
            raise ConfigError("search.joint=true minimises a cost: set objective.cost_metric (e.g. latency/pixel3_ms)")
        if objective.constrained or self.joint:
            # Building a predictor initialises torch modules; the fork keeps the run's random stream untouched.
            with torch.random.fork_rng(devices=[]):
                differentiable = isinstance(self.make_predictor(space.graph), DifferentiablePredictor)
            if not differentiable:
                raise ConfigError("hardware-aware AG-Net needs differentiable predictors (predictor=mlp)")

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        objective = oracle.objective
        self.check(space, objective)
        uses_cost = objective.constrained or self.joint
        generator, self.stats["pretrain"] = pretrain(self.make_generator, space, self.pretrain_config, self.device)
        torch.manual_seed(int(rng.integers(2**31)))
        predictor = self.make_predictor(space.graph)
        if isinstance(predictor, BenchmarkPredictor):
            predictor.bind(space, oracle.peek)
        # A differentiable predictor learns jointly with the generator; any other (XGBoost, the
        # benchmark) is a separate surrogate fitted on the queried architectures.
        surrogate = None if isinstance(predictor, DifferentiablePredictor) else predictor
        predictors = [] if surrogate is not None else [predictor.to(self.device)]
        if uses_cost:
            predictors.append(self.make_predictor(space.graph).to(self.device))
        torch_rng = torch_generator(rng)

        params = list(generator.parameters()) + [p for predictor in predictors for p in predictor.parameters()]
        # foreach: one multi-tensor update instead of a Python loop over ~40 parameter tensors; the
        # same arithmetic (a seed's history is unchanged) in ~6 % less time per search on CPU
        optimizer = torch.optim.Adam(params, lr=self.lr, betas=self.betas, foreach=True)

        archs = random_unseen(space, oracle, rng, min(self.initial_samples, oracle.remaining))
        values = list(oracle.query(archs))
        target_scale = self.target_scale or search_target_scale(oracle, values)
        while oracle.remaining > 0:
            train_archs, train_values = self._training_set(archs, np.array(values), objective.maximize)
            costs = oracle.costs(train_archs) if uses_cost else None
            # Costs are learnt relative to the largest queried cost: targets in [0, 1] on every
            # device, like the scaled accuracy, so neither predictor's gradient swamps the generator's.
            cost_scale = float(costs.max()) if uses_cost else 1.0
            if self.weighting == "uniform":
                weights = np.ones(len(train_archs))
            elif uses_cost:
                weights = constrained_rank_weights(train_values, costs, objective.feasible(costs),
                                                   self.rank_weight_k, self.joint, self.penalty, objective.maximize)
            else:
                weights = rank_weights(train_values, self.rank_weight_k, objective.maximize)
            targets = [train_values * target_scale] + ([costs / cost_scale] if uses_cost else [])
            if surrogate is not None:
                # Unweighted, as the AG-Net authors fit XGBoost; the rank weights shape the generator.
                surrogate.fit(space.encode(train_archs), train_values, generator=torch_rng)
            loss = self._retrain(generator, predictors, optimizer, space, train_archs, targets, weights, torch_rng,
                                 surrogate)
            scored_by_generation = predictors if self.backprop else []
            candidates, predicted, decoded_valid = self._candidates(generator, scored_by_generation, space, oracle,
                                                                    rng, torch_rng)
            if not scored_by_generation:
                predicted = predictor.predict(space.encode(candidates))[:, None]
            if uses_cost:
                predicted_costs = predicted[:, 1] * cost_scale
                rank = _penalised_rank(predicted[:, 0], predicted_costs, objective.feasible(predicted_costs),
                                       self.joint, self.penalty, objective.maximize)
                order = np.argsort(rank, kind="stable")
            else:
                order = np.argsort(-predicted[:, 0] if objective.maximize else predicted[:, 0], kind="stable")
            chosen = [candidates[i] for i in order[: min(self.top_k, oracle.remaining)]]
            new_values = oracle.query(chosen)
            archs += chosen
            values += list(new_values)
            best = float(oracle.records[oracle.incumbents()[-1]][objective.search_metric])
            iteration = {"queries": oracle.spent, "loss": loss, "candidates": len(candidates),
                         "decoded_validity": decoded_valid, "best_so_far": best}
            if objective.constrained:
                iteration["chosen_feasible"] = float(objective.feasible(oracle.costs(chosen)).mean())
            self.stats["iterations"].append(iteration)
            log.info("AG-Net iteration %d: %d queries, loss %.4f, %d candidates (validity %.3f), best so far %.3f",
                     len(self.stats["iterations"]), oracle.spent, loss, len(candidates), decoded_valid, best)

    def _training_set(self, archs: list[Arch], values: np.ndarray, maximize: bool) -> tuple[list[Arch], np.ndarray]:
        """All queried architectures, or with ``keep_top`` only the best ``keep_top`` of them."""
        if self.keep_top is None or self.keep_top >= len(archs):
            return archs, values
        best = np.argsort(-values if maximize else values, kind="stable")[: self.keep_top]
        return [archs[i] for i in best], values[best]

    def _retrain(self, generator: nn.Module, predictors: list[DifferentiablePredictor],
                 optimizer: torch.optim.Optimizer, space: SearchSpace, archs: list[Arch], targets: list[np.ndarray],
                 weights: np.ndarray, torch_rng: torch.Generator, surrogate: Predictor | None = None) -> float:
        """Weighted retraining of generator and predictors. ``targets`` holds one array per
        predictor: accuracy, then the cost in hardware-aware search. With a ``surrogate``
        instead of predictors the generator learns the reconstruction loss, plus the
        surrogate's blackbox rank loss where it provides one."""
        encoded = torch.as_tensor(space.encode(archs), dtype=torch.float32, device=self.device)
        rank_loss = surrogate.rank_loss if isinstance(surrogate, RankLossPredictor) else None
        target_tensors = [torch.as_tensor(t, dtype=torch.float32, device=self.device) for t in targets]
        for predictor in predictors:
            predictor.train()

        def loss(scores: GraphScores, gen_loss: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
            inputs = scores.vector() if self.backprop else encoded[batch]
            pred_losses = [(predictor(inputs) - target[batch]) ** 2
                           for predictor, target in zip(predictors, target_tensors)]
            if surrogate is not None:
                return gen_loss if rank_loss is None else \
                    (1 - self.alpha) * gen_loss + self.alpha * rank_loss(scores, target_tensors[0][batch])
            if len(pred_losses) == 1:
                return (1 - self.alpha) * gen_loss + self.alpha * pred_losses[0]
            acc_loss, cost_loss = map(_scaled, pred_losses)
            return (1 - self.alpha) * _scaled(gen_loss) + self.alpha * (
                self.accuracy_weight * acc_loss + (1 - self.accuracy_weight) * cost_loss)

        return weighted_retrain(generator, optimizer, space, archs, weights, self.epochs, self.batch_size, torch_rng,
                                self.device, loss)

    @torch.inference_mode()  # no autograd bookkeeping for the ~8,000 decodings per iteration
    def _candidates(self, generator: nn.Module, predictors: list[DifferentiablePredictor], space: SearchSpace,
                    oracle: Oracle, rng: np.random.Generator,
                    torch_rng: torch.Generator) -> tuple[list[Arch], np.ndarray, float]:
        """New valid architectures decoded from ``z ~ U[-bound, bound]^d``, each with the
        predictors' outputs (one column per predictor) for the generated vector it was decoded from."""
        generator.eval()
        for predictor in predictors:
            predictor.eval()
        found: dict = {}
        decoded = valid = 0
        for _ in range(self.max_decode_batches):
            z = (torch.rand(self.decode_batch, generator.latent_dim, generator=torch_rng) * 2 - 1) * self.latent_bound
            scores = generator(z.to(self.device))
            vector = scores.vector()
            predicted = torch.stack([predictor(vector) for predictor in predictors], dim=1).cpu().numpy() \
                if predictors else np.empty((len(vector), 0))
            for arch, score in zip(scores.decode(space, self.sample, torch_rng), predicted):
                decoded += 1
                if arch is None:
                    continue
                valid += 1
                key = space.key(arch)
                if key not in found and not oracle.seen(arch):
                    found[key] = (arch, score)
            if len(found) >= self.num_candidates:
                break
        candidates = [arch for arch, _ in found.values()]
        predicted = np.array([score for _, score in found.values()]).reshape(len(candidates), len(predictors))
        if len(candidates) < self.top_k:
            log.warning("generator proposed only %d new architectures; topping up with random ones", len(candidates))
            extra = random_unseen(space, oracle, rng, self.top_k - len(candidates))
            candidates += extra
            # Never preferred: the worst predicted accuracy and, under a constraint, an infeasible cost.
            worst = np.full((len(extra), len(predictors)), np.inf)
            worst[:, :1] = -np.inf if oracle.objective.maximize else np.inf
            predicted = np.concatenate([predicted, worst])
        return candidates, predicted, valid / max(decoded, 1)
