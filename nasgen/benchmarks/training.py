"""A benchmark that really trains the architectures of a search space.

The space's ``network`` builder (a :class:`~nasgen.models.base.NetworkBuilder`: NB201 cells by
default, DARTS genotypes with ``benchmark=train_darts``) makes each queried architecture's
network, which is trained with SGD (momentum, lr annealed to 0 by a per-step cosine schedule,
weight decay; random crop / flip augmentation where the dataset allows it) and evaluated on the
valid and test splits. The defaults are NAS-Bench-201's recipe (Nesterov momentum 0.9, lr 0.1,
weight decay 5e-4, batch 256). DARTS' recipe adds what a network may declare: an auxiliary
classifier (:class:`~nasgen.models.base.AuxiliaryNetwork`, its loss weighted by
``auxiliary_weight``) and drop-path (:class:`~nasgen.models.base.DropPathNetwork`, its
probability ramped linearly from 0 to ``drop_path_prob`` over the epochs), and cutout and
gradient-norm clipping for any network.

Metrics (accuracy in %): ``{dataset}/valid_acc@{epochs}``, ``{dataset}/test_acc@{epochs}``,
``{dataset}/train_seconds@{epochs}`` and ``{dataset}/params_M`` (without an auxiliary head).

Every architecture is trained once per benchmark object; with ``checkpoint_dir`` the trained
weights and metrics go to ``<checkpoint_dir>/<id>.pt`` and a later run (a resumed search)
reuses them instead of training again. The id is the architecture's index in a space that has
one (the NB201 index), else a 64-bit hash of the space's isomorphism key, so that a DARTS
genotype with a node's two inputs swapped shares the training of the original. On the CPU a
result depends only on the settings, ``seed`` and the architecture (its id), not on the order of
queries.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasgen.benchmarks.base import UnitsFromNames
from nasgen.data.datasets import DATASETS, Split, augment, cutout, load_dataset, to_unit
from nasgen.errors import ConfigError, DataError, choose
from nasgen.models.base import DropPathNetwork, NetworkBuilder, has_auxiliary_head, inference_params_M
from nasgen.models.nb201_network import NB201Networks, Normalize
from nasgen.paths import atomic_write
from nasgen.reporting.console import progress_bar
from nasgen.spaces.base import Arch, SearchSpace, arch_id
from nasgen.spaces.nb201 import NB201Space

log = logging.getLogger(__name__)
_EVAL_BATCH = 1024
_CHECKPOINT_KEYS = {"arch", "settings", "metrics", "state_dict"}


class TrainingBenchmark(UnitsFromNames):
    """Architectures trained for real on one image dataset (see the module docstring).

    Without ``space`` and ``network``: NB201 cells, the NB201 network sized by ``channels`` and
    ``cells_per_stage`` (default C=16, N=5, NAS-Bench-201's; ``configs/benchmark/train.yaml``
    sets a much smaller, quick one). Another space brings its ``network`` builder, which then sizes
    the network (``configs/benchmark/train_darts.yaml``)."""

    name = "train"

    def __init__(self, dataset: str = "digits", epochs: int = 200, channels: int | None = None,
                 cells_per_stage: int | None = None, batch_size: int = 256, lr: float = 0.1, momentum: float = 0.9,
                 weight_decay: float = 5e-4, nesterov: bool = True, max_train_samples: int | None = None,
                 valid_size: int | None = None, device: str = "cpu", seed: int = 0, data_root_dir: "str | None" = None,
                 checkpoint_dir: "str | Path | None" = None, space: SearchSpace | None = None,
                 network: NetworkBuilder | None = None, auxiliary_weight: float = 0.0, drop_path_prob: float = 0.0,
                 cutout: int = 0, grad_clip: float | None = None) -> None:
        choose("benchmark.dataset", dataset, DATASETS)
        sizes = {"epochs": epochs, "batch_size": batch_size}
        if max_train_samples is not None:
            sizes["max_train_samples"] = max_train_samples
        for key, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"benchmark.{key} must be a positive integer, got {value!r}")
        if not lr > 0 or weight_decay < 0 or not 0 <= momentum < 1:
            raise ConfigError(f"benchmark needs lr > 0, weight_decay >= 0 and 0 <= momentum < 1, got "
                              f"lr={lr}, weight_decay={weight_decay}, momentum={momentum}")
        if auxiliary_weight < 0 or not 0 <= drop_path_prob < 1 or not isinstance(cutout, int) or cutout < 0 \
                or (grad_clip is not None and not grad_clip > 0):
            raise ConfigError(f"benchmark needs auxiliary_weight >= 0, 0 <= drop_path_prob < 1, an integer cutout "
                              f">= 0 and grad_clip > 0 or null, got auxiliary_weight={auxiliary_weight}, "
                              f"drop_path_prob={drop_path_prob}, cutout={cutout!r}, grad_clip={grad_clip}")
        self.space = space if space is not None else NB201Space()
        self.network = _network_builder(self.space, network, channels, cells_per_stage)
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"unknown device {device!r}; valid choices: cpu, cuda, cuda:N") from None
        self.dataset, self.epochs, self.seed = dataset, epochs, int(seed)
        # Everything that changes a trained result: a checkpoint made with other settings is refused.
        # The DARTS extras are left out at their defaults (which change nothing), so that the
        # checkpoints of NB201 runs made before they existed stay valid.
        extras = {"auxiliary_weight": float(auxiliary_weight), "drop_path_prob": float(drop_path_prob),
                  "cutout": cutout, "grad_clip": None if grad_clip is None else float(grad_clip)}
        self.settings = {"dataset": dataset, "epochs": epochs, **self.network.settings(), "batch_size": batch_size,
                         "lr": float(lr), "momentum": float(momentum), "weight_decay": float(weight_decay),
                         "nesterov": bool(nesterov), "max_train_samples": max_train_samples,
                         "valid_size": valid_size, "seed": self.seed,
                         **{key: value for key, value in extras.items() if value}}
        self.data = load_dataset(dataset, data_root_dir, valid_size)
        self.train_split = self.data.train.head(max_train_samples)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        with torch.random.fork_rng(devices=[]):  # a network of any arch shows what the space's networks have
            self._check_extras(self._network(self.space.sample(1, np.random.default_rng(0))[0]))
        self.trainings = 0  # networks actually trained by this object (not loaded from checkpoints)
        self._results: dict[int, dict[str, float]] = {}  # by arch id
        # Weights (and the arch they were trained as) are kept in memory only when there is no
        # checkpoint folder to reload them from.
        self._states: dict[int, tuple[Arch, dict[str, torch.Tensor]]] = {}

    # -- Benchmark protocol -----------------------------------------------------------------
    @property
    def metrics(self) -> tuple[str, ...]:
        d, e = self.dataset, self.epochs
        return (f"{d}/valid_acc@{e}", f"{d}/test_acc@{e}", f"{d}/train_seconds@{e}", f"{d}/params_M")

    def query(self, archs: Sequence[Arch], metric: str) -> np.ndarray:
        choose("metric", metric, self.metrics)
        return np.array([self.results(arch)[metric] for arch in archs], dtype=np.float64)

    def optimum(self, metric: str, maximize: bool = True) -> float | None:
        return None  # unknown without training the whole space

    # -- beyond the protocol ----------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.data.info.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.data.info.input_shape

    def results(self, arch: Arch) -> dict[str, float]:
        """All metrics of ``arch``: memoised, else from its checkpoint, else trained now."""
        arch = self.space.parse(arch)
        arch_id = self.arch_id(arch)
        if arch_id not in self._results:
            checkpoint = self._read_checkpoint(arch)
            if checkpoint is not None:
                self._results[arch_id] = checkpoint["metrics"]
            else:
                self._train(arch)
        return self._results[arch_id]

    def load_model(self, arch: Arch) -> nn.Module:
        """The trained network of ``arch`` (training it first if needed) behind a
        :class:`Normalize`, so it takes [0, 1] images; in eval mode, on the CPU. It is the network
        of the arch as trained, which may be an isomorphic form of ``arch`` (same id)."""
        arch = self.space.parse(arch)
        self.results(arch)
        checkpoint = self._read_checkpoint(arch)
        if checkpoint is not None:
            trained, state = self.space.from_str(checkpoint["arch"]), checkpoint["state_dict"]
        else:
            trained, state = self._states[self.arch_id(arch)]
        network = self._network(trained)
        network.load_state_dict(state)
        return nn.Sequential(Normalize(self.data.info.mean, self.data.info.std), network).eval()

    def evaluation_data(self, split: str = "test", max_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] ``(N, C, H, W)`` and labels of ``split`` (its first ``max_samples``)."""
        part = self.data.split(split).head(max_samples)
        return part.pixels(), part.labels

    def arch_id(self, arch: Arch) -> int:
        """The name of ``arch``'s checkpoint and the source of its training seed
        (:func:`nasgen.spaces.base.arch_id`)."""
        return arch_id(self.space, arch)

    # -- training ---------------------------------------------------------------------------
    def _network(self, arch: Arch) -> nn.Module:
        return self.network.build(arch, self.num_classes, self.input_shape[0])

    def _arch_seed(self, arch: Arch) -> int:
        """A seed for ``arch`` alone, so its result does not depend on what was trained before."""
        return int(np.random.SeedSequence([self.seed, self.arch_id(arch)]).generate_state(1)[0])

    def _loss(self, output: "torch.Tensor | tuple[torch.Tensor, torch.Tensor]", labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy, plus ``auxiliary_weight`` times that of the auxiliary logits if the
        network gave any (an :class:`~nasgen.models.base.AuxiliaryNetwork` in training mode)."""
        if isinstance(output, tuple):
            logits, auxiliary_logits = output
            return F.cross_entropy(logits, labels) + self.settings["auxiliary_weight"] * F.cross_entropy(
                auxiliary_logits, labels)
        return F.cross_entropy(output, labels)

    def _check_extras(self, network: nn.Module) -> None:
        """Refuse DARTS extras the network cannot use, and an auxiliary head without a loss weight."""
        if has_auxiliary_head(network) != ("auxiliary_weight" in self.settings):
            raise ConfigError("benchmark.auxiliary_weight > 0 and a network with an auxiliary head "
                              "(benchmark.network.auxiliary=true) go together: set both or neither")
        if "drop_path_prob" in self.settings and not isinstance(network, DropPathNetwork):
            raise ConfigError(f"benchmark.drop_path_prob: {self.space.name} networks have no drop-path; set it to 0")

    def _train(self, arch: Arch) -> None:
        arch_id, info, s = self.arch_id(arch), self.data.info, self.settings
        seed = self._arch_seed(arch)
        generator = torch.Generator().manual_seed(seed)  # batch order and augmentation
        with torch.random.fork_rng(devices=[]):  # initialise weights without touching the caller's RNG
            torch.manual_seed(seed)
            network = self._network(arch)
        model = nn.Sequential(Normalize(info.mean, info.std), network).to(self.device)
        optimizer = torch.optim.SGD(model.parameters(), lr=s["lr"], momentum=s["momentum"],
                                    weight_decay=s["weight_decay"], nesterov=s["nesterov"] and s["momentum"] > 0)
        images = self.train_split.images.to(self.device)
        labels = self.train_split.labels.to(self.device)
        steps = s["epochs"] * math.ceil(len(labels) / s["batch_size"])
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=0.0)
        start = time.perf_counter()
        epochs = progress_bar(range(s["epochs"]), desc=f"training {self.space.name} #{arch_id}", unit="epoch",
                              leave=False)
        # drop-path masks come from torch's global RNG: seeded per arch, the caller's left untouched
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            for epoch in epochs:
                if isinstance(network, DropPathNetwork):
                    network.drop_path_prob = s.get("drop_path_prob", 0.0) * epoch / s["epochs"]
                total = self._train_epoch(model, optimizer, scheduler, images, labels, generator)
                epochs.set_postfix(loss=f"{total / len(labels):.3f}")
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        d, e = self.dataset, self.epochs
        metrics = {f"{d}/valid_acc@{e}": self._accuracy(model, self.data.valid),
                   f"{d}/test_acc@{e}": self._accuracy(model, self.data.test),
                   f"{d}/train_seconds@{e}": seconds,
                   f"{d}/params_M": inference_params_M(network)}
        state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
        self.trainings += 1
        self._results[arch_id] = metrics
        if self.checkpoint_dir is None:
            self._states[arch_id] = (arch, state)
        else:
            self._write_checkpoint(arch, metrics, state)
        log.info("trained %s #%d %s on %s in %.1f s: valid %.2f%%, test %.2f%%, %.3f M params", self.space.name,
                 arch_id, self.space.to_str(arch), d, seconds, metrics[f"{d}/valid_acc@{e}"],
                 metrics[f"{d}/test_acc@{e}"], metrics[f"{d}/params_M"])

    def _train_epoch(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler, images: torch.Tensor, labels: torch.Tensor,
                     generator: torch.Generator) -> float:
        """One pass over the training images in a random order; the summed loss."""
        info, s = self.data.info, self.settings
        model.train()
        total = torch.zeros((), device=self.device)
        for batch in torch.randperm(len(labels), generator=generator).split(s["batch_size"]):
            batch = batch.to(self.device)
            x = augment(to_unit(images[batch]), info, generator)
            if s.get("cutout"):
                x = cutout(x, s["cutout"], info, generator)
            loss = self._loss(model(x), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if s.get("grad_clip") is not None:
                nn.utils.clip_grad_norm_(model.parameters(), s["grad_clip"])
            optimizer.step()
            scheduler.step()
            total += loss.detach() * len(batch)
        return total.item()

    @torch.no_grad()
    def _accuracy(self, model: nn.Module, split: Split) -> float:
        """Top-1 accuracy in % with batch-norm running statistics (eval mode)."""
        model.eval()
        correct = 0
        for start in range(0, len(split), _EVAL_BATCH):
            x = to_unit(split.images[start:start + _EVAL_BATCH].to(self.device))
            y = split.labels[start:start + _EVAL_BATCH].to(self.device)
            correct += int((model(x).argmax(1) == y).sum())
        return 100.0 * correct / len(split)

    # -- checkpoints ------------------------------------------------------------------------
    def checkpoint_path(self, arch: Arch) -> Path | None:
        """``<checkpoint_dir>/<arch id>.pt`` (see :meth:`arch_id`), or None without a checkpoint folder."""
        if self.checkpoint_dir is None:
            return None
        return self.checkpoint_dir / f"{self.arch_id(arch)}.pt"

    def _write_checkpoint(self, arch: Arch, metrics: dict[str, float], state: dict[str, torch.Tensor]) -> None:
        path = self.checkpoint_path(arch)
        with atomic_write(path, "wb") as f:
            torch.save({"arch": self.space.to_str(arch), "settings": self.settings, "metrics": metrics,
                        "state_dict": state}, f)

    def _read_checkpoint(self, arch: Arch) -> dict | None:
        path = self.checkpoint_path(arch)
        if path is None or not path.is_file():
            return None
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch.load raises many types for a corrupt file
            raise DataError(f"cannot read checkpoint {path} ({type(exc).__name__}: {exc}); delete it to retrain") \
                from None
        if not isinstance(checkpoint, dict) or not _CHECKPOINT_KEYS <= checkpoint.keys():
            raise DataError(f"{path} is not a nasgen training checkpoint; delete it to retrain")
        stored_arch, settings = checkpoint["arch"], checkpoint["settings"]
        if self.arch_id(self.space.from_str(stored_arch)) != self.arch_id(arch):
            raise DataError(f"checkpoint {path} holds arch {stored_arch}, expected {self.space.to_str(arch)}")
        if settings != self.settings:
            changed = sorted(k for k in self.settings.keys() | settings.keys()
                             if settings.get(k) != self.settings.get(k))
            raise DataError(f"checkpoint {path} was trained with other settings ({', '.join(changed)}); "
                            f"use another benchmark.checkpoint_dir or delete it")
        return checkpoint


def _network_builder(space: SearchSpace, network: NetworkBuilder | None, channels: int | None,
                     cells_per_stage: int | None) -> NetworkBuilder:
    """The builder of ``space``'s networks: ``network``, or the NB201 network sized by
    ``channels`` and ``cells_per_stage`` (which size nothing else)."""
    if not isinstance(space, SearchSpace):
        raise ConfigError(f"benchmark.space builds a {type(space).__name__}, not a search space")
    if network is None:
        network = NB201Networks(16 if channels is None else channels, 5 if cells_per_stage is None else cells_per_stage)
    elif channels is not None or cells_per_stage is not None:
        raise ConfigError("benchmark.channels and benchmark.cells_per_stage size the NB201 network; with "
                          "benchmark.network set its own sizes (e.g. benchmark.network.channels)")
    if not isinstance(network, NetworkBuilder):
        raise ConfigError(f"benchmark.network builds a {type(network).__name__}, not a network builder "
                          "(space_name, settings(), build(arch, num_classes, in_channels))")
    if network.space_name != space.name:
        raise ConfigError(f"benchmark.network builds {network.space_name} networks, but the space is {space.name}: "
                          f"choose search_space={network.space_name} or a benchmark with {space.name} networks "
                          f"(benchmark=train for nb201, benchmark=train_darts for darts)")
    return network
