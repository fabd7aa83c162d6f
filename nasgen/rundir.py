"""Run directories: each run claims a folder of its own and owns it while it writes there.

Three guarantees, all checked before Hydra writes anything into a run directory:

* **fresh folders**: the default ``hydra.run.dir`` / ``hydra.sweep.dir`` go through the
  ``nasgen.fresh_dir`` resolver, which claims the dated folder with an atomic ``mkdir``
  (``HH-MM-SS``, else ``HH-MM-SS_1``, ``HH-MM-SS_2``, ...), so runs started in the same
  second never share one. A folder given explicitly (``hydra.run.dir=...``, as ``nasgen
  resume`` does) is used as given.
* **one owner**: a run holds an exclusive ``flock`` on ``<run dir>/.nasgen.lock`` while it
  runs; a second run or a ``nasgen resume`` of a run that is still going is refused.
  The lock dies with its process, so a killed run never leaves a stale lock behind.
* **resume continues the same search**: a resumed config may differ from the saved
  ``.hydra/config.yaml`` only in :data:`RESUME_MAY_CHANGE`.

An earlier version let Hydra create ``outputs/DATE/HH-MM-SS`` with ``exist_ok``: three runs
started in the same second wrote into one folder, mixing their logs and configs.
"""
from __future__ import annotations

import errno
import fcntl
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from nasgen.errors import ConfigError, DataError, NasgenError

LOCK_NAME = ".nasgen.lock"
# settings that change how a run computes, never what it searches or records
RESUME_MAY_CHANGE = ("device", "torch_threads", "sweep_folder")


def _unwritable(folder: Path, exc: OSError) -> DataError:
    return DataError(f"cannot write to the output folder {folder}: {exc.strerror}")


def make_dir(path: "str | os.PathLike") -> Path:
    """Create ``path`` and its parents unless they exist; a one-line :class:`DataError` if that fails."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    return path


def claim_fresh_dir(path: "str | os.PathLike") -> Path:
    """Create and return ``path``, or ``path_1``, ``path_2``, ... if taken: the folder returned
    was created by this call, so no other run (process) can have claimed it too."""
    base = Path(path)
    make_dir(base.parent)
    for suffix in range(10_000):
        candidate = base if suffix == 0 else base.with_name(f"{base.name}_{suffix}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise _unwritable(candidate, exc) from None
    raise DataError(f"{base} and its 10,000 numbered siblings exist already; choose another output folder")


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a :class:`NasgenError` into ``SystemExit`` with its one-line message. For code that
    Hydra calls: it turns a callback's exceptions into warnings and a resolver's into a
    traceback, but lets ``SystemExit`` through."""
    try:
        yield
    except NasgenError as exc:
        raise SystemExit(f"nasgen: error: {exc}") from None


def _fresh_dir_resolver(path: str) -> str:
    with exit_on_user_error():
        return str(claim_fresh_dir(path))


OmegaConf.register_new_resolver("nasgen.fresh_dir", _fresh_dir_resolver, use_cache=True)

_owned: dict[Path, int] = {}  # run dirs this process holds the lock of -> lock file descriptor


@contextmanager
def owned(run_dir: "str | os.PathLike") -> Iterator[None]:
    """Hold the owner lock of ``run_dir`` for the block; raises :class:`DataError` if another
    process holds it. Re-entrant within one process (a run takes it before Hydra writes into
    the folder, and again when its job starts, as each job of a sweep does)."""
    key = Path(run_dir).resolve()
    if key in _owned:
        yield
        return
    try:
        fd = os.open(make_dir(key) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _unwritable(Path(run_dir), exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise DataError(f"cannot lock the run directory {run_dir}: {exc.strerror}") from None
        raise DataError(f"{run_dir} is in use by another nasgen run (process {owner}); wait for it to "
                        f"finish or stop it, or start a new run in another folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _owned[key] = fd
    try:
        yield
    finally:
        del _owned[key]
        os.close(fd)  # releases the lock


def resume_differences(composed: DictConfig, saved_file: Path) -> list[str]:
    """The settings (dotted keys, ``old -> new``) in which ``composed`` would search differently
    from the run saved in ``saved_file``; :data:`RESUME_MAY_CHANGE` and ``resume`` do not count."""
    saved = OmegaConf.to_container(OmegaConf.load(saved_file), resolve=False)
    now = OmegaConf.to_container(composed, resolve=False)
    now.pop("hydra", None)
    differences: list[str] = []

    def compare(old: Any, new: Any, key: str) -> None:
        if key in (*RESUME_MAY_CHANGE, "resume"):
            return
        if isinstance(old, dict) and isinstance(new, dict):
            for name in sorted(set(old) | set(new), key=str):
                compare(old.get(name, "<unset>"), new.get(name, "<unset>"), f"{key}.{name}" if key else str(name))
        elif old != new:
            differences.append(f"{key}: {old!r} -> {new!r}")

    compare(saved, now, "")
    return differences


class RunDirectories(Callback):
    """Hydra callback: claims the run / sweep folder and the run's owner lock, and checks a
    resumed config, before Hydra writes the log and ``.hydra/`` into the folder; each multirun
    job takes the lock of its own folder when it starts."""

    def __init__(self) -> None:
        self._held: ExitStack | None = None

    def _own(self, run_dir: Path) -> None:
        self._held = self._held or ExitStack()
        self._held.enter_context(owned(run_dir))

    def _release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = Path(str(config.hydra.run.dir))  # claims a fresh folder (nasgen.fresh_dir)
        with exit_on_user_error():
            self._own(run_dir)
            if config.get("resume"):
                try:
                    self._check_resume(config, run_dir)
                except NasgenError:
                    self._release()
                    raise

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        with exit_on_user_error():
            self._own(Path(config.hydra.runtime.output_dir))  # a no-op for a run: on_run_start took it

    def on_job_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._release()

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._release()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # claims a fresh folder (nasgen.fresh_dir), which the jobs inherit through Hydra's resolver cache
        with exit_on_user_error():
            make_dir(str(config.hydra.sweep.dir))

    @staticmethod
    def _check_resume(config: DictConfig, run_dir: Path) -> None:
        saved = run_dir / ".hydra" / "config.yaml"
        if not saved.is_file():
            raise DataError(f"{run_dir} is not a nasgen run directory (no .hydra/config.yaml)")
        differences = resume_differences(config, saved)
        if differences:
            raise ConfigError(f"resuming {run_dir} would change what was searched ({'; '.join(differences)}); "
                              f"only {', '.join(RESUME_MAY_CHANGE)} may change on resume: start a new run "
                              f"with `nasgen run` instead")
