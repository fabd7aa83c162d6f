"""Performance predictors."""
from nasgen.predictors.base import Predictor
from nasgen.predictors.mlp import MLPPredictor

__all__ = ["MLPPredictor", "Predictor"]
