"""Write the NB301 reference fixtures of ``tests/test_benchmark_nb301.py`` with the reference packages.

Run it in a SEPARATE virtualenv, never nasgen's (nasgen must not import these packages)::

    python3.11 -m venv /work/venvs/yahpo
    /work/venvs/yahpo/bin/pip install yahpo-gym "numpy<2" "ConfigSpace<=0.6.1" onnxruntime
    /work/venvs/yahpo/bin/pip install --no-deps nasbench301==0.3   # only its configspace.json and api.py are read
    /work/venvs/yahpo/bin/python scripts/yahpo_nb301_fixture.py --surrogate-dir $NASGEN_SHARED/nb301/yahpo_surrogate

Pins that work on Python 3.11 (checked): yahpo-gym 1.0.2 (the newest release), ConfigSpace 0.6.1,
numpy 1.26.4, onnxruntime 1.32.0, nasbench301 0.3 (wheel, no dependencies). ConfigSpace 0.4.12,
which nasbench301's requirements name, does not build on Python 3.11.

Two fixtures, both from seeded random configurations (no benchmark data is copied):

- ``tests/fixtures/nb301_yahpo.json``: configurations drawn from yahpo-gym's own NB301 config
  space and yahpo-gym's predictions for them (``BenchmarkSet.objective_function``) at epoch 98
  (the largest epoch of its config space) and, for some, at other epochs. yahpo-gym 1.0.2 looks
  for ``model.onnx``, ``encoding.json`` and ``config_space.json``; the shared folder holds the v2
  files of ``slds-lmu/yahpo_data`` (``model_v2.onnx`` ...), so they are copied under those names
  into a temporary data folder. The v2 model has 4 outputs, but yahpo-gym 1.0.2 names only 2
  (``val_accuracy``, ``runtime``: the v1 model's): the names of the 4 are set as yahpo-gym's
  GitHub master names them for ``model_v2.onnx`` (``val_accuracy``, ``val_cross_entropy``,
  ``runtime``, ``runtime_increase``; benchmarks/nb301.py there).
- ``tests/fixtures/nb301_xgb_vectors.json``: for some of those configurations, the vector the
  official NB301 XGB surrogate is queried with: nasbench301's ``api.fixed_hyperparameters`` merged
  with the architecture, made a ``ConfigSpace.Configuration`` of nasbench301's ``configspace.json``
  (with the 4 hyperparameters that ``ConfigLoader.load_config_space`` replaces, replaced the same
  way) and ``get_array()``, NaN (inactive) as -1, as ``XGBModel.query`` does.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import tempfile
from pathlib import Path

COLON = "_COLON_"
EPOCH_MAX = 98
OTHER_EPOCHS = (1, 25, 50, 75, 97)
V2_TARGETS = ["val_accuracy", "val_cross_entropy", "runtime", "runtime_increase"]
YAHPO_FILES = {"model_v2.onnx": "model.onnx", "encoding_v2.json": "encoding.json",
               "config_space_v2.json": "config_space.json"}


def yahpo_benchmark(surrogate_dir: Path, data_dir: Path):
    """yahpo-gym's NB301 BenchmarkSet on a copy of ``surrogate_dir`` laid out as it expects."""
    (data_dir / "nb301").mkdir(parents=True)
    for source, target in YAHPO_FILES.items():
        shutil.copy(surrogate_dir / source, data_dir / "nb301" / target)
    os.environ["YAHPO_LOCAL_CONFIG"] = str(data_dir / "yahpo_settings.yaml")
    from yahpo_gym import local_config  # after YAHPO_LOCAL_CONFIG: it is read on import

    local_config.init_config(data_path=str(data_dir))
    from yahpo_gym import BenchmarkSet
    from yahpo_gym.configuration import config_dict

    config_dict.configs["nb301"]["y_names"] = V2_TARGETS
    return BenchmarkSet("nb301", multithread=False)


def nb301_xgb_vector_encoder(nasbench301_dir: Path):
    """``config -> get_array()`` of nasbench301's XGB queries (see the module docstring)."""
    import ConfigSpace as CS
    import ConfigSpace.hyperparameters as CSH
    from ConfigSpace.read_and_write import json as cs_json

    space = cs_json.read((nasbench301_dir / "configspace.json").read_text())
    replaced = [CSH.UniformIntegerHyperparameter("NetworkSelectorDatasetInfo:darts:layers", lower=1, upper=10000),
                CSH.UniformIntegerHyperparameter("SimpleLearningrateSchedulerSelector:cosine_annealing:T_max",
                                                 lower=1, upper=10000),
                CSH.UniformIntegerHyperparameter("NetworkSelectorDatasetInfo:darts:init_channels",
                                                 lower=1, upper=10000),
                CSH.UniformFloatHyperparameter("SimpleLearningrateSchedulerSelector:cosine_annealing:eta_min",
                                               lower=0, upper=10000)]
    for hyperparameter in replaced:
        space._hyperparameters.pop(hyperparameter.name, None)
    space.add_hyperparameters(replaced)
    api = ast.parse((nasbench301_dir / "api.py").read_text())
    fixed = next(ast.literal_eval(node.value) for node in api.body if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], "id", "") == "fixed_hyperparameters")
    booleans = {"True": True, "False": False}

    def encode(architecture: dict) -> list:
        values = {key: booleans.get(value, value) if isinstance(value, str) else value
                  for key, value in {**fixed, **architecture}.items()}
        vector = CS.Configuration(space, values=values).get_array()
        return [-1.0 if value != value else float(value) for value in vector]

    return space.get_hyperparameter_names(), encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = Path(os.environ.get("NASGEN_SHARED", "../shared/benchmarks"))
    parser.add_argument("--surrogate-dir", type=Path, default=shared / "nb301" / "yahpo_surrogate")
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "tests" / "fixtures")
    parser.add_argument("--configs", type=int, default=200)
    parser.add_argument("--other-epoch-configs", type=int, default=20)
    parser.add_argument("--xgb-configs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bench = yahpo_benchmark(args.surrogate_dir, Path(tmp))
        space = bench.get_opt_space(drop_fidelity_params=True, seed=args.seed)
        configs = [c.get_dictionary() for c in space.sample_configuration(args.configs)]
        columns = bench.config.cat_names
        rows = []
        for epochs, chosen in ((EPOCH_MAX, range(len(configs))),
                               *((e, range(args.other_epoch_configs)) for e in OTHER_EPOCHS)):
            batch = [{**configs[i], "epoch": epochs} for i in chosen]
            predictions = bench.objective_function(batch)
            again = bench.objective_function(batch[::-1])[::-1]
            assert predictions == again, "yahpo-gym's predictions depend on the batch order"
            rows += [{"config": i, "epoch": epochs, "prediction": [float(p[t]) for t in V2_TARGETS]}
                     for i, p in zip(chosen, predictions)]
        table = [[config.get(name) for name in columns] for config in configs]

    import importlib.util

    # its files only: importing nasbench301 pulls in torch, lightgbm, matplotlib, ...
    package = Path(importlib.util.find_spec("nasbench301").submodule_search_locations[0])
    names, encode = nb301_xgb_vector_encoder(package)
    vectors = [{"config": i, "vector": encode({k.replace(COLON, ":"): v for k, v in configs[i].items()})}
               for i in range(args.xgb_configs)]

    args.out.mkdir(parents=True, exist_ok=True)
    columns_short = [name.split(COLON)[-1] for name in columns]
    yahpo = {"about": "yahpo-gym 1.0.2 predictions of the YAHPO v2 NB301 ONNX surrogate for random configurations "
                      "of its config space (scripts/yahpo_nb301_fixture.py)",
             "targets": V2_TARGETS, "columns": columns_short, "configs": table, "rows": rows}
    (args.out / "nb301_yahpo.json").write_text(json.dumps(yahpo, separators=(",", ":")) + "\n")
    xgb = {"about": "nasbench301 0.3 XGB query vectors (ConfigSpace get_array, NaN -> -1) of configurations "
                    "of nb301_yahpo.json (scripts/yahpo_nb301_fixture.py)",
           "features": names, "rows": vectors}
    (args.out / "nb301_xgb_vectors.json").write_text(json.dumps(xgb, separators=(",", ":")) + "\n")
    print(f"{len(rows)} yahpo rows of {len(configs)} configs, {len(vectors)} xgb vectors -> {args.out}")


if __name__ == "__main__":
    main()
