"""Query given architectures: train (or look up) what another run found.

A search's result is an architecture string (``best_arch.json``, or ``genotype.json`` of
``experiment=ag_net_training_free_darts``); ``search=given search.archs_file=<that file>`` with
``benchmark=train_darts objective=train`` trains its network for real, through the same oracle,
history and resume as any search (budget = the number of architectures)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from nasgen.errors import ConfigError, DataError
from nasgen.search.oracle import Oracle
from nasgen.spaces.base import Arch, SearchSpace


class GivenArchitectures:
    """Queries ``archs`` (architecture strings of the space) and those of ``archs_file``: a JSON
    object with an ``arch`` key (``best_arch.json``, ``genotype.json``) or a list of such objects or
    strings."""

    def __init__(self, archs: Sequence[str] = (), archs_file: str | None = None) -> None:
        self.strings = list(archs) + (self._read(Path(archs_file)) if archs_file else [])
        if not self.strings:
            raise ConfigError("search=given needs search.archs (architecture strings) or search.archs_file "
                              "(e.g. a run's genotype.json or best_arch.json)")

    @staticmethod
    def _read(path: Path) -> list[str]:
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read architectures from {path}: {exc}") from None
        entries = content if isinstance(content, list) else [content]
        strings = [e if isinstance(e, str) else e.get("arch") if isinstance(e, dict) else None for e in entries]
        if not strings or any(not isinstance(s, str) for s in strings):
            raise DataError(f"{path} holds no architecture strings: expected {{\"arch\": ...}} or a list of them")
        return strings

    def run(self, space: SearchSpace, oracle: Oracle, rng: np.random.Generator) -> None:
        archs: list[Arch] = [space.from_str(s) for s in self.strings]
        oracle.query(archs)
