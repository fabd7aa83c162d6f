"""Search inside the latent space of the pretrained AG-Net generator (paper Table 8 ablation).

Instead of reshaping the generator with a predictor, these loops search over latent vectors
``z`` of the pretrained generator and decode them: ``random`` draws ``z`` from the prior
(``U[-latent_bound, latent_bound]`` as in the thesis, or ``N(0, I)`` with ``prior: normal``),
``local`` samples a Euclidean neighbourhood (``radius``) of the best queried ``z``, and ``bo``
fits a surrogate (DNGO with one hidden layer of 128 units, 100 epochs) on the queried ``z``
and picks new ones by expected improvement. With ``lso: true`` the generator is additionally
retrained on the rank-weighted queried architectures for ``lso_epochs`` per iteration (latent
space optimisation by weighted retraining, Tripp et al. 2020).
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from nasgen.errors import ConfigError, choose
from nasgen.generators.pretrain import PretrainConfig, pretrain
from nasgen.objective import Objective
from nasgen.predictors.base import UncertainPredictor
from nasgen.ranges import Float, Int, ranges
from nasgen.search.acquisition import acquisition_scores
from nasgen.search.ag_net import rank_weights, weighted_retrain
from nasgen.search.common import random_unseen, require_one_cell
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace
from nasgen.utils import torch_generator

log = logging.getLogger(__name__)

STRATEGIES = ("random", "local", "bo")


@ranges("search", initial_samples=Int(1), top_k=Int(1), num_candidates=Int(1), radius=Float(0.0, above=True),
        num_parents=Int(1), lso_epochs=Int(0), rank_weight_k=Float(0.0), batch_size=Int(1), lr=Float(0.0, above=True),
        latent_bound=Float(0.0, above=True), decode_batch=Int(1), max_decode_batches=Int(1))
class LatentSpaceSearch:
    def __init__(self, generator: Callable[[GraphSpec], nn.Module], pretrain: "PretrainConfig | dict | None" = None,
                 strategy: str = "random", lso: bool = False, surrogate: UncertainPredictor | None = None,
                 initial_samples: int = 16, top_k: int = 16, num_candidates: int = 100, radius: float = 0.5,
                 num_parents: int = 10, lso_epochs: int = 1, rank_weight_k: float = 0.01, batch_size: int = 16,
                 lr: float = 1e-3, betas: Sequence[float] = (0.5, 0.999), decode: str = "argmax",
                 prior: str = "uniform", latent_bound: float = 3.0, decode_batch: int = 256,
                 max_decode_batches: int = 50, device: str = "cpu") -> None:
        choose("search.strategy", strategy, STRATEGIES)
        choose("search.decode", decode, ("argmax", "sample"))
        choose("search.prior", prior, ("uniform", "normal"))
        self.prior, self.latent_bound = prior, latent_bound
        if strategy == "bo" and not isinstance(surrogate, UncertainPredictor):
            raise ConfigError("search.strategy=bo needs a search.surrogate with uncertainty (e.g. DNGO)")
        self.make_generator = generator
        self.pretrain_config = pretrain if isinstance(pretrain, PretrainConfig) else PretrainConfig(**(pretrain or {}))
        self.strategy, self.lso, self.surrogate = strategy, lso, surrogate
        self.initial_samples, self.top_k, self.num_candidates = initial_samples, top_k, num_candidates
        self.radius, self.num_parents, self.lso_epochs = radius, num_parents, lso_epochs
        self.rank_weight_k, self.batch_size, self.lr, self.betas = rank_weight_k, batch_size, lr, tuple(betas)
        self.sample = decode == "sample"
        self.decode_batch, self.max_decode_batches = decode_batch, max_decode_batches
        self.device = torch.device(device)
        self.stats: dict = {"random_top_ups": 0}

    def check(self, space: SearchSpace, objective: Objective) -> None:
        require_one_cell(space, "latent-space search")
        if objective.constrained:
            raise ConfigError("latent-space search does not handle cost constraints; use search=ag_net_hw")

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        self.check(space, oracle.objective)
        sign = 1.0 if oracle.objective.maximize else -1.0
        generator, self.stats["pretrain"] = pretrain(self.make_generator, space, self.pretrain_config, self.device)
        torch_rng = torch_generator(rng)
        optimizer = torch.optim.Adam(generator.parameters(), lr=self.lr, betas=self.betas) if self.lso else None
        dim = generator.latent_dim

        def prior(n: int) -> torch.Tensor:
            if self.prior == "normal":
                return torch.randn(n, dim, generator=torch_rng)
            return (2 * torch.rand(n, dim, generator=torch_rng) - 1) * self.latent_bound

        latents, archs = self._new(generator, space, oracle, rng, torch_rng, [prior(self.decode_batch)],
                                   min(self.initial_samples, oracle.remaining), prior)
        values = list(sign * oracle.query(archs))
        while oracle.remaining > 0:
            if self.lso:
                weighted_retrain(generator, optimizer, space, archs, rank_weights(np.array(values), self.rank_weight_k),
                                 self.lso_epochs, self.batch_size, torch_rng, self.device)
            known = [i for i, z in enumerate(latents) if z is not None]
            best = sorted(known, key=lambda i: -values[i])[: self.num_parents]
            parents = torch.stack([latents[i] for i in best])
            if self.strategy == "random":
                proposals = [prior(self.decode_batch)]
            elif self.strategy == "local":
                centre = parents[:1].expand(self.decode_batch, dim)
                proposals = [centre + self.radius * torch.randn(self.decode_batch, dim, generator=torch_rng)]
            else:
                proposals = [self._by_expected_improvement(parents, torch.stack([latents[i] for i in known]),
                                                           np.array([values[i] for i in known]), prior, rng,
                                                           torch_rng)]
            n = min(self.top_k, oracle.remaining)
            new_latents, new_archs = self._new(generator, space, oracle, rng, torch_rng, proposals, n, prior)
            latents += new_latents
            archs += new_archs
            values += list(sign * oracle.query(new_archs))

    def _by_expected_improvement(self, parents: torch.Tensor, z: torch.Tensor, y: np.ndarray,
                                 prior: Callable[[int], torch.Tensor], rng: np.random.Generator,
                                 torch_rng: torch.Generator) -> torch.Tensor:
        """Candidate ``z`` (prior draws and perturbations of the best ones) sorted by EI."""
        self.surrogate.fit(z.numpy(), y, generator=torch_rng)
        around = parents.repeat_interleave(-(-self.num_candidates // len(parents)), 0)[: self.num_candidates]
        candidates = torch.cat([prior(self.num_candidates),
                                around + self.radius * torch.randn(around.shape, generator=torch_rng)])
        mean, std = self.surrogate.predict_distribution(candidates.numpy())
        order = np.argsort(-acquisition_scores("ei", mean, std, float(y.max()), rng), kind="stable")
        return candidates[torch.as_tensor(order.copy())]

    @torch.no_grad()
    def _new(self, generator: nn.Module, space: SearchSpace, oracle: Oracle, rng: np.random.Generator,
             torch_rng: torch.Generator, proposals: list[torch.Tensor], n: int,
             prior: Callable[[int], torch.Tensor]) -> tuple[list[torch.Tensor | None], list[Arch]]:
        """Up to ``n`` new valid architectures decoded from ``proposals`` in order (then from the
        prior), with their latent vectors; random architectures (``z = None``) fill any gap."""
        generator.eval()
        found: dict = {}
        batches = iter(proposals)
        for _ in range(self.max_decode_batches):
            z = next(batches, None)
            z = prior(self.decode_batch) if z is None else z
            for vector, arch in zip(z, generator(z.to(self.device)).decode(space, self.sample, torch_rng)):
                if arch is not None and space.key(arch) not in found and not oracle.seen(arch):
                    found[space.key(arch)] = (vector, arch)
                if len(found) == n:
                    break
            if len(found) == n:
                break
        latents, archs = [z for z, _ in found.values()], [a for _, a in found.values()]
        if len(archs) < n:
            self.stats["random_top_ups"] += n - len(archs)
            extra = random_unseen(space, oracle, rng, n - len(archs))
            latents, archs = latents + [None] * len(extra), archs + extra
        return latents, archs
