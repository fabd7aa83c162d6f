"""Search spaces: what an architecture is."""
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace
from nasgen.spaces.darts import DartsCellSpace, DartsSpace
from nasgen.spaces.nb101 import NB101Cell, NB101Space, cell_from_naslib, cell_from_spec
from nasgen.spaces.nb201 import NB201Space

__all__ = ["Arch", "DartsCellSpace", "DartsSpace", "GraphSpec", "NB101Cell", "NB101Space", "NB201Space",
           "SearchSpace", "cell_from_naslib", "cell_from_spec"]
