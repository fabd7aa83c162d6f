"""NB101 space against the real benchmark cells (official hash, NASLib keys, the API example's
sampler) and pruning, padding and neighbourhoods worked out by hand."""
from __future__ import annotations

import ast
import collections
import itertools
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from nasgen.errors import ConfigError
from nasgen.spaces import nb101 as nb101_space
from nasgen.spaces.nb101 import (
    INPUT,
    NASLIB_LABELS,
    NUM_PATHS,
    OPS,
    OUTPUT,
    OUTPUT_TYPE,
    NB101Cell,
    NB101Space,
    cell_from_naslib,
    cell_from_spec,
    cell_hash,
    cell_matrices,
)

CONV3, CONV1, POOL = OPS
# The Inception-like cell of the NB101 README (7 nodes, 9 edges).
INCEPTION = ([[0, 1, 1, 1, 0, 1, 0],
              [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 1, 0, 0],
              [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0, 0, 0]], [INPUT, CONV1, CONV3, CONV3, CONV3, POOL, OUTPUT])


@pytest.fixture(scope="module")
def space() -> NB101Space:
    return NB101Space()


@pytest.fixture(scope="module")
def records(shared_benchmarks: Path) -> dict:
    with open(shared_benchmarks / "nb101/nasbench_only108_sample30.pkl", "rb") as f:
        return {key: value[0] for key, value in pickle.load(f).items()}


@pytest.fixture(scope="module")
def naslib(shared_benchmarks: Path) -> dict:
    return json.loads((shared_benchmarks / "nb101/naslib_zc_nb101_subset.json").read_text())["nasbench101"]["cifar10"]


def cell(matrix, ops) -> NB101Cell:
    made = cell_from_spec(np.array(matrix), ops)
    assert made is not None
    return made


def isomorphic(first: NB101Cell, second: NB101Cell) -> bool:
    """Brute force: some order of the operation nodes makes the two cells equal."""
    n = len(first.types)
    if n != len(second.types):
        return False
    for inner in itertools.permutations(range(1, n - 1)):
        order = [0, *inner, n - 1]
        if ([first.types[i] for i in order] == list(second.types)
                and np.array_equal(first.matrix[np.ix_(order, order)], second.matrix)):
            return True
    return False


def reference_prune(matrix: np.ndarray, ops: list[str]) -> tuple[np.ndarray, list[str]] | None:
    """The official ModelSpec pruning written out plainly: keep the nodes reached from the input
    that also reach the output."""
    n = len(ops)

    def reached(start: int, step) -> set[int]:
        seen, stack = {start}, [start]
        while stack:
            for nxt in step(stack.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    keep = sorted(reached(0, lambda v: [w for w in range(n) if matrix[v, w]])
                  & reached(n - 1, lambda v: [w for w in range(n) if matrix[w, v]]))
    if 0 not in keep:
        return None
    return matrix[np.ix_(keep, keep)], [ops[i] for i in keep]


def test_records_get_their_official_hash(space, records):
    for key, record in records.items():
        made = cell(record["module_adjacency"], record["module_operations"])
        assert space.key(made) == key
        assert np.array_equal(made.matrix, record["module_adjacency"])  # stored cells are pruned
        assert made.ops == record["module_operations"]


def test_naslib_keys_parse_to_the_same_cells_as_the_records(space, records, naslib):
    cells = [cell_from_naslib(key) for key in naslib]
    assert cells == [space.parse(key) for key in naslib]
    by_hash = collections.defaultdict(list)
    for made, metrics in zip(cells, naslib.values()):
        by_hash[space.key(made)].append((made, metrics))
    # NASLib drew unpruned specs, so its 500 keys hold 292 cells: e.g. 55 keys prune to input -> output.
    assert len(by_hash) == 292
    assert max(len(group) for group in by_hash.values()) == 55
    for group in by_hash.values():
        assert all(isomorphic(group[0][0], made) for made, _ in group[1:])
    # The operation codes: with NASLib's, one cell of the 30 records is among them, with the
    # record's parameter count; with any other order of the three operations, none is.
    shared = [h for h in by_hash if h in records]
    assert len(shared) == 1
    assert round(by_hash[shared[0]][0][1]["params"] * 1e6) == records[shared[0]]["trainable_parameters"]
    for labels in itertools.permutations(OPS):
        relabelled = [cell(np.reshape(values[:49], (7, 7)), [(INPUT, OUTPUT, *labels)[code] for code in values[49:]])
                      for values in map(ast.literal_eval, naslib)]
        assert any(space.key(c) in records for c in relabelled) == (labels == NASLIB_LABELS[2:])


def test_sampler_draws_every_labelled_cell_equally_often(space):
    # 6,472 matrices of valid pruned cells (1, 2, 10, 121, 1,545, 4,793 of 2-7 nodes); a k-node
    # matrix takes 3**(k - 2) operation labellings, so sizes come with those weights.
    sizes, edges = cell_matrices()
    stored_sizes, stored_edges = nb101_space._matrices()
    assert (sizes == stored_sizes).all() and (edges == stored_edges).all()  # the shipped file is current
    assert np.bincount(sizes).tolist() == [0, 0, 1, 2, 10, 121, 1545, 4793]
    weights = np.bincount(sizes, minlength=8) * 3.0 ** (np.arange(8) - 2)
    draws = space.sample(20_000, np.random.default_rng(0))
    counts = collections.Counter(len(cell.types) for cell in draws)
    for size in range(5, 8):
        assert abs(counts[size] / len(draws) - weights[size] / weights.sum()) < 0.01, size
    assert all(space.from_graph(*space.to_graph(cell)) == cell for cell in draws[:500])  # valid, pruned
    # unlike the API example's unpruned draws (NASLib's 500: 55 bare input -> output cells)
    assert counts[2] + counts[3] < 20 and counts[7] / len(draws) > 0.85


def test_pruning_matches_the_reference_on_random_specs():
    rng = np.random.default_rng(0)
    valid = 0
    for _ in range(1500):
        matrix = np.triu(rng.integers(0, 2, size=(7, 7)), k=1)
        ops = [INPUT, *rng.choice(OPS, size=5).tolist(), OUTPUT]
        expected = reference_prune(matrix, ops)
        made = cell_from_spec(matrix, ops)
        if expected is None or expected[0].sum() > 9:
            assert made is None
        else:
            valid += 1
            assert np.array_equal(made.matrix, expected[0]) and made.ops == expected[1]
    assert valid > 300


def test_pruning_by_hand():
    # Node 1 is not reached from the input, node 2 reaches nothing; node 3 stays.
    pruned = cell([[0, 0, 1, 1, 0],
                   [0, 0, 1, 0, 1],
                   [0, 0, 0, 0, 0],
                   [0, 0, 0, 0, 1],
                   [0, 0, 0, 0, 0]], [INPUT, CONV1, CONV3, POOL, OUTPUT])
    assert pruned == cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, POOL, OUTPUT])
    assert cell_from_spec(np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]]), [INPUT, CONV3, OUTPUT]) is None
    assert cell_from_spec(np.array([[0, 1], [0, 0]]), [INPUT, OUTPUT]) == NB101Cell((0, OUTPUT_TYPE), (1,))
    assert cell_from_spec(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]), [INPUT, "conv5x5", OUTPUT]) is None
    assert cell_from_spec(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]), [INPUT, CONV3, OUTPUT]) is None


def test_nine_edges_at_most_after_pruning():
    matrix, ops = np.array(INCEPTION[0]), INCEPTION[1]
    assert cell(matrix, ops).matrix.sum() == 9
    tenth = matrix.copy()
    tenth[1, 4] = 1
    assert cell_from_spec(tenth, ops) is None
    # A tenth edge into a node that reaches nothing is pruned away with it.
    dangling = np.zeros((8, 8), dtype=int)
    dangling[:7, :7] = matrix
    dangling[:7, 7] = dangling[:, 6][:7]
    dangling[:7, 6] = 0
    dangling[1, 6] = 1
    assert cell_from_spec(dangling, [*ops[:-1], CONV3, OUTPUT]) is not None  # 8 nodes, one pruned


def test_inception_cell_and_a_reordering_share_the_hash(space):
    matrix, ops = np.array(INCEPTION[0]), INCEPTION[1]
    order = [0, 2, 1, 5, 3, 4, 6]  # operations reordered, edges still forward
    reordered = cell(matrix[np.ix_(order, order)], [ops[i] for i in order])
    assert reordered != cell(matrix, ops) and space.key(reordered) == space.key(cell(matrix, ops))
    assert space.key(reordered) == cell_hash(matrix, ops)


def padded(types: list[int], edges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    adjacency = np.zeros((7, 7), dtype=np.uint8)
    for i, j in edges:
        adjacency[i, j] = 1
    return np.array(types), adjacency


CHAIN = NB101Cell((0, 1, OUTPUT_TYPE), (1, 0, 1))


@pytest.mark.parametrize("types, edges, expected", [
    ([0, 1, 4, 4, 4, 4, 4], [(0, 1), (1, 2)], CHAIN),  # padded
    ([0, 1, 2, 3, 2, 3, 4], [(0, 1), (1, 6)], CHAIN),  # unpadded, output at 6, dead nodes pruned
    ([0, 1, 3, 4, 4, 4, 4], [(0, 1), (1, 3)], CHAIN),  # an operation that reaches nothing
    ([0, 4, 4, 4, 4, 4, 4], [(0, 1)], NB101Cell((0, OUTPUT_TYPE), (1,))),
    # the first output ends the cell: what follows is padding, whatever its types and edges
    ([0, 1, 4, 1, 4, 4, 4], [(0, 1), (1, 2)], CHAIN),  # an operation after the output
    ([0, 1, 4, 4, 4, 4, 4], [(0, 1), (1, 2), (2, 3)], CHAIN),  # an edge out of the output to padding
    ([0, 1, 4, 4, 4, 4, 4], [(0, 1), (1, 2), (0, 4)], CHAIN),  # an edge into padding
    ([0, 1, 4, 3, 4, 4, 4], [(0, 1), (0, 3), (3, 4)], None),  # the only path to an output runs past the first
    ([0, 1, 4, 4, 4, 4, 4], [(0, 1), (1, 2), (1, 0)], None),  # an edge below the diagonal in the cell
    ([0, 1, 0, 4, 4, 4, 4], [(0, 1), (1, 3)], None),  # an input in the middle
    ([0, 1, 1, 1, 1, 1, 1], [(0, 1), (1, 6)], None),  # no output
    ([4, 1, 4, 4, 4, 4, 4], [(0, 1), (1, 2)], None),  # no input
    ([0, 1, 4, 4, 4, 4, 4], [(0, 2)], NB101Cell((0, OUTPUT_TYPE), (1,))),  # node 1 is dead
])
def test_padded_graph_decoding(space, types, edges, expected):
    assert space.from_graph(*padded(types, edges)) == expected


def test_padded_graph_of_a_cell(space):
    types, adjacency = space.to_graph(CHAIN)
    assert types.tolist() == [0, 1, 4, 4, 4, 4, 4]
    assert adjacency.sum() == 2 and adjacency[0, 1] == adjacency[1, 2] == 1
    assert space.encode([CHAIN]).shape == (1, 56) == (1, space.graph.vector_dim)


def test_neighbours_by_hand(space):
    neighbours = space.neighbours(CHAIN)
    # The two other operations, and the chain with an input -> output edge; every other single
    # flip leaves a filler node dangling (pruned) or cuts the path.
    assert sorted(space.to_str(c) for c in neighbours) == sorted([
        "input,conv1x1-bn-relu,output|010,001,000",
        "input,maxpool3x3,output|010,001,000",
        "input,conv3x3-bn-relu,output|011,001,000"])
    # Input -> output alone: any new node needs two new edges.
    assert space.neighbours(NB101Cell((0, OUTPUT_TYPE), (1,))) == []


def test_neighbourhood_sizes(space):
    cells = space.sample(200, np.random.default_rng(1))
    for made in cells:
        neighbours = space.neighbours(made)
        keys = [space.key(c) for c in neighbours]
        assert len(set(keys)) == len(keys) and space.key(made) not in keys
        assert len(keys) <= 21 + 2 * 5
    sizes = [len(space.neighbours(c)) for c in cells if len(c.types) == 6]
    assert min(sizes) > 0


def test_mutation_is_seeded_and_leaves_the_class(space):
    cells = space.sample(50, np.random.default_rng(2))
    children = [space.mutate(c, np.random.default_rng(3)) for c in cells]
    assert children == [space.mutate(c, np.random.default_rng(3)) for c in cells]
    assert all(space.key(child) != space.key(parent) for child, parent in zip(children, cells))
    # The cell without neighbours still mutates (two flips at once give it a node).
    alone = NB101Cell((0, OUTPUT_TYPE), (1,))
    assert space.key(space.mutate(alone, np.random.default_rng(0))) != space.key(alone)


def test_path_encoding_against_enumerated_paths(space, records):
    cells = space.sample(300, np.random.default_rng(4)) + [
        cell(r["module_adjacency"], r["module_operations"]) for r in records.values()]
    encoded = space.encode_paths(cells)
    assert encoded.shape == (len(cells), NUM_PATHS) == (len(cells), 364)
    for row, made in zip(encoded, cells):
        matrix, last, bits = made.matrix, len(made.types) - 1, set()
        stack = [(0, [])]
        while stack:
            node, ops = stack.pop()
            if node == last:
                bits.add(sum(3**i * (op + 1) for i, op in enumerate(ops)))
                continue
            for nxt in np.flatnonzero(matrix[node]).tolist():
                stack.append((nxt, ops + ([] if nxt == last else [made.types[nxt] - 1])))
        assert set(np.flatnonzero(row).tolist()) == bits


def test_strings(space, records):
    made = cell(*INCEPTION)
    assert space.to_str(made) == ("input,conv1x1-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,"
                                  "maxpool3x3,output|0111010,0000001,0000001,0000100,0000001,0000001,0000000")
    unpruned = "input,conv3x3-bn-relu,maxpool3x3,output|0110,0000,0001,0000"  # node 1 reaches nothing
    assert space.from_str(unpruned) == space.parse(unpruned) == cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]],
                                                                     [INPUT, POOL, OUTPUT])
    example = "input,conv3x3-bn-relu,maxpool3x3,output|0110,0001,0001,0000"  # the error message's
    assert space.to_str(space.from_str(example)) == example
    for text in ["", "input,output", "input,output|01,0", "input,output|00,00", "input,conv5x5,output|011,001,000",
                 "input,output|02,00", "input,output|01,10", "output,input|01,00"]:
        with pytest.raises(ConfigError, match="e.g. 'input,conv3x3-bn-relu"):
            space.from_str(text)


def test_naslib_key_errors():
    good = "(" + ", ".join(["0"] * 6 + ["1"] + ["0"] * 42 + ["0", "2", "2", "2", "2", "2", "1"]) + ")"
    assert cell_from_naslib(good) == NB101Cell((0, OUTPUT_TYPE), (1,))
    for bad in ["(0, 1)", "not a tuple", good.replace("(0, ", "(0, 5, ", 1)]:
        with pytest.raises(ConfigError, match="not a NASLib NB101 key"):
            cell_from_naslib(bad)
    with pytest.raises(ConfigError, match="is not a valid NB101 cell"):
        cell_from_naslib(good.replace("1,", "0,", 1))
