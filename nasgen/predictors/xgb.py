"""XGBoost regressor on the binary architecture vector (AG-Net's "XGB" predictor).

Hyperparameters default to NASLib's XGBoost predictor (White et al., "How powerful are
performance predictors in NAS?", NeurIPS 2021) with 500 boosting rounds. Targets are
standardised for training, as the AG-Net authors did; predictions come back in the original scale.
"""
from __future__ import annotations

import numpy as np
import torch
import xgboost

from nasgen.errors import ConfigError, DataError
from nasgen.generators.base import GraphScores
from nasgen.predictors.ranking import blackbox_rank_loss
from nasgen.predictors.training import fit_weights, standardise
from nasgen.spaces.base import GraphSpec


class XGBPredictor:
    """Gradient-boosted trees, a :class:`~nasgen.predictors.base.Predictor` without uncertainty;
    sample weights are XGBoost's instance weights.

    ``graph`` is accepted (and unused): the factories of the ``predictor`` config group are
    called with the space's graph (:mod:`nasgen.predictors.base`).
    """

    def __init__(self, graph: GraphSpec | None = None, num_boost_round: int = 500, max_depth: int = 6,
                 min_child_weight: float = 1.0, colsample_bytree: float = 1.0, colsample_bylevel: float = 1.0,
                 learning_rate: float = 0.3, booster: str = "gbtree", objective: str = "reg:squarederror",
                 eval_metric: str = "rmse", seed: int = 0, nthread: int = 1) -> None:
        self.num_boost_round = num_boost_round
        self.params = {"objective": objective, "eval_metric": eval_metric, "booster": booster,
                       "max_depth": max_depth, "min_child_weight": min_child_weight,
                       "colsample_bytree": colsample_bytree, "colsample_bylevel": colsample_bylevel,
                       "learning_rate": learning_rate, "seed": seed, "nthread": nthread}
        self.booster: xgboost.Booster | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        """Train on ``x`` ``[N, D]`` and targets ``y`` ``[N]``; the boosting seed is drawn from
        ``generator`` when given (so a search's seed decides it), else the constructor's ``seed``."""
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float64)
        weights = fit_weights(type(self).__name__, x, y, weights)
        targets, self.mean, self.scale = standardise(y)
        params = dict(self.params)
        if generator is not None:
            params["seed"] = int(torch.randint(2**31, (1,), generator=generator))
        data = xgboost.DMatrix(x, label=targets, weight=weights, nthread=params["nthread"])
        self.booster = xgboost.train(params, data, num_boost_round=self.num_boost_round)

    def predict_standardised(self, x: np.ndarray) -> np.ndarray:
        """Predictions in units of the training targets' standard deviation around their mean."""
        if self.booster is None:
            raise DataError("XGBPredictor.predict called before fit")
        return self.booster.inplace_predict(np.asarray(x, dtype=np.float32)).astype(np.float64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_standardised(x) * self.scale + self.mean


class XGBRankingPredictor(XGBPredictor):
    """:class:`XGBPredictor` whose ranking of the generated graphs is also trained into the
    generator through blackbox differentiation (AG-Net's "XGB + ranking",
    :mod:`nasgen.predictors.ranking`), a :class:`~nasgen.predictors.base.RankLossPredictor`;
    ``blackbox_lambda`` is the solver interpolation strength."""

    def __init__(self, graph: GraphSpec | None = None, blackbox_lambda: float = 2.0, **xgb_params) -> None:
        super().__init__(graph, **xgb_params)
        if blackbox_lambda <= 0:
            raise ConfigError(f"blackbox_lambda must be positive, got {blackbox_lambda}")
        self.blackbox_lambda = blackbox_lambda

    def rank_loss(self, scores: GraphScores, targets: torch.Tensor) -> torch.Tensor:
        """Per-sample rank loss of generated graphs against their paired targets, differentiable
        into the generator's ``scores``."""
        return blackbox_rank_loss(self.predict_standardised, scores, targets, self.blackbox_lambda)
