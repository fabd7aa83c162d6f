"""Labelled training of the INN generator (Chen 2023, Tables 12-13): the fine-tuning the search
starts with and the retraining after every round of queries.

Each mini-batch takes two optimiser steps of one shared Adam (the author's code):

1. ``w_reg L_reg + w_latent MMD`` (+ the GVAE loss in mode ``e2e``) w.r.t. every trained
   weight (mode ``partial``: the INN only; the GVAE stays frozen, in evaluation mode);
2. ``w_rev L_rev`` w.r.t. the INN only, on the encoder means of step 1 (detached).

With rank weights (retraining only), ``L_reg`` and ``L_rev`` are the sums ``sum_i w_i loss_i``,
``w_i = 1 / (k |B| + rank_i)`` with ``rank_i`` the number of items of the MINI-BATCH labelled
higher (thesis eq. 10-11); without them, means. Labelled cells repeat (x20 in the thesis) as
repeated indices into one copy of their tensors. Every draw (order, latent noise, ``z``, and the
decoder's dropout through a seeded global stream) comes from the caller's ``torch.Generator``.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from nasgen.errors import ConfigError
from nasgen.generators.base import graph_targets
from nasgen.generators.inn import FINETUNE_MODES, INNGenerator, LabelledSchedule
from nasgen.spaces.base import Arch, SearchSpace


@dataclass
class LabelledSet:
    """Labelled cells (``graph_targets`` layout), their labels ``y`` (fractions) and how often
    each counts (``repeats``)."""

    node_types: torch.Tensor
    edges: torch.Tensor
    y: torch.Tensor
    repeats: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def items(self) -> torch.Tensor:
        """Indices of the cells, each repeated ``repeats`` times."""
        return torch.repeat_interleave(torch.arange(len(self)), self.repeats)


def labelled_set(space: SearchSpace, archs: Sequence[Arch], y: np.ndarray, repeat: int) -> LabelledSet:
    node_types, edges = graph_targets(space, archs)
    return LabelledSet(node_types, edges, torch.as_tensor(np.asarray(y), dtype=torch.float32),
                       torch.full((len(archs),), int(repeat), dtype=torch.long))


def joined(a: LabelledSet, b: LabelledSet) -> LabelledSet:
    return LabelledSet(torch.cat([a.node_types, b.node_types]), torch.cat([a.edges, b.edges]),
                       torch.cat([a.y, b.y]), torch.cat([a.repeats, b.repeats]))


def batch_rank_weights(y: torch.Tensor, k: float) -> torch.Tensor:
    """``1 / (k |B| + rank_i)``, ``rank_i`` = items of the batch ``y`` labelled strictly higher."""
    ranks = (y[None, :] > y[:, None]).sum(1)
    return 1.0 / (k * len(y) + ranks)


class INNTrainer:
    """Trains an :class:`INNGenerator` on labelled cells; one Adam for all its fits, so the
    search retrains from the state its fine-tuning left (checkpointed with :meth:`state_dict`)."""

    def __init__(self, model: INNGenerator, mode: str = "e2e", lr: float = 1e-3,
                 device: "str | torch.device" = "cpu") -> None:
        if mode not in FINETUNE_MODES:
            raise ConfigError(f"INN training mode must be one of {', '.join(FINETUNE_MODES)}, got {mode!r}")
        self.model = model.to(device)
        self.mode = mode
        self.device = device
        trained = model.parameters() if mode == "e2e" else model.inn.parameters()
        self.optimizer = torch.optim.Adam(trained, lr=lr)
        self.scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None

    def _train_mode(self) -> None:
        self.model.train()
        if self.mode == "partial":  # frozen GVAE: BatchNorm statistics kept, no dropout
            self.model.encoder.eval()
            self.model.decoder.eval()

    def _tensors(self, data: LabelledSet, chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (data.node_types[chosen].to(self.device), data.edges[chosen].to(self.device),
                data.y[chosen].to(self.device))

    def _step(self, data: LabelledSet, chosen: torch.Tensor, rank_k: float | None,
              generator: torch.Generator) -> float:
        model, weights = self.model, self.model.loss_settings
        node_types, edges, y = self._tensors(data, chosen)
        rank = None if rank_k is None else batch_rank_weights(y, rank_k)

        def reduced(per_item: torch.Tensor) -> torch.Tensor:
            return per_item.mean() if rank is None else (rank * per_item).sum()

        if self.mode == "e2e":
            vae = model.autoencode(node_types, edges, generator)
            mean, vae_loss = vae.mean, vae.loss.mean()
        else:
            with torch.no_grad():
                mean = model.encode(node_types, edges)
            vae_loss = torch.zeros((), device=mean.device)
        squared_error, mmd = model.regression_terms(mean, y, generator)
        loss = weights.w_reg * reduced(squared_error) + weights.w_latent * mmd + vae_loss
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        # INN only: the GVAE's parameters get no gradient, and Adam skips them
        reverse = weights.w_rev * reduced(model.reverse_loss(mean.detach(), y, generator))
        self.optimizer.zero_grad()
        reverse.backward()
        self.optimizer.step()
        return loss.item() + reverse.item()

    @torch.no_grad()
    def validation_loss(self, valid: LabelledSet) -> float:
        """The weighted total loss (no rank weights) over the validation cells, each counted
        ``repeats`` times, in evaluation mode with the same draws every epoch."""
        model, weights = self.model, self.model.loss_settings
        model.eval()
        draws = torch.Generator().manual_seed(0)
        node_types, edges, y = self._tensors(valid, torch.arange(len(valid)))
        counts = valid.repeats.to(self.device).float()
        share = counts / counts.sum()
        vae = model.autoencode(node_types, edges, draws)
        squared_error, mmd = model.regression_terms(vae.mean, y, draws)
        reverse = model.reverse_loss(vae.mean, y, draws)
        total = weights.w_reg * (share * squared_error).sum() + weights.w_latent * mmd + \
            weights.w_rev * (share * reverse).sum()
        if self.mode == "e2e":
            total = total + (share * vae.loss).sum()
        return total.item()

    def fit(self, train: LabelledSet, valid: LabelledSet, schedule: LabelledSchedule, rank_k: float | None,
            generator: torch.Generator) -> dict:
        """Train on ``train`` (rank weights with ``rank_k``, none with ``None``), watch ``valid``
        each epoch, restore the best epoch's weights; the statistics (epochs, steps, best
        validation loss, final lr, why it stopped, seconds)."""
        started = time.perf_counter()
        for group in self.optimizer.param_groups:
            group["lr"] = schedule.lr
        self.scheduler = None if schedule.plateau_patience is None else torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=schedule.plateau_factor, patience=schedule.plateau_patience,
            min_lr=schedule.min_lr)
        items = train.items()
        best_loss, best_epoch, best_weights = float("inf"), 0, copy.deepcopy(self.model.state_dict())
        steps, epoch, stopped = 0, 0, "epochs"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            for epoch in range(1, schedule.epochs + 1):
                self._train_mode()
                order = items[torch.randperm(len(items), generator=generator)]
                for chosen in order.split(schedule.batch_size):
                    self._step(train, chosen, rank_k, generator)
                    steps += 1
                    if schedule.max_steps is not None and steps >= schedule.max_steps:
                        stopped = "max_steps"
                        break
                loss = self.validation_loss(valid)
                if self.scheduler is not None:
                    self.scheduler.step(loss)
                if loss < best_loss:
                    best_loss, best_epoch, best_weights = loss, epoch, copy.deepcopy(self.model.state_dict())
                if stopped == "max_steps":
                    break
                if epoch - best_epoch >= schedule.early_stop:
                    stopped = "early_stop"
                    break
        self.model.load_state_dict(best_weights)
        self.model.eval()
        return {"epochs": epoch, "steps": steps, "best_epoch": best_epoch, "best_valid_loss": best_loss,
                "final_lr": self.optimizer.param_groups[0]["lr"], "stopped": stopped,
                "seconds": time.perf_counter() - started}

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler = None
        if state.get("scheduler") is not None:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer)
            self.scheduler.load_state_dict(state["scheduler"])
