"""Architecture generators."""
from nasgen.generators.ag_net import AGNetGenerator
from nasgen.generators.base import (
                                    EncodingGenerator,
                                    Generator,
                                    GraphScores,
                                    PerformanceConditionedGenerator,
                                    SelfTrainingGenerator,
                                    graph_targets,
)
from nasgen.generators.inn import INNGenerator
from nasgen.generators.svge import SVGeGenerator

__all__ = ["AGNetGenerator", "EncodingGenerator", "Generator", "GraphScores", "INNGenerator",
           "PerformanceConditionedGenerator", "SVGeGenerator", "SelfTrainingGenerator", "graph_targets"]
