"""Bilevel training of a one-shot supernet (first-order DARTS), its fine-tuning between selection
steps (DARTS-PT), and evaluation of the supernet under given mixing weights.

One search step, as in DARTS' first-order code: one architecture step (Adam on alpha) on a batch
of the alpha split, then one weight step (SGD with momentum, weight decay and gradient clipping)
on a batch of the weight split. An epoch is one pass over the weight split in a random order
(``ceil(len / batch_size)`` steps); alpha batches come cyclically from seeded permutations of the
alpha split. The weight learning rate follows a cosine from ``lr`` to ``lr_min`` over the search
epochs, stepped once per epoch. Both splits are the dataset's train split, shuffled with a fixed
seed and cut by ``train_portion`` (DARTS' 50/50); batches of both are augmented as the dataset
says (random crop, flip), as the authors' code does (its alpha batches come from the augmented
training set too); :meth:`BilevelTrainer.evaluate` reads the whole alpha split without
augmentation, in a fixed order.

Randomness: batch order and augmentation come from a ``torch.Generator`` seeded by the trainer's
``seed``; weight and alpha initialisation, Dirichlet samples (DrNAS) and the ``noise`` op use the
global torch RNG, which the caller seeds. :meth:`BilevelTrainer.state_dict` holds all of it, so a
search resumed from a checkpoint continues bit-identically.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nasgen.data.datasets import DatasetInfo, Split, augment, load_dataset
from nasgen.errors import ConfigError, choose
from nasgen.oneshot.base import Decisions, Relaxation, Supernet
from nasgen.ranges import Float, Int, check_ranges

TUNING_SCHEDULES = ("constant", "cosine")
_SCHEDULE_RANGES = {
    "epochs": Int(1), "batch_size": Int(1), "lr": Float(0, above=True), "lr_min": Float(0),
    "momentum": Float(0, 1), "weight_decay": Float(0), "grad_clip": Float(0, above=True, optional=True),
    "arch_lr": Float(0, above=True), "arch_weight_decay": Float(0), "train_portion": Float(0, 1, above=True),
}


@dataclass
class SupernetSchedule:
    """Optimisation settings of supernet search (config node ``supernet.schedule``); the
    defaults are the DARTS-PT / DrNAS settings for NB201."""

    epochs: int = 100
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3.0e-4
    grad_clip: float | None = 5.0
    arch_lr: float = 3.0e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1.0e-3
    train_portion: float = 0.5

    def __post_init__(self) -> None:
        check_ranges("supernet.schedule", _SCHEDULE_RANGES, vars(self))
        betas = tuple(self.arch_betas)
        if len(betas) != 2 or not all(Float(0, 1).accepts(b) and b < 1 for b in betas):
            raise ConfigError(f"supernet.schedule.arch_betas must be two numbers in [0, 1), got {self.arch_betas!r}")
        if self.train_portion >= 1:
            raise ConfigError(f"supernet.schedule.train_portion must be below 1 (the rest trains alpha), "
                              f"got {self.train_portion!r}")
        if self.lr_min > self.lr:
            raise ConfigError(f"supernet.schedule.lr_min ({self.lr_min}) must not exceed lr ({self.lr})")
        self.arch_betas = (float(betas[0]), float(betas[1]))

    def to_dict(self) -> dict:
        return {**asdict(self), "arch_betas": list(self.arch_betas)}


@dataclass(frozen=True)
class SearchData:
    """The two halves of the training set: ``weights`` trains the supernet's weights, ``alpha``
    the architecture (and is what selection rules evaluate on). Images are float in [0, 1]."""

    info: DatasetInfo
    weights: Split
    alpha: Split


def search_data(dataset: str, data_root_dir: "str | None", train_portion: float, seed: int = 0) -> SearchData:
    """``dataset``'s train split shuffled with ``seed`` and cut: the first ``floor(train_portion
    * n)`` images train the weights, the rest the architecture (DARTS' split). The dataset's
    valid and test splits are not used."""
    data = load_dataset(dataset, data_root_dir)
    n = len(data.train)
    cut = int(math.floor(train_portion * n))
    if not 0 < cut < n:
        raise ConfigError(f"supernet.schedule.train_portion={train_portion} leaves one of the two halves of "
                          f"{dataset}'s {n} training images empty")
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    images, labels = data.train.pixels()[order], data.train.labels[order]
    return SearchData(data.info, Split(images[:cut], labels[:cut]), Split(images[cut:], labels[cut:]))


class OneShotModel(nn.Module):
    """A supernet with its architecture parameters (one ``[edges, ops]`` alpha per cell type,
    initialised as ``1e-3 * N(0, 1)`` from the global RNG), its relaxation and the selection's
    decisions so far."""

    def __init__(self, supernet: Supernet, relaxation: Relaxation) -> None:
        super().__init__()
        self.supernet, self.relaxation = supernet, relaxation
        self.alpha = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(c.num_edges, c.num_ops))
                                      for c in supernet.choices)
        self.decisions = Decisions.empty(supernet.choices)

    def mixing(self, training: bool, mask: "tuple[int, int, int] | None" = None) -> list[torch.Tensor]:
        """Mixing weights for a forward pass: the relaxation's (a training sample if ``training``,
        else its strengths) with the decisions applied (decided edges one-hot, removed edges
        zero) and, if ``mask = (cell, edge, op)``, that one entry zeroed (not renormalised)."""
        relax = self.relaxation.training_weights if training else self.relaxation.strengths
        weights = self.decisions.apply([relax(a) for a in self.alpha])
        if mask is not None:
            cell, edge, op = mask
            keep = torch.ones_like(weights[cell])
            keep[edge, op] = 0.0
            weights[cell] = weights[cell] * keep
        return weights

    @torch.no_grad()
    def strengths(self) -> list[np.ndarray]:
        """The relaxation's strengths per cell type, without decisions (what magnitude selection
        ranks and the logs record)."""
        return [self.relaxation.strengths(a).cpu().numpy() for a in self.alpha]

    def forward(self, images: torch.Tensor, mixing: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.supernet(images, mixing)


def _numpy_rng_state() -> dict:
    """numpy's global RNG state as tensors and numbers (loadable with ``torch.load(weights_only=True)``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_rng_state(state: dict) -> None:
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"],
                         state["cached_gaussian"]))


def _batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class BilevelTrainer:
    """Trains a :class:`OneShotModel` on :class:`SearchData` (see the module docstring)."""

    def __init__(self, model: OneShotModel, data: SearchData, schedule: SupernetSchedule, device: str = "cpu",
                 seed: int = 0) -> None:
        self.device = torch.device(device)
        self.model, self.data, self.schedule, self.seed = model.to(self.device), data, schedule, int(seed)
        self.epoch = 0        # search epochs done
        self.tune_epoch_count = 0  # tuning epochs done since start_tuning
        self.tuning: dict | None = None  # start_tuning's arguments once tuning started
        self._weights = self._on_device(data.weights)
        self._alpha = self._on_device(data.alpha)
        self._mean = torch.tensor(data.info.mean, device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(data.info.std, device=self.device).view(1, -1, 1, 1)
        self.generator = torch.Generator().manual_seed(self.seed)
        self._alpha_order = torch.randperm(len(data.alpha), generator=self.generator)
        self._alpha_pos = 0
        self.arch_optimizer = torch.optim.Adam(self.model.alpha.parameters(), lr=schedule.arch_lr,
                                               betas=schedule.arch_betas, weight_decay=schedule.arch_weight_decay)
        self.optimizer = self._sgd(schedule.lr)
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=schedule.epochs, eta_min=schedule.lr_min)

    # -- helpers ----------------------------------------------------------------------------
    def _on_device(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        return split.pixels().to(self.device), split.labels.to(self.device)

    def _sgd(self, lr: float) -> torch.optim.SGD:
        s = self.schedule
        return torch.optim.SGD(self.model.supernet.parameters(), lr=lr, momentum=s.momentum,
                               weight_decay=s.weight_decay)

    def _inputs(self, images: torch.Tensor, augmented: bool) -> torch.Tensor:
        if augmented:
            images = augment(images, self.data.info, self.generator)
        return (images - self._mean) / self._std

    def _next_alpha_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.schedule.batch_size
        if self._alpha_pos >= len(self._alpha_order):
            self._alpha_order = torch.randperm(len(self._alpha_order), generator=self.generator)
            self._alpha_pos = 0
        index = self._alpha_order[self._alpha_pos:self._alpha_pos + size].to(self.device)
        self._alpha_pos += size
        images, labels = self._alpha
        return self._inputs(images[index], True), labels[index]

    def _cuda_index(self) -> int:
        return torch.cuda.current_device() if self.device.index is None else self.device.index

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _run_epoch(self, update_alpha: bool) -> dict:
        """One pass over the weight split with alternating alpha and weight steps."""
        model, s = self.model, self.schedule
        alpha_params = list(model.alpha)
        weight_params = [p for p in model.supernet.parameters() if p.requires_grad]
        update_alpha = update_alpha and model.relaxation.learns_alpha
        images, labels = self._weights
        model.train()
        start = time.perf_counter()
        total_loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        lr = self.optimizer.param_groups[0]["lr"]
        for batch in torch.randperm(len(labels), generator=self.generator).split(s.batch_size):
            if update_alpha:
                x, y = self._next_alpha_batch()
                loss = F.cross_entropy(model(x, model.mixing(True)), y)
                # first order: alpha's gradient only (the weights' gradients are not needed)
                grads = torch.autograd.grad(loss, alpha_params)
                for p, g in zip(alpha_params, grads):
                    p.grad = g
                self.arch_optimizer.step()
            batch = batch.to(self.device)
            x, y = self._inputs(images[batch], True), labels[batch]
            with torch.no_grad():
                mixing = model.mixing(True)
            logits = model(x, mixing)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if s.grad_clip is not None:
                nn.utils.clip_grad_norm_(weight_params, s.grad_clip)
            self.optimizer.step()
            total_loss += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
        if self.scheduler is not None:
            self.scheduler.step()
        self._sync()
        n = len(labels)
        return {"train_loss": total_loss.item() / n, "train_acc": 100.0 * correct.item() / n, "lr": lr,
                "seconds": time.perf_counter() - start}

    # -- the contract -----------------------------------------------------------------------
    def search_epoch(self) -> dict:
        """One search epoch (see the module docstring): ``{"epoch", "train_loss", "train_acc",
        "lr", "seconds"}`` with ``epoch`` the number of search epochs done afterwards."""
        if self.tuning is not None:
            raise RuntimeError("search_epoch after start_tuning: load a search checkpoint to search on")
        row = self._run_epoch(update_alpha=True)
        self.epoch += 1
        return {"epoch": self.epoch, **row}

    def start_tuning(self, epochs: int, lr_factor: float = 0.1, schedule: str = "constant") -> None:
        """Switch to fine-tuning between selection steps (DARTS-PT): a fresh weight optimiser,
        SGD at ``lr * lr_factor`` (same momentum and weight decay), constant or cosine to
        ``lr_min`` over ``epochs``; the architecture optimiser keeps its state."""
        check_ranges("selection", {"tune_epochs": Int(1), "tune_lr_factor": Float(0, above=True)},
                     {"tune_epochs": epochs, "tune_lr_factor": lr_factor})
        choose("selection.tune_lr_schedule", schedule, TUNING_SCHEDULES)
        self.tuning = {"epochs": int(epochs), "lr_factor": float(lr_factor), "schedule": schedule}
        self.tune_epoch_count = 0
        self.optimizer = self._sgd(self.schedule.lr * lr_factor)
        self.scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs,
                                                                     eta_min=self.schedule.lr_min)
                          if schedule == "cosine" else None)

    def tune_epoch(self, update_alpha: bool) -> dict:
        """One fine-tuning epoch with the current decisions applied (alpha of the undecided edges
        trains too if ``update_alpha`` and the relaxation learns alpha):
        ``{"tune_epoch", "train_loss", "train_acc", "lr", "seconds"}``."""
        if self.tuning is None:
            raise RuntimeError("tune_epoch before start_tuning")
        row = self._run_epoch(update_alpha=update_alpha)
        self.tune_epoch_count += 1
        return {"tune_epoch": self.tune_epoch_count, **row}

    @torch.no_grad()
    def evaluate(self, mixing: Sequence[torch.Tensor]) -> tuple[float, float]:
        """(accuracy in %, mean cross-entropy) of the supernet under ``mixing`` on the whole alpha
        split, in a fixed order and batches of ``batch_size``, with batch norm in training mode
        (batch statistics, as darts-pt's masked evaluations). No side effects: batch-norm running
        buffers and the global RNG are restored, and the RNG is seeded the same way on every call
        so that stochastic ops (``noise``) draw the same numbers for every mixing compared."""
        model = self.model
        norms = _batch_norms(model)
        saved = [[b.clone() for b in bn.buffers()] for bn in norms]
        was_training = model.training
        images, labels = self._alpha
        loss = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        devices = [self._cuda_index()] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed)
                model.train()
                for start in range(0, len(labels), self.schedule.batch_size):
                    x = self._inputs(images[start:start + self.schedule.batch_size], False)
                    y = labels[start:start + self.schedule.batch_size]
                    logits = model(x, mixing)
                    loss += F.cross_entropy(logits, y, reduction="sum")
                    correct += (logits.argmax(1) == y).sum()
        finally:
            for bn, buffers in zip(norms, saved):
                for b, value in zip(bn.buffers(), buffers):
                    b.copy_(value)
            model.train(was_training)
        n = len(labels)
        return 100.0 * correct.item() / n, loss.item() / n

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue bit-identically: model (weights, alpha,
        batch-norm buffers), decisions, both optimisers, the lr scheduler, epoch counters, the
        batch-order generator and the global torch / numpy RNG states. A snapshot: copies that
        later training does not change (so it can be kept in memory and loaded again)."""
        state = {
            "schedule": self.schedule.to_dict(),
            "model": self.model.state_dict(),
            "decisions": self.model.decisions.to_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "epoch": self.epoch,
            "tuning": self.tuning,
            "tune_epoch_count": self.tune_epoch_count,
            "generator": self.generator.get_state(),
            "alpha_order": self._alpha_order.clone(),
            "alpha_pos": self._alpha_pos,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": _numpy_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self._cuda_index())
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict) -> None:
        """Continue from a :meth:`state_dict` (``state`` itself is left untouched)."""
        state = copy.deepcopy(state)  # optimisers would otherwise train the snapshot's buffers in place
        if state["schedule"] != self.schedule.to_dict():
            raise ConfigError(f"the supernet checkpoint was made with schedule {state['schedule']}, "
                              f"this run has {self.schedule.to_dict()}: use another run directory")
        self.model.load_state_dict(state["model"])
        self.model.decisions = Decisions.from_dict(state["decisions"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        tuning = state["tuning"]
        if tuning is None:
            self.tuning = None
            self.optimizer = self._sgd(self.schedule.lr)
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=self.schedule.epochs, eta_min=self.schedule.lr_min)
        else:
            self.start_tuning(tuning["epochs"], tuning["lr_factor"], tuning["schedule"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.tune_epoch_count = int(state["epoch"]), int(state["tune_epoch_count"])
        self.generator.set_state(state["generator"])
        self._alpha_order, self._alpha_pos = state["alpha_order"].clone(), int(state["alpha_pos"])
        torch.set_rng_state(state["torch_rng"])
        _set_numpy_rng_state(state["numpy_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self._cuda_index())
