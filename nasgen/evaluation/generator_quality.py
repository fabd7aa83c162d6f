"""Generator abilities (Lukasik thesis 2023, Table 5.6): validity, uniqueness and novelty of
generated cells, and how well held-out cells can be reconstructed.

The cells are split into a training part, on which the generator is pretrained (cached like any
pretrained generator), and a held-out part. A space that can be listed (:class:`IndexedSpace`,
NB201) is split as a whole, as in the thesis. A space too large to list (NB101: 423,624 classes)
is split as a *pool* of distinct cells (one per isomorphism class) drawn with the space's own
sampler: the thesis' 90 % of NB101 cannot be drawn that way, since the sampler (the NB101 API's:
7-node graphs with edges of probability 1/2, pruned) rarely yields a cell of 7 nodes and one
million draws give only about 52,000 classes. From ``samples`` latent vectors ``z ~ N(0, I)`` the
generator's scores are decoded both by argmax and by sampling:

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

from nasgen.generators.base import graph_targets
from nasgen.generators.pretrain import PretrainConfig, pretrain
from nasgen.generators.splits import training_split
from nasgen.spaces.base import Arch, GraphSpec, IndexedSpace, SearchSpace

# Thesis Table 5.6 by space name (fractions).
PAPER = {"nb101": {"validity": 0.7169, "uniqueness": 0.9792, "novelty": 0.6230},
         "nb201": {"validity": 0.9997, "uniqueness": 0.7361, "novelty": 0.1003},
         "darts_cell": {"validity": 0.4227, "uniqueness": 1.0, "novelty": 1.0}}


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
                      lr: float = 0.05, pool: int = 50_000) -> dict:
    """Pretrain on a ``train_fraction`` split, chosen by ``seed``, of the space (or, for a space
    that cannot be listed, of a ``pool`` of distinct sampled cells) and measure the generator's
    abilities (module docstring); a JSON-able dict with settings and timings."""
    started = time.perf_counter()
    listed = isinstance(space, IndexedSpace)
    train, held_out_all = training_split(space, seed, train_fraction, pool)
    held_out = held_out_all[:reconstruct]
    # Uniformly random cells are drawn from all cells the space lists, else from all its classes.
    universe = len(space) if listed else space.distinct_architectures
    pooled = time.perf_counter()

    config = replace(config, seed=seed)  # one seed for the split and the pretraining
    generator, stats = pretrain(factory, space, config, device, train_archs=train)
    pretrained = time.perf_counter()

    train_set = set(train)
    train_keys = {space.key(a) for a in train}
    generator.eval()
    torch_rng = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, generator.latent_dim, generator=torch_rng).to(device)
    decoded: dict[str, list[Arch | None]] = {"argmax": [], "sample": []}
    with torch.no_grad():
        for chunk in z.split(4096):
            scores = generator(chunk)
            decoded["argmax"] += scores.decode(space, sample=False)
            decoded["sample"] += scores.decode(space, sample=True, generator=torch_rng)
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
        "settings": {"seed": seed, "train_fraction": train_fraction, "pool": None if listed else pool,
                     "samples": samples, "reconstruct": reconstruct, "device": str(device), "pretrain": asdict(config),
                     "inversion": {"restarts": restarts, "steps": steps, "lr": lr}},
        "train_size": len(train),
        "held_out_size": len(held_out_all),
        "pretrain": stats,
        **generation,
        "uniform_reference": uniform_reference(universe, len(train), samples),
        "reconstruction": reconstruction,
        "seconds": {"pool": pooled - started, "pretrain": pretrained - pooled, "generation": generated - pretrained,
                    "reconstruction": finished - generated, "total": finished - started},
    }
