"""NAS-Bench-301 (Siems, Zimmer, Zela, Lukasik, Keuper, Hutter 2020): CIFAR-10 on the DARTS space.

NB301 trained ~60k DARTS architectures (32 initial channels, 8 cells, 100 epochs of cosine-annealed
SGD: ``T_max`` 100 in the data's configurations) and fits surrogate models to them; the space has
~10^18 cells, so a query is a model's prediction, not a measurement. There is no test accuracy:
searches are compared on (predicted) validation accuracy, as Lukasik's thesis does (Table 5.3).

Sources (``source`` in ``configs/benchmark/nb301.yaml``):

- ``yahpo`` (default): the YAHPO-Gym v2 NB301 surrogate (``slds-lmu/yahpo_data``, folder ``nb301``:
  ``model_v2.onnx``, ``encoding_v2.json``), a ResNet on the NB301 learning curves read with
  onnxruntime. Its inputs: 34 categorical codes (``x_cat``, int32; the order of yahpo-gym's
  ``cat_names``, the codes of ``encoding_v2.json``, ``#na#`` for inactive edges) and the epoch
  (``x_cont``, float, raw: the model standardises it itself); its 4 outputs, raw (de-scaled inside
  the model) in the order of yahpo-gym's v2 targets: validation accuracy (a fraction), validation
  cross-entropy, runtime (seconds of training up to that epoch) and ``runtime_increase`` (not
  exposed: yahpo documents it nowhere). Metrics at ``epoch`` (1..98, the fidelity range of YAHPO's
  config space; 98 is its last epoch): ``nb301_yahpo/cifar10/valid_acc@<epoch>`` (%),
  ``nb301_yahpo/cifar10/valid_loss@<epoch>``, ``nb301_yahpo/cifar10/train_seconds@<epoch>``.
  The model is deterministic (no dropout at inference, no noise: the same input gives the same
  output, whatever the batch); ``tests/test_benchmark_nb301.py`` checks nasgen against yahpo-gym's
  own predictions (``scripts/yahpo_nb301_fixture.py``).
- ``naslib_zc``: NASLib's zero-cost table of NB301 data cells (``naslib_zc_nb301_subset.json``, 500
  real trained architectures), a partial table: ``nb301_data/cifar10/valid_acc@100`` (the measured
  validation accuracy after the 100 training epochs), ``params_M``, ``flops_M`` and the proxies as
  ``zc/<name>``. Real measurements, so no ``surrogate``.
- ``xgb``: the official NB301 v1.0 XGBoost ensemble (``nb_models_1.0.zip`` of the NB301 release,
  folder ``xgb_v1.0``; user-supplied via ``path``), read with ``xgboost`` without the
  ``nasbench301`` package: each member folder holds ``surrogate_model.model``, a pickled
  ``xgboost.Booster``. A genotype is queried as nasbench301 does: the NB301 configuration of the
  architecture merged with its fixed training hyperparameters, as the ConfigSpace vector of
  nasbench301's ``configspace.json`` (:func:`xgb_vector`; inactive edges -1). The prediction is
  the mean of the members (nasbench301's ``with_noise=False``; its default adds Gaussian noise of
  the members' spread, which would make a query random). Metric ``nb301_xgb/cifar10/valid_acc@100``.
  The GIN ensemble of the same release is not supported: it needs PyTorch Geometric models pickled
  with nasbench301's own classes, i.e. the ``nasbench301`` package itself.

The NB301 configuration of a genotype: per cell, intermediate node ``j`` (2..5) has edges from each
earlier node, numbered consecutively (node 2: edges 0, 1; node 3: 2..4; node 4: 5..8; node 5:
9..13; edge = first edge of ``j`` + input node); ``edge_<cell>_<edge>`` is the op of an active edge,
``inputs_node_<cell>_<j>`` (j = 3..5) the node's two inputs as ``"a_b"`` (sorted); node 2 always
takes inputs 0 and 1. Edges a node does not take are inactive.
"""
from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from nasgen.benchmarks.base import TableLookups, UnitsFromNames
from nasgen.benchmarks.nb101 import ZC_PROXIES
from nasgen.errors import ConfigError, DataError, choose
from nasgen.paths import data_root
from nasgen.spaces.darts import DartsSpace
from nasgen.spaces.darts_genotype import (
    CELL_TYPES,
    EDGES_PER_NODE,
    NUM_INPUTS,
    NUM_INTERMEDIATE,
    OPS,
    Cell,
    DartsGenotype,
    check_cell,
)

SOURCES = ("yahpo", "naslib_zc", "xgb")
DATA_EPOCHS = 100  # NB301's training budget (cosine annealing, T_max = 100)
YAHPO_EPOCHS = range(1, 99)  # YAHPO's fidelity: epochs 1..98 of the NB301 learning curves
NODES = range(NUM_INPUTS, NUM_INPUTS + NUM_INTERMEDIATE)
EDGES_PER_CELL = sum(NODES)  # node j has an edge from each of its j predecessors: 2+3+4+5 = 14
NA = "#na#"  # YAHPO's code for an inactive hyperparameter
NB301_PREFIX = "NetworkSelectorDatasetInfo:darts:"

# Where each source lies under <data_root>/nb301/ unless benchmark.path says otherwise.
DEFAULT_PATHS = {"yahpo": "yahpo_surrogate", "naslib_zc": "naslib_zc_nb301_subset.json",
                 "xgb": "nb_models_1.0/xgb_v1.0"}
YAHPO_FILES = ("model_v2.onnx", "encoding_v2.json")
HINTS = {
    "yahpo": "the YAHPO-Gym surrogate of NB301: folder nb301/ of github.com/slds-lmu/yahpo_data (model_v2.onnx, "
             "encoding_v2.json); a copy is in nasgen's shared benchmark folder "
             "(shared/benchmarks/nb301/yahpo_surrogate)",
    "naslib_zc": "NASLib's zero-cost benchmark file (github.com/automl/NASLib); a 500-cell copy is in nasgen's "
                 "shared benchmark folder (shared/benchmarks/nb301/)",
    "xgb": "the official NB301 surrogates nb_models_1.0.zip (https://ndownloader.figshare.com/files/24992018, "
           "github.com/automl/nasbench301); unzip it and point benchmark.path at its xgb_v1.0 folder",
}


def first_edge(node: int) -> int:
    """NB301's number of the edge from node 0 into intermediate node ``node`` (edges of a cell
    are numbered node by node, each node's from input 0 upwards)."""
    return sum(range(NUM_INPUTS, node))


def architecture_names(cell_type: str) -> list[str]:
    """The NB301 hyperparameters of one cell (without prefix): its 14 edges, then the inputs of
    nodes 3..5, in the order of yahpo-gym's ``cat_names``."""
    return ([f"edge_{cell_type}_{edge}" for edge in range(EDGES_PER_CELL)]
            + [f"inputs_node_{cell_type}_{node}" for node in NODES[1:]])


# yahpo-gym's column order of x_cat: the normal cell's edges, the reduction cell's, then the inputs
YAHPO_COLUMNS = tuple(name for part in ("edge", "inputs_node") for cell_type in CELL_TYPES
                      for name in architecture_names(cell_type) if name.startswith(part + "_"))


def genotype_config(genotype: DartsGenotype) -> dict[str, str]:
    """The active NB301 hyperparameters (names without prefix) of ``genotype``."""
    config = {}
    for cell_type in CELL_TYPES:
        cell = genotype.cell(cell_type)
        for node in NODES:
            pairs = cell[(node - NUM_INPUTS) * EDGES_PER_NODE:(node - NUM_INPUTS + 1) * EDGES_PER_NODE]
            config.update({f"edge_{cell_type}_{first_edge(node) + source}": op for op, source in pairs})
            if node > NUM_INPUTS:
                config[f"inputs_node_{cell_type}_{node}"] = "_".join(str(s) for s in sorted(s for _, s in pairs))
    return config


def config_genotype(config: Mapping[str, str]) -> DartsGenotype:
    """The genotype of an NB301 configuration (names without prefix; inactive edges absent or
    ``#na#``); each node's pairs in input order. A :class:`ConfigError` if it is not one."""
    cells: dict[str, Cell] = {}
    for cell_type in CELL_TYPES:
        pairs = []
        for node in NODES:
            try:
                inputs = (0, 1) if node == NUM_INPUTS else tuple(
                    int(s) for s in config[f"inputs_node_{cell_type}_{node}"].split("_"))
                pairs += [(config[f"edge_{cell_type}_{first_edge(node) + source}"], source) for source in inputs]
            except (KeyError, ValueError) as exc:
                raise ConfigError(f"not an NB301 configuration: node {node} of the {cell_type} cell "
                                  f"lacks {exc}") from None
        cells[cell_type] = check_cell(pairs, OPS, f"{cell_type} cell")
    return DartsGenotype(normal=cells["normal"], reduce=cells["reduce"])


def _locate(source: str, path: "str | None", data_root_dir: "str | None") -> Path:
    """``path``, or the default location of ``source`` under the data root."""
    if path is not None:
        return Path(path).expanduser()
    root = data_root(data_root_dir)
    if root is None:
        raise DataError(f"benchmark=nb301 source={source} needs benchmark.path or data_root ($NASGEN_DATA) "
                        f"holding nb301/{DEFAULT_PATHS[source]} ({HINTS[source]})")
    return root / "nb301" / DEFAULT_PATHS[source]


def _missing(source: str, path: Path) -> DataError:
    return DataError(f"NB301 {source} file not found: {path} ({HINTS[source]}); put it there or set benchmark.path")


class YahpoSurrogate:
    """The YAHPO-Gym v2 NB301 ONNX model (see the module docstring): genotypes -> its 4 outputs."""

    OUTPUTS = ("val_accuracy", "val_cross_entropy", "runtime", "runtime_increase")

    def __init__(self, folder: Path) -> None:
        model, encoding = (folder / name for name in YAHPO_FILES)
        for file in (model, encoding):
            if not file.is_file():
                raise _missing("yahpo", file)
        try:
            codes = json.loads(encoding.read_text())
            self.codes = [codes[name.replace(":", "_COLON_")] for name in self.yahpo_names()]
        except (ValueError, KeyError) as exc:
            raise DataError(f"{encoding} is not YAHPO's NB301 encoding_v2.json ({type(exc).__name__}: {exc}); "
                            f"{HINTS['yahpo']}") from None
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # one thread: the model is small, and nasgen's runs share the machine's cores
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(str(model), sess_options=options,
                                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise DataError(f"{model} is not a readable ONNX model ({exc}); {HINTS['yahpo']}") from None

    @staticmethod
    def yahpo_names() -> list[str]:
        return [NB301_PREFIX + name for name in YAHPO_COLUMNS]

    def encode(self, genotypes: Sequence[DartsGenotype]) -> np.ndarray:
        """``x_cat``: per genotype the 34 codes of its configuration (int32)."""
        configs = [genotype_config(g) for g in genotypes]
        return np.array([[codes[config.get(name, NA)] for name, codes in zip(YAHPO_COLUMNS, self.codes)]
                         for config in configs], dtype=np.int32).reshape(len(configs), len(YAHPO_COLUMNS))

    def predict(self, genotypes: Sequence[DartsGenotype], epoch: int) -> np.ndarray:
        """The model's raw outputs [len(genotypes), 4] (float64), one ONNX run for all."""
        if not genotypes:
            return np.zeros((0, len(self.OUTPUTS)))
        x_cat = self.encode(genotypes)
        x_cont = np.full((len(x_cat), 1), epoch, dtype=np.float32)
        return self.session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0].astype(np.float64)


# nasbench301's api.fixed_hyperparameters, the training setup its surrogates are queried with, as
# the ConfigSpace vector entries of its configspace.json (categoricals: index of the value among the
# choices; constants: 0; integers and floats: their position in the range, on a log scale where
# the space says log; normal floats with log: the log of the value). Checked against ConfigSpace's
# own get_array in tests/fixtures/nb301_xgb_vectors.json.
def _unit(value: float, lower: float, upper: float, log: bool = False, integer: bool = False) -> float:
    if integer:  # ConfigSpace widens an integer range by just under half a step on each side
        lower, upper = lower - 0.49999, upper + 0.49999
    if log:
        value, lower, upper = np.log(value), np.log(lower), np.log(upper)
    return float((value - lower) / (upper - lower))


_XGB_FIXED = {
    "CreateImageDataLoader:batch_size": _unit(96, 64, 128, log=True, integer=True),
    "ImageAugmentation:augment": 0.0, "ImageAugmentation:autoaugment": 0.0, "ImageAugmentation:cutout": 0.0,
    "ImageAugmentation:cutout_holes": _unit(1, 1, 3, integer=True),
    "ImageAugmentation:cutout_length": _unit(16, 1, 50, integer=True),
    "ImageAugmentation:fastautoaugment": 0.0, "LossModuleSelectorIndices:loss_module": 0.0,
    "NetworkSelectorDatasetInfo:darts:auxiliary": 0.0, "NetworkSelectorDatasetInfo:darts:drop_path_prob": 0.0,
    # nasbench301 replaces the constants init_channels, layers, T_max and eta_min by wide ranges
    "NetworkSelectorDatasetInfo:darts:init_channels": _unit(32, 1, 10000, integer=True),
    "NetworkSelectorDatasetInfo:darts:layers": _unit(8, 1, 10000, integer=True),
    "NetworkSelectorDatasetInfo:network": 0.0, "OptimizerSelector:optimizer": 0.0,
    "OptimizerSelector:sgd:learning_rate": float(np.log(0.025)),
    "OptimizerSelector:sgd:momentum": _unit(0.9, 0.1, 0.99),
    "OptimizerSelector:sgd:weight_decay": float(np.log(0.0003)),
    "SimpleLearningrateSchedulerSelector:cosine_annealing:T_max": _unit(DATA_EPOCHS, 1, 10000, integer=True),
    "SimpleLearningrateSchedulerSelector:cosine_annealing:eta_min": _unit(1e-8, 0, 10000),
    "SimpleLearningrateSchedulerSelector:lr_scheduler": 0.0, "SimpleTrainNode:batch_loss_computation_technique": 0.0,
    "SimpleTrainNode:mixup:alpha": _unit(0.2, 0.01, 0.7, log=True),
}
# The vector's order is ConfigSpace's: unconditional hyperparameters by name, then the conditional
# ones (edges 2..13) by name, as strings ("edge_normal_10" before "edge_normal_2").
_UNCONDITIONAL_EDGES = [f"{NB301_PREFIX}edge_{t}_{e}" for t in CELL_TYPES for e in range(EDGES_PER_NODE)]
_INPUT_NODES = [f"{NB301_PREFIX}inputs_node_{t}_{n}" for t in CELL_TYPES for n in NODES[1:]]
XGB_FEATURES = (tuple(sorted([*_XGB_FIXED, *_UNCONDITIONAL_EDGES, *_INPUT_NODES]))
                + tuple(sorted(f"{NB301_PREFIX}edge_{t}_{e}" for t in CELL_TYPES
                               for e in range(EDGES_PER_NODE, EDGES_PER_CELL))))
_INPUT_CHOICES = {node: [f"{a}_{b}" for a in range(node) for b in range(a + 1, node)] for node in NODES[1:]}


def xgb_vector(genotype: DartsGenotype) -> np.ndarray:
    """The 56 features the NB301 XGB surrogate is queried with for ``genotype`` (float64)."""
    values = dict(_XGB_FIXED)
    for name, value in genotype_config(genotype).items():
        choices = _INPUT_CHOICES[int(name.rsplit("_", 1)[1])] if name.startswith("inputs_node") else OPS
        values[NB301_PREFIX + name] = float(choices.index(value))
    return np.array([values.get(name, -1.0) for name in XGB_FEATURES])


class _BoosterOnly(pickle.Unpickler):
    """Unpickles an ``xgboost.Booster`` and nothing else (no code from a model file runs)."""

    def find_class(self, module: str, name: str):
        import xgboost

        if (module, name) == ("xgboost.core", "Booster"):
            return xgboost.Booster
        if (module, name) == ("builtins", "bytearray"):
            return bytearray
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a pickled xgboost.Booster")


class XGBEnsemble:
    """NB301's XGB surrogate ensemble (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise _missing("xgb", folder)
        self.files = sorted(folder.rglob("surrogate_model.model"))
        if not self.files:
            raise DataError(f"{folder} holds no ensemble member (*/surrogate_model.model); {HINTS['xgb']}")
        self.members = [self._load(file) for file in self.files]

    @staticmethod
    def _load(file: Path):
        config = file.parent / "model_config.json"
        try:
            model = json.loads(config.read_text()).get("model") if config.is_file() else "xgb"
            if model != "xgb":
                raise DataError(f"{file} is a {model!r} surrogate, not NB301's xgb; {HINTS['xgb']}")
            return _BoosterOnly(io.BytesIO(file.read_bytes())).load()
        except (OSError, ValueError, EOFError, pickle.UnpicklingError, AttributeError) as exc:
            raise DataError(f"cannot read the NB301 XGB member {file} ({type(exc).__name__}: {exc}); "
                            f"{HINTS['xgb']}") from None

    def predict(self, genotypes: Sequence[DartsGenotype]) -> np.ndarray:
        import xgboost

        if not genotypes:
            return np.zeros(0)
        features = xgboost.DMatrix(np.stack([xgb_vector(g) for g in genotypes]))
        return np.mean([member.predict(features) for member in self.members], axis=0).astype(np.float64)


class _NB301Surrogate(UnitsFromNames):
    """An NB301 surrogate as a :class:`~nasgen.benchmarks.base.Benchmark` (and
    :class:`~nasgen.benchmarks.base.SurrogateBenchmark`): every genotype has values, none is
    known to be best."""

    name = "nb301"
    surrogate: str

    def __init__(self, columns: dict[str, int]) -> None:
        self.space = DartsSpace()
        self._columns = columns  # metric -> column of _predict's output

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self._columns)

    def _predict(self, archs: Sequence[DartsGenotype]) -> np.ndarray:
        """[len(archs), columns] in the units of the metric names."""
        raise NotImplementedError

    def query(self, archs: Sequence[DartsGenotype], metric: str) -> np.ndarray:
        choose(f"metric of NB301 {self.surrogate}", metric, self.metrics)
        return self._predict(list(archs))[:, self._columns[metric]]

    def optimum(self, metric: str, maximize: bool = True) -> float | None:
        return None


class NB301Yahpo(_NB301Surrogate):
    surrogate = "YAHPO-Gym v2 nb301 ONNX surrogate"

    def __init__(self, folder: Path, epoch: int) -> None:
        if epoch not in YAHPO_EPOCHS:
            raise ConfigError(f"benchmark.epoch={epoch}: the YAHPO NB301 surrogate predicts epochs "
                              f"{YAHPO_EPOCHS.start}..{YAHPO_EPOCHS.stop - 1}")
        super().__init__({f"nb301_yahpo/cifar10/{name}@{epoch}": column
                          for column, name in enumerate(("valid_acc", "valid_loss", "train_seconds"))})
        self.model, self.epoch = YahpoSurrogate(folder), epoch

    def _predict(self, archs: Sequence[DartsGenotype]) -> np.ndarray:
        outputs = self.model.predict(archs, self.epoch)
        outputs[:, 0] *= 100.0  # a fraction -> %
        return outputs


class NB301XGB(_NB301Surrogate):
    surrogate = "NB301 v1.0 XGB surrogate ensemble (mean of members)"

    def __init__(self, folder: Path) -> None:
        super().__init__({f"nb301_xgb/cifar10/valid_acc@{DATA_EPOCHS}": 0})
        self.model = XGBEnsemble(folder)

    def _predict(self, archs: Sequence[DartsGenotype]) -> np.ndarray:
        return self.model.predict(archs)[:, None]


def read_naslib_zc(path: Path) -> tuple[list[DartsGenotype], dict[str, np.ndarray]]:
    """Genotypes and metric columns of NASLib's NB301 zero-cost table
    (``{"nasbench301": {"cifar10": {compact genotype: {val_accuracy, params, flops, <proxies>}}}}``)."""
    from nasgen.spaces.darts_genotype import from_naslib, genotype_key

    fields = {f"nb301_data/cifar10/valid_acc@{DATA_EPOCHS}": "val_accuracy", "params_M": "params", "flops_M": "flops",
              **{f"zc/{proxy}": proxy for proxy in ZC_PROXIES}}
    if not path.is_file():
        raise _missing("naslib_zc", path)
    try:
        entries = json.loads(path.read_text())["nasbench301"]["cifar10"]
        genotypes = [from_naslib(text) for text in entries]
        values = np.array([[float(entry.get(field, np.nan)) for field in fields.values()]
                           for entry in entries.values()])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:
        raise DataError(f"{path} is not NASLib's NB301 zero-cost table ({type(exc).__name__}: {exc}); "
                        f"{HINTS['naslib_zc']}") from None
    keys = [genotype_key(g) for g in genotypes]
    if len(set(keys)) != len(keys):
        raise DataError(f"{path} lists a genotype twice (up to the order of a node's two inputs)")
    return genotypes, dict(zip(fields, values.reshape(len(genotypes), len(fields)).T))


class NB301Table(TableLookups, UnitsFromNames):
    """NASLib's NB301 cells as a partial table (``source=naslib_zc``; a
    :class:`~nasgen.benchmarks.base.TabularBenchmark` and
    :class:`~nasgen.benchmarks.base.PartialBenchmark`), rows in file order."""

    name = "nb301"

    def __init__(self, path: Path, skip_missing: bool) -> None:
        self.space = DartsSpace()
        self.skip_missing, self.path = skip_missing, path
        self.genotypes, self.columns = read_naslib_zc(path)
        self.rows = {self.space.key(g): row for row, g in enumerate(self.genotypes)}

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def column(self, metric: str) -> np.ndarray:
        choose("metric of the NB301 naslib_zc table", metric, self.metrics)
        return self.columns[metric]

    def arch_at(self, row: int) -> DartsGenotype:
        return self.genotypes[row]

    def _rows(self, archs: Sequence[DartsGenotype]) -> np.ndarray:
        return np.array([self.rows.get(self.space.key(a), -1) for a in archs], dtype=np.int64)

    def query(self, archs: Sequence[DartsGenotype], metric: str) -> np.ndarray:
        column, rows = self.column(metric), self._rows(archs)
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            more = f", and {len(missing) - 1} more queried" if len(missing) > 1 else ""
            raise DataError(f"the NB301 table {self.path} has no cell {archs[int(missing[0])]}{more}; "
                            "benchmark.skip_missing=true makes searches pass over cells the table lacks")
        return column[rows]

    def evaluable(self, archs: Sequence[DartsGenotype]) -> np.ndarray:
        return self._rows(archs) >= 0

    @property
    def evaluable_count(self) -> int:
        return len(self.genotypes)


def NB301Benchmark(source: str = "yahpo", path: "str | None" = None, epoch: int = YAHPO_EPOCHS[-1],
                   data_root_dir: "str | None" = None, skip_missing: bool = False
                   ) -> "NB301Yahpo | NB301XGB | NB301Table":
    """The NB301 benchmark of ``source`` (see the module docstring); ``path``: its file or folder
    (default under ``<data_root>/nb301/``); ``epoch``: the YAHPO surrogate's fidelity.

    A function, not one class with a ``source`` switch: the capabilities a search checks with
    ``isinstance`` differ by source (the 500-cell table is tabular and partial, a surrogate is
    neither and is a ``SurrogateBenchmark``), and one class would claim all of them."""
    choose("benchmark.source", source, SOURCES)
    location = _locate(source, path, data_root_dir)
    if source == "yahpo":
        return NB301Yahpo(location, int(epoch))
    if source == "xgb":
        return NB301XGB(location)
    return NB301Table(location, skip_missing)
