"""The training schedule of a graph VAE that trains itself (SVGe, thesis Table B.2): epochs over a
fixed training split, Adam, the learning rate cut when the epoch's training loss stops falling.
Given validation cells (the INN generator's GVAE, Chen 2023 Table 10), the learning rate follows
their reconstruction loss instead (down to the settings' ``min_lr``), training stops after
``early_stop`` epochs without a lower one, and the best epoch's weights are restored.

:func:`~nasgen.generators.pretrain.pretrain` hands a
:class:`~nasgen.generators.base.SelfTrainingGenerator` its training and caches the result like any
pretrained generator. Each epoch ends with a checkpoint (weights, optimiser, scheduler, loss
curve) beside the cache entry; a killed training resumes from it. Every epoch's shuffling and
reparameterisation noise come from the seed and the epoch number, so a resumed training ends
with the weights an uninterrupted one would have.
"""
from __future__ import annotations

import copy
import logging
import pickle
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from nasgen.generators.base import SelfTrainingGenerator, graph_targets
from nasgen.generators.pretrain import validity
from nasgen.paths import atomic_write
from nasgen.spaces.base import Arch, SearchSpace

log = logging.getLogger(__name__)

VALIDITY_SAMPLES = 1000  # prior samples decoded once trained, for the record


def train_vae(model: SelfTrainingGenerator, space: SearchSpace, archs: Sequence[Arch], seed: int,
              device: "str | torch.device" = "cpu", checkpoint: Path | None = None,
              valid_archs: Sequence[Arch] | None = None) -> dict:
    """Train ``model`` on ``archs`` with its :meth:`training_settings`; the training statistics
    (epochs, loss per epoch, seconds, validity of decoded prior samples). With ``valid_archs``
    the plateau and the early stopping watch their reconstruction loss (module docstring)."""
    settings = model.training_settings()
    types, edges = graph_targets(space, archs)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min",
                                                           patience=settings["plateau_patience"],
                                                           factor=settings["plateau_factor"],
                                                           min_lr=settings.get("min_lr", 0.0))
    validation = None if valid_archs is None else graph_targets(space, valid_archs)
    progress = {"epoch": 0, "loss_curve": [], "seconds": 0.0}
    best: dict = {}  # with validation cells: the best epoch's weights, loss and number
    if checkpoint is not None:
        progress = _resume(checkpoint, model, optimizer, scheduler, device, best) or progress
    batch_size = settings["batch_size"]
    bar = tqdm(range(progress["epoch"], settings["epochs"]), desc=f"training {type(model).__name__}", unit="epoch",
               disable=None)
    for epoch in bar:
        started = time.perf_counter()
        order = torch.as_tensor(np.random.default_rng([seed, epoch]).permutation(len(archs)))
        noise = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        model.train()
        total = 0.0
        # a generator with dropout draws it from torch's global stream: seeded per epoch, so a
        # resumed training repeats an uninterrupted one (no draw of SVGe's comes from it)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1_000_003 + epoch)
            for chosen in order.split(batch_size):
                _, per_graph = model.training_loss(types[chosen].to(device), edges[chosen].to(device), noise)
                loss = per_graph.mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(chosen)
        epoch_loss = total / len(archs)
        monitored = epoch_loss if validation is None else _reconstruction_loss(model, validation, batch_size, device)
        scheduler.step(monitored)
        progress = {"epoch": epoch + 1, "loss_curve": progress["loss_curve"] + [epoch_loss],
                    "seconds": progress["seconds"] + time.perf_counter() - started}
        if validation is not None:
            progress["valid_curve"] = progress.get("valid_curve", []) + [monitored]
            if monitored < best.get("loss", float("inf")):
                best.update(loss=monitored, epoch=epoch + 1, weights=copy.deepcopy(model.state_dict()))
        bar.set_postfix(loss=f"{epoch_loss:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.0e}")
        log.info("%s epoch %d/%d: loss %.3f (monitored %.3f), lr %.0e, %.0f s", type(model).__name__, epoch + 1,
                 settings["epochs"], epoch_loss, monitored, optimizer.param_groups[0]["lr"],
                 time.perf_counter() - started)
        if checkpoint is not None:
            _save(checkpoint, model, optimizer, scheduler, progress, best)
        if validation is not None and epoch + 1 - best["epoch"] >= settings["early_stop"]:
            break
    stats = {}
    if validation is not None:
        model.load_state_dict(best["weights"])
        stats = {"best_epoch": best["epoch"], "best_valid_loss": best["loss"], "valid_curve": progress["valid_curve"],
                 "valid_size": len(valid_archs)}
    model.eval()
    epochs = progress["epoch"]
    return {"epochs": epochs, "loss_curve": progress["loss_curve"], "seconds": progress["seconds"],
            "seconds_per_epoch": progress["seconds"] / max(epochs, 1), "train_size": len(archs),
            "final_lr": optimizer.param_groups[0]["lr"], **stats,
            "validity": validity(model, space, VALIDITY_SAMPLES, seed=seed, device=device, sample=False)}


@torch.no_grad()
def _reconstruction_loss(model: SelfTrainingGenerator, cells: tuple[torch.Tensor, torch.Tensor], batch_size: int,
                         device: "str | torch.device") -> float:
    """Mean reconstruction loss (:meth:`GraphScores.reconstruction_loss`) of the validation
    cells, in evaluation mode, with the same reparameterisation noise every epoch."""
    model.eval()
    noise = torch.Generator().manual_seed(0)
    types, edges = cells
    total = 0.0
    for chosen in torch.arange(len(types)).split(batch_size):
        batch_types, batch_edges = types[chosen].to(device), edges[chosen].to(device)
        scores, _ = model.training_loss(batch_types, batch_edges, noise)
        total += scores.reconstruction_loss(batch_types, batch_edges).sum().item()
    return total / len(types)


def _save(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
          scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau, progress: dict, best: dict) -> None:
    with atomic_write(path) as f:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "progress": progress, "best": best}, f)


def _resume(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau, device: "str | torch.device",
            best: dict) -> dict | None:
    """Load the checkpoint at ``path`` into the training state (``best`` filled in place); its
    progress, or ``None`` (a damaged checkpoint is reported and removed)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        progress = state["progress"]
        best.update(state.get("best", {}))
    except (OSError, KeyError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        log.warning("training checkpoint %s is damaged (%s); training from the start", path, exc)
        path.unlink(missing_ok=True)
        return None
    log.info("resuming %s training at epoch %d from %s", type(model).__name__, progress["epoch"], path)
    return progress
