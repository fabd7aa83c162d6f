"""Which cells a generator trains on: a seeded split of a space into training and held-out cells
(generator abilities, SVGe's training), and distinct cells drawn from a space too large to list."""
from __future__ import annotations

from typing import Hashable

import numpy as np

from nasgen.errors import ConfigError
from nasgen.spaces.base import Arch, IndexedSpace, SearchSpace


def distinct_sample(space: SearchSpace, n: int, rng: np.random.Generator, batch: int = 10_000) -> list[Arch]:
    """``n`` cells of distinct isomorphism classes, in the order the space's sampler first drew
    their class. Raises :class:`ConfigError` when a whole batch of draws brings no new class
    (the sampler has then all but run out of them)."""
    pool: dict[Hashable, Arch] = {}
    while len(pool) < n:
        before = len(pool)
        for arch in space.sample(batch, rng):
            pool.setdefault(space.key(arch), arch)
        if len(pool) == before:
            raise ConfigError(f"{space.name}'s sampler gave no new cell in {batch} draws after {before} distinct "
                              f"ones; ask for fewer than {n}")
    return list(pool.values())[:n]


def training_split(space: SearchSpace, seed: int, train_fraction: float = 0.9,
                   pool: int = 50_000) -> tuple[list[Arch], list[Arch]]:
    """A generator's training cells and the held-out rest, chosen by ``seed``: of all
    architectures of a space that can be listed (:class:`IndexedSpace`, NB201, as in the
    thesis), else of a ``pool`` of distinct cells drawn with the space's sampler (NB101). The
    training cells come in space order, not drawn order, so the training set alone decides a
    cache key; the held-out ones in drawn order (a prefix of them is a random subset)."""
    if not 0 < train_fraction < 1:
        raise ConfigError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    rng = np.random.default_rng(seed)
    cells = space.enumerate() if isinstance(space, IndexedSpace) else distinct_sample(space, pool, rng)
    order = rng.permutation(len(cells))
    cut = int(round(train_fraction * len(cells)))
    return [cells[i] for i in np.sort(order[:cut])], [cells[i] for i in order[cut:]]
