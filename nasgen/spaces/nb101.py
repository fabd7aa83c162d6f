"""NAS-Bench-101 cell space (Ying et al., ICML 2019)."""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

# Operation labels of the official data, in the order whose index the graph hash uses.
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"


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
