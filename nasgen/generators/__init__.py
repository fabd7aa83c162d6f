"""Architecture generators."""
from nasgen.generators.ag_net import AGNetGenerator
from nasgen.generators.base import EncodingGenerator, Generator, GraphScores, SelfTrainingGenerator, graph_targets
from nasgen.generators.svge import SVGeGenerator

__all__ = ["AGNetGenerator", "EncodingGenerator", "Generator", "GraphScores", "SVGeGenerator",
           "SelfTrainingGenerator", "graph_targets"]
