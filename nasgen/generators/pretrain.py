"""Unsupervised generator pretraining, cached per search space, settings and seed.

For random ``z ~ N(0, I)`` and independently drawn random architectures of the space
(or of a given training set, e.g. to measure novelty on held-out cells), the generator
learns to reconstruct the architecture (no benchmark queries). Training
proceeds in ticks of ``tick_size`` samples; after each tick the validity of graphs
decoded from ``validity_samples`` random latent vectors is measured and the weights
with the highest validity are kept (AG-Net, thesis appendix B.3).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from nasgen.errors import ConfigError
from nasgen.generators.base import GraphScores, graph_targets
from nasgen.paths import atomic_write, cache_dir
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace

log = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    batch_size: int = 32
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    tick_size: int = 5000
    ticks: int = 60
    validity_samples: int = 10_000
    target_validity: float = 1.0  # stop early once reached
    sample: bool = True  # decode by sampling (as in search) when measuring validity
    cache: bool = True


@torch.no_grad()
def validity(generator: torch.nn.Module, space: SearchSpace, samples: int, seed: int = 0,
             device: "str | torch.device" = "cpu", sample: bool = True) -> float:
    """Share of valid architectures decoded from ``samples`` latent vectors ``z ~ N(0, I)``."""
    generator.eval()
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, generator.latent_dim, generator=rng).to(device)
    decoded = [a for chunk in z.split(4096) for a in generator(chunk).decode(space, sample, rng)]
    generator.train()
    return sum(a is not None for a in decoded) / samples


def _cache_path(space: SearchSpace, generator: torch.nn.Module, config: PretrainConfig, seed: int,
                train_archs: Sequence[Arch] | None = None) -> Path:
    fields = {"space": space.name, "graph": asdict(space.graph), "model": repr(generator),
              "pretrain": asdict(config) | {"cache": None}, "seed": seed}
    if train_archs is not None:  # only then, so full-space generators keep their cache keys
        listing = "\n".join(space.to_str(a) for a in train_archs)
        fields["train_archs"] = hashlib.sha256(listing.encode()).hexdigest()
    signature = json.dumps(fields, sort_keys=True)
    digest = hashlib.sha256(signature.encode()).hexdigest()[:16]
    return cache_dir() / "generators" / f"{type(generator).__name__}-{space.name}-seed{seed}-{digest}.pt"


def pretrain(factory: Callable[[GraphSpec], torch.nn.Module], space: SearchSpace, config: PretrainConfig,
             seed: int, device: "str | torch.device" = "cpu",
             train_archs: Sequence[Arch] | None = None) -> tuple[torch.nn.Module, dict]:
    """A pretrained generator from the cache, or trained now and cached.

    ``train_archs``: draw the training architectures uniformly from this list instead of
    the whole space. Concurrent runs asking for the same generator wait on a file lock, so
    one trains and the others load its result.
    """
    if train_archs is not None and len(train_archs) == 0:
        raise ConfigError("pretrain: train_archs is empty; pass None to train on the whole space")
    torch.manual_seed(seed)
    generator = factory(space.graph).to(device)
    path = _cache_path(space, generator, config, seed, train_archs)
    if not config.cache:
        return generator, _train(generator, space, config, seed, device, train_archs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            state = torch.load(path, map_location=device, weights_only=False)
            generator.load_state_dict(state["weights"])
            log.info("loaded pretrained generator %s", path)
            return generator, {**state["stats"], "cached": True, "path": str(path)}
        stats = _train(generator, space, config, seed, device, train_archs)
        with atomic_write(path) as f:
            torch.save({"weights": generator.state_dict(), "stats": stats}, f)
    return generator, {**stats, "cached": False, "path": str(path)}


def _train(generator: torch.nn.Module, space: SearchSpace, config: PretrainConfig, seed: int,
           device: "str | torch.device", train_archs: Sequence[Arch] | None = None) -> dict:
    if train_archs is None:
        draw = space.sample
    else:
        def draw(n: int, rng: np.random.Generator) -> list[Arch]:
            return [train_archs[i] for i in rng.integers(len(train_archs), size=n)]
    rng = np.random.default_rng(seed)
    torch_rng = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=tuple(config.betas))
    steps_per_tick = max(1, config.tick_size // config.batch_size)
    best_validity, best_state, curve = -1.0, None, []
    start = time.perf_counter()
    progress = tqdm(range(config.ticks), desc="pretraining generator", unit="tick", disable=None)  # no bar off-TTY
    for tick in progress:
        for _ in range(steps_per_tick):
            types, edges = graph_targets(space, draw(config.batch_size, rng))
            z = torch.randn(config.batch_size, generator.latent_dim, generator=torch_rng).to(device)
            scores: GraphScores = generator(z)
            loss = scores.reconstruction_loss(types.to(device), edges.to(device)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        valid = validity(generator, space, config.validity_samples, seed=tick, device=device, sample=config.sample)
        curve.append(valid)
        progress.set_postfix(loss=f"{loss.item():.3f}", validity=f"{valid:.4f}")
        if valid > best_validity:
            best_validity = valid
            best_state = {k: v.detach().clone() for k, v in generator.state_dict().items()}
        if valid >= config.target_validity:
            break
    generator.load_state_dict(best_state)
    return {"validity": best_validity, "ticks": len(curve), "validity_curve": curve,
            "seconds": time.perf_counter() - start}
