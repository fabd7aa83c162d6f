"""Helpers shared by search loops."""
from __future__ import annotations

import numpy as np

from nasgen.errors import ConfigError, NasgenError
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, CellwiseSpace, SearchSpace


def random_unseen(space: SearchSpace, oracle: Oracle, rng: np.random.Generator, n: int,
                  max_draws: int = 1_000_000) -> list[Arch]:
    """``n`` random architectures, pairwise non-isomorphic and not queried yet: drawn by the
    space's sampler, or uniformly from the table's architectures where the benchmark is a partial
    table that skips what it lacks (:attr:`Oracle.evaluable_archs`)."""
    if oracle.evaluable_archs is not None:
        return unseen_from(oracle.evaluable_archs, space, oracle, rng, n,
                           f"the {oracle.benchmark.name} table")
    chosen: dict = {}
    draws = 0
    while len(chosen) < n:
        if draws > max_draws:
            raise NasgenError(f"could not find {n} unqueried architectures in {space.name} after {draws} draws")
        for arch in space.sample(n, rng):
            key = space.key(arch)
            if len(chosen) < n and key not in chosen and not oracle.seen(arch):
                chosen[key] = arch
        draws += n
    return list(chosen.values())


def require_one_cell(space: SearchSpace, method: str) -> None:
    """Generators build one cell graph: a space of several cells per architecture is searched
    through its cell views (:mod:`nasgen.search.cell_by_cell`), where it has them."""
    if space.graph.cells == 1:
        return
    if isinstance(space, CellwiseSpace):
        raise ConfigError(f"{method} generates one cell at a time and a {space.name} architecture has "
                          f"{space.graph.cells} cells: run it through nasgen.search.cell_by_cell.CellByCellSearch "
                          f"(`nasgen run` does so)")
    # e.g. the non-sequential inverse-problem space: its cells are no separate types to search one by one
    raise ConfigError(f"{method} generates one cell at a time and a {space.name} architecture has "
                      f"{space.graph.cells} cells, which the space cannot search one by one (it has no cell "
                      f"views): choose a search that does not generate cells (random, local, evolution, bo, gp_bo)")


def unseen_from(cells: list[Arch], space: SearchSpace, oracle: Oracle, rng: np.random.Generator, n: int,
                what: str) -> list[Arch]:
    """``n`` of ``cells`` (``what`` names them in the error) drawn uniformly without replacement,
    pairwise non-isomorphic and not seen by ``oracle``."""
    chosen: dict = {}
    for position in rng.permutation(len(cells)).tolist():
        arch = cells[position]
        key = space.key(arch)
        if key not in chosen and not oracle.seen(arch):
            chosen[key] = arch
            if len(chosen) == n:
                return list(chosen.values())
    raise NasgenError(f"only {len(chosen)} of the {len(cells)} architectures of {what} are not queried yet, "
                      f"{n} were asked for")


def unseen_unique(space: SearchSpace, oracle: Oracle, archs: list[Arch]) -> list[Arch]:
    """``archs`` without queried ones and without isomorphic repeats, order kept."""
    kept: dict = {}
    for arch in archs:
        key = space.key(arch)
        if key not in kept and not oracle.seen(arch):
            kept[key] = arch
    return list(kept.values())


def mutation_candidates(space: SearchSpace, oracle: Oracle, rng: np.random.Generator, parents: list[Arch],
                        n: int, max_tries: int = 100) -> list[Arch]:
    """Up to ``n`` new architectures made by mutating ``parents`` in turn; topped up with
    random ones when the parents' neighbourhoods run dry."""
    found: dict = {}
    for attempt in range(n * max_tries):
        if len(found) >= n:
            break
        child = space.mutate(parents[attempt % len(parents)], rng)
        key = space.key(child)
        if key not in found and not oracle.seen(child):
            found[key] = child
    if len(found) < n:
        found.update((space.key(a), a) for a in random_unseen(space, oracle, rng, n - len(found)))
    return list(found.values())
