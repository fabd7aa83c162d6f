"""The DARTS space: the papers' genotypes and NASLib's NB301 cells read, NB301's sampling
distribution, moves counted by hand, the 11-node graph view (strict decoding), path encoding
checked by hand, and the one-cell views AG-Net searches. The contract every space keeps is in
tests/test_space_contract.py."""
from __future__ import annotations

import ast
import json
import math
from collections import Counter

import numpy as np
import pytest

from nasgen.errors import ConfigError
from nasgen.spaces import DartsSpace
from nasgen.spaces.darts_genotype import OPS, DartsGenotype, to_naslib

# DARTS (second order) on CIFAR-10, as genotypes.py of the DARTS code prints it.
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
PER_CELL = 180 * 7**8  # C(2,2) C(3,2) C(4,2) C(5,2) wirings, 7 ops on 8 pairs


@pytest.fixture(scope="module")
def space() -> DartsSpace:
    return DartsSpace()


@pytest.fixture(scope="module")
def v2(space) -> DartsGenotype:
    return space.from_str(DARTS_V2)


def swapped(cell, node: int):
    """``cell`` with intermediate node ``node``'s two pairs in the other order."""
    pairs, first = list(cell), 2 * (node - 2)
    pairs[first], pairs[first + 1] = pairs[first + 1], pairs[first]
    return tuple(pairs)


def test_darts_v2_string_round_trip_and_key_ignores_a_nodes_pair_order(space, v2):
    assert space.to_str(v2) == DARTS_V2 and space.parse(DARTS_V2) == space.parse(v2) == v2
    twin = v2.replace_cell("reduce", swapped(v2.reduce, 4)).replace_cell("normal", swapped(v2.normal, 2))
    assert twin != v2 and space.to_str(twin) != DARTS_V2
    assert space.key(twin) == space.key(v2)
    other = v2.replace_cell("normal", v2.normal[:7] + (("dil_conv_3x3", 3),))
    assert space.key(other) != space.key(v2)


def test_naslib_nb301_cells_parse_and_round_trip_through_graphs(space, shared_benchmarks):
    with open(shared_benchmarks / "nb301" / "naslib_zc_nb301_subset.json") as f:
        keys = list(json.load(f)["nasbench301"]["cifar10"])
    genotypes = [space.parse(key) for key in keys]
    assert len(genotypes) == 500 and len({space.key(g) for g in genotypes}) == 500
    assert [to_naslib(g) for g in genotypes] == [tuple(map(tuple, ast.literal_eval(key))) for key in keys]
    assert space.parse(ast.literal_eval(keys[0])) == genotypes[0]
    graphs = [space.to_graph(g) for g in genotypes]
    types, adjacency = np.stack([t for t, _ in graphs]), np.stack([a for _, a in graphs])
    assert types.shape == (500, 2, 11) and adjacency.shape == (500, 2, 11, 11)
    assert space.from_graphs(types, adjacency) == genotypes
    encoded = space.encode(genotypes)
    assert encoded.shape == (500, 352)
    # Edges per cell: into each op node one (from an input) or two (an intermediate node's op nodes), 8 into the output.
    edges = encoded.reshape(500, 2, 176)[:, :, 121:].sum(2)
    sources = np.array([[sum(1 if node < 2 else 2 for _, node in g.cell(t)) for t in ("normal", "reduce")]
                        for g in genotypes])
    assert np.array_equal(edges, sources + 8)


def chi_square(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((count - expected) ** 2 / expected for count in counts)


def test_sampling_draws_each_nodes_input_pair_and_each_op_uniformly(space):
    n = 4000
    samples = space.sample(n, np.random.default_rng(0))
    for cell_type in ("normal", "reduce"):
        cells = [g.cell(cell_type) for g in samples]
        for node in range(2, 6):
            pairs = Counter(frozenset((cell[2 * node - 4][1], cell[2 * node - 3][1])) for cell in cells)
            assert all(len(pair) == 2 and max(pair) < node for pair in pairs)
            count = math.comb(node, 2)  # unordered pairs of distinct earlier nodes
            assert len(pairs) == count
            # Far above chance: with the fixed seed, chi-square's 99.9 % quantile for <= 9 degrees of freedom is < 28.
            assert chi_square(list(pairs.values())) < 28, (cell_type, node, pairs)
        ops = Counter(op for cell in cells for op, _ in cell)
        assert set(ops) == set(OPS) and chi_square(list(ops.values())) < 23
    assert len({space.key(g) for g in samples}) == n


def changed_pairs(first: DartsGenotype, second: DartsGenotype) -> list[tuple[str, int, tuple, tuple]]:
    return [(t, p, a, b) for t in ("normal", "reduce") for p, (a, b) in enumerate(zip(first.cell(t), second.cell(t)))
            if a != b]


def test_neighbours_counted_by_hand(space, v2):
    # Normal cell of DARTS-V2: node 2 takes 0, 1 (no other input possible); node 3 takes 0, 1 (each
    # pair can move to 2: 2 moves); node 4 takes 1, 0 (each to 2 or 3: 4); node 5 takes 0, 2 (each
    # to the other three of 0..4: 6). With the op changes, 8 * 6 + 12 = 60 per cell.
    neighbours = space.neighbours(v2)
    assert len(neighbours) == 120 == len({space.key(g) for g in neighbours})
    assert space.key(v2) not in {space.key(g) for g in neighbours}
    moves = Counter((t, "op" if a[1] == b[1] else "input") for n in neighbours for t, _, a, b in changed_pairs(v2, n))
    assert moves == {("normal", "op"): 48, ("normal", "input"): 12, ("reduce", "op"): 48, ("reduce", "input"): 12}
    assert all(len(changed_pairs(v2, n)) == 1 for n in neighbours)
    assert len(DartsSpace("with_none").neighbours(v2)) == 2 * (8 * 7 + 12)


def test_mutation_changes_one_pair_and_always_the_key(space):
    rng = np.random.default_rng(1)
    kinds = Counter()
    for parent in space.sample(300, rng):
        child = space.mutate(parent, rng)
        assert space.key(child) != space.key(parent)
        [(cell_type, _, before, after)] = changed_pairs(parent, child)
        kinds[cell_type, "op" if before[1] == after[1] else "input"] += 1
    assert len(kinds) == 4 and min(kinds.values()) > 30, kinds


def test_crossover_takes_each_node_from_one_parent(space):
    rng = np.random.default_rng(2)
    parents = space.sample(200, rng)
    from_first = 0
    for first, second in zip(parents[::2], parents[1::2]):
        child = space.crossover(first, second, rng)
        for cell_type in ("normal", "reduce"):
            for node in range(4):
                part = slice(2 * node, 2 * node + 2)
                mine = child.cell(cell_type)[part]
                assert mine in (first.cell(cell_type)[part], second.cell(cell_type)[part])
                from_first += mine == first.cell(cell_type)[part]
    assert 300 < from_first < 500  # of 800 nodes, about half from each parent


def test_encodings_have_the_thesis_widths_and_a_cell_view_encodes_its_cell(space, v2):
    archs = space.sample(20, np.random.default_rng(3))
    full, paths = space.encode(archs), space.encode_paths(archs)
    assert full.shape == (20, 352) and paths.shape == (20, 11200)
    for position, cell_type in enumerate(("normal", "reduce")):
        view = space.cell_view(cell_type, v2)
        fixed = [a.replace_cell("reduce" if cell_type == "normal" else "normal", v2.cell(
            "reduce" if cell_type == "normal" else "normal")) for a in archs]
        assert view.graph.vector_dim == 176 and view.graph.cells == 1
        assert np.array_equal(view.encode(fixed), full[:, 176 * position:176 * (position + 1)])
        assert np.array_equal(view.encode_paths(fixed), paths[:, 5600 * position:5600 * (position + 1)])


def test_path_encoding_of_a_hand_checked_cell():
    # Op indices: max_pool 0, avg_pool 1, skip 2, sep_conv_3x3 3, sep_conv_5x5 4, dil_conv_3x3 5, dil_conv_5x5 6.
    cell = (("sep_conv_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 2), ("avg_pool_3x3", 0),
            ("dil_conv_3x3", 3), ("sep_conv_5x5", 1), ("dil_conv_5x5", 4), ("skip_connect", 0))
    # Bit of a path from input i with ops o_1..o_L: 2800 i + (0, 7, 56, 399)[L - 1] + (o_1 .. o_L in base 7).
    expected = {
        3, 2802,                      # node 2: 0-sep3, 1-skip
        28, 2821, 1,                  # node 3: 0-sep3-max (7 + 21), 1-skip-max (2800 + 7 + 14), 0-avg
        208, 2959, 19, 2804,          # node 4: 56 + 147 + 5, 2800 + 56 + 98 + 5, 7 + 7 + 5, 2800 + 4
        1469, 3926, 146, 2841, 2,     # node 5: 399 + 1029 + 35 + 6, 2800 + 399 + 686 + 41, 56 + 49 + 41,
    }                                 #         2800 + 7 + 34, 0-skip
    genotype = DartsGenotype(normal=cell, reduce=cell)
    paths = DartsSpace().encode_paths([genotype])[0]
    assert set(np.flatnonzero(paths[:5600]).tolist()) == expected
    assert set(np.flatnonzero(paths[5600:]).tolist()) == expected
    # With `none` instead of avg_pool, the paths through it carry nothing.
    dead = cell[:3] + (("none", 0),) + cell[4:]
    paths = DartsSpace("with_none").encode_paths([DartsGenotype(normal=dead, reduce=cell)])[0]
    assert set(np.flatnonzero(paths[:5600]).tolist()) == expected - {1, 19, 146}


# One flaw in DARTS-V2's graphs: (array, index, value). In the normal cell (cell 0), graph node 2
# (pair 0) takes input 0, node 3 (pair 1) input 1, and node 9 (pair 7) intermediate node 2, that
# is op nodes 2 and 3.
CORRUPTIONS = {
    "none op in the 7-op space": ("types", (0, 4), 2),
    "inputs swapped": ("types", (1, slice(0, 2)), (1, 0)),
    "no output": ("types", (0, 10), 3),
    "output type on an op node": ("types", (1, 5), 10),
    "edge between the inputs": ("adjacency", (0, 0, 1), 1),
    "missing output edge": ("adjacency", (1, 4, 10), 0),
    "input straight to the output": ("adjacency", (0, 1, 10), 1),
    "op node without a source": ("adjacency", (0, slice(None), 2), 0),
    "op node with two sources": ("adjacency", (0, 1, 2), 1),
    "half an intermediate node as source": ("adjacency", (0, 3, 9), 0),
    "both op nodes of a node from one source": ("adjacency", (0, slice(None), 3), np.eye(11)[0]),
    "edge from a sibling op node": ("adjacency", (0, 2, 3), 1),
    "backward edge": ("adjacency", (1, 5, 2), 1),
    "edge weight 2": ("adjacency", (0, 0, 2), 2),
}


@pytest.mark.parametrize("what", CORRUPTIONS)
def test_from_graph_rejects_a_corrupted_graph(space, v2, what):
    graph = dict(zip(("types", "adjacency"), space.to_graph(v2)))
    assert space.from_graph(graph["types"], graph["adjacency"]) == v2
    array, index, value = CORRUPTIONS[what]
    graph[array][index] = value
    assert space.from_graph(graph["types"], graph["adjacency"]) is None


def test_from_graph_rejects_one_cell_in_the_two_cell_space(space, v2):
    types, adjacency = space.to_graph(v2)
    assert space.from_graph(types[0], adjacency[0]) is None


def test_batch_decoding_agrees_with_single_graphs_near_valid_ones(space):
    """Valid graphs with one type changed or one edge flipped (single flips never give a cell;
    some type changes do)."""
    rng = np.random.default_rng(4)
    archs = space.sample(200, rng)
    types, adjacency = (np.stack(parts) for parts in zip(*(space.to_graph(a) for a in archs)))
    rows = np.arange(100)
    types[rows, rng.integers(2, size=100), rng.integers(11, size=100)] = rng.integers(11, size=100)
    sources, targets = np.triu_indices(11, k=1)
    edge = rng.integers(len(sources), size=100)
    adjacency[100 + rows, rng.integers(2, size=100), sources[edge], targets[edge]] ^= 1
    decoded = space.from_graphs(types, adjacency)
    assert decoded == [space.from_graph(t, a) for t, a in zip(types, adjacency)]
    assert all(arch is None for arch in decoded[100:])
    assert 10 < sum(arch is not None for arch in decoded[:100]) < 90


def test_distinct_architectures(space, v2):
    assert space.distinct_architectures == PER_CELL**2 == 1_076_746_950_455_072_400
    assert space.cell_view("normal", v2).distinct_architectures == PER_CELL
    assert DartsSpace("with_none").distinct_architectures == (180 * 8**8) ** 2


def test_the_with_none_space_allows_none_ops(space, v2):
    with_none = DartsSpace("with_none")
    text = DARTS_V2.replace("('skip_connect', 0)", "('none', 0)", 1)
    genotype = with_none.from_str(text)
    assert genotype.normal[5] == ("none", 0) and with_none.from_graph(*with_none.to_graph(genotype)) == genotype
    with pytest.raises(ConfigError, match="unknown op 'none'"):
        space.from_str(text)
    assert space.from_graph(*with_none.to_graph(genotype)) is None
    assert any(op == "none" for g in with_none.sample(20, np.random.default_rng(5)) for op, _ in g.normal)
    # other architectures: NB301 refuses the space by name, and its generator is cached apart
    assert (with_none.name, with_none.cell_view("normal", genotype).name) == ("darts_with_none", "darts_with_none_cell")
    assert with_none.graph == space.graph  # `none` is a node type of both


def test_unknown_options_are_one_line_config_errors(space, v2):
    with pytest.raises(ConfigError, match="unknown DARTS op set .*'nb302'.*nb301, with_none"):
        DartsSpace("nb302")
    with pytest.raises(ConfigError, match="unknown DARTS cell type 'reduction'.*normal, reduce"):
        space.cell_view("reduction", v2)


def test_a_cell_view_searches_its_cell_and_keeps_the_fixed_one(space, v2):
    rng = np.random.default_rng(6)
    normal, reduce = space.cell_view("normal", v2), space.cell_view("reduce", DARTS_V2)
    assert normal.name == reduce.name == "darts_cell" and normal.graph == reduce.graph
    archs = reduce.sample(50, rng)
    assert all(a.normal == v2.normal for a in archs) and len({a.reduce for a in archs}) == 50
    moved = [reduce.mutate(a, rng) for a in archs] + reduce.neighbours(archs[0]) + \
        [reduce.crossover(a, b, rng) for a, b in zip(archs, archs[1:])]
    assert all(a.normal == v2.normal for a in moved)
    assert len(reduce.neighbours(archs[0])) == 60
    assert [reduce.key(a) for a in archs] == [space.key(a) for a in archs]
    types, adjacency = reduce.to_graph(archs[0])
    assert types.shape == (11,) and np.array_equal(types, space.to_graph(archs[0])[0][1])
    assert reduce.from_graph(types, adjacency) == archs[0]
    assert reduce.from_str(space.to_str(archs[0])) == archs[0]
    # The fixed cell in another pair order is the same cell; another one is refused.
    assert reduce.from_str(str(archs[0].replace_cell("normal", swapped(v2.normal, 3)))) == archs[0]
    with pytest.raises(ConfigError, match="normal cell fixed to"):
        reduce.from_str(str(archs[0].replace_cell("normal", archs[0].reduce)))


# -- decoding generated scores conditioned on a valid cell ------------------------------------
def edge_logits_of(view, archs, confidence: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Types and edge logits that say ``archs``' graphs with the given confidence."""
    graphs = [view.to_graph(a) for a in archs]
    rows, cols = np.triu_indices(11, k=1)
    return (np.stack([t for t, _ in graphs]),
            np.stack([np.where(a[rows, cols] == 1, confidence, -confidence) for _, a in graphs]))


def test_conditioned_decoding_returns_the_cells_that_confident_scores_describe(space, v2):
    view = space.cell_view("normal", v2)
    archs = view.sample(50, np.random.default_rng(3))
    types, logits = edge_logits_of(view, archs)
    assert view.decode_edges(types, logits, False, np.random.default_rng(0)) == archs
    assert view.decode_edges(types, logits, True, np.random.default_rng(0)) == archs
    types[0, 4] = 2  # a `none` op node: not an op of the nb301 space
    types[1, 10] = 5  # the output node is not the output
    decoded = view.decode_edges(types, logits, True, np.random.default_rng(0))
    assert decoded[:2] == [None, None] and decoded[2:] == archs[2:]


def test_conditioned_decoding_draws_with_the_probabilities_of_independent_edges_given_validity(space, v2):
    """Node 2's op nodes (graph nodes 2 and 3): of the 2**5 adjacency columns of independent
    edges only two form a cell (sources (0, 1) or (1, 0)); draws must follow their relative
    probabilities, whatever the other edges say."""
    view = space.cell_view("normal", v2)
    types, logits = edge_logits_of(view, [v2] * 20_000, confidence=0.0)
    rng = np.random.default_rng(1)
    logits = np.repeat(rng.normal(size=(1, logits.shape[1])), len(logits), axis=0)
    rows, cols = np.triu_indices(11, k=1)
    position = {(r, c): i for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist()))}
    p = 1 / (1 + np.exp(-logits[0]))

    def column_probability(op_node: int, source: int) -> float:
        return math.prod(p[position[(row, op_node)]] if row == source else 1 - p[position[(row, op_node)]]
                         for row in range(op_node))

    weight = {(a, b): column_probability(2, a) * column_probability(3, b) for a, b in ((0, 1), (1, 0))}
    expected = weight[(0, 1)] / sum(weight.values())
    decoded = view.decode_edges(types, logits, True, np.random.default_rng(2))
    observed = np.mean([arch.normal[0][1] == 0 for arch in decoded])
    assert abs(observed - expected) < 4 * math.sqrt(expected * (1 - expected) / len(decoded))
    assert all(arch.normal[0][1] != arch.normal[1][1] for arch in decoded)  # distinct sources
    most_probable = view.decode_edges(types[:1], logits[:1], False, np.random.default_rng(0))[0]
    assert most_probable.normal[0][1] == (0 if expected > 0.5 else 1)
