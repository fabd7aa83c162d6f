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
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from nasgen.errors import ConfigError, choose
from nasgen.generators.base import GraphScores, graph_targets
from nasgen.generators.pretrain import PretrainConfig, pretrain
from nasgen.search.common import random_unseen
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


def _check_ranges(**values: tuple[float, float | None, float | None]) -> None:
    for name, (value, low, high) in values.items():
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ConfigError(f"search.{name} must be {bounds}, got {value}")


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
        decode: str = "sample",
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
        choose("search.decode", decode, ("sample", "argmax"))
        self.sample = decode == "sample"
        _check_ranges(initial_samples=(initial_samples, 1, None), top_k=(top_k, 1, None), epochs=(epochs, 0, None),
                      alpha=(alpha, 0.0, 1.0), rank_weight_k=(rank_weight_k, 0.0, None),
                      batch_size=(batch_size, 1, None), num_candidates=(num_candidates, 1, None),
                      latent_bound=(latent_bound, 0.0, None))
        self.seed, self.device = seed, torch.device(device)
        self.stats: dict = {"iterations": []}

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        generator, self.stats["pretrain"] = pretrain(self.make_generator, space, self.pretrain_config,
                                                     self.seed, self.device)
        torch.manual_seed(int(rng.integers(2**31)))
        predictor = self.make_predictor(space.graph.vector_dim).to(self.device)
        torch_rng = torch_generator(rng)

        params = list(generator.parameters()) + list(predictor.parameters())
        optimizer = torch.optim.Adam(params, lr=self.lr, betas=self.betas)

        archs = random_unseen(space, oracle, rng, min(self.initial_samples, oracle.remaining))
        values = list(oracle.query(archs))
        while oracle.remaining > 0:
            weights = rank_weights(np.array(values), self.rank_weight_k, oracle.objective.maximize)
            loss = self._retrain(generator, predictor, optimizer, space, archs, np.array(values), weights, torch_rng)
            candidates, predicted, decoded_valid = self._candidates(generator, predictor, space, oracle, rng,
                                                                    torch_rng)
            if not oracle.objective.maximize:
                predicted = -predicted
            order = np.argsort(-predicted, kind="stable")[: min(self.top_k, oracle.remaining)]
            chosen = [candidates[i] for i in order]
            new_values = oracle.query(chosen)
            archs += chosen
            values += list(new_values)
            best = max(values) if oracle.objective.maximize else min(values)
            self.stats["iterations"].append({"queries": oracle.spent, "loss": loss, "candidates": len(candidates),
                                             "decoded_validity": decoded_valid, "best_so_far": best})
            log.info("AG-Net iteration %d: %d queries, loss %.4f, %d candidates (validity %.3f), best so far %.3f",
                     len(self.stats["iterations"]), oracle.spent, loss, len(candidates), decoded_valid, best)

    def _retrain(self, generator: nn.Module, predictor: nn.Module, optimizer: torch.optim.Optimizer,
                 space: SearchSpace, archs: list[Arch], values: np.ndarray, weights: np.ndarray,
                 torch_rng: torch.Generator) -> float:
        """Weighted retraining: batches drawn in proportion to ``weights``, and each sample's
        loss multiplied by its weight (Tripp et al. 2020, as in AG-Net)."""
        types, edges = (t.to(self.device) for t in graph_targets(space, archs))
        targets = torch.as_tensor(values * self.target_scale, dtype=torch.float32, device=self.device)
        w = torch.as_tensor(weights, dtype=torch.float32)
        generator.train()
        predictor.train()
        total, count = 0.0, 0
        for _ in range(self.epochs):
            order = torch.multinomial(w, len(archs), replacement=True, generator=torch_rng)
            for batch in order.split(self.batch_size):
                z = torch.randn(len(batch), generator.latent_dim, generator=torch_rng).to(self.device)
                scores: GraphScores = generator(z)
                batch = batch.to(self.device)
                gen_loss = scores.reconstruction_loss(types[batch], edges[batch])
                pred_loss = (predictor(scores.vector()) - targets[batch]) ** 2
                per_sample = (1 - self.alpha) * gen_loss + self.alpha * pred_loss
                loss = (w.to(self.device)[batch] * per_sample).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, count = total + loss.item(), count + 1
        return total / max(count, 1)

    @torch.no_grad()
    def _candidates(self, generator: nn.Module, predictor: nn.Module, space: SearchSpace, oracle: Oracle,
                    rng: np.random.Generator, torch_rng: torch.Generator) -> tuple[list[Arch], np.ndarray, float]:
        """New valid architectures decoded from ``z ~ U[-bound, bound]^d``, each with the
        predictor's score of the generated vector it was decoded from."""
        generator.eval()
        predictor.eval()
        found: dict = {}
        decoded = valid = 0
        for _ in range(self.max_decode_batches):
            z = (torch.rand(self.decode_batch, generator.latent_dim, generator=torch_rng) * 2 - 1) * self.latent_bound
            scores = generator(z.to(self.device))
            predicted = predictor(scores.vector()).cpu().numpy()
            for arch, score in zip(scores.decode(space, self.sample, torch_rng), predicted):
                decoded += 1
                if arch is None:
                    continue
                valid += 1
                key = space.key(arch)
                if key not in found and not oracle.seen(arch):
                    found[key] = (arch, float(score))
            if len(found) >= self.num_candidates:
                break
        generator.train()
        predictor.train()
        candidates = [arch for arch, _ in found.values()]
        predicted = np.array([score for _, score in found.values()])
        if len(candidates) < self.top_k:
            log.warning("generator proposed only %d new architectures; topping up with random ones", len(candidates))
            extra = random_unseen(space, oracle, rng, self.top_k - len(candidates))
            candidates += extra
            predicted = np.concatenate([predicted, np.full(len(extra), -np.inf)])
        return candidates, predicted, valid / max(decoded, 1)
