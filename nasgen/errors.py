"""User-facing errors: one clear message, no traceback (see ``nasgen.cli``)."""


class NasgenError(Exception):
    """An error the user can act on (bad config value, missing data file, ...)."""


class ConfigError(NasgenError):
    """A config value is unknown or out of range."""


class DataError(NasgenError):
    """A data file is missing, unreadable or corrupt."""


def choose(kind: str, value: object, choices: "list[str] | tuple[str, ...]") -> None:
    """Raise a :class:`ConfigError` listing the valid choices unless ``value`` is one."""
    if value not in choices:
        raise ConfigError(f"unknown {kind} {value!r}; valid choices: {', '.join(map(str, choices))}")
