"""The searched architecture as a file to train, with a surrogate's opinion of it.

A training-free search (``experiment=ag_net_training_free_darts``) ends with an architecture no
one has trained: this suite writes it to ``genotype.json`` (``{"arch": ..., search metric, how to
train it}``; ``search=given search.archs_file=genotype.json`` with ``benchmark=train_darts``
trains it) and, where a surrogate benchmark of the space can be built from the user's data (the
NB301 surrogate: ``configs/benchmark/nb301.yaml`` says where its files are found), adds the
surrogate's prediction for it under ``surrogate_prediction_of_best``, named with the surrogate.
Without the data the key says why it is missing: the search needs no surrogate.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from nasgen.benchmarks.base import Benchmark, SurrogateBenchmark
from nasgen.errors import DataError
from nasgen.reporting.results import write_json
from nasgen.search.oracle import Oracle

log = logging.getLogger(__name__)

TRAIN_COMMAND = ("nasgen run search_space={space} benchmark=train_darts objective=train search=given budget=1 "
                 "search.archs_file={path}")


class GenotypeExport:
    """``surrogate``: a factory of the surrogate benchmark (``nasgen run``: the ``nb301`` benchmark
    config, partially instantiated), or ``None`` for none."""

    def __init__(self, surrogate: Callable[[], Benchmark] | None = None) -> None:
        self.make_surrogate = surrogate

    def __call__(self, oracle: Oracle, benchmark: Benchmark, run_dir: Path) -> dict:
        if not oracle.spent:
            return {}
        objective = oracle.objective
        record = oracle.records[oracle.incumbents()[-1]]
        path = run_dir / "genotype.json"
        genotype: dict[str, Any] = {"arch": record["arch"], "found_at_query": record["query"],
                                    objective.search_metric: record[objective.search_metric],
                                    "train_with": TRAIN_COMMAND.format(space=oracle.space.name, path=path)}
        write_json(path, genotype)
        return {"genotype": genotype, "surrogate_prediction_of_best": self._prediction(oracle, record["arch"])}

    def _prediction(self, oracle: Oracle, arch: str) -> dict[str, Any]:
        if self.make_surrogate is None:
            return {"unavailable": "no surrogate configured"}
        try:
            surrogate = self.make_surrogate()
        except DataError as exc:  # the surrogate's files are the user's; the search did not need them
            reason = str(exc).splitlines()[0]
            log.info("no surrogate prediction of the best architecture: %s", reason)
            return {"unavailable": reason}
        parsed = surrogate.space.from_str(arch)
        return {"surrogate": surrogate.surrogate if isinstance(surrogate, SurrogateBenchmark) else surrogate.name,
                **{metric: float(surrogate.query([parsed], metric)[0]) for metric in surrogate.metrics}}
