"""Where correlation-clustering instances come from: files users have, and generators needing no download.

Every source is a small class built from a Hydra ``_target_`` (``configs/clustering/instance/``) whose
:meth:`InstanceSource.build` returns an :class:`~nasgen.clustering.instance.Instance`; the same settings
always build the same instance (a generator's random choices come from its own ``seed``, not the run's,
so every solver and solver seed of a study sees one instance).

Files (:class:`InstanceFile`, chosen by suffix):

* **text** (any suffix but ``.h5`` / ``.hdf5``), whitespace-separated, lines that are blank or start with
  ``#`` ignored. Either the header form

  .. code-block:: text

      <num_nodes> <num_edges>
      <u> <v> <weight>          (exactly num_edges lines)

  or the ``MULTICUT`` form of LPMP / RAMA (a first line ``MULTICUT``, then ``<u> <v> <weight>`` lines; the
  node count is the largest id + 1). Node ids are 0-based integers; ``weight`` is the cost of cutting the
  edge (``> 0`` attractive, ``< 0`` repulsive), the sign convention of Andres' multicut and of
  :class:`Instance`. Duplicate edges are summed, self-loops dropped.
* **OpenGM2 HDF5** (``.h5`` / ``.hdf5``, the format of the OpenGM benchmark models, e.g. the BSDS
  ``image-seg`` multicut instances of thesis ch. 8), only with ``h5py`` installed
  (``pip install h5py`` or ``pip install 'nasgen[clustering]'``). The group (default ``gm``) holds
  ``header`` (uint64: format version 2.0, number of variables, number of factors, number of function
  types, then per type its registration id and function count, then the value type), ``factors``
  (uint64, per factor: function index, function type index into the header's list, order, variable
  ids) and one ``function-id-<id>`` group per type with ``indices`` and ``values``. Accepted are
  second-order factors of Potts functions (id 16006: values ``[equal, not_equal]``) and of explicit
  tables (id 16000) in Potts form (one value on the diagonal, one off it): a factor's cost of cutting
  is ``not_equal - equal``. Other orders or function types are refused, naming them. OpenGM's energy
  differs from :meth:`Instance.objective` by the constant ``sum equal - sum_{E-} |phi|``.

Generators (each documents its weight model): :class:`ImageGrid` (pixel or block grids of real
images), :class:`KnnGraph` (k-NN graphs of images with a learned same-class probability and the
classes as ground truth), :class:`ArchitectureGraph` (a search space's cells joined by one-edit
neighbourhood, weights from accuracy similarity). Probabilities become weights through
:func:`weights_from_probability`, the log-odds of not cutting.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from nasgen.benchmarks.base import Benchmark, TabularBenchmark
from nasgen.clustering.instance import Instance
from nasgen.clustering.metrics import num_clusters
from nasgen.errors import ConfigError, DataError
from nasgen.paths import atomic_write, data_root
from nasgen.spaces.base import IndexedSpace, SearchSpace

log = logging.getLogger(__name__)

# Where users get the thesis' BSDS instances.
OPENGM_BENCHMARK = ("the OpenGM benchmark page (hciweb2.iwr.uni-heidelberg.de/opengm, 'benchmark', "
                    "the image-seg multicut models, OpenGM2 .h5 files)")
H5PY_HINT = "reading or writing OpenGM HDF5 files needs h5py: pip install h5py (or pip install 'nasgen[clustering]')"
HDF5_SUFFIXES = (".h5", ".hdf5")
EXPLICIT_FUNCTION, POTTS_FUNCTION = 16000, 16006  # OpenGM's FunctionRegistration ids
P_CLIP = 1e-6  # probabilities are clipped to [P_CLIP, 1 - P_CLIP]: |phi| <= log(1 / P_CLIP - 1) = 13.8


@runtime_checkable
class InstanceSource(Protocol):
    """Builds one instance; the same settings always build the same instance."""

    def build(self) -> Instance: ...


@runtime_checkable
class DescribesClusters(Protocol):
    """A source whose nodes carry values worth summarising per cluster (the accuracy of a cell)."""

    def describe_clusters(self, instance: Instance, partition: np.ndarray) -> dict: ...


def weights_from_probability(p_cut: np.ndarray) -> np.ndarray:
    """``phi = log((1 - p) / p)`` for the probability ``p`` that an edge's endpoints belong to different
    clusters: positive (attractive) below 1/2, negative above; ``p`` is clipped to
    ``[P_CLIP, 1 - P_CLIP]`` so that certainties give finite weights."""
    p = np.clip(np.asarray(p_cut, dtype=np.float64), P_CLIP, 1 - P_CLIP)
    return np.log1p(-p) - np.log(p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * z))  # overflow-free logistic function


# -- text files ----------------------------------------------------------------------------------
def read_text(path: "str | os.PathLike", name: str | None = None) -> Instance:
    """An instance from a text file (header or ``MULTICUT`` form, see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read instance file {path}: {exc}") from None
    rows = [(number, line.split()) for number, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise DataError(f"{path} holds no instance (only blank or # lines)")
    number, header = rows[0]
    if header == ["MULTICUT"]:
        num_nodes, expected = None, None
    else:
        try:
            num_nodes, expected = (int(v) for v in header)
        except ValueError:
            raise DataError(f"{path}:{number}: expected a header '<num_nodes> <num_edges>' or 'MULTICUT', "
                            f"got {' '.join(header)!r}") from None
    edges, weights = [], []
    for number, fields in rows[1:]:
        try:
            u, v, w = int(fields[0]), int(fields[1]), float(fields[2])
            if len(fields) != 3:
                raise ValueError
        except (ValueError, IndexError):
            raise DataError(f"{path}:{number}: expected '<u> <v> <weight>', got {' '.join(fields)!r}") from None
        if u < 0 or v < 0 or (num_nodes is not None and max(u, v) >= num_nodes):
            raise DataError(f"{path}:{number}: node id out of range 0..{(num_nodes or 1) - 1}: {u} {v}")
        edges.append((u, v))
        weights.append(w)
    if expected is not None and len(edges) != expected:
        raise DataError(f"{path}: the header announces {expected} edges, the file holds {len(edges)}")
    if num_nodes is None:
        num_nodes = max((max(e) for e in edges), default=-1) + 1
    return Instance.from_edges(name or path.stem, num_nodes, np.array(edges, dtype=np.int64).reshape(-1, 2),
                               np.array(weights, dtype=np.float64))


def write_text(instance: Instance, path: "str | os.PathLike") -> Path:
    """Write ``instance`` in the header text form (weights exactly, as ``repr`` of the float)."""
    path = Path(path)
    lines = [f"# correlation-clustering instance {instance.name}: cost of cutting u-v (> 0 attractive)",
             f"{instance.num_nodes} {instance.num_edges}"]
    lines += [f"{u} {v} {w!r}" for (u, v), w in zip(instance.edges.tolist(), instance.weights.tolist())]
    with atomic_write(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


# -- OpenGM2 HDF5 --------------------------------------------------------------------------------
def _h5py():
    try:
        import h5py
    except ImportError:
        raise DataError(H5PY_HINT) from None
    return h5py


def _potts_costs(type_id: int, indices: np.ndarray, values: np.ndarray, where: str) -> np.ndarray:
    """The cost of cutting (``not_equal - equal``) of each function of one type; NaN for a function
    that is no second-order Potts function (refused if a factor uses it)."""
    if type_id == POTTS_FUNCTION:
        return values[1::2] - values[0::2]
    if type_id != EXPLICIT_FUNCTION:
        raise DataError(f"{where}: OpenGM function type {type_id} is not supported; a multicut needs Potts "
                        f"functions ({POTTS_FUNCTION}) or explicit tables ({EXPLICIT_FUNCTION}) in Potts form")
    costs, i, j = [], 0, 0
    while i < len(indices):
        dim = int(indices[i])
        shape = tuple(int(s) for s in indices[i + 1:i + 1 + dim])
        size = int(np.prod(shape)) if dim else 1
        table = values[j:j + size]
        i, j = i + 1 + dim, j + size
        cost = np.nan
        if dim == 2 and shape[0] == shape[1] >= 2:
            table = table.reshape(shape)
            diagonal = np.diag(table)
            off = table[~np.eye(shape[0], dtype=bool)]
            if np.all(diagonal == diagonal[0]) and np.all(off == off[0]):
                cost = off[0] - diagonal[0]
        costs.append(cost)
    return np.array(costs, dtype=np.float64)


def read_opengm_hdf5(path: "str | os.PathLike", group: str = "gm", name: str | None = None) -> Instance:
    """A multicut instance from an OpenGM2 HDF5 file (layout in the module docstring)."""
    h5py = _h5py()
    path = Path(path)
    where = f"{path}:{group}"
    try:
        with h5py.File(path, "r") as f:
            if group not in f:
                raise DataError(f"{path} has no group {group!r} (groups: {', '.join(f) or 'none'}); "
                                f"set clustering.instance.group")
            gm = f[group]
            header = np.asarray(gm["header"][()], dtype=np.uint64)
            factors = np.asarray(gm["factors"][()], dtype=np.uint64) if "factors" in gm else np.zeros(0, np.uint64)
            if len(header) < 5 or (int(header[0]), int(header[1])) != (2, 0):
                raise DataError(f"{where} is no OpenGM2 model (header {header[:5].tolist()}, expected version 2.0)")
            num_nodes, num_factors, num_types = (int(v) for v in header[2:5])
            type_ids = [int(header[5 + 2 * t]) for t in range(num_types)]
            costs = []
            for t, type_id in enumerate(type_ids):
                if int(header[6 + 2 * t]) == 0:
                    costs.append(np.zeros(0))
                    continue
                functions = gm[f"function-id-{type_id}"]
                costs.append(_potts_costs(type_id, np.asarray(functions["indices"][()], dtype=np.int64),
                                          np.asarray(functions["values"][()], dtype=np.float64), where))
    except OSError as exc:
        raise DataError(f"cannot read OpenGM HDF5 file {path}: {exc}") from None
    except KeyError as exc:
        raise DataError(f"{where} lacks {exc} of the OpenGM2 layout (header, factors, function-id-<id>)") from None
    edges = np.zeros((num_factors, 2), dtype=np.int64)
    weights = np.zeros(num_factors, dtype=np.float64)
    position = 0
    for k in range(num_factors):
        function, type_index, order = (int(v) for v in factors[position:position + 3])
        variables = factors[position + 3:position + 3 + order]
        position += 3 + order
        if order != 2:
            raise DataError(f"{where}: factor {k} has order {order}; a multicut has second-order factors only")
        cost = costs[type_index][function]
        if np.isnan(cost):
            raise DataError(f"{where}: factor {k} uses an explicit table that is no second-order Potts function")
        edges[k], weights[k] = variables, cost
    return Instance.from_edges(name or path.stem, num_nodes, edges, weights)


def write_opengm_hdf5(instance: Instance, path: "str | os.PathLike", group: str = "gm") -> Path:
    """Write ``instance`` as an OpenGM2 model of Potts factors (``equal = 0``, ``not_equal = phi``), one
    label per node possible, so that OpenGM's multicut solvers read it."""
    h5py = _h5py()
    path = Path(path)
    n, m = instance.num_nodes, instance.num_edges
    header = [2, 0, n, m, 1, POTTS_FUNCTION, m, 1]  # 1: values stored as double
    factors = np.column_stack([np.arange(m), np.zeros(m), np.full(m, 2), instance.edges]).astype(np.uint64)
    with atomic_write(path, "w+b") as handle, h5py.File(handle, "w") as f:  # h5py seeks and reads back
        gm = f.create_group(group)
        gm["header"] = np.array(header, dtype=np.uint64)
        gm["numbers-of-states"] = np.full(n, n, dtype=np.uint64)
        functions = gm.create_group(f"function-id-{POTTS_FUNCTION}")
        functions["indices"] = np.full(2 * m, n, dtype=np.uint64)
        functions["values"] = np.column_stack([np.zeros(m), instance.weights]).ravel()
        gm["factors"] = factors.ravel()
    return path


def read_instance(path: "str | os.PathLike", group: str = "gm") -> Instance:
    """An instance from a text or (by suffix) OpenGM2 HDF5 file."""
    path = Path(path)
    if path.suffix.lower() in HDF5_SUFFIXES:
        return read_opengm_hdf5(path, group)
    return read_text(path)


class InstanceFile:
    """An instance from a user's file: ``path`` absolute, or relative to the working directory, else to
    ``data_root_dir`` (``$NASGEN_DATA``)."""

    def __init__(self, path: str, data_root_dir: str | None = None, group: str = "gm") -> None:
        self.path, self.data_root_dir, self.group = str(path), data_root_dir, group

    def resolve(self) -> Path:
        """The file to read; a :class:`DataError` naming where it was looked for and where the
        thesis' instances come from if it is nowhere."""
        given = Path(self.path).expanduser()
        root = data_root(self.data_root_dir)
        candidates = [given] + ([root / given] if root is not None and not given.is_absolute() else [])
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        looked = " or ".join(str(c) for c in candidates)
        raise DataError(f"instance file not found: {looked}; the thesis' BSDS instances come from {OPENGM_BENCHMARK}")

    def build(self) -> Instance:
        return read_instance(self.resolve(), self.group)


# -- image grids ---------------------------------------------------------------------------------
def grid_instance(image: np.ndarray, name: str, block: int = 1, theta: float = 0.25,
                  beta: float = 10.0) -> Instance:
    """The 4-connected grid of a 2-D ``image`` (values in [0, 1]), coarsened to ``block x block`` blocks.

    Weight model: a pixel edge with intensity difference ``d = |I_u - I_v|`` is a boundary with probability
    ``p = sigmoid(beta (d - theta))`` (differences above ``theta`` are more likely boundaries than not; ``beta``
    sets how sharply), so ``phi = log((1 - p) / p) = beta (theta - d)`` within the clip of
    :func:`weights_from_probability`. A block graph joins blocks that share a border and weighs the edge by
    the sum of the pixel edges crossing it: it is the pixel instance restricted to clusterings that keep
    every block whole (the objective of a block clustering equals that of its pixel clustering up to the
    constant of the repulsive edges inside blocks), a "superpixel" coarsening without a superpixel
    algorithm. Coordinates are the (x, y) centres of the blocks.
    """
    if image.ndim != 2:
        raise DataError(f"{name}: an image grid needs a 2-D image, got shape {image.shape}")
    if block < 1:
        raise ConfigError(f"clustering.instance.block must be >= 1, got {block}")
    height, width = image.shape
    ids = np.arange(height * width).reshape(height, width)
    pairs = np.concatenate([np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], 1),
                            np.stack([ids[:-1, :].ravel(), ids[1:, :].ravel()], 1)])
    flat = image.ravel().astype(np.float64)
    phi = weights_from_probability(_sigmoid(beta * (np.abs(flat[pairs[:, 0]] - flat[pairs[:, 1]]) - theta)))
    rows, cols = np.divmod(np.arange(height * width), width)
    block_cols = -(-width // block)
    node = (rows // block) * block_cols + cols // block
    num_nodes = int(node.max()) + 1
    sizes = np.bincount(node, minlength=num_nodes)
    centres = np.stack([np.bincount(node, cols, num_nodes), np.bincount(node, rows, num_nodes)], 1) / sizes[:, None]
    # pixel edges inside a block become self-loops (dropped); parallel block edges are summed
    return Instance.from_edges(name, num_nodes, node[pairs], phi, coordinates=centres)


class ImageGrid:
    """One image of an image dataset (``nasgen.data.datasets``: digits 8x8 needs no set-up, Fashion-MNIST /
    MNIST 28x28 their IDX files) as a grid instance (:func:`grid_instance`); colour images are averaged
    to grey. 8x8 digits: 64 nodes, 112 edges; 28x28: 784 nodes, 1,512 edges (block 2: 196 and 364)."""

    def __init__(self, dataset: str = "digits", split: str = "test", index: int = 0, block: int = 1,
                 theta: float = 0.25, beta: float = 10.0, data_root_dir: str | None = None) -> None:
        self.dataset, self.split, self.index, self.block = dataset, split, int(index), int(block)
        self.theta, self.beta, self.data_root_dir = float(theta), float(beta), data_root_dir

    def build(self) -> Instance:
        from nasgen.data.datasets import load_dataset

        images = load_dataset(self.dataset, self.data_root_dir).split(self.split)
        if not 0 <= self.index < len(images):
            raise ConfigError(f"clustering.instance.index must be in 0..{len(images) - 1} for {self.dataset} "
                              f"{self.split}, got {self.index}")
        image = images.pixels()[self.index].mean(0).numpy()
        name = f"{self.dataset}-{self.split}{self.index}-grid" + (f"-b{self.block}" if self.block > 1 else "")
        return grid_instance(image, name, self.block, self.theta, self.beta)


# -- k-NN graphs ---------------------------------------------------------------------------------
def knn_pairs(x: np.ndarray, k: int) -> np.ndarray:
    """``[E, 2]`` the symmetric k-nearest-neighbour graph (Euclidean) of the rows of ``x``: ``u-v`` is an
    edge if either is among the other's ``k`` nearest, itself excluded."""
    from sklearn.neighbors import NearestNeighbors

    if not 1 <= k < len(x):
        raise ConfigError(f"clustering.instance.k must be in 1..{len(x) - 1} for {len(x)} points, got {k}")
    neighbours = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(return_distance=False)
    pairs = np.sort(np.stack([np.repeat(np.arange(len(x)), k), neighbours.ravel()], 1), axis=1)
    return np.unique(pairs, axis=0)


class KnnGraph:
    """The k-NN graph of ``nodes`` random images of one split, weighted by a learned same-class probability;
    the images' classes are the ground truth (Rand index, variation of information).

    Weight model: a logistic regression on the pair feature ``|a - b|`` (pixel-wise absolute difference,
    standardised) predicts ``q = P(same class)``; it is trained on the edges of ``train_graphs`` k-NN graphs
    built like the instance (``nodes`` random images each, k the same) from disjoint images of
    ``train_split``, so it is calibrated for the pairs such a graph contains. ``phi = log(q / (1 - q))``
    (:func:`weights_from_probability` of ``1 - q``).

    Failed designs: training on random pairs (nine in ten of them join different digits, so every edge
    looked repulsive); training on the k-NN graph of 1,000 training images for a 300-node instance: denser
    points have closer, more often same-class neighbours (96 % of its edges vs 86 % in the instance), so
    the model called cross-class edges attractive and the optimum merged digits (Rand index 0.50).
    """

    def __init__(self, dataset: str = "digits", split: str = "test", nodes: int = 300, k: int = 5,
                 train_split: str = "train", train_graphs: int = 3, seed: int = 0,
                 data_root_dir: str | None = None) -> None:
        if split == train_split:
            raise ConfigError(f"clustering.instance.train_split must differ from split ({split}): the same-class "
                              "model is trained on images that are not nodes")
        if train_graphs < 1:
            raise ConfigError(f"clustering.instance.train_graphs must be >= 1, got {train_graphs}")
        self.dataset, self.split, self.nodes, self.k = dataset, split, int(nodes), int(k)
        self.train_split, self.train_graphs, self.seed = train_split, int(train_graphs), int(seed)
        self.data_root_dir = data_root_dir

    def _graphs(self, data, split: str, count: int, rng: np.random.Generator,
                what: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """``count`` disjoint random sets of ``nodes`` images of ``split``: (pixels, labels) each."""
        from nasgen.data.datasets import to_unit

        images = data.split(split)
        if not 2 <= self.nodes * count <= len(images):
            raise ConfigError(f"{what}: {count} x {self.nodes} images needed, {self.dataset} {split} has {len(images)}")
        chosen = np.sort(rng.permutation(len(images))[:self.nodes * count].reshape(count, self.nodes), axis=1)
        # only the chosen images become floats: Fashion-MNIST's whole training split in float64 is 0.35 GB
        pixels = to_unit(images.images[chosen.ravel()]).flatten(1).numpy().astype(np.float64)
        return list(zip(pixels.reshape(count, self.nodes, -1), images.labels.numpy()[chosen]))

    def build(self) -> Instance:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from nasgen.data.datasets import load_dataset

        data = load_dataset(self.dataset, self.data_root_dir)
        rng = np.random.default_rng(self.seed)
        [(x, y)] = self._graphs(data, self.split, 1, rng, "clustering.instance.nodes")
        features, same = [], []
        for x_train, y_train in self._graphs(data, self.train_split, self.train_graphs, rng,
                                             "clustering.instance.train_graphs"):
            train_pairs = knn_pairs(x_train, self.k)
            features.append(np.abs(x_train[train_pairs[:, 0]] - x_train[train_pairs[:, 1]]))
            same.append(y_train[train_pairs[:, 0]] == y_train[train_pairs[:, 1]])
        same = np.concatenate(same)
        if same.all() or not same.any():
            raise ConfigError(f"the k-NN pairs of the training graphs all join {'one' if same.all() else 'different'} "
                              "class(es); use other nodes, k or train_graphs")
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(np.concatenate(features), same)
        pairs = knn_pairs(x, self.k)
        q = model.predict_proba(np.abs(x[pairs[:, 0]] - x[pairs[:, 1]]))[:, 1]
        truth = y[pairs[:, 0]] == y[pairs[:, 1]]
        log.info("same-class model: %d training pairs (%.0f%% same class); the instance's %d edges join one class in "
                 "%.0f%%, the model's sign agrees with the classes on %.0f%%", len(same), 100 * same.mean(), len(pairs),
                 100 * truth.mean(), 100 * np.mean((q > 0.5) == truth))
        name = f"{self.dataset}-{self.split}-knn{self.k}-n{self.nodes}-s{self.seed}"
        return Instance.from_edges(name, self.nodes, pairs, weights_from_probability(1 - q), labels=y)


# -- architecture graphs -------------------------------------------------------------------------
class ArchitectureGraph:
    """Cells of a search space as nodes, joined when they differ in one operation (``space.neighbours``),
    weighted by how similar their benchmark accuracies are: a clustering splits the space into
    performance regions.

    Weight model: cells whose ``metric`` (accuracy in %) differs by ``d`` points belong to different
    regions with probability ``p = sigmoid((d - threshold) / scale)``, so ``phi = (threshold - d) / scale``
    within the clip of :func:`weights_from_probability`: neighbours closer than ``threshold`` points attract.

    ``cells``: ``"all"``, or that many cells forming a ball around a random cell (breadth-first in edit
    distance, each cell's neighbours in random order). Failed design: that many uniformly random cells;
    a cell has 24 of NB201's 15,625 cells as neighbours, so 500 random cells have about 0.8 neighbours
    each among themselves, an almost edgeless graph.
    """

    def __init__(self, space: SearchSpace, benchmark: Benchmark, metric: str = "cifar10/valid_acc@200",
                 cells: "int | str" = 500, threshold: float = 1.0, scale: float = 0.5, seed: int = 0) -> None:
        if not isinstance(space, IndexedSpace):
            raise ConfigError(f"an architecture graph needs an enumerable search space; {type(space).__name__} is not")
        if not isinstance(benchmark, TabularBenchmark):
            raise ConfigError(f"an architecture graph needs a tabular benchmark; {type(benchmark).__name__} is not")
        if metric not in benchmark.metrics:
            raise ConfigError(f"unknown metric {metric!r} of the benchmark; valid: {', '.join(benchmark.metrics)}")
        if cells != "all" and not (isinstance(cells, int) and 2 <= cells <= len(space)):
            raise ConfigError(f"clustering.instance.cells must be 'all' or in 2..{len(space)}, got {cells!r}")
        if scale <= 0:
            raise ConfigError(f"clustering.instance.scale must be > 0, got {scale}")
        self.space, self.benchmark, self.metric = space, benchmark, metric
        self.cells, self.threshold, self.scale, self.seed = cells, float(threshold), float(scale), int(seed)

    def selected(self) -> np.ndarray:
        """The space indices of the cells that are the nodes, in node order."""
        if self.cells == "all":
            return np.arange(len(self.space))
        rng = np.random.default_rng(self.seed)
        start = int(rng.integers(len(self.space)))
        order, seen, queue = [start], {start}, deque([start])
        while queue and len(order) < self.cells:
            neighbours = [self.space.index(a) for a in self.space.neighbours(self.space.from_index(queue.popleft()))]
            for index in rng.permutation(neighbours):
                if int(index) not in seen and len(order) < self.cells:
                    seen.add(int(index))
                    order.append(int(index))
                    queue.append(int(index))
        return np.array(order, dtype=np.int64)

    def build(self) -> Instance:
        cells = self.selected()
        node_of = np.full(len(self.space), -1, dtype=np.int64)
        node_of[cells] = np.arange(len(cells))
        pairs = [(u, int(node_of[self.space.index(a)])) for u, cell in enumerate(cells.tolist())
                 for a in self.space.neighbours(self.space.from_index(cell))]
        pairs = np.array([p for p in pairs if p[0] < p[1]], dtype=np.int64).reshape(-1, 2)
        values = self.benchmark.column(self.metric)[cells]
        gap = np.abs(values[pairs[:, 0]] - values[pairs[:, 1]])
        phi = weights_from_probability(_sigmoid((gap - self.threshold) / self.scale))
        name = f"{self.space.name}-archgraph-{self.cells}" + ("" if self.cells == "all" else f"-s{self.seed}")
        return Instance.from_edges(name, len(cells), pairs, phi)

    def describe_clusters(self, instance: Instance, partition: np.ndarray, top: int = 20) -> dict:
        """The ``top`` largest clusters: size, mean / min / max of the metric and the best cell."""
        cells = self.selected()
        values = self.benchmark.column(self.metric)[cells]
        labels, sizes = np.unique(partition, return_counts=True)
        clusters = []
        for label in labels[np.argsort(-sizes, kind="stable")][:top]:
            members = np.flatnonzero(partition == label)
            best = members[np.argmax(values[members])]
            clusters.append({"size": len(members), "mean": float(values[members].mean()),
                             "min": float(values[members].min()), "max": float(values[members].max()),
                             "best_cell": self.space.to_str(self.space.from_index(int(cells[best])))})
        return {"metric": self.metric, "clusters": num_clusters(partition), "singletons": int(np.sum(sizes == 1)),
                "largest": clusters}
