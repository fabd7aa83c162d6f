"""NB201 space against the real benchmark files: index order, isomorphism key, graph view."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from nasgen.errors import ConfigError
from nasgen.spaces.nb201 import NB201Space

NUM_ARCHS = 15_625
NUM_CLASSES = 6_466
# Op-as-node DAG written out by hand (node k = edge k of the arch string, 0 input, 7 output):
# input feeds the edges leaving cell node 0, an edge feeds the edges leaving its target,
# and edges into cell node 3 feed the output.
GRAPH_EDGES = [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7)]


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


@pytest.fixture(scope="module")
def archs(space: NB201Space) -> list:
    return space.enumerate()


@pytest.fixture(scope="module")
def test_csv(shared_benchmarks: Path) -> list[dict[str, str]]:
    with open(shared_benchmarks / "nb201/nats_tss_200ep_test_acc.csv", newline="") as f:
        return list(csv.DictReader(f))


def expected_adjacency() -> np.ndarray:
    adj = np.zeros((8, 8), dtype=np.int64)
    adj[tuple(zip(*GRAPH_EDGES))] = 1
    return adj


def test_size_and_index_string_round_trip(space, archs, test_csv):
    assert len(space) == len(archs) == len(set(archs)) == NUM_ARCHS
    strings = [space.to_str(a) for a in archs]
    assert strings == [row["ArchitectureString"] for row in test_csv]
    assert [space.index(space.from_str(s)) for s in strings] == list(range(NUM_ARCHS))
    assert all(space.from_index(i) == a for i, a in enumerate(archs))
    assert all(space.parse(i) == space.parse(s) == a
               for i, (s, a) in enumerate(zip(strings, archs)))


def test_graph_round_trip(space, archs):
    adj = expected_adjacency()
    for arch in archs:
        node_types, adjacency = space.to_graph(arch)
        assert np.array_equal(adjacency, adj)
        assert space.from_graph(node_types, adjacency) == arch
    types = np.array([space.to_graph(a)[0] for a in archs])
    assert np.array_equal(types[:, 1:-1] - 1, np.asarray(archs))


def test_key_is_unique_string(space, archs, test_csv):
    keys = [space.key(a) for a in archs]
    assert keys == [row["UniqueString"] for row in test_csv]
    assert len(set(keys)) == NUM_CLASSES == space.distinct_architectures


def test_key_partition_matches_robustness_isomorphs(space, archs, shared_benchmarks):
    ids = json.loads((shared_benchmarks / "nb201/robustness/meta.json").read_text())["ids"]
    isomorph = [int(ids[str(i)]["isomorph"]) for i in range(NUM_ARCHS)]
    strings = [ids[str(i)]["nb201-string"] for i in range(NUM_ARCHS)]
    assert strings == [space.to_str(a) for a in archs]
    keys = [space.key(a) for a in archs]
    # Same key as its representative everywhere, and as many representatives as key classes:
    # together these make the two partitions identical.
    assert all(keys[i] == keys[rep] for i, rep in enumerate(isomorph))
    assert len(set(isomorph)) == len(set(keys)) == NUM_CLASSES


@pytest.mark.parametrize("types", [
    [0, 1, 1, 1, 1, 1, 1, 0],  # wrong last
    [6, 1, 1, 1, 1, 1, 1, 6],  # wrong first
    [0, 1, 0, 1, 1, 1, 1, 6],  # input in the middle
    [0, 1, 1, 1, 6, 1, 1, 6],  # output in the middle
    [0, 1, 1, 1, 7, 1, 1, 6],  # not a node type
    [0, -1, 1, 1, 1, 1, 1, 6],
    [0, 1, 1, 1, 1, 1, 6],  # too short
])
def test_from_graph_rejects_wrong_node_types(space, types):
    assert space.from_graph(np.array(types), expected_adjacency()) is None


def test_from_graph_rejects_any_changed_adjacency_entry(space):
    node_types, adjacency = space.to_graph(space.from_index(123))
    for i, j in np.ndindex(adjacency.shape):
        changed = adjacency.copy()
        changed[i, j] = 1 - changed[i, j]
        assert space.from_graph(node_types, changed) is None, (i, j)
    # Values that a uint8 cast would turn back into 1.
    assert space.from_graph(node_types, adjacency.astype(np.int64) * 257) is None
    assert space.from_graph(node_types, adjacency * 1.5) is None


def test_encode_layout(space, archs):
    encoded = space.encode(archs)
    assert encoded.shape == (NUM_ARCHS, 84) and encoded.dtype == np.float32
    ops = np.asarray(archs)
    node_types = np.concatenate(
        [np.zeros((NUM_ARCHS, 1), int), ops + 1, np.full((NUM_ARCHS, 1), 6)], axis=1)
    onehot = (node_types[:, :, None] == np.arange(7)).reshape(NUM_ARCHS, 56)
    rows, cols = np.triu_indices(8, k=1)
    edges = np.broadcast_to(expected_adjacency()[rows, cols], (NUM_ARCHS, 28))
    assert np.array_equal(encoded, np.concatenate([onehot, edges], axis=1).astype(np.float32))


def test_neighbours_differ_in_exactly_one_op(space, archs):
    for arch in archs:
        neighbours = np.asarray(space.neighbours(arch))
        assert neighbours.shape == (24, 6)
        assert len({tuple(n) for n in neighbours}) == 24
        assert ((neighbours != np.asarray(arch)).sum(axis=1) == 1).all()


@pytest.mark.parametrize("text", [
    "|conv~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|",
    "|none~0|+|none~0|none~1|",
    "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
    "garbage",
])
def test_from_str_rejects_garbage_helpfully(space, text):
    with pytest.raises(ConfigError) as info:
        space.from_str(text)
    message = str(info.value)
    assert repr(text) in message
    assert "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" in message and "nor_conv_3x3" in message


def test_crossover_takes_each_op_from_a_parent(space):
    first, second = space.from_index(123), space.from_index(9876)
    children = [space.crossover(first, second, np.random.default_rng(seed)) for seed in range(20)]
    for child in children:
        assert all(c in (a, b) for c, a, b in zip(child, first, second))
    assert len(set(children)) > 2
    # The draws of NSGA-II's inline crossover, which this replaces: same seed, same child.
    rng = np.random.default_rng(0)
    take = rng.random(6) < 0.5
    assert space.crossover(first, second, np.random.default_rng(0)) == tuple(
        a if t else b for a, b, t in zip(first, second, take))
