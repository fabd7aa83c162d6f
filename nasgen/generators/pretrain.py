"""Unsupervised generator pretraining, shipped with the package or cached per space, settings and seed.

For random ``z ~ N(0, I)`` and independently drawn random architectures of the space
(or of a given training set, e.g. to measure novelty on held-out cells), the generator
learns to reconstruct the architecture (no benchmark queries). Training
proceeds in ticks of ``tick_size`` samples; after each tick the validity of graphs
decoded from ``validity_samples`` random latent vectors is measured and the weights
with the highest validity are kept (AG-Net, thesis appendix B.3).

Where a pretrained generator comes from, in this order (:func:`pretrain`):

1. the user cache (``$NASGEN_CACHE/generators``), when its weights match their recorded checksum;
2. the generators shipped in ``nasgen/generators/pretrained/`` (built by
   ``scripts/build_pretrained_generators.py``), when the settings signature matches;
3. pretraining now, then caching the result.

A generator is stored as two files with one stem: ``<stem>.pt`` holds only the weights (a
state dict, loaded with ``torch.load(weights_only=True)``) and ``<stem>.json`` the settings
signature, the SHA-256 of the weights and the training statistics. The pretraining seed is a
setting of its own (``pretrain.seed``, default 0) rather than the search seed, so that the
searches of a sweep share one generator, as the AG-Net authors run all trials from one.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import pickle
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from nasgen.errors import ConfigError
from nasgen.generators.base import SelfTrainingGenerator, graph_targets
from nasgen.paths import CACHE_ENV, atomic_write, cache_dir
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace

log = logging.getLogger(__name__)

SHIPPED = "pretrained"  # folder of nasgen.generators holding the shipped generators
LOCK_POLL_S = 1.0
LOCK_LOG_INTERVAL_S = 60.0
CHECKPOINT_SUFFIX = ".checkpoint.pt"  # a self-training generator's training state, until it is cached
RECORD_FIELDS = ("source", "path", "sha256", "seed", "settings")  # a record's fields besides the statistics


@dataclass
class PretrainConfig:
    seed: int = 0  # fixed by default: searches with different seeds share one generator
    batch_size: int = 32
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    tick_size: int = 5000
    ticks: int = 60
    validity_samples: int = 10_000
    target_validity: float = 1.0  # stop early once reached
    sample: bool = True  # decode by sampling (as in search) when measuring validity
    cache: bool = True  # read and write $NASGEN_CACHE (the shipped generators are used either way)


@torch.no_grad()
def validity(generator: torch.nn.Module, space: SearchSpace, samples: int, seed: int = 0,
             device: "str | torch.device" = "cpu", sample: bool = True) -> float:
    """Share of valid architectures decoded from ``samples`` latent vectors ``z ~ N(0, I)``."""
    generator.eval()
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, generator.latent_dim, generator=rng).to(device)
    valid = sum(a is not None for chunk in z.split(4096) for a in generator(chunk).decode(space, sample, rng))
    generator.train()
    return valid / samples


def weights_checksum(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the names, dtypes, shapes and values of a state dict: the identity of a
    generator's weights, independent of how the file holding them was serialised."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def settings_signature(space: SearchSpace, generator: torch.nn.Module, config: PretrainConfig,
                       train_archs: Sequence[Arch] | None = None) -> dict:
    """Everything that decides the pretrained weights; equal signatures, equal generators."""
    # The seed is a separate field and `cache` does not change the weights: the layout of
    # generators cached before `pretrain.seed` existed, so they are still found. A generator
    # with its own schedule is described by that schedule (the tick settings do not apply).
    if isinstance(generator, SelfTrainingGenerator):
        settings = generator.training_settings() | {"cache": None}
    else:
        settings = {k: v for k, v in asdict(config).items() if k != "seed"} | {"cache": None}
    fields = {"space": space.name, "graph": _graph_signature(space.graph), "model": repr(generator),
              "pretrain": settings, "seed": config.seed}
    if train_archs is not None:  # only then, so full-space generators keep their cache keys
        listing = "\n".join(space.to_str(a) for a in train_archs)
        fields["train_archs"] = hashlib.sha256(listing.encode()).hexdigest()
    return fields


def _graph_signature(graph: GraphSpec) -> dict:
    """The graph shape's fields, those at their defaults left out: the signatures (and so the
    cache keys and shipped files) written before GraphSpec had inputs, output, padding and
    cells stay valid for the spaces that keep the defaults (NB201)."""
    plain = asdict(GraphSpec(graph.node_types, graph.max_nodes))
    return {k: v for k, v in asdict(graph).items() if k in ("node_types", "max_nodes") or v != plain[k]}


def generator_stem(space: SearchSpace, generator: torch.nn.Module, config: PretrainConfig,
                   train_archs: Sequence[Arch] | None = None) -> str:
    """File stem of a pretrained generator: class, space, seed and a digest of its signature."""
    signature = json.dumps(settings_signature(space, generator, config, train_archs), sort_keys=True)
    digest = hashlib.sha256(signature.encode()).hexdigest()[:16]
    return f"{type(generator).__name__}-{space.name}-seed{config.seed}-{digest}"


def built_generator(factory: Callable[[GraphSpec], torch.nn.Module], graph: GraphSpec) -> torch.nn.Module:
    """``factory(graph)``; settings of another generator left in the config (an experiment's
    ``generator.batch_size`` for SVGe, composed with ``generator=ag_net``) refused in one line."""
    try:
        return factory(graph)
    except TypeError as exc:
        raise ConfigError(f"the generator does not take the settings given to it ({exc}); drop them or choose "
                          "the generator they belong to") from None


def initial_generator(factory: Callable[[GraphSpec], torch.nn.Module], space: SearchSpace, config: PretrainConfig,
                      device: "str | torch.device" = "cpu") -> torch.nn.Module:
    """The untrained generator, initialised from ``pretrain.seed`` (the caller's torch RNG is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return built_generator(factory, space.graph).to(device)


def shipped_dir() -> Path:
    return Path(str(resources.files("nasgen.generators").joinpath(SHIPPED)))


def pretrain(factory: Callable[[GraphSpec], torch.nn.Module], space: SearchSpace, config: PretrainConfig,
             device: "str | torch.device" = "cpu",
             train_archs: Sequence[Arch] | None = None) -> tuple[torch.nn.Module, dict]:
    """A pretrained generator (from the cache, shipped, or trained now and cached) and a
    record of it: ``source`` (``cache`` | ``shipped`` | ``trained``), ``path``, ``sha256`` of the
    weights, ``settings``, ``seed`` and the training statistics (validity, curve, ticks, seconds).

    ``train_archs``: draw the training architectures uniformly from this list instead of
    the whole space. Concurrent runs asking for the same generator wait on a file lock
    (saying so in the log), so one trains and the others load its result. A cached
    generator whose weights do not load or do not match their checksum is replaced. A cache
    folder that cannot be written is used read-only, with a warning, and a generator trained
    then is not kept.
    """
    if train_archs is not None and len(train_archs) == 0:
        raise ConfigError("pretrain: train_archs is empty; pass None to train on the whole space")
    generator = initial_generator(factory, space, config, device)
    stem = generator_stem(space, generator, config, train_archs)
    signature = settings_signature(space, generator, config, train_archs)
    folder = _cache_folder() if config.cache else None
    if folder is None:
        return generator, _from_shipped_or_trained(generator, space, config, stem, signature, device, train_archs)
    with _cache_lock(folder, stem) as writable:
        stored = _load(folder / stem, generator, signature, device, source="cache")
        if stored is not None:
            return generator, stored
        checkpoint = folder / f"{stem}{CHECKPOINT_SUFFIX}" if writable else None
        record = _from_shipped_or_trained(generator, space, config, stem, signature, device, train_archs,
                                          checkpoint)
        if record["source"] == "trained" and writable:
            try:
                record = store(folder / stem, generator, signature, record)
                checkpoint.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not cache the pretrained generator in %s (%s); the next run pretrains again",
                            folder, _first_sentence(exc))
    return generator, record


def _from_shipped_or_trained(generator: torch.nn.Module, space: SearchSpace, config: PretrainConfig, stem: str,
                             signature: dict, device: "str | torch.device",
                             train_archs: Sequence[Arch] | None, checkpoint: Path | None = None) -> dict:
    shipped = _load(shipped_dir() / stem, generator, signature, device, source="shipped")
    if shipped is not None:
        return shipped
    log.info("pretraining generator %s (no cached or shipped generator has these settings)", stem)
    return train_now(generator, space, config, device, train_archs, checkpoint)


def train_now(generator: torch.nn.Module, space: SearchSpace, config: PretrainConfig,
              device: "str | torch.device" = "cpu", train_archs: Sequence[Arch] | None = None,
              checkpoint: Path | None = None) -> dict:
    """Pretrain ``generator`` (from :func:`initial_generator`) here and now; its record. A
    :class:`SelfTrainingGenerator` trains by its own schedule (resuming from ``checkpoint``)."""
    if isinstance(generator, SelfTrainingGenerator):
        stats = generator.fit(space, config.seed, device, checkpoint, train_archs)
    else:
        stats = _train(generator, space, config, device, train_archs)
    return _record(generator, settings_signature(space, generator, config, train_archs), stats, source="trained",
                   path=None)


def _record(generator: torch.nn.Module, signature: dict, stats: dict, source: str, path: Path | None) -> dict:
    settings = {k: v for k, v in signature["pretrain"].items() if k != "cache"}
    return {"source": source, "path": None if path is None else str(path),
            "sha256": weights_checksum(generator.state_dict()), "seed": signature["seed"],
            "settings": settings | {"seed": signature["seed"]}, **stats}


def _cache_folder() -> Path | None:
    """``$NASGEN_CACHE/generators``, or ``None`` (with a warning) when it cannot be created."""
    try:
        folder = cache_dir() / "generators"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    except OSError as exc:
        log.warning("generator cache unusable (%s; set $%s to a writable folder): %s; not caching",
                    os.environ.get(CACHE_ENV, "the default cache folder"), CACHE_ENV, _first_sentence(exc))
        return None


@contextmanager
def _cache_lock(folder: Path, stem: str) -> Iterator[bool]:
    """Hold ``<stem>.lock`` while looking up and training; yields whether the folder is writable.
    Waiting for another process is announced once, then again every minute."""
    path = folder / f"{stem}.lock"
    try:
        lock = open(path, "a")
    except OSError as exc:
        log.warning("generator cache %s is not writable (%s; set $%s to a writable folder): using it read-only",
                    folder, _first_sentence(exc), CACHE_ENV)
        yield False
        return
    with lock:
        started, announced = time.monotonic(), None
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if announced is None or waited - announced >= LOCK_LOG_INTERVAL_S:
                    log.info("waiting (%.0f s so far) for another process pretraining generator %s (lock %s)",
                             waited, stem, path)
                    announced = waited
                time.sleep(LOCK_POLL_S)
        yield True


def _load(stem_path: Path, generator: torch.nn.Module, signature: dict, device: "str | torch.device",
          source: str) -> dict | None:
    """The record of the generator stored at ``<stem_path>.pt/.json`` after loading its weights
    into ``generator``; ``None`` if there is none. A damaged cached one (unreadable, weights not
    matching the checksum or the signature) is reported in one log line and removed."""
    weights, meta = stem_path.with_suffix(".pt"), stem_path.with_suffix(".json")
    if not weights.is_file() and not meta.is_file():
        return None
    try:
        if not meta.is_file():
            raise ValueError("no checksum record beside the weights: written by an older nasgen or cut off")
        record = json.loads(meta.read_text())
        state = torch.load(weights, map_location=device, weights_only=True)
        if weights_checksum(state) != record["sha256"] or record["signature"] != json.loads(json.dumps(signature)):
            raise ValueError("weights or settings do not match their record")
        generator.load_state_dict(state)
    except (OSError, ValueError, KeyError, RuntimeError, EOFError, TypeError, pickle.UnpicklingError) as exc:
        problem = _first_sentence(exc)
        if source == "shipped":  # a broken installation, not a cache entry to replace
            log.warning("shipped generator %s is unusable (%s); reinstall nasgen", weights, problem)
            return None
        log.warning("cached generator %s is damaged (%s); replacing it", weights, problem)
        for path in (weights, meta):
            path.unlink(missing_ok=True)
        return None
    log.info("loaded %s pretrained generator %s (sha256 %s)", source, weights, record["sha256"][:12])
    return _record(generator, signature, record["stats"], source=source, path=weights)


def _first_sentence(exc: BaseException) -> str:
    """A one-line reason (torch's messages about damaged files run to several sentences)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip().split(". ")[0].splitlines()[0] if str(exc).strip() else type(exc).__name__


def store(stem_path: Path, generator: torch.nn.Module, signature: dict, record: dict, **extra) -> dict:
    """Write weights, then their record (so a record always describes complete weights);
    ``extra`` fields go into the record file as they are. Returns ``record`` with its path."""
    weights = stem_path.with_suffix(".pt")
    stats = {k: v for k, v in record.items() if k not in RECORD_FIELDS}
    with atomic_write(weights) as f:
        torch.save(generator.state_dict(), f)
    with atomic_write(stem_path.with_suffix(".json"), "w") as f:
        json.dump({"signature": signature, "sha256": record["sha256"], "stats": stats, **extra}, f, indent=1)
    return record | {"path": str(weights)}


def _train(generator: torch.nn.Module, space: SearchSpace, config: PretrainConfig,
           device: "str | torch.device", train_archs: Sequence[Arch] | None = None) -> dict:
    if train_archs is None:
        draw = space.sample
    else:
        def draw(n: int, rng: np.random.Generator) -> list[Arch]:
            return [train_archs[i] for i in rng.integers(len(train_archs), size=n)]
    rng = np.random.default_rng(config.seed)
    torch_rng = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=tuple(config.betas))
    steps_per_tick = max(1, config.tick_size // config.batch_size)
    best_validity, best_state, curve = -1.0, None, []
    start = time.perf_counter()
    progress = tqdm(range(config.ticks), desc="pretraining generator", unit="tick", disable=None)  # no bar off-TTY
    for tick in progress:
        for _ in range(steps_per_tick):
            types, edges = graph_targets(space, draw(config.batch_size, rng))
            _, per_sample = generator.training_loss(types.to(device), edges.to(device), torch_rng)
            loss = per_sample.mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        valid = validity(generator, space, config.validity_samples, seed=tick, device=device, sample=config.sample)
        curve.append(valid)
        progress.set_postfix(loss=f"{loss.item():.3f}", validity=f"{valid:.4f}")
        if valid > best_validity:
            best_validity = valid
            best_state = {k: v.detach().clone() for k, v in generator.state_dict().items()}
        if valid >= config.target_validity:
            break
    generator.load_state_dict(best_state)
    return {"validity": best_validity, "ticks": len(curve), "validity_curve": curve,
            "seconds": time.perf_counter() - start}
