"""Building components from config nodes (``_target_``), with nasgen's one-line errors.

A module of its own, apart from :mod:`nasgen.pipeline`, so that commands which build a few components
(``nasgen cluster``, ``nasgen data score-proxies``, scripts) do not import every search and model.
"""
from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from nasgen.errors import ConfigError, NasgenError


def build(node: DictConfig, what: str, kind: type | None = None, **kwargs):
    """``hydra.utils.instantiate`` that surfaces nasgen's own errors instead of Hydra's wrapper,
    and refuses a config node that does not build a ``kind`` (a protocol) with one line."""
    if not isinstance(node, DictConfig) or "_target_" not in node:
        keys = ", ".join(map(str, node)) if isinstance(node, DictConfig) else repr(node)
        raise ConfigError(f"{what} ({keys}) has no _target_: settings for a component that the chosen config "
                          f"group option does not have; choose an option that has {what} or drop these settings")
    try:
        built = instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, NasgenError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        reason = exc.__cause__ if exc.__cause__ is not None else exc
        raise ConfigError(f"invalid {what} config: {' '.join(str(reason).split())}") from None
    except OmegaConfBaseException as exc:  # e.g. objective=train's ${benchmark.epochs} with a table benchmark
        problem = str(exc).splitlines()[0]  # then OmegaConf's "full_key: ..." and "object_type=..." lines
        raise ConfigError(f"cannot resolve {what}: {problem}; does the {what} option fit the other groups' "
                          "options?") from None
    if kind is not None and not isinstance(built, kind):
        raise ConfigError(f"{what} builds a {type(built).__name__} ({node._target_}), not a {kind.__name__}")
    return built
