"""Search spaces: what an architecture is."""
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace
from nasgen.spaces.nb201 import NB201Space

__all__ = ["Arch", "GraphSpec", "NB201Space", "SearchSpace"]
