"""Differentiable architecture search (DAS) on the 1-D inverse problems of Lukasik's thesis,
chapter 6: DAS and DAS-single, with the hyperparameter sets of Tables B.8-B.10.

DAS (:func:`das_search`) trains a supernet (:func:`nasgen.models.inverse1d.supernet`: every op in
every slot, mixed by ``softmax(alpha)`` per slot, eq. 6.2) by first-order alternating bilevel
optimisation (eq. 6.3-6.4 with "zero" inner steps, as DARTS' first-order variant): each step
one architecture step on a fresh validation batch, then one weight step on a fresh training
batch (DARTS' order); ``epochs x batches_per_epoch`` steps. The derived architecture is the
argmax of alpha per slot; the *one-shot validation PSNR* is the supernet's (softmax weights,
eval mode, batch norms recalibrated at the final weights and alpha as after every training) on
the seed's fixed validation samples at the end of search, the samples on which
the derived architecture's PSNR after retraining (:func:`~nasgen.benchmarks.inverse1d.train_architecture`)
is measured.

Decisions where the thesis names a hyperparameter but not its meaning:

- Parameter optimiser: Adam (lr, weight decay), as the retraining
  (:func:`~nasgen.benchmarks.inverse1d.weight_optimizer`); *param warm-up*: its linear lr
  ramp over the first fifth of the steps.
- *Alpha optimiser*: ``gd`` plain gradient descent (SGD without momentum), ``adam`` Adam with
  DARTS' architecture betas (0.5, 0.999); *alpha weight decay* is L2 on alpha in either.
  Alpha starts as ``1e-3 N(0, 1)`` (DARTS).
- *Alpha warm-up*: alpha is not updated during the first fifth of the epochs (10 of 50), so
  that randomly initialised ops are not discarded before their weights are trained, the
  failure that warm-up guards against (Zela et al., 2020; PC-DARTS waits 15 of 50 epochs).
- *Alpha scheduler* ``linear``: the alpha learning rate falls linearly, step by step, from
  ``alpha_lr`` to ``alpha_lr / steps`` over the alpha steps (those after warm-up); ``none``: constant.

DAS-single (:func:`das_single_search`, thesis sec. 6.4.4): the ``gradient`` and ``cnn`` ops of
every layer are those of the trained "learnable gradient only" and "nets only" networks (trained
with the hyperparameters' weight training and the same seed, so the very networks of those
baselines), frozen, in eval mode (their batch norms keep the statistics of their training); the
harmful ops keep their initialisation (``roll`` has no weights; ``noise`` its initial step).
Only alpha is learned, with the same alpha schedule, on fresh validation batches. The thesis
runs it in the sequential space only, "only possible for feed-forward architectures": a
non-sequential cell sums several inputs per state, which no single trained baseline network
provides, so it is refused there.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from nasgen.benchmarks.inverse1d import (
    WARMUP_FRACTION,
    ArchitectureResult,
    InverseProblem,
    WeightTraining,
    derived_seed,
    epoch_batches,
    evaluate_psnr,
    evaluation_data,
    generator,
    reconstruction_loss,
    train_network,
    weight_optimizer,
    weight_step,
)
from nasgen.errors import ConfigError, choose
from nasgen.models.inverse1d import Inverse1DNetwork, recalibrate_batch_norm, supernet
from nasgen.ranges import Float, Int, check_ranges
from nasgen.spaces.inverse1d import Inverse1DArch, Inverse1DSpace

log = logging.getLogger(__name__)

ALPHA_SCHEDULERS = ("linear", "none")
ALPHA_OPTIMIZERS = ("gd", "adam")
ALPHA_BETAS = (0.5, 0.999)
ALPHA_INIT_STD = 1e-3
_RANGES = {"param_lr": Float(0, above=True), "param_wd": Float(0), "alpha_lr": Float(0, above=True),
           "alpha_wd": Float(0), "epochs": Int(1), "batch_size": Int(1), "batches_per_epoch": Int(1),
           "valid_samples": Int(1)}


@dataclass(frozen=True)
class DASHyperparameters:
    """One hyperparameter set of DAS (config group ``das_hparams``: H1, H2 of Table B.8, the BOHB
    sets of Tables B.9-B.10); ``epochs``, ``batch_size`` from Table B.7; ``valid_samples``: the
    fixed validation (and test) samples of a seed on which PSNRs are measured."""

    name: str
    param_lr: float
    param_wd: float
    param_warmup: bool
    alpha_lr: float
    alpha_wd: float
    alpha_warmup: bool
    alpha_scheduler: str
    alpha_optimizer: str
    epochs: int = 50
    batch_size: int = 128
    batches_per_epoch: int = 19
    valid_samples: int = 2432

    def __post_init__(self) -> None:
        choose("das_hparams.alpha_scheduler", self.alpha_scheduler, ALPHA_SCHEDULERS)
        choose("das_hparams.alpha_optimizer", self.alpha_optimizer, ALPHA_OPTIMIZERS)
        check_ranges("das_hparams", _RANGES, vars(self))
        for flag in ("param_warmup", "alpha_warmup"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"das_hparams.{flag} must be true or false, got {getattr(self, flag)!r}")

    def weight_training(self) -> WeightTraining:
        """The parameter half: how the supernet's and every retrained network's weights are trained."""
        return WeightTraining(epochs=self.epochs, batch_size=self.batch_size, batches_per_epoch=self.batches_per_epoch,
                              lr=self.param_lr, weight_decay=self.param_wd, warmup=self.param_warmup,
                              valid_samples=self.valid_samples)

    @property
    def alpha_warmup_epochs(self) -> int:
        """Epochs without alpha updates: the first fifth with ``alpha_warmup``, else none."""
        return round(WARMUP_FRACTION * self.epochs) if self.alpha_warmup else 0

    def settings(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchResult:
    """The end of one search: the argmax architecture, the supernet's PSNR (dB) on the seed's
    validation samples (the one-shot validation PSNR), the softmax weights per slot and the
    search's wall-clock seconds (DAS-single: with the pretraining); DAS-single also gives the
    results of its two pretrained baselines (``gradient``, ``cnn``: the "learnable gradient only"
    and "nets only" networks of this seed)."""

    arch: Inverse1DArch
    oneshot_psnr: float
    alphas: list[list[float]]
    seconds: float
    pretrained: dict[str, ArchitectureResult] = field(default_factory=dict)


class _AlphaLearner:
    """Alpha, its optimiser and learning-rate schedule, and its first-order steps (module docstring)."""

    def __init__(self, space: Inverse1DSpace, hparams: DASHyperparameters, steps: int, device: str) -> None:
        self.alpha = nn.Parameter(ALPHA_INIT_STD * torch.randn(space.num_slots, len(space.op_names)).to(device))
        if hparams.alpha_optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                [self.alpha], lr=hparams.alpha_lr, betas=ALPHA_BETAS, weight_decay=hparams.alpha_wd)
        else:
            self.optimizer = torch.optim.SGD([self.alpha], lr=hparams.alpha_lr, weight_decay=hparams.alpha_wd)
        linear, steps = hparams.alpha_scheduler == "linear", max(1, steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: (steps - step) / steps if linear else 1.0)

    def mixing(self) -> torch.Tensor:
        return F.softmax(self.alpha, dim=-1)

    def step(self, network: Inverse1DNetwork, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        """One architecture step on the validation loss; the weights' gradients are not computed."""
        x, y = batch
        loss = reconstruction_loss(network(y, self.mixing()), x)
        (self.alpha.grad,) = torch.autograd.grad(loss, [self.alpha])
        self.optimizer.step()
        self.scheduler.step()

    def result(self, network: Inverse1DNetwork, problem: InverseProblem, hparams: DASHyperparameters, seed: int,
               device: str, start: float, pretrained: dict[str, ArchitectureResult] | None = None) -> SearchResult:
        """The argmax architecture and the supernet's PSNR on the seed's validation samples."""
        network.eval()
        with torch.no_grad():
            mixing = self.mixing()
        data = evaluation_data(problem, seed, "valid", hparams.valid_samples, device)
        oneshot = evaluate_psnr(lambda y: network(y, mixing), problem, data, seed)
        arch = tuple(int(op) for op in self.alpha.detach().argmax(dim=1).tolist())
        return SearchResult(arch, oneshot, mixing.cpu().tolist(), time.perf_counter() - start, pretrained or {})


def das_search(space: Inverse1DSpace, problem: InverseProblem, hparams: DASHyperparameters, seed: int,
               device: str = "cpu") -> SearchResult:
    """First-order bilevel DAS: weights on training batches, alpha on validation batches (module docstring)."""
    start = time.perf_counter()
    training = hparams.weight_training()
    batches, alpha_batches = generator(seed, "search"), generator(seed, "search_alpha")
    warmup = hparams.alpha_warmup_epochs
    with torch.random.fork_rng(devices=[]):  # initialisation and noise-op draws, the caller's RNG untouched
        torch.manual_seed(derived_seed(seed, "search"))
        network = supernet(space, problem.matrix).to(device)
        learner = _AlphaLearner(space, hparams, (hparams.epochs - warmup) * hparams.batches_per_epoch, device)
        optimizer, scheduler = weight_optimizer(network.parameters(), training)
        network.train()
        for epoch in range(hparams.epochs):
            for _ in range(hparams.batches_per_epoch):
                if epoch >= warmup:
                    learner.step(network, problem.sample(hparams.batch_size, alpha_batches, device))
                weight_step(network, optimizer, scheduler, problem.sample(hparams.batch_size, batches, device),
                            learner.mixing().detach())
        recalibrate_batch_norm(network, epoch_batches(problem, training, batches, device), learner.mixing().detach())
        result = learner.result(network, problem, hparams, seed, device, start)
    log.debug("DAS %s on %s (%s): %s, one-shot PSNR %.2f dB in %.1f s", space.name, problem.task, hparams.name,
              space.to_str(result.arch), result.oneshot_psnr, result.seconds)
    return result


def das_single_search(space: Inverse1DSpace, problem: InverseProblem, hparams: DASHyperparameters, seed: int,
                      device: str = "cpu") -> SearchResult:
    """DAS-single: the weighted ops are first trained alone (the "only" baselines' training),
    then frozen; only alpha learns (module docstring)."""
    if not space.sequential:
        raise ConfigError("das_single needs the sequential space (its frozen ops come from trained "
                          "single-op networks, which a non-sequential cell's summed inputs do not have)")
    start = time.perf_counter()
    training = hparams.weight_training()
    trained, pretrained = {}, {}
    for name in ("gradient", "cnn"):
        trained[name], pretrained[name] = train_network(space, space.uniform(name), problem, training, seed, device)
    alpha_batches = generator(seed, "search_alpha")
    warmup = hparams.alpha_warmup_epochs
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(seed, "search"))
        network = supernet(space, problem.matrix).to(device)
        for slot in range(space.num_slots):
            for name, source in trained.items():
                network.op(slot, name).load_state_dict(source.op(slot, name).state_dict())
        network.requires_grad_(False)
        network.eval()
        learner = _AlphaLearner(space, hparams, (hparams.epochs - warmup) * hparams.batches_per_epoch, device)
        for _ in range((hparams.epochs - warmup) * hparams.batches_per_epoch):
            learner.step(network, problem.sample(hparams.batch_size, alpha_batches, device))
        result = learner.result(network, problem, hparams, seed, device, start, pretrained)
    log.debug("DAS-single %s on %s (%s): %s, one-shot PSNR %.2f dB in %.1f s", space.name, problem.task,
              hparams.name, space.to_str(result.arch), result.oneshot_psnr, result.seconds)
    return result
