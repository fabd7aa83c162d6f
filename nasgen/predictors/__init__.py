"""Performance predictors: one contract (:mod:`nasgen.predictors.base`) for AG-Net and the
model-based searches."""
from nasgen.predictors.base import (
    DifferentiablePredictor,
    LogExpectedImprovement,
    Predictor,
    RankLossPredictor,
    UncertainPredictor,
)
from nasgen.predictors.mlp import MLPPredictor
from nasgen.predictors.xgb import XGBPredictor, XGBRankingPredictor

__all__ = ["DifferentiablePredictor", "LogExpectedImprovement", "MLPPredictor", "Predictor", "RankLossPredictor",
           "UncertainPredictor", "XGBPredictor", "XGBRankingPredictor"]
