"""The DARTS genotype (Liu, Simonyan, Yang: "DARTS: Differentiable Architecture Search", ICLR 2019).

A DARTS architecture is a normal and a reduction cell. A cell has two input nodes (0: the output
of the cell two back, ``c_{k-2}``; 1: of the previous cell, ``c_{k-1}``) and four intermediate
nodes 2..5; intermediate node ``j`` sums two operations, each applied to one earlier node, and
the cell's output concatenates the nodes of ``concat`` (always 2, 3, 4, 5 in this space).

:class:`DartsGenotype` holds the DARTS papers' form: per cell 8 ``(op, input)`` pairs, two per
intermediate node in node order. It is the form users paste from papers
(``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...],
reduce_concat=[2, 3, 4, 5])``), parsed and printed exactly: the pairs keep the order given, and
what is isomorphic (a node's two pairs swapped) is decided by the space's key, not here.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nasgen.errors import ConfigError

# The operations of NAS-Bench-301 and of the DARTS space without `none`, in the order of the NB301
# configuration space's choices (and of NASLib's op indices in its compact form).
OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")
# The op set of DARTS supernets: `none` (the zero op) first, as the DARTS code lists it.
OPS_WITH_NONE: tuple[str, ...] = ("none", *OPS)
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
NUM_INPUTS = 2            # c_{k-2}, c_{k-1}
NUM_INTERMEDIATE = 4      # nodes 2..5
EDGES_PER_NODE = 2
CONCAT: tuple[int, ...] = tuple(range(NUM_INPUTS, NUM_INPUTS + NUM_INTERMEDIATE))

Cell = tuple[tuple[str, int], ...]  # 8 (op, input node) pairs, two per intermediate node

# The edges of a DARTS *supernet* cell: every earlier node feeds every intermediate node, so
# node j has j incoming edges (2 + 3 + 4 + 5 = 14). Edge ids in the DARTS code's order: node 2's
# edges from nodes 0, 1, then node 3's from 0, 1, 2, ... ``SUPERNET_EDGES[e] = (input, target)``.
SUPERNET_EDGES: tuple[tuple[int, int], ...] = tuple(
    (source, target) for target in range(NUM_INPUTS, NUM_INPUTS + NUM_INTERMEDIATE) for source in range(target))
# The edge ids entering each intermediate node 2..5; a derived cell keeps EDGES_PER_NODE of each.
NODE_EDGES: tuple[tuple[int, ...], ...] = tuple(
    tuple(e for e, (_, target) in enumerate(SUPERNET_EDGES) if target == node) for node in CONCAT)
# `noise` (RobustDARTS' S4): a standard-normal tensor of the edge's output shape instead of an op
# of the input. Supernet-only: no DARTS/NB301 architecture carries it.
NOISE = "noise"

# RobustDARTS' S1 (Zela et al., ICLR 2020): two candidate ops per edge, different per edge and
# cell type, as darts-pt lists them (edge ids as SUPERNET_EDGES).
_S1 = {
    "normal": (("skip_connect", "dil_conv_3x3"), ("skip_connect", "dil_conv_5x5"), ("skip_connect", "dil_conv_5x5"),
               ("skip_connect", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"), ("max_pool_3x3", "skip_connect"),
               ("skip_connect", "sep_conv_3x3"), ("skip_connect", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"),
               ("skip_connect", "sep_conv_3x3"), ("max_pool_3x3", "skip_connect"), ("skip_connect", "dil_conv_3x3"),
               ("dil_conv_3x3", "dil_conv_5x5"), ("dil_conv_3x3", "dil_conv_5x5")),
    "reduce": (("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "dil_conv_3x3"), ("max_pool_3x3", "avg_pool_3x3"),
               ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"), ("max_pool_3x3", "avg_pool_3x3"),
               ("max_pool_3x3", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"), ("skip_connect", "dil_conv_5x5"),
               ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"),
               ("skip_connect", "dil_conv_5x5"), ("skip_connect", "dil_conv_5x5")),
}
# The candidate ops of DARTS supernets (``study.network.op_set``): `full` = the 7 NB301 ops
# (darts-pt's "s5": DARTS without `none`), `with_none` = DARTS' original 8, and RobustDARTS'
# reduced spaces S1-S4 (S2-S4 the same ops on every edge of both cells).
SUPERNET_OP_SETS: dict[str, tuple[str, ...] | dict[str, tuple[tuple[str, ...], ...]]] = {
    "full": OPS,
    "with_none": OPS_WITH_NONE,
    "s1": _S1,
    "s2": ("skip_connect", "sep_conv_3x3"),
    "s3": ("none", "skip_connect", "sep_conv_3x3"),
    "s4": (NOISE, "sep_conv_3x3"),
}


def supernet_edge_ops(op_set: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Per cell type (:data:`CELL_TYPES`) the candidate ops of each of the 14 supernet edges
    (:data:`SUPERNET_EDGES`) of the op set ``op_set`` (:data:`SUPERNET_OP_SETS`)."""
    if op_set not in SUPERNET_OP_SETS:
        raise ConfigError(f"unknown DARTS supernet op set {op_set!r}; valid choices: {', '.join(SUPERNET_OP_SETS)}")
    ops = SUPERNET_OP_SETS[op_set]
    if isinstance(ops, dict):
        return {cell_type: ops[cell_type] for cell_type in CELL_TYPES}
    return {cell_type: (ops,) * len(SUPERNET_EDGES) for cell_type in CELL_TYPES}


@dataclass(frozen=True)
class DartsGenotype:
    """A normal and a reduction cell in the DARTS papers' form (see the module docstring)."""

    normal: Cell
    reduce: Cell
    normal_concat: tuple[int, ...] = CONCAT
    reduce_concat: tuple[int, ...] = CONCAT

    def cell(self, cell_type: str) -> Cell:
        return self.normal if cell_type == "normal" else self.reduce

    def replace_cell(self, cell_type: str, cell: Cell) -> "DartsGenotype":
        return DartsGenotype(normal=cell if cell_type == "normal" else self.normal,
                             reduce=cell if cell_type == "reduce" else self.reduce,
                             normal_concat=self.normal_concat, reduce_concat=self.reduce_concat)

    def __str__(self) -> str:
        def pairs(cell: Cell) -> str:
            return "[" + ", ".join(f"({op!r}, {node})" for op, node in cell) + "]"

        return (f"Genotype(normal={pairs(self.normal)}, normal_concat={list(self.normal_concat)}, "
                f"reduce={pairs(self.reduce)}, reduce_concat={list(self.reduce_concat)})")


_EXAMPLE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5], "
            "reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5])")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def check_cell(cell: object, ops: tuple[str, ...] = OPS, what: str = "cell") -> Cell:
    """``cell`` as a :data:`Cell` if it is one of this space (8 pairs, known ops, node ``j``'s
    inputs earlier than ``j`` and distinct), else a :class:`ConfigError` saying what is wrong."""
    try:
        pairs = tuple((str(op), int(node)) for op, node in cell)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a list of (op, input node) pairs, got {cell!r}") from None
    if len(pairs) != NUM_INTERMEDIATE * EDGES_PER_NODE:
        raise ConfigError(f"{what} has {len(pairs)} (op, input) pairs; a DARTS cell has "
                          f"{NUM_INTERMEDIATE * EDGES_PER_NODE}, two per intermediate node")
    for position, (op, node) in enumerate(pairs):
        target = NUM_INPUTS + position // EDGES_PER_NODE
        if op not in ops:
            raise ConfigError(f"{what}: unknown op {op!r}; valid choices: {', '.join(ops)}")
        if not 0 <= node < target:
            raise ConfigError(f"{what}: node {target} takes input {node}; it can only take nodes 0..{target - 1}")
    for first in range(0, len(pairs), EDGES_PER_NODE):
        if pairs[first][1] == pairs[first + 1][1]:
            raise ConfigError(f"{what}: node {NUM_INPUTS + first // 2} takes node {pairs[first][1]} twice; "
                              "a DARTS node's two inputs are distinct")
    return pairs


def canonical_cell(cell: Cell) -> Cell:
    """``cell`` with each node's two pairs in a fixed order (by input node, then op name): the
    order of a node's two inputs does not change what the cell computes."""
    return tuple(pair for first in range(0, len(cell), EDGES_PER_NODE)
                 for pair in sorted(cell[first:first + EDGES_PER_NODE], key=lambda p: (p[1], p[0])))


def genotype_key(genotype: DartsGenotype) -> tuple[Cell, Cell]:
    """Identity of a genotype up to swapping a node's two inputs (in either cell)."""
    return canonical_cell(genotype.normal), canonical_cell(genotype.reduce)


def from_naslib(compact: object, ops: tuple[str, ...] = OPS) -> DartsGenotype:
    """A genotype from NASLib's compact form: ``(normal, reduce)``, each 8 ``(input node, op
    index)`` pairs with op indices into :data:`OPS` (the keys of NASLib's NB301 data files)."""
    if isinstance(compact, str):
        try:
            compact = ast.literal_eval(compact)
        except (SyntaxError, ValueError):
            raise ConfigError(f"not a NASLib compact DARTS genotype: {compact[:80]!r}") from None
    try:
        normal, reduce = ([(OPS[op], node) for node, op in cell] for cell in compact)  # type: ignore[union-attr]
    except (TypeError, ValueError, IndexError):
        raise ConfigError(f"not a NASLib compact DARTS genotype (two lists of 8 (input, op index) pairs, op "
                          f"index < {len(OPS)}): {str(compact)[:80]!r}") from None
    return DartsGenotype(normal=check_cell(normal, ops, "normal cell"),
                         reduce=check_cell(reduce, ops, "reduction cell"))


def to_naslib(genotype: DartsGenotype) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """NASLib's compact form of ``genotype`` (its cells must use only the ops of :data:`OPS`)."""
    return tuple(tuple((node, OPS.index(op)) for op, node in genotype.cell(t)) for t in CELL_TYPES)  # type: ignore[return-value]


def parse_genotype(text: str, ops: tuple[str, ...] = OPS) -> DartsGenotype:
    """A genotype from the DARTS papers' string form (``Genotype(normal=[...], normal_concat=[...],
    reduce=[...], reduce_concat=[...])``, the field order free, ``range(2, 6)`` accepted)."""
    match = re.fullmatch(r"\s*(?:\w+\.)*Genotype\s*\((.*)\)\s*", text, flags=re.S)
    if match is None:
        raise ConfigError(f"not a DARTS genotype string: {text[:80]!r}; expected e.g. {_EXAMPLE}")
    try:
        call = ast.parse(f"f({match.group(1)})", mode="eval").body
        fields = {keyword.arg: _literal(keyword.value) for keyword in call.keywords}  # type: ignore[attr-defined]
    except (SyntaxError, ValueError):
        raise ConfigError(f"cannot read the genotype {text[:80]!r}; expected e.g. {_EXAMPLE}") from None
    if set(fields) != set(_FIELDS):
        raise ConfigError(f"a genotype needs the fields {', '.join(_FIELDS)}, got {', '.join(map(str, fields))}")
    genotype = DartsGenotype(normal=check_cell(fields["normal"], ops, "normal cell"),
                             reduce=check_cell(fields["reduce"], ops, "reduction cell"),
                             normal_concat=tuple(fields["normal_concat"]),
                             reduce_concat=tuple(fields["reduce_concat"]))
    for name in ("normal_concat", "reduce_concat"):
        if getattr(genotype, name) != CONCAT:
            raise ConfigError(f"{name}={list(getattr(genotype, name))}: this space concatenates every "
                              f"intermediate node, {list(CONCAT)}")
    return genotype


def _literal(node: ast.expr) -> object:
    """A Python literal, or ``range(a, b)`` as its list (DARTS code writes ``range(2, 6)``)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        return list(range(*(ast.literal_eval(arg) for arg in node.args)))
    return ast.literal_eval(node)


# Ops without weights (``noise``: RobustDARTS' S4 op, a supernet-only op): the ops that crowd a
# DARTS cell when magnitude selection collapses.
PARAMETER_FREE_OPS: frozenset[str] = frozenset({"none", "skip_connect", "max_pool_3x3", "avg_pool_3x3", "noise"})
