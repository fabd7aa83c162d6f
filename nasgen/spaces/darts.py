"""The DARTS search space (Liu et al., ICLR 2019) as NAS-Bench-301 (Siems et al.) samples it.

An architecture is a :class:`~nasgen.spaces.darts_genotype.DartsGenotype`: a normal and a reduction
cell, each 8 ``(op, input node)`` pairs, two per intermediate node 2..5, whose two inputs are
distinct earlier nodes. Per cell there are ``C(2,2) * C(3,2) * C(4,2) * C(5,2) = 180`` ways to wire
the nodes and ``7 ** 8`` ways to choose the ops, so ``(180 * 7 ** 8) ** 2 ~ 1.08e18``
architectures, told apart up to swapping a node's two pairs (``genotype_key``).

Graph view (AG-Net, as arch2vec represents DARTS cells), one graph of 11 nodes per cell: node 0
and 1 the cell inputs ``c_{k-2}``, ``c_{k-1}``; nodes 2..9 one node per ``(op, input)`` pair in the
genotype's order (the two pairs of intermediate node ``j`` are nodes ``2 + 2 (j - 2)`` and
``3 + 2 (j - 2)``); node 10 the output. An op node whose input is a cell input gets an edge from
that input node; one whose input is intermediate node ``j`` gets an edge from both op nodes of
``j`` (their sum is node ``j``); every op node has an edge to the output, which concatenates every
intermediate node. The 11 node types are the two inputs, ``none``, the 7 ops and the output:
``none`` is a type even where the ops exclude it, so that a cell's flat vector is
``11 * 11 + 55 = 176`` whatever the op set (AG-Net's hidden size for NB301).

:class:`DartsSpace` searches both cells (graphs with a leading cell axis, normal then reduce, as
:class:`~nasgen.spaces.base.GraphSpec` describes); :meth:`DartsSpace.cell_view` gives a
:class:`DartsCellSpace` that searches one cell type with the other held fixed, as AG-Net does on
NB301.
"""
from __future__ import annotations

import math
from typing import Hashable, Sequence

import numpy as np

from nasgen.errors import ConfigError, choose
from nasgen.spaces.base import GraphSpec
from nasgen.spaces.darts_genotype import (
    CELL_TYPES,
    EDGES_PER_NODE,
    NUM_INPUTS,
    NUM_INTERMEDIATE,
    OPS,
    OPS_WITH_NONE,
    Cell,
    DartsGenotype,
    canonical_cell,
    from_naslib,
    genotype_key,
    parse_genotype,
)

# search_space.ops: the op set of the cells.
OP_SETS: dict[str, tuple[str, ...]] = {"nb301": OPS, "with_none": OPS_WITH_NONE}
NODE_TYPES: tuple[str, ...] = ("c_{k-2}", "c_{k-1}", "none", *OPS, "output")
OUTPUT_TYPE = len(NODE_TYPES) - 1
NUM_PAIRS = NUM_INTERMEDIATE * EDGES_PER_NODE
NUM_NODES = NUM_INPUTS + NUM_PAIRS + 1
_TYPE_OF = {name: index for index, name in enumerate(NODE_TYPES)}
# The intermediate node that pair p feeds.
_TARGET = tuple(NUM_INPUTS + pair // EDGES_PER_NODE for pair in range(NUM_PAIRS))
# Path encoding: paths carry 1..4 ops (input -> node 2 -> 3 -> 4 -> 5 is the longest); `none`
# carries nothing. Bits: per cell input, the op sequences of length 1, then 2, ... (base 7).
_PATH_OPS = {op: index for index, op in enumerate(OPS)}
_PATH_OFFSETS = {length: sum(len(OPS) ** shorter for shorter in range(1, length))
                 for length in range(1, NUM_INTERMEDIATE + 1)}
_PATHS_PER_INPUT = _PATH_OFFSETS[NUM_INTERMEDIATE] + len(OPS) ** NUM_INTERMEDIATE
PATHS_PER_CELL = NUM_INPUTS * _PATHS_PER_INPUT


def _graph_nodes_of(node: int) -> list[int]:
    """The graph nodes that carry cell node ``node``: an input itself, an intermediate node its two op nodes."""
    if node < NUM_INPUTS:
        return [node]
    first = NUM_INPUTS + EDGES_PER_NODE * (node - NUM_INPUTS)
    return list(range(first, first + EDGES_PER_NODE))


def _incoming_columns() -> np.ndarray:
    """``[pair, input node, graph node]``: the adjacency column of pair ``pair``'s op node when it
    takes ``input node`` (zeros where that input is not allowed)."""
    columns = np.zeros((NUM_PAIRS, NUM_INPUTS + NUM_INTERMEDIATE, NUM_NODES), dtype=np.uint8)
    for pair, target in enumerate(_TARGET):
        for node in range(target):
            columns[pair, node, _graph_nodes_of(node)] = 1
    return columns


_INCOMING = _incoming_columns()
_ROW_WEIGHTS = 1 << np.arange(NUM_NODES)


def _input_lookup() -> np.ndarray:
    """``[pair, code]``: the input node of pair ``pair`` whose op node's adjacency column, its rows
    read as the bits of ``code``, is that input's; -1 for every other column."""
    lookup = np.full((NUM_PAIRS, 1 << NUM_NODES), -1, dtype=np.int64)
    for pair, target in enumerate(_TARGET):
        lookup[pair, _INCOMING[pair, :target] @ _ROW_WEIGHTS] = np.arange(target)
    return lookup


_INPUT_OF_CODE = _input_lookup()
_OUTPUT_COLUMN = np.zeros(NUM_NODES, dtype=bool)
_OUTPUT_COLUMN[NUM_INPUTS:-1] = True


def _cell_graphs(cells: Sequence[Cell]) -> tuple[np.ndarray, np.ndarray]:
    """Graphs of ``cells``: types ``[M, 11]`` int64, adjacency ``[M, 11, 11]`` uint8."""
    count = len(cells)
    types = np.empty((count, NUM_NODES), dtype=np.int64)
    types[:, :NUM_INPUTS] = range(NUM_INPUTS)
    types[:, -1] = OUTPUT_TYPE
    types[:, NUM_INPUTS:-1] = np.array([[_TYPE_OF[op] for op, _ in cell] for cell in cells],
                                       dtype=np.int64).reshape(count, NUM_PAIRS)
    inputs = np.array([[node for _, node in cell] for cell in cells], dtype=np.int64).reshape(count, NUM_PAIRS)
    adjacency = np.zeros((count, NUM_NODES, NUM_NODES), dtype=np.uint8)
    adjacency[:, :, NUM_INPUTS:-1] = _INCOMING[np.arange(NUM_PAIRS), inputs].transpose(0, 2, 1)
    adjacency[:, :, -1] = _OUTPUT_COLUMN
    return types, adjacency


def _decode_cells(types: np.ndarray, adjacency: np.ndarray, op_types: np.ndarray) -> list[Cell | None]:
    """Cells of graphs ``[M, 11]`` / ``[M, 11, 11]``, ``None`` where a graph is not exactly a cell's.

    Every column of the adjacency is checked: nothing enters the inputs; each op node's column
    is one allowed source group (one input node, or both op nodes of one earlier intermediate
    node), found by looking its bits up as a number; the output's column is every op node and
    nothing else. A node's two op nodes must have distinct sources and op types of ``op_types``."""
    count = len(types)
    binary = ((adjacency == 0) | (adjacency == 1)).all((1, 2))
    edges = adjacency == 1
    codes = (edges[:, :, NUM_INPUTS:-1] * _ROW_WEIGHTS[None, :, None]).sum(1)
    inputs = _INPUT_OF_CODE[np.arange(NUM_PAIRS), codes]
    ops = types[:, NUM_INPUTS:-1]
    valid = (binary & ~edges[:, :, :NUM_INPUTS].any((1, 2)) & (edges[:, :, -1] == _OUTPUT_COLUMN).all(1)
             & (inputs >= 0).all(1) & (inputs[:, 0::2] != inputs[:, 1::2]).all(1)
             & (types[:, :NUM_INPUTS] == np.arange(NUM_INPUTS)).all(1) & (types[:, -1] == OUTPUT_TYPE)
             & np.isin(ops, op_types).all(1))
    cells: list[Cell | None] = [None] * count
    chosen = np.flatnonzero(valid)
    for row, row_ops, row_inputs in zip(chosen.tolist(), ops[chosen].astype(np.int64).tolist(),
                                        inputs[chosen].tolist()):
        cells[row] = tuple((NODE_TYPES[op], node) for op, node in zip(row_ops, row_inputs))
    return cells


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _source_log_likelihoods(edge_logits: np.ndarray) -> np.ndarray:
    """``[M, pair, input node]``: log-probability, under independent Bernoulli edges with these
    logits (``[M, 55]``, upper triangular row-major), that pair's op node has exactly the adjacency
    column of that input (-inf for inputs it cannot take)."""
    logits = np.zeros((len(edge_logits), NUM_NODES, NUM_NODES))
    logits[(slice(None), *np.triu_indices(NUM_NODES, k=1))] = edge_logits
    columns = logits[:, :, NUM_INPUTS:-1]  # [M, row, pair]: the logits of each op node's incoming edges
    rows_above = np.arange(NUM_NODES)[:, None] < (NUM_INPUTS + np.arange(NUM_PAIRS))[None, :]  # [row, pair]
    present, absent = _log_sigmoid(columns), _log_sigmoid(-columns)
    # every row above the op node is decided: present where the input's column has a 1, else absent
    incoming = _INCOMING.transpose(0, 2, 1).astype(bool)  # [pair, row, input]
    scores = np.einsum("mrp,pri->mpi", present * rows_above, incoming) \
        + np.einsum("mrp,pri->mpi", absent * rows_above, ~incoming)
    allowed = np.arange(NUM_INPUTS + NUM_INTERMEDIATE)[None, :] < np.array(_TARGET)[:, None]  # [pair, input]
    return np.where(allowed, scores, -np.inf)


def _conditioned_inputs(edge_logits: np.ndarray, sample: bool, rng: np.random.Generator) -> np.ndarray:
    """``[M, pair]`` input nodes: per intermediate node, its two op nodes' sources drawn (or the
    most probable) from the independent-edge model conditioned on a valid cell: each op node's
    column one source group, the node's two sources distinct."""
    scores = _source_log_likelihoods(edge_logits)
    chosen = np.empty((len(edge_logits), NUM_PAIRS), dtype=np.int64)
    for node in range(NUM_INTERMEDIATE):
        first, width = EDGES_PER_NODE * node, NUM_INPUTS + node
        joint = scores[:, first, :width, None] + scores[:, first + 1, None, :width]  # [M, a, b]
        joint[:, np.arange(width), np.arange(width)] = -np.inf
        flat = joint.reshape(len(joint), -1)
        if sample:  # Gumbel-max: a draw from softmax(flat) per row
            flat = flat + rng.gumbel(size=flat.shape)
        pick = flat.argmax(1)
        chosen[:, first], chosen[:, first + 1] = pick // width, pick % width
    return chosen


def _cell_paths(cells: Sequence[Cell]) -> np.ndarray:
    """Path encoding of ``cells`` ``[M, 5600]`` (see :meth:`DartsSpace.encode_paths`)."""
    encoding = np.zeros((len(cells), PATHS_PER_CELL), dtype=np.float32)
    for row, cell in enumerate(cells):
        # (cell input, ops so far, their sequence number in base 7) of every path reaching a node.
        reaching: dict[int, list[tuple[int, int, int]]] = {node: [(node, 0, 0)] for node in range(NUM_INPUTS)}
        for target in range(NUM_INPUTS, NUM_INPUTS + NUM_INTERMEDIATE):
            reaching[target] = []
        for (op, node), target in zip(cell, _TARGET):
            if op in _PATH_OPS:
                reaching[target] += [(start, length + 1, code * len(OPS) + _PATH_OPS[op])
                                     for start, length, code in reaching[node]]
        bits = [start * _PATHS_PER_INPUT + _PATH_OFFSETS[length] + code
                for target in range(NUM_INPUTS, NUM_INPUTS + NUM_INTERMEDIATE)
                for start, length, code in reaching[target]]
        encoding[row, bits] = 1.0
    return encoding


def _sample_cells(n: int, ops: tuple[str, ...], rng: np.random.Generator) -> list[Cell]:
    """NB301's / NASLib's random cells: each intermediate node two distinct earlier nodes (an
    unordered pair drawn uniformly), each pair's op uniformly."""
    op_ids = rng.integers(0, len(ops), size=(n, NUM_PAIRS))
    inputs = np.empty((n, NUM_PAIRS), dtype=np.int64)
    for pair in range(0, NUM_PAIRS, EDGES_PER_NODE):
        target = _TARGET[pair]
        first = rng.integers(0, target, size=n)
        second = rng.integers(0, target - 1, size=n)
        inputs[:, pair], inputs[:, pair + 1] = first, second + (second >= first)
    return [tuple((ops[op], node) for op, node in zip(row_ops, row_inputs))
            for row_ops, row_inputs in zip(op_ids.tolist(), inputs.tolist())]


def _other_inputs(cell: Cell, pair: int) -> list[int]:
    """Inputs pair ``pair`` could take instead of its own: earlier nodes its sibling does not take."""
    taken = (cell[pair][1], cell[pair ^ 1][1])  # pairs 2k and 2k + 1 feed the same node
    return [node for node in range(_TARGET[pair]) if node not in taken]


def _replace_pair(cell: Cell, pair: int, new: tuple[str, int]) -> Cell:
    return cell[:pair] + (new,) + cell[pair + 1:]


def _mutate_cell(cell: Cell, ops: tuple[str, ...], rng: np.random.Generator) -> Cell:
    """NASLib's DARTS mutation: one pair drawn uniformly; with probability 1/2 its input moves to
    another allowed node (when there is one: node 2's pairs take both cell inputs), else its op
    changes to another."""
    pair = int(rng.integers(NUM_PAIRS))
    op, node = cell[pair]
    inputs = _other_inputs(cell, pair)
    if inputs and rng.random() < 0.5:
        return _replace_pair(cell, pair, (op, inputs[int(rng.integers(len(inputs)))]))
    others = [other for other in ops if other != op]
    return _replace_pair(cell, pair, (others[int(rng.integers(len(others)))], node))


def _cell_neighbours(cell: Cell, ops: tuple[str, ...]) -> list[Cell]:
    """Every cell one op change or one input change away."""
    return [_replace_pair(cell, pair, new) for pair, (op, node) in enumerate(cell)
            for new in [*((other, node) for other in ops if other != op),
                        *((op, other) for other in _other_inputs(cell, pair))]]


def _cross_cells(first: Cell, second: Cell, rng: np.random.Generator) -> Cell:
    """Each intermediate node's two pairs from one parent or the other (always a valid cell)."""
    take_first = rng.random(NUM_INTERMEDIATE) < 0.5
    return tuple(pair for node, mine in enumerate(take_first.tolist())
                 for pair in (first if mine else second)[node * EDGES_PER_NODE:(node + 1) * EDGES_PER_NODE])


class _DartsCells:
    """What :class:`DartsSpace` and :class:`DartsCellSpace` share: architectures are whole
    genotypes, of which the cells of ``searched`` are searched (graphs, encodings, moves) and the
    others are ``fixed``'s."""

    name: str

    def __init__(self, ops: tuple[str, ...], searched: tuple[str, ...], fixed: DartsGenotype | None) -> None:
        self.ops = ops
        self._searched = searched
        self._fixed = fixed
        self._op_types = np.array([_TYPE_OF[op] for op in ops])
        self.graph = GraphSpec(node_types=NODE_TYPES, max_nodes=NUM_NODES, input_types=tuple(range(NUM_INPUTS)),
                               output_type=OUTPUT_TYPE, cells=len(searched))

    @property
    def distinct_architectures(self) -> int:
        """Per cell ``prod_j C(j, 2)`` wirings times ``|ops| ** 8`` op choices, per searched cell."""
        wirings = math.prod(math.comb(target, 2) for target in range(NUM_INPUTS, NUM_INPUTS + NUM_INTERMEDIATE))
        return (wirings * len(self.ops) ** NUM_PAIRS) ** len(self._searched)

    # -- identity and conversions -------------------------------------------------
    def key(self, arch: DartsGenotype) -> Hashable:
        """:func:`genotype_key`: both cells up to swapping a node's two pairs."""
        return genotype_key(arch)

    def to_str(self, arch: DartsGenotype) -> str:
        return str(arch)

    def from_str(self, text: str) -> DartsGenotype:
        return self._with_fixed_cells(parse_genotype(text, self.ops))

    def parse(self, value: "str | DartsGenotype | Sequence") -> DartsGenotype:
        """A genotype from a genotype, its string, or NASLib's compact form (or its string)."""
        if isinstance(value, DartsGenotype):
            return self.from_str(str(value))  # checks its cells against this space's ops
        if isinstance(value, str) and not value.lstrip().startswith(("(", "[")):
            return self.from_str(value)
        return self._with_fixed_cells(from_naslib(value, self.ops))

    def _with_fixed_cells(self, genotype: DartsGenotype) -> DartsGenotype:
        """``genotype`` with the fixed cells in their own pair order; a ConfigError if it differs there."""
        for cell_type in CELL_TYPES:
            if cell_type in self._searched or self._fixed is None:
                continue
            fixed = self._fixed.cell(cell_type)
            if canonical_cell(genotype.cell(cell_type)) != canonical_cell(fixed):
                raise ConfigError(f"this space searches {' and '.join(self._searched)} cells with the {cell_type} "
                                  f"cell fixed to {list(fixed)}, but {genotype} has another {cell_type} cell")
            genotype = genotype.replace_cell(cell_type, fixed)
        return genotype

    def _assemble(self, cells: Sequence[Cell]) -> DartsGenotype:
        """The genotype with ``cells`` as its searched cells (in ``searched`` order), the others fixed."""
        chosen = dict(zip(self._searched, cells))
        return DartsGenotype(**{t: chosen[t] if t in chosen else self._fixed.cell(t)  # type: ignore[union-attr]
                                for t in CELL_TYPES})

    # -- graph view and encodings --------------------------------------------------
    def _graphs(self, archs: Sequence[DartsGenotype]) -> tuple[np.ndarray, np.ndarray]:
        """Graphs of the searched cells: ``[B, 11]`` / ``[B, 11, 11]``, with a cell axis after the
        batch axis when more than one cell is searched."""
        types, adjacency = _cell_graphs([arch.cell(t) for arch in archs for t in self._searched])
        cell_axis = (len(self._searched),) if len(self._searched) > 1 else ()
        return (types.reshape(len(archs), *cell_axis, NUM_NODES),
                adjacency.reshape(len(archs), *cell_axis, NUM_NODES, NUM_NODES))

    def to_graph(self, arch: DartsGenotype) -> tuple[np.ndarray, np.ndarray]:
        types, adjacency = self._graphs([arch])
        return types[0], adjacency[0]

    def from_graph(self, node_types: np.ndarray, adjacency: np.ndarray) -> DartsGenotype | None:
        return self.from_graphs(np.asarray(node_types)[None], np.asarray(adjacency)[None])[0]

    def from_graphs(self, node_types: np.ndarray, adjacency: np.ndarray) -> list[DartsGenotype | None]:
        """Genotypes of a batch of graphs (shapes as :meth:`to_graph`'s with a batch axis), ``None``
        where some cell's graph is not exactly a cell of this space (see the module docstring);
        checked for all cells at once, only the valid ones built one by one."""
        types, adjacency = np.asarray(node_types), np.asarray(adjacency)
        batch, cells = len(types), len(self._searched)
        cell_axis = (cells,) if cells > 1 else ()
        if types.shape != (batch, *cell_axis, NUM_NODES) or adjacency.shape != (batch, *cell_axis, NUM_NODES,
                                                                                 NUM_NODES):
            return [None] * batch
        decoded = _decode_cells(types.reshape(batch * cells, NUM_NODES),
                                adjacency.reshape(batch * cells, NUM_NODES, NUM_NODES), self._op_types)
        groups = [decoded[row * cells:(row + 1) * cells] for row in range(batch)]
        return [None if None in group else self._assemble(group) for group in groups]

    def decode_edges(self, node_types: np.ndarray, edge_logits: np.ndarray, sample: bool,
                     rng: np.random.Generator) -> list[DartsGenotype | None]:
        """Genotypes of generated scores, the edges conditioned on a valid cell (the
        :class:`~nasgen.spaces.base.StructuredDecoding` of DARTS): each op node's source drawn, or
        with ``sample=False`` the most probable, among the allowed ones, with probability that of
        its whole adjacency column under independent edges, a node's two sources distinct; the
        output takes every op node. Independent edges almost never form a DARTS cell (a pretrained
        AG-Net generator: 0 of 10,000), as each op node needs exactly one of up to 5 source groups.
        ``node_types`` ``[B, (cells,) 11]`` are taken as decoded: a graph whose op nodes are not
        ops of this space, or whose output node is not the output, decodes to ``None``."""
        types = np.asarray(node_types)
        batch, cells = len(types), len(self._searched)
        types = types.reshape(batch * cells, NUM_NODES)
        logits = np.asarray(edge_logits, dtype=np.float64).reshape(batch * cells, -1)
        inputs = _conditioned_inputs(logits, sample, rng)
        ops = types[:, NUM_INPUTS:-1]
        valid = np.isin(ops, self._op_types).all(1) & (types[:, -1] == OUTPUT_TYPE)
        decoded: list[Cell | None] = [None] * len(types)
        for row in np.flatnonzero(valid).tolist():
            decoded[row] = tuple((NODE_TYPES[op], node) for op, node in zip(ops[row].tolist(), inputs[row].tolist()))
        groups = [decoded[row * cells:(row + 1) * cells] for row in range(batch)]
        return [None if None in group else self._assemble(group) for group in groups]

    def encode(self, archs: Sequence[DartsGenotype]) -> np.ndarray:
        """The searched cells' graphs flattened, one after the other: 176 floats per cell."""
        return self.graph.flatten(*self._graphs(archs))

    def encode_paths(self, archs: Sequence[DartsGenotype]) -> np.ndarray:
        """Path encoding (BANANAS, White et al.), per searched cell 5,600 bits: one per cell input
        (2) and op sequence of length 1..4 (7 + 7**2 + 7**3 + 7**4), set when some path from that
        input through ops of those kinds reaches an intermediate node (the output concatenates
        them all, so every such path reaches the output). Presence, not counts: a bit does not
        say how many paths share its sequence, as in BANANAS. A path through ``none`` carries
        nothing and is left out, so the width is the same for both op sets."""
        cells = [arch.cell(t) for arch in archs for t in self._searched]
        return _cell_paths(cells).reshape(len(archs), -1)

    # -- sampling and moves ------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> list[DartsGenotype]:
        """Random genotypes as NB301 and NASLib draw them, each searched cell independently."""
        per_cell = [_sample_cells(n, self.ops, rng) for _ in self._searched]
        return [self._assemble(cells) for cells in zip(*per_cell)]

    def mutate(self, arch: DartsGenotype, rng: np.random.Generator) -> DartsGenotype:
        """One searched cell drawn uniformly, then one pair's input or op changed (another key:
        a node's two inputs stay distinct, so any change changes its set of pairs)."""
        cell_type = self._searched[int(rng.integers(len(self._searched)))]
        return arch.replace_cell(cell_type, _mutate_cell(arch.cell(cell_type), self.ops, rng))

    def neighbours(self, arch: DartsGenotype) -> list[DartsGenotype]:
        """Every genotype one op change or one input change away in a searched cell, one per key:
        per cell ``8 * (|ops| - 1)`` op changes and 0, 2, 4, 6 input changes for nodes 2..5."""
        found = {self.key(arch): arch}
        for cell_type in self._searched:
            for cell in _cell_neighbours(arch.cell(cell_type), self.ops):
                neighbour = arch.replace_cell(cell_type, cell)
                found.setdefault(self.key(neighbour), neighbour)
        return list(found.values())[1:]

    def crossover(self, first: DartsGenotype, second: DartsGenotype, rng: np.random.Generator) -> DartsGenotype:
        """Per searched cell, each intermediate node with its two pairs from either parent."""
        return self._assemble([_cross_cells(first.cell(t), second.cell(t), rng) for t in self._searched])


class DartsSpace(_DartsCells):
    """The DARTS space: a normal and a reduction cell, both searched.

    ``ops``: ``nb301`` (the 7 ops of NAS-Bench-301, default; space ``darts``) or ``with_none``
    (adds ``none``, the 8-op set of DARTS supernets; space ``darts_with_none``: another set of
    architectures, which NB301 cannot score and a generator must learn apart)."""

    cell_types: tuple[str, ...] = CELL_TYPES

    def __init__(self, ops: str = "nb301") -> None:
        choose("DARTS op set (search_space.ops)", ops, tuple(OP_SETS))
        super().__init__(OP_SETS[ops], CELL_TYPES, fixed=None)
        self.name = "darts" if ops == "nb301" else f"darts_{ops}"

    def cell_view(self, cell_type: str, fixed: "DartsGenotype | str | Sequence") -> "DartsCellSpace":
        """The genotypes equal to ``fixed`` but in their ``cell_type`` cell, searched alone."""
        choose("DARTS cell type", cell_type, CELL_TYPES)
        return DartsCellSpace(self.ops, cell_type, self.parse(fixed))


class DartsCellSpace(_DartsCells):
    """One DARTS cell type searched, the other fixed (:meth:`DartsSpace.cell_view`).

    Architectures are whole genotypes with keys of the full space (its oracle records the
    queries); graphs, encodings, moves and :attr:`distinct_architectures` are the searched
    cell's. Both cell types share the name (``darts_cell`` for the 7 NB301 ops): AG-Net
    pretrains one generator on random cells for either."""

    def __init__(self, ops: tuple[str, ...], cell_type: str, fixed: DartsGenotype) -> None:
        super().__init__(ops, (cell_type,), fixed)
        self.name = "darts_cell" if ops == OPS else "darts_with_none_cell"
        self.cell_type = cell_type
        self.fixed = fixed
