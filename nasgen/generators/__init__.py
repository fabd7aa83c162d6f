"""Architecture generators."""
from nasgen.generators.ag_net import AGNetGenerator
from nasgen.generators.base import Generator, GraphScores, graph_targets

__all__ = ["AGNetGenerator", "Generator", "GraphScores", "graph_targets"]
