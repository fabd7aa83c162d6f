"""AG-Net search: generative latent space optimisation by weighted retraining
(Lukasik, Jung, Keuper, ECCV 2022; thesis Algorithm 6).

1. Pretrain the generator on the space (no queries; cached).
2. Query ``initial_samples`` random architectures.
3. Until the budget is spent: weight the queried data by rank, ``w = 1 / (k N + rank)``;
   retrain generator and predictor jointly for ``epochs`` on
   ``(1 - alpha) L_gen + alpha L_pred`` with a weighted sampler and weighted losses;
   decode latent vectors drawn uniformly from ``[-bound, bound]^d`` until at least
   ``num_candidates`` valid, not yet queried architectures; query the ``top_k`` with the
   highest predicted score.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from nasgen.generators.base import graph_targets
from nasgen.generators.pretrain import PretrainConfig, pretrain
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


class AGNetSearch:
    """Generative LSO search loop; every number of the paper's Algorithm 6 is an argument."""

    def __init__(
        self,
        generator: Callable[[GraphSpec], nn.Module],
        predictor: Callable[[int], nn.Module],
        pretrain: "PretrainConfig | dict | None" = None,
        initial_samples: int = 16,
        top_k: int = 16,
        epochs: int = 30,
        alpha: float = 0.9,
        rank_weight_k: float = 0.01,
        batch_size: int = 16,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.5, 0.999),
        target_scale: float = 0.01,
        num_candidates: int = 100,
        latent_bound: float = 3.0,
        decode_batch: int = 256,
        max_decode_batches: int = 200,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.make_generator, self.make_predictor = generator, predictor
        self.pretrain_config = pretrain if isinstance(pretrain, PretrainConfig) else PretrainConfig(**(pretrain or {}))
        self.initial_samples, self.top_k, self.epochs = initial_samples, top_k, epochs
        self.alpha, self.rank_weight_k, self.batch_size = alpha, rank_weight_k, batch_size
        self.lr, self.betas, self.target_scale = lr, tuple(betas), target_scale
        self.num_candidates, self.latent_bound = num_candidates, latent_bound
        self.decode_batch, self.max_decode_batches = decode_batch, max_decode_batches
        self.seed, self.device = seed, torch.device(device)
        self.stats: dict = {"iterations": []}

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        generator, self.stats["pretrain"] = pretrain(self.make_generator, space, self.pretrain_config,
                                                     self.seed, self.device)
        torch.manual_seed(int(rng.integers(2**31)))
        predictor = self.make_predictor(space.graph.vector_dim).to(self.device)
        torch_rng = torch_generator(rng)

        archs = self._random_unseen(space, oracle, rng, min(self.initial_samples, oracle.remaining))
        values = list(oracle.query(archs))
        while oracle.remaining > 0:
            weights = rank_weights(np.array(values), self.rank_weight_k, oracle.objective.maximize)
            loss = self._retrain(generator, predictor, space, archs, np.array(values), weights, torch_rng)
            candidates, decoded_valid = self._candidates(generator, space, oracle, rng, torch_rng)
            with torch.no_grad():
                predictor.eval()
                x = torch.as_tensor(space.encode(candidates), device=self.device)
                predicted = predictor(x).cpu().numpy()
                predictor.train()
            if not oracle.objective.maximize:
                predicted = -predicted
            chosen = [candidates[i] for i in np.argsort(-predicted, kind="stable")[: min(self.top_k, oracle.remaining)]]
            new_values = oracle.query(chosen)
            archs += chosen
            values += list(new_values)
            self.stats["iterations"].append({"queries": oracle.spent, "loss": loss, "candidates": len(candidates),
                                             "decoded_validity": decoded_valid,
                                             "best_new": float(np.max(new_values) if oracle.objective.maximize
                                                               else np.min(new_values))})
            log.info("AG-Net iteration %d: %d queries, loss %.4f, %d candidates, best so far %.3f",
                     len(self.stats["iterations"]), oracle.spent, loss, len(candidates),
                     max(values) if oracle.objective.maximize else min(values))

    def _random_unseen(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator, n: int) -> list[Arch]:
        chosen: dict = {}
        while len(chosen) < n:
            for arch in space.sample(n, rng):
                key = space.key(arch)
                if len(chosen) < n and key not in chosen and not oracle.seen(arch):
                    chosen[key] = arch
        return list(chosen.values())

    def _retrain(self, generator: nn.Module, predictor: nn.Module, space: SearchSpace, archs: list[Arch],
                 values: np.ndarray, weights: np.ndarray, torch_rng: torch.Generator) -> float:
        types, edges = (t.to(self.device) for t in graph_targets(space, archs))
        targets = torch.as_tensor(values * self.target_scale, dtype=torch.float32, device=self.device)
        w = torch.as_tensor(weights, dtype=torch.float32)
        params = list(generator.parameters()) + list(predictor.parameters())
        optimizer = torch.optim.Adam(params, lr=self.lr, betas=self.betas)
        generator.train()
        predictor.train()
        total, count = 0.0, 0
        for _ in range(self.epochs):
            order = torch.multinomial(w, len(archs), replacement=True, generator=torch_rng)
            for batch in order.split(self.batch_size):
                z = torch.randn(len(batch), generator.latent_dim, generator=torch_rng).to(self.device)
                scores = generator(z)
                batch = batch.to(self.device)
                gen_loss = scores.reconstruction_loss(types[batch], edges[batch])
                pred_loss = (predictor(scores.vector()) - targets[batch]) ** 2
                bw = w.to(self.device)[batch]
                loss = (bw * ((1 - self.alpha) * gen_loss + self.alpha * pred_loss)).sum() / bw.sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, count = total + loss.item(), count + 1
        return total / max(count, 1)

    @torch.no_grad()
    def _candidates(self, generator: nn.Module, space: SearchSpace, oracle: Oracle, rng: np.random.Generator,
                    torch_rng: torch.Generator) -> tuple[list[Arch], float]:
        generator.eval()
        found: dict = {}
        decoded = valid = 0
        for _ in range(self.max_decode_batches):
            z = (torch.rand(self.decode_batch, generator.latent_dim, generator=torch_rng) * 2 - 1) * self.latent_bound
            for arch in generator(z.to(self.device)).decode(space):
                decoded += 1
                if arch is None:
                    continue
                valid += 1
                key = space.key(arch)
                if key not in found and not oracle.seen(arch):
                    found[key] = arch
            if len(found) >= self.num_candidates:
                break
        generator.train()
        candidates = list(found.values())
        if len(candidates) < self.top_k:
            log.warning("generator proposed only %d new architectures; topping up with random ones", len(candidates))
            candidates += self._random_unseen(space, oracle, rng, self.top_k - len(candidates))
        return candidates, valid / max(decoded, 1)
