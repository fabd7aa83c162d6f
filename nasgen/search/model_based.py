"""Model-based search: BANANAS, DNGO Bayesian optimisation and GP Bayesian optimisation
share one loop and differ in their surrogate, encoding and acquisition.

Each iteration fits the surrogate on all queried architectures, builds candidates by
mutating the best ones (plus optional random samples), scores them with the
acquisition and queries the ``top_k`` best.

- BANANAS (White, Neiswanger, Savani, AAAI 2021): MLP ensemble on the path encoding,
  independent Thompson sampling.
- BO (Snoek et al., ICML 2015): DNGO on the adjacency encoding, expected improvement.
- GP-BO: BoTorch ``SingleTaskGP`` on the adjacency encoding, log expected improvement.

``features`` (top-level ``predictor_features``) appends free metrics of the benchmark, e.g.
training-free proxies, standardised over the queried architectures, to the encoding the surrogate
reads (:mod:`nasgen.predictors.features`); they are read through :meth:`Oracle.free_values` and
cost no queries.
"""
from __future__ import annotations

import numpy as np

from nasgen.errors import ConfigError, choose
from nasgen.objective import Objective
from nasgen.predictors.base import LogExpectedImprovement, Predictor, UncertainPredictor
from nasgen.predictors.features import with_features
from nasgen.ranges import Int, ranges
from nasgen.search.acquisition import ACQUISITIONS, acquisition_scores
from nasgen.search.common import mutation_candidates, random_unseen
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, PathEncodedSpace, SearchSpace
from nasgen.utils import torch_generator


@ranges("search", initial_samples=Int(1), top_k=Int(1), num_candidates=Int(1), num_parents=Int(1),
        random_candidates=Int(0))
class ModelBasedSearch:
    def __init__(self, surrogate: Predictor, acquisition: str = "its", encoding: str = "adjacency",
                 initial_samples: int = 16, top_k: int = 16, num_candidates: int = 100, num_parents: int = 10,
                 random_candidates: int = 0, features: "list[str] | None" = None) -> None:
        choose("search.acquisition", acquisition, (*ACQUISITIONS, "logei"))
        choose("search.encoding", encoding, ("path", "adjacency"))
        if acquisition == "logei" and not isinstance(surrogate, LogExpectedImprovement):
            raise ConfigError("search.acquisition=logei needs a Gaussian-process surrogate (search=gp_bo)")
        self.surrogate, self.acquisition, self.encoding = surrogate, acquisition, encoding
        self.initial_samples, self.top_k = initial_samples, top_k
        self.num_candidates, self.num_parents, self.random_candidates = num_candidates, num_parents, random_candidates
        self.features = list(features or [])

    def _encode(self, space: SearchSpace, archs: list[Arch]) -> np.ndarray:
        return space.encode_paths(archs) if self.encoding == "path" else space.encode(archs)

    def check(self, space: SearchSpace, objective: Objective) -> None:
        if objective.constrained:
            raise ConfigError("this model-based search does not handle cost constraints; use search=ag_net_hw, "
                              "random, local, evolution or nsga2, or drop objective.cost_limit")
        if self.acquisition in ACQUISITIONS and not isinstance(self.surrogate, UncertainPredictor):
            raise ConfigError(f"search.acquisition={self.acquisition} needs a predictor with uncertainty, which "
                              f"{type(self.surrogate).__name__} lacks; use MLPEnsemble, DNGO or GaussianProcess")
        if self.encoding == "path" and not isinstance(space, PathEncodedSpace):
            raise ConfigError(f"search.encoding=path needs a space with a path encoding, which {space.name} "
                              "lacks; use search.encoding=adjacency")

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        self.check(space, oracle.objective)
        sign = 1.0 if oracle.objective.maximize else -1.0  # the surrogate always maximises
        generator = torch_generator(rng)
        archs = random_unseen(space, oracle, rng, min(self.initial_samples, oracle.remaining))
        values = list(sign * oracle.query(archs))
        while oracle.remaining > 0:
            x_train = self._encode(space, archs)
            if self.features:  # free metrics, standardised over the queried architectures
                queried = oracle.free_values(archs, self.features)
                x_train = with_features(x_train, queried, queried)
            self.surrogate.fit(x_train, np.array(values), generator=generator)
            parents = [archs[i] for i in np.argsort(values)[::-1][: self.num_parents]]
            candidates = mutation_candidates(space, oracle, rng, parents, self.num_candidates)
            if self.random_candidates:
                known = {space.key(a) for a in candidates}
                extra = random_unseen(space, oracle, rng, self.random_candidates)
                candidates += [a for a in extra if space.key(a) not in known]
            x = self._encode(space, candidates)
            if self.features:
                x = with_features(x, oracle.free_values(candidates, self.features), queried)
            if self.acquisition == "logei":
                scores = self.surrogate.log_expected_improvement(x)
            else:
                mean, std = self.surrogate.predict_distribution(x)
                scores = acquisition_scores(self.acquisition, mean, std, max(values), rng)
            order = np.argsort(-scores, kind="stable")[: min(self.top_k, oracle.remaining)]
            chosen = [candidates[i] for i in order]
            archs += chosen
            values += list(sign * oracle.query(chosen))
