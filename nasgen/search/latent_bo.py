"""Batch Bayesian optimisation in the latent space of a generator with an encoder (SVGe, thesis
Sec. 4.4.4; the protocol of D-VAE and Kusner et al.'s grammar VAE).

1. ``initial_samples`` random architectures are queried and encoded to their latent means.
2. Each iteration fits a sparse GP (:class:`~nasgen.predictors.sparse_gp.SparseGaussianProcess`,
   ``inducing_points`` 500) on every labelled latent point and chooses ``batch_size`` (50) points
   one after the other by expected improvement with the *kriging believer*: each chosen point's
   label is believed to be the GP's predictive mean there before the next is chosen.
3. Every chosen point is decoded deterministically (argmax types, edges with p > 0.5) and
   evaluated; the point and its label join the GP's data.

Kriging believer with a variational GP: refitting the GP on believed labels 49 times per batch
would cost 49 fits (and, refitted by Adam, move its hyperparameters, which the believer keeps).
Instead the fitted GP's posterior, itself a Gaussian process, is conditioned exactly on the believed
observations, as exact (noise-free) ones as in Ginsbourger et al.'s kriging believer: a label
equal to the predictive mean leaves the mean everywhere unchanged and only removes the variance
at the chosen points and shrinks it near them (a Schur complement of the joint posterior
covariance), and the incumbent becomes the best of the incumbent and the believed labels.
Believing the labels with the GP's learnt noise instead failed: near a peak the learnt noise is
large, a believed label there barely lowers the variance, and the whole batch piled up at one
point (three points within 0.001 of each other on a one-dimensional bump). The cost: one joint
posterior (candidates and chosen points) per acquisition evaluation. BoTorch's fantasy models cannot do this
for a variational GP (``condition_on_observations`` needs an exact GP), and its MC ``qEI`` with
pending points integrates over the pending labels instead of believing their mean.

EI is maximised (as log EI, same maximiser, gradients that do not vanish far from the data) inside
the bounding box of the labelled latent points with BoTorch's ``optimize_acqf``: ``raw_samples``
Sobol points, the best ``restarts`` of them refined by L-BFGS-B. The incumbent is the best
posterior mean at the labelled points (the GP assumes noisy labels).

What a chosen point costs (the thesis counts every point of a batch as an evaluation; the budget
here counts paid benchmark queries, as every nasgen search does):

- a new valid architecture: a paid query;
- an invalid graph: labelled with the worst label of the GP's data (thesis) and kept as a data
  point, no query (nothing to evaluate); counted in ``search_stats.invalid``;
- an architecture already queried, or chosen earlier in the same batch (decided here, the thesis
  is silent): its known label joins the data at the new point, no query (the Oracle serves
  isomorphic repeats from memory); counted in ``search_stats.repeats``.

So an iteration always adds ``batch_size`` points to the GP's data, as in the thesis, and pays at
most ``batch_size`` queries. ``iterations`` (thesis: 10) ends the run after that many batches
(``budget`` = initial + iterations x batch then bounds the paid queries from above); ``null`` runs
batches until ``budget`` paid queries are spent (the budget-matched comparison), giving up after
``STALL_BATCHES`` batches in a row that pay nothing.

Deterministic under the Oracle's history replay: every random choice derives from the run's
``rng`` and the replayed labels equal the paid ones, so a resumed run chooses the same points and
pays only the queries the killed run had not paid.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.optim import optimize_acqf
from torch import nn

from nasgen.benchmarks.base import PartialBenchmark
from nasgen.errors import ConfigError
from nasgen.generators.base import EncodingGenerator, graph_targets
from nasgen.generators.pretrain import PretrainConfig, initial_generator, pretrain
from nasgen.objective import Objective
from nasgen.predictors.sparse_gp import SparseGaussianProcess
from nasgen.ranges import Int, ranges
from nasgen.search.common import random_unseen, require_one_cell
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace
from nasgen.utils import torch_generator

log = logging.getLogger(__name__)

STALL_BATCHES = 5  # with iterations=null: batches in a row without a paid query before giving up
CODING_BATCH = 1024  # architectures encoded / latent points decoded per generator call
BELIEF_JITTER = 1e-6  # added to the believed points' covariance: they are exact, but may lie close together


class KrigingBelieverEI(LogExpectedImprovement):
    """Log expected improvement of a GP whose posterior is conditioned on ``pending`` points
    observed exactly at their predictive mean (the kriging believer). Without pending points:
    BoTorch's log EI."""

    def __init__(self, model, best_f: float, pending: torch.Tensor | None) -> None:
        super().__init__(model, best_f=best_f)
        self.pending = pending

    def _mean_and_sigma(self, X: torch.Tensor, compute_sigma: bool = True,
                        min_var: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor | None]:
        points = X.reshape(-1, X.shape[-1])  # [..., 1, d] -> [n, d]
        n = len(points)
        pending = self.pending.to(points) if self.pending is not None else points[:0]
        # One joint posterior over all candidates and the pending points, not a batch of one
        # posterior per candidate (BoTorch's way, which broadcasts the inducing-point covariance
        # and factorises it once per candidate: minutes per batch with 500 inducing points). Only
        # each candidate's own variance and its covariance with the pending points are used, so
        # candidates stay independent of one another (and so do their gradients).
        posterior = self.model.posterior(torch.cat([points, pending]))
        mean = posterior.mean[:n].view(*X.shape[:-2], 1)
        if not compute_sigma:
            return mean, None
        covariance = posterior.distribution.lazy_covariance_matrix
        variance = covariance.diagonal()[:n]
        if len(pending):
            cross = covariance[:n, n:].to_dense()
            believed = covariance[n:, n:].to_dense() + BELIEF_JITTER * torch.eye(len(pending), dtype=cross.dtype)
            variance = variance - (cross * torch.linalg.solve(believed, cross.T).T).sum(-1)
        return mean, variance.clamp_min(min_var).sqrt().view(*X.shape[:-2], 1)


def kriging_believer_batch(gp: SparseGaussianProcess, latents: np.ndarray, size: int, rng: np.random.Generator,
                           restarts: int = 10, raw_samples: int = 512, maxiter: int = 100) -> np.ndarray:
    """``size`` latent points ``[size, d]`` chosen one after the other by log EI of ``gp`` (fitted
    on ``latents``, maximising) inside the bounding box of ``latents``, each one believed to be
    labelled with the GP's predictive mean before the next is chosen."""
    train = torch.as_tensor(latents, dtype=torch.float64)
    bounds = torch.stack([train.min(0).values, train.max(0).values])
    flat = bounds[1] <= bounds[0]  # a dimension without spread: searched on the value all points share
    bounds[1, flat] = bounds[0, flat] + 1e-9
    with torch.no_grad():
        best = float(gp.model.posterior(train).mean.max())
    chosen: list[torch.Tensor] = []
    for _ in range(size):
        pending = torch.stack(chosen) if chosen else None
        acquisition = KrigingBelieverEI(gp.model, best, pending)
        point, _ = optimize_acqf(acquisition, bounds=bounds, q=1, num_restarts=restarts, raw_samples=raw_samples,
                                 options={"seed": int(rng.integers(2**31)), "maxiter": maxiter})
        point = point.detach().reshape(-1)
        with torch.no_grad():
            best = max(best, float(gp.model.posterior(point.unsqueeze(0)).mean))  # the believed label
        chosen.append(point)
    return torch.stack(chosen).numpy()


@ranges("search", initial_samples=Int(1), iterations=Int(1, optional=True), batch_size=Int(1),
        restarts=Int(1), raw_samples=Int(1), maxiter=Int(1))
class LatentBayesianOptimisation:
    """``search=latent_bo`` (see the module docstring for the protocol and its accounting).

    Args:
        generator: builds the generator for a space's graph (``generator=svge``); it must have an
            encoder (:class:`~nasgen.generators.base.EncodingGenerator`).
        pretrain: the generator's pretraining settings (it is pretrained once and cached).
        surrogate: the sparse GP (inducing points, Adam steps and learning rate of its ELBO fit).
        initial_samples: random architectures queried before the first batch (thesis: 1,000).
        iterations: batches after them (thesis: 10); ``null``: until the budget is spent.
        batch_size: latent points per batch (thesis: 50).
        restarts, raw_samples, maxiter: the EI maximiser (L-BFGS-B starts, Sobol points they are
            chosen from, L-BFGS-B iterations).
    """

    def __init__(self, generator: Callable[[GraphSpec], nn.Module], pretrain: "PretrainConfig | dict | None" = None,
                 surrogate: SparseGaussianProcess | None = None, initial_samples: int = 1000,
                 iterations: int | None = 10, batch_size: int = 50, restarts: int = 10, raw_samples: int = 512,
                 maxiter: int = 100, device: str = "cpu") -> None:
        self.make_generator = generator
        self.pretrain_config = pretrain if isinstance(pretrain, PretrainConfig) else PretrainConfig(**(pretrain or {}))
        self.surrogate = surrogate or SparseGaussianProcess()
        self.initial_samples, self.iterations, self.batch_size = initial_samples, iterations, batch_size
        self.restarts, self.raw_samples, self.maxiter = restarts, raw_samples, maxiter
        self.device = torch.device(device)
        self.stats: dict = {}

    def check(self, space: SearchSpace, objective: Objective) -> None:
        require_one_cell(space, "latent-space Bayesian optimisation")
        if objective.constrained:
            raise ConfigError("latent_bo does not handle cost constraints; use search=ag_net_hw")
        built = initial_generator(self.make_generator, space, self.pretrain_config)
        if not isinstance(built, EncodingGenerator):
            raise ConfigError(f"search=latent_bo needs a generator with an encoder to place labelled "
                              f"architectures in its latent space; {type(built).__name__} has none: use generator=svge")

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        self.check(space, oracle.objective)
        if isinstance(oracle.benchmark, PartialBenchmark) and oracle.benchmark.skip_missing:
            raise ConfigError(f"latent_bo decodes new cells, which a partial table that skips what it lacks "
                              f"({oracle.benchmark.name}) cannot answer; use a benchmark of the whole space")
        sign = 1.0 if oracle.objective.maximize else -1.0  # the GP always maximises
        generator, pretrained = pretrain(self.make_generator, space, self.pretrain_config, self.device)
        generator.eval()
        fit_rng = torch_generator(rng)
        self.stats = {"pretrain": pretrained, "initial": 0, "batches": [], "paid": 0, "invalid": 0, "repeats": 0,
                      "gp_seconds": 0.0, "acquisition_seconds": 0.0}
        archs = random_unseen(space, oracle, rng, min(self.initial_samples, oracle.remaining))
        labels = list(sign * oracle.query(archs))
        latents = self._encode(generator, space, archs)
        self.stats["initial"] = len(archs)
        idle, iteration = 0, 0
        while oracle.remaining > 0 and (self.iterations is None or iteration < self.iterations):
            if self.iterations is None and idle >= STALL_BATCHES:
                log.warning("latent_bo: %d batches in a row decoded nothing new; stopping with %d queries left",
                            idle, oracle.remaining)
                self.stats["stalled"] = True
                break
            iteration += 1
            points = self._choose(latents, np.array(labels), rng, fit_rng)
            point_labels, counts = self._evaluate(generator, space, oracle, points, sign, min(labels))
            kept = len(point_labels)  # the points past the budget were not evaluated
            latents = np.concatenate([latents, points[:kept]])
            labels += point_labels
            idle = idle + 1 if counts["paid"] == 0 else 0
            self.stats["batches"].append(counts)
            for key in ("paid", "invalid", "repeats"):
                self.stats[key] += counts[key]
            log.info("latent_bo batch %d: %d paid, %d invalid, %d repeats; best so far %.4g", iteration,
                     counts["paid"], counts["invalid"], counts["repeats"], sign * max(labels))

    def _choose(self, latents: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                fit_rng: torch.Generator) -> np.ndarray:
        start = time.perf_counter()
        self.surrogate.fit(latents, labels, generator=fit_rng)
        fitted = time.perf_counter()
        points = kriging_believer_batch(self.surrogate, latents, self.batch_size, rng, self.restarts,
                                        self.raw_samples, self.maxiter)
        self.stats["gp_seconds"] += fitted - start
        self.stats["acquisition_seconds"] += time.perf_counter() - fitted
        return points

    def _evaluate(self, generator: nn.Module, space: SearchSpace, oracle: Oracle, points: np.ndarray, sign: float,
                  worst: float) -> tuple[list[float], dict]:
        """Labels of the decoded ``points`` in order (the worst label for invalid graphs), up to the
        last point the budget pays for, and the batch's counts."""
        decoded = self._decode(generator, space, points)
        counts = {"paid": 0, "invalid": 0, "repeats": 0}
        new: set = set()
        evaluated: list[Arch | None] = []
        for arch in decoded:
            if arch is None:
                counts["invalid"] += 1
            elif space.key(arch) in new or oracle.seen(arch):
                counts["repeats"] += 1
            elif len(new) == oracle.remaining:
                break  # the budget does not pay for this one
            else:
                new.add(space.key(arch))
                counts["paid"] += 1
            evaluated.append(arch)
        valid = [arch for arch in evaluated if arch is not None]
        values = iter(sign * oracle.query(valid)) if valid else iter(())
        return [worst if arch is None else float(next(values)) for arch in evaluated], counts

    @torch.no_grad()
    def _encode(self, generator: nn.Module, space: SearchSpace, archs: list[Arch]) -> np.ndarray:
        means = []
        for start in range(0, len(archs), CODING_BATCH):
            types, edges = graph_targets(space, archs[start:start + CODING_BATCH])
            means.append(generator.encode(types.to(self.device), edges.to(self.device)).double().cpu())
        return torch.cat(means).numpy()

    @torch.no_grad()
    def _decode(self, generator: nn.Module, space: SearchSpace, points: np.ndarray) -> list[Arch | None]:
        z = torch.as_tensor(points, dtype=torch.float32)
        return [arch for chunk in z.split(CODING_BATCH)
                for arch in generator(chunk.to(self.device)).decode(space, sample=False)]
