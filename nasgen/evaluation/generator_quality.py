"""Generator abilities (Lukasik thesis 2023, Table 5.6): validity, uniqueness and novelty of
generated cells, and how well held-out cells can be reconstructed.

The space's cells are split into a training part, on which the generator is pretrained
(cached like any pretrained generator), and a held-out part. From ``samples`` latent vectors
``z ~ N(0, I)`` the generator's scores are decoded both by argmax and by sampling:

- validity: valid cells / decoded cells;
- uniqueness: distinct valid cells / valid cells;
- novelty: valid cells outside the training set / valid cells.

Uniqueness and novelty are given per exact cell and per isomorphism class (``space.key``).
The generator has no encoder, so reconstruction inverts it: for each held-out cell, a few
latent vectors are optimised by Adam to minimise the reconstruction loss of that cell; the
argmax decoding of the best one counts as reconstructed if it is the cell itself (or, for
the isomorphic rate, a cell of its class). ``argmax_reachable``, the share of held-out cells
among the argmax decodings of the random latent vectors, shows how many of them the
generator's argmax produces at all.

For scale, the result also holds what uniformly random cells would score
(:func:`uniform_reference`): the thesis' NB201 numbers are close to it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Callable, Collection, Hashable, Sequence

import numpy as np
import torch

from nasgen.errors import ConfigError
from nasgen.generators.base import graph_targets
from nasgen.generators.pretrain import PretrainConfig, pretrain
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace

# Thesis Table 5.6, NAS-Bench-201 row (fractions).
PAPER_NB201 = {"validity": 0.9997, "uniqueness": 0.7361, "novelty": 0.1003}


def generation_metrics(decoded: Sequence[Arch | None], train: Collection[Arch], train_keys: Collection[Hashable],
                       key: Callable[[Arch], Hashable]) -> dict:
    """Validity, uniqueness and novelty of ``decoded`` (``None`` = invalid) against a training
    set given as cells and as their isomorphism keys; uniqueness and novelty are ``None``
    when nothing decoded is valid."""
    valid = [a for a in decoded if a is not None]
    result = {"decoded": len(decoded), "valid": len(valid), "validity": len(valid) / max(len(decoded), 1)}
    if not valid:
        return result | dict.fromkeys(("uniqueness", "uniqueness_iso", "novelty", "novelty_iso"))
    keys = [key(a) for a in valid]
    return result | {
        "uniqueness": len(set(valid)) / len(valid),
        "uniqueness_iso": len(set(keys)) / len(valid),
        "novelty": sum(a not in train for a in valid) / len(valid),
        "novelty_iso": sum(k not in train_keys for k in keys) / len(valid),
    }


def uniform_reference(num_cells: int, train_size: int, samples: int) -> dict:
    """Expected uniqueness and novelty of ``samples`` cells drawn uniformly with replacement
    from all ``num_cells``, ``train_size`` of them in the training set."""
    distinct = num_cells * (1 - (1 - 1 / num_cells) ** samples)
    return {"validity": 1.0, "uniqueness": distinct / samples, "novelty": 1 - train_size / num_cells}


def invert(generator: torch.nn.Module, space: SearchSpace, targets: Sequence[Arch], restarts: int = 4,
           steps: int = 200, lr: float = 0.05, seed: int = 0, device: "str | torch.device" = "cpu",
           ) -> tuple[list[Arch | None], np.ndarray]:
    """For each target the argmax decoding of the latent vector (best of ``restarts`` Adam
    runs, all optimised in one batch) that minimises its reconstruction loss, and that loss."""
    types, edges = graph_targets(space, targets)
    types = types.repeat_interleave(restarts, 0).to(device)
    edges = edges.repeat_interleave(restarts, 0).to(device)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(len(types), generator.latent_dim, generator=rng).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        # Summed: the latent vectors are independent, each follows the gradient of its own loss.
        loss = generator(z).reconstruction_loss(types, edges).sum()
        optimizer.zero_grad()
        loss.backward(inputs=[z])  # the generator's weights stay as they are
        optimizer.step()
    with torch.no_grad():
        losses = generator(z).reconstruction_loss(types, edges).view(len(targets), restarts)
        best = losses.argmin(1)
        z_best = z.detach().view(len(targets), restarts, -1)[torch.arange(len(targets)), best]
        decoded = generator(z_best).decode(space, sample=False)
    return decoded, losses.min(1).values.cpu().numpy()


def generator_quality(factory: Callable[[GraphSpec], torch.nn.Module], space: SearchSpace, config: PretrainConfig,
                      seed: int, train_fraction: float = 0.9, samples: int = 10_000, reconstruct: int = 200,
                      device: "str | torch.device" = "cpu", restarts: int = 4, steps: int = 200,
                      lr: float = 0.05) -> dict:
    """Pretrain on a ``train_fraction`` split of the space chosen by ``seed`` and measure the
    generator's abilities (module docstring); a JSON-able dict with settings and timings."""
    if not 0 < train_fraction < 1:
        raise ConfigError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    if not hasattr(space, "enumerate"):
        raise ConfigError(f"generator quality needs a space whose cells can be enumerated; {space.name} cannot")
    started = time.perf_counter()
    cells = space.enumerate()
    order = np.random.default_rng(seed).permutation(len(cells))
    cut = int(round(train_fraction * len(cells)))
    # Space order, not permutation order, so the training set alone decides the cache key.
    train = [cells[i] for i in np.sort(order[:cut])]
    held_out = [cells[i] for i in order[cut:][:reconstruct]]

    config = replace(config, seed=seed)  # one seed for the split and the pretraining
    generator, stats = pretrain(factory, space, config, device, train_archs=train)
    pretrained = time.perf_counter()

    train_set = set(train)
    train_keys = {space.key(a) for a in train}
    generator.eval()
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, generator.latent_dim, generator=rng).to(device)
    decoded: dict[str, list[Arch | None]] = {"argmax": [], "sample": []}
    with torch.no_grad():
        for chunk in z.split(4096):
            scores = generator(chunk)
            decoded["argmax"] += scores.decode(space, sample=False)
            decoded["sample"] += scores.decode(space, sample=True, generator=rng)
    generation = {name: generation_metrics(archs, train_set, train_keys, space.key)
                  for name, archs in decoded.items()}
    generated = time.perf_counter()

    reconstruction: dict = {"targets": len(held_out)}
    if held_out:
        reachable = set(decoded["argmax"])
        rebuilt, losses = invert(generator, space, held_out, restarts, steps, lr, seed, device)
        reconstruction |= {
            "exact": float(np.mean([r == t for r, t in zip(rebuilt, held_out)])),
            "isomorphic": float(np.mean([r is not None and space.key(r) == space.key(t)
                                         for r, t in zip(rebuilt, held_out)])),
            "mean_loss": float(losses.mean()),
            "argmax_reachable": float(np.mean([t in reachable for t in held_out])),
        }
    finished = time.perf_counter()

    return {
        "space": space.name,
        "settings": {"seed": seed, "train_fraction": train_fraction, "samples": samples, "reconstruct": reconstruct,
                     "device": str(device), "pretrain": asdict(config),
                     "inversion": {"restarts": restarts, "steps": steps, "lr": lr}},
        "train_size": len(train),
        "held_out_size": len(cells) - len(train),
        "pretrain": stats,
        **generation,
        "uniform_reference": uniform_reference(len(cells), len(train), samples),
        "reconstruction": reconstruction,
        "seconds": {"pretrain": pretrained - started, "generation": generated - pretrained,
                    "reconstruction": finished - generated, "total": finished - started},
    }
