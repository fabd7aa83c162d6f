"""Performance predictors."""
from nasgen.predictors.base import Predictor
from nasgen.predictors.mlp import MLPPredictor
from nasgen.predictors.xgb import XGBPredictor, XGBRankingPredictor

__all__ = ["MLPPredictor", "Predictor", "XGBPredictor", "XGBRankingPredictor"]
