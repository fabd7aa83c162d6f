"""nasgen: config-driven generative and predictor-based neural architecture search."""
__version__ = "0.1.0"
