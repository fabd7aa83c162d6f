"""NAS-Bench-101 cell space (Ying et al., ICML 2019).

A cell is a DAG of at most 7 nodes: the input, up to 5 operations (3x3 conv, 1x1 conv, 3x3 max
pool, each with its own node) and the output, joined by at most 9 edges, with an upper triangular
adjacency matrix. As the official ``ModelSpec`` does, a cell is pruned before anything else: a
node that is not on some input-to-output path computes nothing that reaches the output and is
dropped with its edges. A cell is valid when, after pruning, the input still reaches the output
and at most 9 edges remain. Architectures (:class:`NB101Cell`) are always the pruned form.

Graph view (AG-Net): 7 nodes of 5 types (input, the 3 operations, output); a cell of fewer nodes
is padded at the end with output-type nodes without edges.

Moves follow the NB101 API's example search code, on the padding-free 7-node form: the pruned
cell's nodes in order, then edgeless *filler* operation nodes up to 6 nodes, then the output. A
filler node is dead until some move connects it both ways: that is how a move grows a cell.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import itertools
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

import numpy as np

from nasgen.errors import ConfigError
from nasgen.spaces.base import GraphSpec

# Operation labels of the official data, in the order whose index the graph hash uses.
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"
NODE_TYPES: tuple[str, ...] = (INPUT, *OPS, OUTPUT)
INPUT_TYPE, OUTPUT_TYPE = 0, len(NODE_TYPES) - 1
MAX_NODES, MAX_EDGES = 7, 9
# Unique cells (isomorphism classes of valid pruned cells) as NAS-Bench-101 counts them; a
# constant because counting means enumerating every 7-node graph.
NUM_DISTINCT_ARCHS = 423_624
# NASLib's codes of node labels in its tuple keys (49 row-major adjacency bits, then 7 codes):
# input 0 and output 1 are plain from the data (every first code is 0, every last one 1); the
# operation codes match NASLib's label list and give the official hash of the sample30 records
# among NASLib's 500 cells (tests/test_space_nb101.py).
NASLIB_LABELS: tuple[str, ...] = (INPUT, OUTPUT, "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")
# Longest input-to-output path: 5 operations; BANANAS numbers each path's op sequence bijectively
# in base 3 (the empty path of an input -> output edge is 0), so 1 + 3 + ... + 3**5 = 364 bits.
NUM_PATHS = sum(len(OPS) ** length for length in range(MAX_NODES - 1))
# Rows and columns of the upper triangular edge bits of an n-node cell, in NB101Cell.edges order
# (np.triu_indices takes longer than building a cell's matrix); up to 8 nodes, the one-node
# expansions of 7-node cells (:meth:`NB101Space.expansions`).
_UPPER = {n: np.triu_indices(n, k=1) for n in range(2, MAX_NODES + 2)}
_UPPER_PAIRS = {n: list(zip(rows.tolist(), cols.tolist())) for n, (rows, cols) in _UPPER.items()}
MATRICES_FILE = "nb101_matrices.npz"
# How NB101Space.expansions grows a cell by one node.
EXPANSION_RULES: tuple[str, ...] = ("insert", "ends")
_EXAMPLE = "input,conv3x3-bn-relu,maxpool3x3,output|0110,0001,0001,0000"


@dataclass(frozen=True)
class NB101Cell:
    """A pruned, valid NB101 cell (:func:`cell_from_spec` prunes and checks a spec into one).

    ``types``: node types (indices into :data:`NODE_TYPES`), input first, output last;
    ``edges``: the upper triangular adjacency bits of those nodes, row-major over ``i < j``."""

    types: tuple[int, ...]
    edges: tuple[int, ...]

    @property
    def matrix(self) -> np.ndarray:
        n = len(self.types)
        matrix = np.zeros((n, n), dtype=np.int64)
        matrix[_UPPER[n]] = self.edges
        return matrix

    @property
    def rows(self) -> list[list[int]]:
        """:attr:`matrix` as lists, for walks in plain Python."""
        rows = [[0] * len(self.types) for _ in self.types]
        for (source, target), bit in zip(_UPPER_PAIRS[len(self.types)], self.edges):
            rows[source][target] = bit
        return rows

    @property
    def ops(self) -> list[str]:
        """Node labels as the official data writes them (``module_operations``)."""
        return [NODE_TYPES[t] for t in self.types]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def cell_hash(matrix: np.ndarray, ops: Sequence[str]) -> str:
    """The official NB101 fingerprint of a (pruned) cell: isomorphic cells share it.

    Every vertex starts from (out-degree, in-degree, label) with label -1 for the input, -2 for
    the output and the index in :data:`OPS` otherwise; for as many rounds as there are vertices,
    a vertex's hash becomes that of its sorted in-neighbour hashes, its sorted out-neighbour
    hashes and itself; the cell's hash is that of the sorted vertex hashes."""
    matrix = np.asarray(matrix)
    n = len(matrix)
    labels = [-1, *(OPS.index(op) for op in ops[1:-1]), -2]
    out_degree, in_degree = matrix.sum(1).tolist(), matrix.sum(0).tolist()
    hashes = [_md5(str((o, i, label))) for o, i, label in zip(out_degree, in_degree, labels)]
    sources = [[w for w in range(n) if matrix[w, v]] for v in range(n)]
    targets = [[w for w in range(n) if matrix[v, w]] for v in range(n)]
    for _ in range(n):
        hashes = [_md5("".join(sorted(hashes[w] for w in sources[v])) + "|"
                       + "".join(sorted(hashes[w] for w in targets[v])) + "|" + hashes[v]) for v in range(n)]
    return _md5(str(sorted(hashes)))


@functools.lru_cache(maxsize=1 << 17)
def cell_matrices() -> tuple[np.ndarray, np.ndarray]:
    """Every adjacency matrix of a valid pruned cell: ``k`` nodes (2-7), upper triangular, at
    most 9 edges, every node on an input-to-output path. Returns ``sizes`` ``[M]`` and the upper
    triangular bits ``[M, 21]`` (row-major over ``i < j`` of the ``k``-node matrix, zero-padded):
    6,472 matrices, enumerated from all 2**21 bit patterns in a few seconds (shipped as
    ``nasgen/spaces/data/nb101_matrices.npz`` by ``scripts/build_bundled_data.py``)."""
    sizes, patterns = [], []
    for n in range(2, MAX_NODES + 1):
        rows, cols = _UPPER[n]
        codes = np.arange(2 ** len(rows), dtype=np.int64)
        bits = ((codes[:, None] >> np.arange(len(rows))) & 1).astype(bool)
        bits = bits[bits.sum(1) <= MAX_EDGES]
        adjacency = np.zeros((len(bits), n, n), dtype=bool)
        adjacency[:, rows, cols] = bits
        from_input, to_output = adjacency[:, 0, :].copy(), adjacency[:, :, n - 1].copy()
        for _ in range(n - 2):
            from_input |= (from_input[:, :, None] & adjacency).any(1)
            to_output |= (adjacency & to_output[:, None, :]).any(2)
        alive = from_input & to_output
        alive[:, 0] = alive[:, n - 1] = True
        kept = bits[alive.all(1) & from_input[:, n - 1]]
        sizes.append(np.full(len(kept), n, dtype=np.int8))
        patterns.append(np.pad(kept, ((0, 0), (0, len(_UPPER[MAX_NODES][0]) - len(rows)))).astype(np.uint8))
    return np.concatenate(sizes), np.concatenate(patterns)


@functools.cache
def _matrices() -> tuple[np.ndarray, np.ndarray]:
    with resources.files("nasgen.spaces.data").joinpath(MATRICES_FILE).open("rb") as f:
        stored = np.load(f)
        return stored["sizes"].astype(np.int64), stored["edges"]


def _key(cell: NB101Cell) -> str:
    """Searches ask for the keys of the same cells again and again (one hash of a 7-node cell:
    ~0.25 ms, nearly all of it in its 57 md5 digests and their strings)."""
    return cell_hash(cell.matrix, cell.ops)


def _prune(types: np.ndarray, adjacency: np.ndarray, output_at: np.ndarray, well_formed: np.ndarray,
           max_nodes: int = MAX_NODES, max_edges: int | None = MAX_EDGES) -> list[NB101Cell | None]:
    """Cells from a batch of graphs ``[B, N]`` / ``[B, N, N]`` (0/1 upper triangular) whose output
    node is at ``output_at`` with only operation nodes before it and edgeless nodes after it
    (where ``well_formed``): every node not on an input-to-output path is dropped, then the cell
    is valid when the input reaches the output through at most ``max_edges`` edges (``None``: any
    number) and ``max_nodes`` nodes."""
    batch, n = types.shape
    rows = np.arange(batch)
    edges = adjacency.astype(bool)
    from_input = edges[:, 0, :].copy()
    to_output = edges[rows, :, output_at]
    for _ in range(n - 2):  # paths have at most n - 1 edges
        from_input |= (from_input[:, :, None] & edges).any(1)
        to_output |= (edges & to_output[:, None, :]).any(2)
    alive = from_input & to_output
    alive[:, 0] = True
    alive[rows, output_at] = True
    kept = edges & alive[:, :, None] & alive[:, None, :]
    sizes = alive.sum(1)
    valid = well_formed & from_input[rows, output_at] & (sizes <= max_nodes)
    if max_edges is not None:
        valid &= kept.sum((1, 2)) <= max_edges
    # Live nodes first, in their order (the output, after all live operations, comes last).
    order = np.argsort(~alive, axis=1, kind="stable")
    pruned_types = np.take_along_axis(types, order, 1).astype(np.int64)
    pruned = kept[rows[:, None, None], order[:, :, None], order[:, None, :]]
    cells: list[NB101Cell | None] = [None] * batch
    for size in np.unique(sizes[valid]).tolist():
        chosen = np.flatnonzero(valid & (sizes == size))
        upper_rows, upper_cols = _UPPER[size]
        bits = pruned[chosen][:, upper_rows, upper_cols].astype(np.int64).tolist()
        for row, node_types, cell_edges in zip(chosen.tolist(), pruned_types[chosen, :size].tolist(), bits):
            cells[row] = NB101Cell(tuple(node_types), tuple(cell_edges))
    return cells


def cell_from_spec(matrix: "np.ndarray | Sequence[Sequence[int]]", ops: Sequence[str], max_nodes: int = MAX_NODES,
                   max_edges: int | None = MAX_EDGES) -> NB101Cell | None:
    """The pruned cell of an official spec (adjacency matrix and node labels, as in the NB101
    API's ``ModelSpec`` and the data's ``module_adjacency``/``module_operations``), or ``None``
    where the official API calls it invalid (not upper triangular, unknown labels, input not
    reaching the output, more than 9 edges or 7 nodes after pruning; other limits for the
    larger cells of :meth:`NB101Space.expanded_space`)."""
    matrix = np.asarray(matrix)
    n = len(ops)
    if (matrix.shape != (n, n) or n < 2 or not np.isin(matrix, (0, 1)).all() or np.tril(matrix).any()
            or ops[0] != INPUT or ops[-1] != OUTPUT or not all(op in OPS for op in ops[1:-1])):
        return None
    types = np.array([[NODE_TYPES.index(op) for op in ops]])
    return _prune(types, matrix[None], np.array([n - 1]), np.array([True]), max_nodes, max_edges)[0]


def cell_from_naslib(key: "str | Sequence[int]") -> NB101Cell:
    """The pruned cell of a NASLib NB101 key: 49 row-major adjacency bits of the unpruned 7-node
    cell, then its 7 node codes (:data:`NASLIB_LABELS`), as a tuple or as the tuple's string."""
    try:
        values = [int(v) for v in (ast.literal_eval(key) if isinstance(key, str) else key)]
        if len(values) != MAX_NODES * (MAX_NODES + 1) or min(values[MAX_NODES**2:]) < 0:
            raise ValueError
        ops = [NASLIB_LABELS[code] for code in values[MAX_NODES**2:]]
    except (ValueError, TypeError, SyntaxError, IndexError):
        raise ConfigError(f"not a NASLib NB101 key: {key!r}; expected 49 adjacency bits and 7 node codes "
                          f"({', '.join(f'{code} {label}' for code, label in enumerate(NASLIB_LABELS))})") from None
    cell = cell_from_spec(np.reshape(values[:MAX_NODES**2], (MAX_NODES, MAX_NODES)), ops)
    if cell is None:
        raise ConfigError(f"NASLib NB101 key {key!r} is not a valid NB101 cell")
    return cell


def _nonempty_subsets(nodes: Sequence[int]) -> list[tuple[int, ...]]:
    return [subset for size in range(1, len(nodes) + 1) for subset in itertools.combinations(nodes, size)]


def _inserted(arch: NB101Cell) -> list[tuple[list[int], np.ndarray]]:
    """Graphs of :meth:`NB101Space.expansions`' ``insert`` rule, ``(types, adjacency)`` in a
    topological order (input first, output last). The new node takes edges from a set of nodes
    and to a disjoint set none of which reaches back into the first. Inserting it at a position
    of the cell's own order instead misses the expansions that need another topological order
    of the cell (between two nodes that the cell leaves unordered)."""
    n, matrix = len(arch.types), arch.matrix
    reach = matrix.astype(bool)
    for _ in range(n):
        reach = reach | (reach.astype(np.int64) @ reach.astype(np.int64) > 0)
    graphs = []
    for sources in _nonempty_subsets(range(n - 1)):
        for targets in _nonempty_subsets(range(1, n)):
            if set(sources) & set(targets) or reach[np.ix_(targets, sources)].any():
                continue
            adjacency = np.zeros((n + 1, n + 1), dtype=np.uint8)
            adjacency[:n, :n] = matrix
            adjacency[list(sources), n] = 1
            adjacency[n, list(targets)] = 1
            order = _topological_order(adjacency)
            for op in range(INPUT_TYPE + 1, OUTPUT_TYPE):
                types = np.array([*arch.types, op])
                graphs.append((types[order].tolist(), adjacency[np.ix_(order, order)]))
    return graphs


def _topological_order(adjacency: np.ndarray) -> list[int]:
    """Kahn's order of a DAG, the lowest index first among the ready nodes."""
    indegree = adjacency.sum(0).astype(np.int64)
    ready, order = [v for v in range(len(adjacency)) if indegree[v] == 0], []
    while ready:
        node = min(ready)
        ready.remove(node)
        order.append(node)
        for target in np.flatnonzero(adjacency[node]).tolist():
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    return order


def _ends(arch: NB101Cell) -> list[tuple[list[int], np.ndarray]]:
    """Graphs of :meth:`NB101Space.expansions`' ``ends`` rule: ``(types, adjacency)``."""
    n, matrix = len(arch.types), arch.matrix
    after_input = np.zeros((n + 1, n + 1), dtype=np.uint8)
    after_input[1:, 1:] = matrix  # the new node (1) has the input's outgoing edges
    after_input[0, 1] = 1
    before_output = np.zeros((n + 1, n + 1), dtype=np.uint8)
    before_output[:n, :n] = matrix  # the new node (n - 1) has the output's incoming edges
    before_output[n - 1, n] = 1
    graphs = []
    for op in range(INPUT_TYPE + 1, OUTPUT_TYPE):
        for bits in itertools.product((0, 1), repeat=n - 1):
            adjacency = after_input.copy()
            adjacency[0, 2:] = bits
            graphs.append(([INPUT_TYPE, op, *arch.types[1:]], adjacency))
            adjacency = before_output.copy()
            adjacency[:n - 1, n] = bits
            graphs.append(([*arch.types[:-1], op, OUTPUT_TYPE], adjacency))
    return graphs


class NB101Space:
    """The NAS-Bench-101 cell space: pruned cells, keyed by the official graph hash.

    ``max_nodes`` / ``max_edges`` (``None``: no limit) are NB101's 7 and 9; other limits describe
    the cells beyond the benchmark that SVGe extrapolates to (:meth:`expanded_space`: 8 nodes,
    any number of edges). Such a space has the graph view, keys, strings, encodings and moves of
    NB101 at its size, but no uniform sampler and no count of its cells (both rest on the
    enumeration of every matrix of up to 7 nodes)."""

    name = "nb101"

    def __init__(self, max_nodes: int = MAX_NODES, max_edges: int | None = MAX_EDGES) -> None:
        if not 2 <= max_nodes <= max(_UPPER):
            raise ConfigError(f"NB101Space: max_nodes={max_nodes}; cells have 2 to {max(_UPPER)} nodes")
        self.max_nodes, self.max_edges = max_nodes, max_edges
        self.graph = GraphSpec(node_types=NODE_TYPES, max_nodes=max_nodes, input_types=(INPUT_TYPE,),
                               output_type=OUTPUT_TYPE, pad_type=OUTPUT_TYPE)

    @property
    def is_benchmark_space(self) -> bool:
        """NB101's own limits (7 nodes, 9 edges): the cells its table has."""
        return (self.max_nodes, self.max_edges) == (MAX_NODES, MAX_EDGES)

    @property
    def distinct_architectures(self) -> int:
        if not self.is_benchmark_space:
            raise ConfigError(f"the number of distinct NB101 cells of up to {self.max_nodes} nodes and "
                              f"{self.max_edges or 'any number of'} edges is not known; search NB101Space() instead")
        return NUM_DISTINCT_ARCHS

    # -- identity and conversions -------------------------------------------------
    def key(self, arch: NB101Cell) -> str:
        """The official NB101 hash (the key of the benchmark's tables)."""
        return _key(arch)

    def to_str(self, arch: NB101Cell) -> str:
        """Labels, then the adjacency rows: ``input,conv3x3-bn-relu,output|011,001,000``."""
        rows = ",".join("".join(map(str, row)) for row in arch.matrix.tolist())
        return f"{','.join(arch.ops)}|{rows}"

    def from_str(self, text: str) -> NB101Cell:
        """A cell from :meth:`to_str`'s form; an unpruned cell is pruned."""
        try:
            labels, rows = text.strip().split("|")
            matrix = [[int(bit) for bit in row] for row in rows.split(",")]
        except ValueError:
            matrix, labels = [], ""
        cell = cell_from_spec(matrix if len({len(row) for row in matrix}) == 1 else [], labels.split(","),
                              self.max_nodes, self.max_edges)
        if cell is None:
            limit = f"at most {self.max_edges} edges and {self.max_nodes} nodes" if self.max_edges else \
                f"at most {self.max_nodes} nodes"
            raise ConfigError(
                f"not a valid NAS-Bench-101 cell string: {text!r}; expected node labels (input, then "
                f"{', '.join(OPS)}, then output), '|', and the rows of the upper triangular 0/1 adjacency "
                f"(input reaching the output, {limit}), e.g. '{_EXAMPLE}'")
        return cell

    def parse(self, value: "str | NB101Cell | Sequence[int]") -> NB101Cell:
        """A cell from a cell string, a NASLib key (tuple or its string) or a cell."""
        if isinstance(value, NB101Cell):
            return value
        if isinstance(value, str):
            return cell_from_naslib(value) if value.strip().startswith(("(", "[")) else self.from_str(value)
        return cell_from_naslib(value)

    # -- graph view and encodings --------------------------------------------------
    def to_graph(self, arch: NB101Cell) -> tuple[np.ndarray, np.ndarray]:
        """Padded graph: the cell's nodes, then output-type nodes without edges."""
        types, adjacency = self._graphs([arch])
        return types[0], adjacency[0]

    def from_graph(self, node_types: np.ndarray, adjacency: np.ndarray) -> NB101Cell | None:
        return self.from_graphs(np.asarray(node_types)[None], np.asarray(adjacency)[None])[0]

    def from_graphs(self, node_types: np.ndarray, adjacency: np.ndarray) -> list[NB101Cell | None]:
        """Padded graphs to pruned cells, the whole batch at once. A graph is read as: the input
        first; the output at the first output-type node after it (position 6 when unpadded); only
        operation nodes between them. The cell ends at its output: whatever follows is padding
        and is ignored, edges into it included (AG-Net pads with the output type, so the first
        output ends the cell). Then it is pruned and checked as the official API does; ``None``
        where invalid.

        A first version also required the padding to be edgeless output nodes: 40 % of the
        graphs AG-Net's NB101 generator samples were then invalid for edges into padding or an
        operation after the output, which no cell reads."""
        types, adjacency = np.asarray(node_types), np.asarray(adjacency)
        batch, n = len(types), self.max_nodes
        if types.ndim != 2 or types.shape[1] != n or adjacency.shape != (batch, n, n):
            return [None] * batch
        is_output = types == OUTPUT_TYPE
        is_output[:, 0] = False
        has_output = is_output.any(1)
        output_at = np.where(has_output, is_output.argmax(1), n - 1)
        position = np.arange(n)
        inner = (position > 0) & (position < output_at[:, None])
        cell = position <= output_at[:, None]
        is_operation = (types > INPUT_TYPE) & (types < OUTPUT_TYPE) & (types == np.round(types))
        in_cell = cell[:, :, None] & cell[:, None, :]
        well_formed = (
            has_output & (types[:, 0] == INPUT_TYPE) & (is_operation | ~inner).all(1)
            & (((adjacency == 0) | (adjacency == 1)) | ~in_cell).all((1, 2))
            & ~(np.tril(adjacency).astype(bool) & in_cell).any((1, 2)))
        return _prune(types, np.where(in_cell, adjacency, 0), output_at, well_formed, n, self.max_edges)

    def _graphs(self, archs: Sequence[NB101Cell]) -> tuple[np.ndarray, np.ndarray]:
        """Padded graphs ``[B, max_nodes]`` / ``[B, max_nodes, max_nodes]``, filled for all cells
        of a size at once."""
        types = np.full((len(archs), self.max_nodes), OUTPUT_TYPE, dtype=np.int64)
        adjacency = np.zeros((len(archs), self.max_nodes, self.max_nodes), dtype=np.uint8)
        sizes = np.array([len(arch.types) for arch in archs], dtype=np.int64)
        for size in np.unique(sizes).tolist():
            chosen = np.flatnonzero(sizes == size)
            rows, cols = _UPPER[size]
            types[chosen, :size] = [archs[i].types for i in chosen]
            adjacency[chosen[:, None], rows, cols] = [archs[i].edges for i in chosen]
        return types, adjacency

    def encode(self, archs: Sequence[NB101Cell]) -> np.ndarray:
        """The padded graphs flattened: 7 x 5 one-hot node types + 21 edge bits = 56 (8-node
        cells: 68)."""
        return self.graph.flatten(*self._graphs(archs))

    @property
    def num_paths(self) -> int:
        """Bits of :meth:`encode_paths`: op sequences of every length up to ``max_nodes - 2``."""
        return sum(len(OPS) ** length for length in range(self.max_nodes - 1))

    def encode_paths(self, archs: Sequence[NB101Cell]) -> np.ndarray:
        """Path encoding (BANANAS): one bit per sequence of operations along some input-to-output
        path; a sequence ``o_0 .. o_{l-1}`` (op indices in :data:`OPS`) is bit
        ``sum_i 3**i * (o_i + 1)``, so paths of every length 0-5 get their own range of bits."""
        encoding = np.zeros((len(archs), self.num_paths), dtype=np.float32)
        for row, arch in enumerate(archs):
            rows, last = arch.rows, len(arch.types) - 1
            # (bit so far, 3 ** ops so far) of every path from the input to each node, in
            # topological order; the output adds no operation.
            paths: list[list[tuple[int, int]]] = [[(0, 1)]] + [[] for _ in range(last)]
            for node in range(1, last + 1):
                op = 0 if node == last else arch.types[node]  # types 1..3 are OPS 0..2, hence o + 1
                paths[node] = [(bit + scale * op, scale * len(OPS) if op else scale)
                               for source in range(node) if rows[source][node] for bit, scale in paths[source]]
            encoding[row, [bit for bit, _ in paths[last]]] = 1.0
        return encoding

    # -- sampling and moves ------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> list[NB101Cell]:
        """Uniformly random valid cells: every labelled pruned cell (an adjacency matrix of
        :func:`cell_matrices` with one operation per inner node) equally likely, so a
        matrix of ``k`` nodes is drawn with weight ``3 ** (k - 2)``. Isomorphic labellings are
        counted each, which favours cells with many (7-node cells: 90 % of draws).

        The NB101 API's example (and NASLib) draw the unpruned 7-node matrix's bits with
        probability 1/2 until the pruned cell is valid: 9 % of those draws are the bare
        input -> output cell and 0.3 % have 7 nodes, a poor picture of a space whose cells mostly
        have 7; a generator pretrained on them decoded 20 % valid cells (64 % on a pool of
        distinct ones)."""
        if not self.is_benchmark_space:
            raise ConfigError(f"NB101Space(max_nodes={self.max_nodes}, max_edges={self.max_edges}) cannot sample: "
                              f"uniform sampling draws from the enumerated matrices of NB101's 7-node cells")
        sizes, edges = _matrices()
        weights = float(len(OPS)) ** (sizes - 2)
        chosen = rng.choice(len(sizes), size=n, p=weights / weights.sum())
        ops = rng.integers(INPUT_TYPE + 1, OUTPUT_TYPE, size=(n, MAX_NODES - 2))
        cells = []
        for row, inner in zip(chosen.tolist(), ops.tolist()):
            size = int(sizes[row])
            cells.append(NB101Cell((INPUT_TYPE, *inner[:size - 2], OUTPUT_TYPE),
                                   tuple(edges[row, :size * (size - 1) // 2].tolist())))
        return cells

    def _unpadded(self, arch: NB101Cell, filler: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The padding-free ``max_nodes`` form: the cell's input and operations, edgeless filler
        operation nodes (types ``filler``), then the output last."""
        n, size = len(arch.types), self.max_nodes
        place = [*range(n - 1), size - 1]
        types = np.array([INPUT_TYPE, *filler[:size - 2], OUTPUT_TYPE], dtype=np.int64)
        types[place] = arch.types
        adjacency = np.zeros((size, size), dtype=np.uint8)
        adjacency[np.ix_(place, place)] = arch.matrix
        return types, adjacency

    def _filler(self, rng: np.random.Generator) -> list[int]:
        return rng.integers(INPUT_TYPE + 1, OUTPUT_TYPE, size=self.max_nodes - 2).tolist()

    # -- growing cells beyond the benchmark (SVGe's extrapolation, thesis Table 4.4) ----
    def expanded_space(self) -> NB101Space:
        """Cells of one node more, without an edge limit: every one-node expansion of a 9-edge
        cell (the thesis' start cell has 9) has at least 10 edges, so keeping NB101's limit
        would leave none."""
        return NB101Space(self.max_nodes + 1, None)

    def expansions(self, arch: NB101Cell, rule: str = "insert") -> list[NB101Cell]:
        """The distinct cells (one per isomorphism class) of :meth:`expanded_space` made from
        ``arch`` by adding one operation node (each of the 3 operations), by ``rule``:

        - ``insert``: every edge of ``arch`` is kept; the new node gets edges from any non-empty
          set of nodes and to any non-empty set of other nodes, as long as the graph stays
          acyclic (so it lies on an input-to-output path).
        - ``ends``: what the SVGe authors' released script enumerates (their Table 4.4 count):
          the new node right after the input takes over the input's outgoing edges, and the
          input feeds it and any set of the other nodes; or, mirrored, the new node right before
          the output takes over the output's incoming edges, and it and any set of the other
          nodes feed the output. ``3 * 2 * 2 ** (n - 1)`` graphs for an ``n``-node cell.

        Every candidate is pruned and checked like any cell, so a rule can never produce an
        invalid one."""
        if rule not in EXPANSION_RULES:
            raise ConfigError(f"unknown expansion rule {rule!r}; choose one of {', '.join(EXPANSION_RULES)}")
        n = len(arch.types)
        graphs = _inserted(arch) if rule == "insert" else _ends(arch)
        types = np.array([t for t, _ in graphs], dtype=np.int64).reshape(-1, n + 1)
        adjacency = np.array([a for _, a in graphs], dtype=np.uint8).reshape(-1, n + 1, n + 1)
        grown = self.expanded_space()
        cells = _prune(types, adjacency, np.full(len(types), n), np.ones(len(types), dtype=bool),
                       grown.max_nodes, grown.max_edges)
        distinct: dict[str, NB101Cell] = {}
        for cell in cells:
            if cell is not None and len(cell.types) == n + 1:
                distinct.setdefault(_key(cell), cell)
        return list(distinct.values())

    def neighbours(self, arch: NB101Cell) -> list[NB101Cell]:
        """All valid cells one edge flip or one operation change away in the 7-node form, each
        isomorphism class once, without the cell's own."""
        types, adjacency = self._unpadded(arch, [INPUT_TYPE + 1] * (self.max_nodes - 2))
        rows, cols = _UPPER[self.max_nodes]
        flipped = np.repeat(adjacency[None], len(rows), 0)
        flipped[np.arange(len(rows)), rows, cols] ^= 1
        # Only the cell's own operations: changing a filler node leaves the pruned cell as it is.
        changes = [(node, op) for node in range(1, len(arch.types) - 1)
                   for op in range(INPUT_TYPE + 1, OUTPUT_TYPE) if op != types[node]]
        changed = np.repeat(types[None], len(changes), 0)
        for row, (node, op) in enumerate(changes):
            changed[row, node] = op
        candidates = self.from_graphs(
            np.concatenate([np.repeat(types[None], len(rows), 0), changed]),
            np.concatenate([flipped, np.repeat(adjacency[None], len(changes), 0)]))
        found = {self.key(arch): arch}
        for cell in candidates:
            if cell is not None:
                found.setdefault(self.key(cell), cell)
        return list(found.values())[1:]

    def mutate(self, arch: NB101Cell, rng: np.random.Generator, tries: int = 16) -> NB101Cell:
        """The NB101 API example's mutation on the 7-node form: each of the 21 possible edges
        flips with probability 1/7 and each of the 5 inner operations changes to another with
        probability 1/5, redrawn until the cell is valid and of another isomorphism class.
        Draws ``tries`` candidates at a time (one ``from_graphs`` call each)."""
        own = self.key(arch)
        types, adjacency = self._unpadded(arch, self._filler(rng))
        size = self.max_nodes
        rows, cols = _UPPER[size]
        while True:
            flips = rng.random((tries, len(rows))) < 1 / size
            new_adjacency = np.repeat(adjacency[None], tries, 0)
            new_adjacency[:, rows, cols] ^= flips.astype(np.uint8)
            changes = rng.random((tries, size - 2)) < 1 / (size - 2)
            steps = rng.integers(1, len(OPS), size=(tries, size - 2))
            new_types = np.repeat(types[None], tries, 0)
            inner = new_types[:, 1:-1]
            new_types[:, 1:-1] = np.where(changes, (inner - 1 + steps) % len(OPS) + 1, inner)
            for cell in self.from_graphs(new_types, new_adjacency):
                if cell is not None and self.key(cell) != own:
                    return cell

    def crossover(self, first: NB101Cell, second: NB101Cell, rng: np.random.Generator) -> NB101Cell | None:
        """Uniform crossover of the padding-free 7-node forms: each inner node's operation and
        each of the 21 edge bits from either parent; ``None`` if the child is not valid (8 % of
        children of sampled parents). Crossing the padded forms instead, where the parents'
        outputs sit at different positions, gave 54 % invalid children."""
        filler = self._filler(rng)
        (types_a, adjacency_a), (types_b, adjacency_b) = self._unpadded(first, filler), self._unpadded(second, filler)
        rows, cols = _UPPER[self.max_nodes]
        take_types = rng.random(self.max_nodes) < 0.5
        take_edges = rng.random(len(rows)) < 0.5
        types = np.where(take_types, types_a, types_b)
        adjacency = adjacency_a.copy()
        adjacency[rows, cols] = np.where(take_edges, adjacency_a[rows, cols], adjacency_b[rows, cols])
        return self.from_graph(types, adjacency)
