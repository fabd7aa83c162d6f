"""What every search space promises, checked on each: string and graph round trips, the flat
encoding as the graph view's flattening, an isomorphism-invariant key, batch decoding that agrees
with one-at-a-time decoding, and sampling, moves and crossover that stay in the space.

A new space joins with one line in ``CASES`` (its own twin maker if its graph view is fixed, as
NB201's and DARTS' are; ``twins=None`` for a space in which no two architectures compute the
same function, whose keys must then tell every two architectures apart). Crossover and path
encodings are optional capabilities, checked where a space declares them (``Case.optional``
lists the ones a space must have). Spaces of several cells (``graph.cells > 1``) have a cell axis
after the batch axis in every graph array."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from nasgen.spaces.base import Arch, CellwiseSpace, CrossoverSpace, PathEncodedSpace, SearchSpace
from nasgen.spaces.darts import DartsSpace
from nasgen.spaces.inverse1d import Inverse1DSpace
from nasgen.spaces.nb101 import NB101Space
from nasgen.spaces.nb201 import NB201Space

Twins = Callable[[SearchSpace, np.random.Generator], list[tuple[Arch, Arch]]]


def permuted_twins(space: SearchSpace, rng: np.random.Generator) -> list[tuple[Arch, Arch]]:
    """Pairs of different archs whose graphs differ only by an order of the operation nodes
    that keeps every edge pointing forward (the same network, so the same key)."""
    graph, pairs = space.graph, []
    for arch in space.sample(100, rng):
        types, adjacency = space.to_graph(arch)
        is_output = types[graph.num_inputs:] == graph.output_type
        inner = np.arange(graph.num_inputs, graph.num_inputs + int(is_output.argmax()))
        for _ in range(30):  # a few orders, until one keeps the edges forward
            order = np.arange(len(types))
            order[inner] = rng.permutation(inner)
            permuted = adjacency[np.ix_(order, order)]
            twin = None if np.tril(permuted).any() else space.from_graph(types[order], permuted)
            if twin is not None and twin != arch:
                pairs.append((arch, twin))
                break
    return pairs


def nb201_dead_source_twins(space: SearchSpace, rng: np.random.Generator) -> list[tuple[Arch, Arch]]:
    """With 'none' on edge 0 -> 1, cell node 1 is all zeros, so the ops of the edges leaving it
    (1 -> 2 and 1 -> 3, arch positions 2 and 4) change nothing."""
    pairs = []
    for arch in space.sample(50, rng):
        dead = (0, *arch[1:])
        pairs.append((dead, dead[:2] + ((dead[2] + 1) % 5,) + dead[3:4] + ((dead[4] + 2) % 5,) + dead[5:]))
    return pairs


def darts_swapped_pair_twins(space: SearchSpace, rng: np.random.Generator) -> list[tuple[Arch, Arch]]:
    """A node's two (op, input) pairs swapped in each searched cell (the cells the graph shows:
    a cell view's other cell is fixed): the node sums the same two terms."""
    pairs = []
    for arch in space.sample(50, rng):
        twin = arch
        for cell_type in space.cell_types if isinstance(space, CellwiseSpace) else (space.cell_type,):
            cell, first = list(twin.cell(cell_type)), 2 * int(rng.integers(4))
            cell[first], cell[first + 1] = cell[first + 1], cell[first]
            twin = twin.replace_cell(cell_type, tuple(cell))
        pairs.append((arch, twin))
    return pairs


_DARTS_FIXED = DartsSpace().sample(1, np.random.default_rng(9))[0]


def inverse1d_dead_state_twins(space: SearchSpace, rng: np.random.Generator) -> list[tuple[Arch, Arch]]:
    """A non-sequential cell state that is no output and whose outgoing edges are all ``zero``
    reaches nothing, so the ops of its incoming edges change nothing."""
    pairs, per = [], len(space.edges)
    for arch in space.sample(50, rng):
        cell, state = int(rng.integers(space.cells)), int(rng.integers(1, space.states - 1))
        dead = list(arch)
        for k, (source, _) in enumerate(space.edges):
            if source == state:
                dead[cell * per + k] = 0
        twin = list(dead)
        for k, (_, target) in enumerate(space.edges):
            if target == state:
                twin[cell * per + k] = (dead[cell * per + k] + 1 + int(rng.integers(len(space.op_names) - 1))) % len(
                    space.op_names)
        pairs.append((tuple(dead), tuple(twin)))
    return pairs


ALL_OPTIONAL = ("crossover", "paths")


@dataclass(frozen=True)
class Case:
    space: SearchSpace
    twins: Twins | None = permuted_twins
    optional: tuple[str, ...] = ALL_OPTIONAL


CASES = [Case(NB201Space(), nb201_dead_source_twins), Case(NB101Space()),
         Case(DartsSpace(), darts_swapped_pair_twins),
         Case(DartsSpace().cell_view("reduce", _DARTS_FIXED), darts_swapped_pair_twins),
         Case(Inverse1DSpace("sequential"), None, ("crossover",)),
         Case(Inverse1DSpace("nonsequential"), inverse1d_dead_state_twins, ("crossover",))]


@pytest.fixture(params=CASES, ids=[case.space.name for case in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture
def space(case: Case) -> SearchSpace:
    return case.space


@pytest.fixture
def archs(space: SearchSpace) -> list[Arch]:
    return space.sample(300, np.random.default_rng(0))


def cell_axis(graph) -> tuple[int, ...]:
    """The axis of the cells in graph arrays: none for one cell."""
    return (graph.cells,) if graph.cells > 1 else ()


def graphs(space: SearchSpace, archs: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [space.to_graph(a) for a in archs]
    return np.stack([t for t, _ in pairs]), np.stack([a for _, a in pairs])


def assert_in_space(space: SearchSpace, arch: Arch) -> None:
    """An architecture of the space: its graph decodes back to it."""
    assert space.from_graph(*space.to_graph(arch)) == arch


def test_is_a_search_space(space):
    assert isinstance(space, SearchSpace)
    assert space.distinct_architectures > 0


def test_string_round_trip(space, archs):
    for arch in archs:
        text = space.to_str(arch)
        assert isinstance(text, str) and space.from_str(text) == arch


def test_graph_round_trip(space, archs):
    graph = space.graph
    types, adjacency = graphs(space, archs)
    assert types.shape == (len(archs), *cell_axis(graph), graph.max_nodes)
    assert adjacency.shape == (len(archs), *cell_axis(graph), graph.max_nodes, graph.max_nodes)
    assert not np.tril(adjacency).any()
    assert (types[..., :graph.num_inputs] == graph.input_types).all()
    decoded = space.from_graphs(types, adjacency)
    assert decoded == archs
    assert [space.key(a) for a in decoded] == [space.key(a) for a in archs]


def test_encode_is_the_flattened_graph(space, archs):
    encoded = space.encode(archs)
    assert encoded.shape == (len(archs), space.graph.vector_dim) and encoded.dtype == np.float32
    assert np.array_equal(encoded, space.graph.flatten(*graphs(space, archs)))


def test_key_is_invariant_under_isomorphism(case, space, archs):
    if case.twins is None:  # no isomorphic pairs: the key is the architecture's identity
        assert len({space.key(a) for a in archs}) == len(set(archs))
        return
    pairs = case.twins(space, np.random.default_rng(1))
    assert len(pairs) >= 20
    for arch, twin in pairs:
        assert arch != twin and space.key(arch) == space.key(twin), (space.to_str(arch), space.to_str(twin))
        assert_in_space(space, twin)


def test_keys_tell_apart_what_differs(space, archs):
    # Far fewer keys than archs would mean a key that lumps different networks together.
    assert len({space.key(a) for a in archs}) >= len(set(archs)) // 2


def test_batch_decoding_agrees_with_single_graphs_on_random_graphs(space):
    graph, rng = space.graph, np.random.default_rng(2)
    n = 400
    types = rng.integers(0, graph.num_types, size=(n, *cell_axis(graph), graph.max_nodes))
    types[: n // 2, ..., :graph.num_inputs] = graph.input_types  # half with well-placed inputs
    adjacency = np.triu(rng.random((n, *cell_axis(graph), graph.max_nodes, graph.max_nodes)) < 0.5,
                        k=1).astype(np.uint8)
    # Some graphs of the space itself, so that valid ones are among them whatever the space.
    own_types, own_adjacency = graphs(space, space.sample(50, rng))
    types, adjacency = np.concatenate([types, own_types]), np.concatenate([adjacency, own_adjacency])
    decoded = space.from_graphs(types, adjacency)
    assert decoded == [space.from_graph(t, a) for t, a in zip(types, adjacency)]
    for arch in decoded:
        if arch is not None:
            assert_in_space(space, arch)
    assert sum(arch is not None for arch in decoded) >= 50


def test_invalid_graphs_decode_to_none(space, archs):
    graph = space.graph
    types, adjacency = space.to_graph(archs[0])
    backward = adjacency.copy()
    backward[..., graph.max_nodes - 1, 0] = 1
    no_input = types.copy()
    no_input[..., 0] = graph.output_type
    unknown_type = types.copy()
    unknown_type[..., 1] = graph.num_types
    for bad_types, bad_adjacency in [(types, backward), (no_input, adjacency), (unknown_type, adjacency),
                                     (types, adjacency * 2), (types[..., :-1], adjacency[..., :-1, :-1])]:
        assert space.from_graph(bad_types, bad_adjacency) is None


def test_sampling_is_valid_seeded_and_varied(space):
    first = space.sample(300, np.random.default_rng(3))
    assert first == space.sample(300, np.random.default_rng(3)) and len(first) == 300
    for arch in first:
        assert_in_space(space, arch)
    assert len({space.key(a) for a in first}) >= 100


def test_mutation_and_neighbours_stay_in_the_space(space, archs):
    rng = np.random.default_rng(4)
    for arch in archs[:40]:
        child = space.mutate(arch, rng)
        assert child != arch
        assert_in_space(space, child)
        for neighbour in space.neighbours(arch):
            assert neighbour != arch
            assert_in_space(space, neighbour)


def test_crossover_children_are_valid_or_none(case, space, archs):
    assert isinstance(space, CrossoverSpace) == ("crossover" in case.optional)
    if "crossover" not in case.optional:
        return
    rng = np.random.default_rng(5)
    children = [space.crossover(a, b, rng) for a, b in zip(archs[:100], archs[100:200])]
    for child in children:
        if child is not None:
            assert_in_space(space, child)
    assert sum(child is not None for child in children) >= 50
    assert all(space.crossover(a, a, rng) == a for a in archs[:20])


def test_path_encoding_has_a_fixed_width_and_ignores_isomorphism(case, space, archs):
    assert isinstance(space, PathEncodedSpace) == ("paths" in case.optional)
    if "paths" not in case.optional:
        return
    paths = space.encode_paths(archs)
    assert paths.dtype == np.float32 and set(np.unique(paths).tolist()) <= {0.0, 1.0}
    assert space.encode_paths(archs[:3]).shape[1] == paths.shape[1]
    pairs = case.twins(space, np.random.default_rng(1))
    first, second = (space.encode_paths([pair[i] for pair in pairs]) for i in (0, 1))
    assert np.array_equal(first, second)
