"""A benchmark that really trains NB201 architectures.

Each queried cell is built as a :class:`~nasgen.models.nb201_network.NB201Network` and
trained with the NAS-Bench-201 recipe (SGD with Nesterov momentum 0.9, lr 0.1 annealed to 0
by a per-step cosine schedule, weight decay 5e-4, batch 256, random crop / flip
augmentation where the dataset allows it), then evaluated on the valid and test splits.

Metrics (accuracy in %): ``{dataset}/valid_acc@{epochs}``, ``{dataset}/test_acc@{epochs}``,
``{dataset}/train_seconds@{epochs}`` and ``{dataset}/params_M``.

Every architecture is trained once per benchmark object; with ``checkpoint_dir`` the trained
weights and metrics go to ``<checkpoint_dir>/<nb201 index>.pt`` and a later run (a resumed
search) reuses them instead of training again. On the CPU a result depends only on the
settings, ``seed`` and the architecture, not on the order of queries.
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
from nasgen.data.datasets import DATASETS, Split, augment, load_dataset, to_unit
from nasgen.errors import ConfigError, DataError, choose
from nasgen.models.nb201_network import NB201Network, Normalize, count_params
from nasgen.paths import atomic_write
from nasgen.reporting.console import progress_bar
from nasgen.spaces.nb201 import NB201Arch, NB201Space

log = logging.getLogger(__name__)
_EVAL_BATCH = 1024
_CHECKPOINT_KEYS = {"arch", "settings", "metrics", "state_dict"}


class TrainingBenchmark(UnitsFromNames):
    """NB201 cells trained for real on one image dataset (see the module docstring).

    The defaults are NAS-Bench-201's network and recipe (C=16, N=5, 200 epochs);
    ``configs/benchmark/train.yaml`` sets a much smaller, quick one."""

    name = "train"

    def __init__(self, dataset: str = "digits", epochs: int = 200, channels: int = 16, cells_per_stage: int = 5,
                 batch_size: int = 256, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 5e-4,
                 nesterov: bool = True, max_train_samples: int | None = None, valid_size: int | None = None,
                 device: str = "cpu", seed: int = 0, data_root_dir: "str | None" = None,
                 checkpoint_dir: "str | Path | None" = None) -> None:
        choose("benchmark.dataset", dataset, DATASETS)
        sizes = {"epochs": epochs, "channels": channels, "cells_per_stage": cells_per_stage, "batch_size": batch_size}
        if max_train_samples is not None:
            sizes["max_train_samples"] = max_train_samples
        for key, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"benchmark.{key} must be a positive integer, got {value!r}")
        if not lr > 0 or weight_decay < 0 or not 0 <= momentum < 1:
            raise ConfigError(f"benchmark needs lr > 0, weight_decay >= 0 and 0 <= momentum < 1, got "
                              f"lr={lr}, weight_decay={weight_decay}, momentum={momentum}")
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"unknown device {device!r}; valid choices: cpu, cuda, cuda:N") from None
        self.dataset, self.epochs, self.seed = dataset, epochs, int(seed)
        # Everything that changes a trained result: a checkpoint made with other settings is refused.
        self.settings = {"dataset": dataset, "epochs": epochs, "channels": channels,
                         "cells_per_stage": cells_per_stage, "batch_size": batch_size, "lr": float(lr),
                         "momentum": float(momentum), "weight_decay": float(weight_decay),
                         "nesterov": bool(nesterov), "max_train_samples": max_train_samples,
                         "valid_size": valid_size, "seed": self.seed}
        self.data = load_dataset(dataset, data_root_dir, valid_size)
        self.train_split = self.data.train.head(max_train_samples)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.space = NB201Space()
        self.trainings = 0  # networks actually trained by this object (not loaded from checkpoints)
        self._results: dict[NB201Arch, dict[str, float]] = {}
        # Weights are kept in memory only when there is no checkpoint folder to reload them from.
        self._states: dict[NB201Arch, dict[str, torch.Tensor]] = {}

    # -- Benchmark protocol -----------------------------------------------------------------
    @property
    def metrics(self) -> tuple[str, ...]:
        d, e = self.dataset, self.epochs
        return (f"{d}/valid_acc@{e}", f"{d}/test_acc@{e}", f"{d}/train_seconds@{e}", f"{d}/params_M")

    def query(self, archs: Sequence[NB201Arch], metric: str) -> np.ndarray:
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

    def results(self, arch: NB201Arch) -> dict[str, float]:
        """All metrics of ``arch``: memoised, else from its checkpoint, else trained now."""
        arch = self.space.parse(arch)
        if arch not in self._results:
            checkpoint = self._read_checkpoint(arch)
            if checkpoint is not None:
                self._results[arch] = checkpoint["metrics"]
            else:
                self._train(arch)
        return self._results[arch]

    def load_model(self, arch: NB201Arch) -> nn.Module:
        """The trained network of ``arch`` (training it first if needed) behind a
        :class:`Normalize`, so it takes [0, 1] images; in eval mode, on the CPU."""
        arch = self.space.parse(arch)
        self.results(arch)
        checkpoint = self._read_checkpoint(arch)
        state = checkpoint["state_dict"] if checkpoint is not None else self._states[arch]
        network = self._network(arch)
        network.load_state_dict(state)
        return nn.Sequential(Normalize(self.data.info.mean, self.data.info.std), network).eval()

    def evaluation_data(self, split: str = "test", max_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] ``(N, C, H, W)`` and labels of ``split`` (its first ``max_samples``)."""
        part = self.data.split(split).head(max_samples)
        return part.pixels(), part.labels

    # -- training ---------------------------------------------------------------------------
    def _network(self, arch: NB201Arch) -> NB201Network:
        return NB201Network(arch, self.num_classes, self.settings["channels"], self.settings["cells_per_stage"],
                            in_channels=self.input_shape[0])

    def _arch_seed(self, arch: NB201Arch) -> int:
        """A seed for ``arch`` alone, so its result does not depend on what was trained before."""
        return int(np.random.SeedSequence([self.seed, self.space.index(arch)]).generate_state(1)[0])

    def _train(self, arch: NB201Arch) -> None:
        index, info, s = self.space.index(arch), self.data.info, self.settings
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
        epochs = progress_bar(range(s["epochs"]), desc=f"training NB201 #{index}", unit="epoch", leave=False)
        for _ in epochs:
            model.train()
            total = torch.zeros((), device=self.device)
            for batch in torch.randperm(len(labels), generator=generator).split(s["batch_size"]):
                batch = batch.to(self.device)
                x = augment(to_unit(images[batch]), info, generator)
                loss = F.cross_entropy(model(x), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += loss.detach() * len(batch)
            epochs.set_postfix(loss=f"{total.item() / len(labels):.3f}")
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        d, e = self.dataset, self.epochs
        metrics = {f"{d}/valid_acc@{e}": self._accuracy(model, self.data.valid),
                   f"{d}/test_acc@{e}": self._accuracy(model, self.data.test),
                   f"{d}/train_seconds@{e}": seconds,
                   f"{d}/params_M": count_params(network)}
        state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
        self.trainings += 1
        self._results[arch] = metrics
        if self.checkpoint_dir is None:
            self._states[arch] = state
        else:
            self._write_checkpoint(arch, metrics, state)
        log.info("trained NB201 #%d %s on %s in %.1f s: valid %.2f%%, test %.2f%%, %.3f M params", index,
                 self.space.to_str(arch), d, seconds, metrics[f"{d}/valid_acc@{e}"], metrics[f"{d}/test_acc@{e}"],
                 metrics[f"{d}/params_M"])

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
    def checkpoint_path(self, arch: NB201Arch) -> Path | None:
        """``<checkpoint_dir>/<nb201 index>.pt``, or None without a checkpoint folder."""
        if self.checkpoint_dir is None:
            return None
        return self.checkpoint_dir / f"{self.space.index(arch)}.pt"

    def _write_checkpoint(self, arch: NB201Arch, metrics: dict[str, float], state: dict[str, torch.Tensor]) -> None:
        path = self.checkpoint_path(arch)
        with atomic_write(path, "wb") as f:
            torch.save({"arch": self.space.to_str(arch), "settings": self.settings, "metrics": metrics,
                        "state_dict": state}, f)

    def _read_checkpoint(self, arch: NB201Arch) -> dict | None:
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
        if stored_arch != self.space.to_str(arch):
            raise DataError(f"checkpoint {path} holds arch {stored_arch}, expected {self.space.to_str(arch)}")
        if settings != self.settings:
            changed = sorted(k for k in self.settings.keys() | settings.keys()
                             if settings.get(k) != self.settings.get(k))
            raise DataError(f"checkpoint {path} was trained with other settings ({', '.join(changed)}); "
                            f"use another benchmark.checkpoint_dir or delete it")
        return checkpoint
