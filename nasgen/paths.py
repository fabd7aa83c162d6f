"""Where user data and caches live."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

DATA_ENV = "NASGEN_DATA"
CACHE_ENV = "NASGEN_CACHE"


def data_root(value: "str | os.PathLike | None" = None) -> Path | None:
    """The configured data root: ``value`` if given, else ``$NASGEN_DATA``, else ``None``."""
    value = value or os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Cache for imported benchmark tables and pretrained generators (``$NASGEN_CACHE``)."""
    root = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "nasgen"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_write(path: "str | os.PathLike", mode: str = "wb") -> Iterator:
    """Write to a temporary sibling, then rename: readers never see a partial file,
    and concurrent writers of the same file each leave a complete one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
