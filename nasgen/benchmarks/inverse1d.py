"""The 1-D inverse problems of Lukasik's thesis, chapter 6, and a benchmark that trains their
networks from scratch.

Signals (thesis sec. 6.4.1): ``x_i = cos(f w_i + O_x) + O_y`` on ``n_points`` (50) equally spaced
``w_i`` in ``[-pi/2, pi/2]``, ``f ~ U[0, 2 pi]``, ``O_x, O_y ~ N(0, 1)``. The text also speaks of
"varying magnitude, amplitude", but its formula has no amplitude factor; the formula is
followed. Measurements ``y = A x + eta``, ``eta ~ N(0, noise_sigma^2)`` with ``noise_sigma =
0.01`` (the text's value; Table B.7's "noise level 0.10" is taken as the ``noise`` operation's,
:mod:`nasgen.models.inverse1d`). Every sample is drawn fresh from a seeded ``torch.Generator``.

The operator ``A`` (a dense ``[m, n]`` matrix, applied to row vectors):

- ``blur``: a Gaussian kernel of ``blur_kernel`` (7) taps, normalised to sum 1, with
  ``blur_sigma`` (0.2) **in the units of the signal's coordinate w**, so 0.2 / (pi / 49) = 3.1
  grid spacings. Read in grid spacings, sigma 0.2 gives the taps next to the centre a weight of
  ``exp(-12.5) = 4e-6``: no blur at all, and the "deblurring" task would be plain denoising,
  while the thesis presents blur as a distortion. w is the only coordinate the thesis defines
  for the signal. At 3.1 spacings the 7 taps (0.63, 0.81, 0.95, 1, ...) are a strong, almost
  box-shaped blur that damps the signal's highest frequencies to about 60 %.
  Boundary: zero padding ("same" size), so ``A`` is an exact linear map (a banded Toeplitz
  matrix, symmetric since the kernel is) and ``A^T`` is its exact adjoint.
- ``downsample``: the blur followed by keeping every ``subsample``-th (4th) sample starting at
  the first, indices ``0, 4, ..., 48``: ``m = ceil(50 / 4) = 13`` measurements covering both
  ends of the signal (a start at 1 would also give 13 but leave sample 0 further out).

Networks work in signal space and start from ``x0 = A^T y`` (zero-filled upsampling and the
blur for ``downsample``): the thesis' gradient layer ``x - tau A^T (A x - y)`` lives there, so
its input must too.

PSNR (:meth:`InverseProblem.psnr`): ``10 log10(MAX^2 / MSE)`` over a batch of signals, with
``MAX^2`` the largest squared value of the true signals in that batch ("the maximal value of the
data"; a signal's own maximum can be close to 0 when ``O_y`` cancels a flat cosine, which would
swing a per-signal PSNR by tens of dB) and ``MSE`` the mean squared error over the batch.
A set of samples is scored as the mean of the PSNRs of its consecutive groups of
:data:`PSNR_GROUP` (128, the thesis' batch size) samples: the thesis' "average PSNR".

Training of a network (:class:`WeightTraining`, Table B.7 and the parameter half of Table B.8):
loss :func:`reconstruction_loss`; Adam (the thesis names no parameter optimiser; Adam is the usual one for
such networks) with ``lr`` and weight decay (L2, as ``torch.optim.Adam`` adds it); constant
learning rate, or with ``warmup`` a linear ramp from ``lr / warmup_steps`` to ``lr`` over the first
fifth of the steps (:data:`WARMUP_FRACTION`; the thesis gives no length); each epoch is
``batches_per_epoch`` (19) fresh batches of ``batch_size`` (128): 2,432 samples, as the thesis'
every loss evaluation. The network is evaluated once, after the last epoch, in eval mode, its
batch norms' running statistics first recomputed at the final weights on one more epoch of
fresh training batches (:func:`~nasgen.models.inverse1d.recalibrate_batch_norm` says why).

Seeds and streams: a result depends only on its settings and seed. From ``seed`` alone come the
validation and test samples (``valid_samples`` each, two independent streams, neither of which
any training reads), so every method of a trial seed (DAS, its retrained architecture, the
baselines, random search's candidates) is measured on the same samples; from ``(seed, the
architecture's id)`` come the weight initialisation, the training batches and the ``noise``
op's draws, so an architecture's result does not depend on what was trained before it.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from nasgen.errors import ConfigError, choose
from nasgen.models.inverse1d import Inverse1DNetwork, discrete_network, recalibrate_batch_norm
from nasgen.ranges import Float, Int, check_ranges
from nasgen.spaces.base import arch_id
from nasgen.spaces.inverse1d import Inverse1DArch, Inverse1DSpace

log = logging.getLogger(__name__)

TASKS = ("blur", "downsample")
PSNR_GROUP = 128
WARMUP_FRACTION = 0.2
# Streams of random numbers derived from a seed (their ids enter the seed sequence).
STREAMS = {"valid": 1, "test": 2, "evaluation_noise": 3, "train": 4, "search": 5, "search_alpha": 6}

_PROBLEM_RANGES = {"n_points": Int(2), "noise_sigma": Float(0), "blur_kernel": Int(1),
                   "blur_sigma": Float(0, above=True), "subsample": Int(1)}
_TRAINING_RANGES = {"epochs": Int(1), "batch_size": Int(1), "batches_per_epoch": Int(1), "lr": Float(0, above=True),
                    "weight_decay": Float(0), "valid_samples": Int(1)}


def derived_seed(seed: int, stream: str, *more: int) -> int:
    """A 63-bit seed for one stream of ``seed`` (and e.g. an architecture id)."""
    words = np.random.SeedSequence([int(seed), STREAMS[stream], *map(int, more)]).generate_state(2)
    return int(words[0]) << 31 | int(words[1]) >> 1


def generator(seed: int, stream: str, *more: int) -> torch.Generator:
    """A CPU ``torch.Generator`` for one stream of ``seed`` (samples are drawn on the CPU, so they
    are the same whatever the device)."""
    return torch.Generator().manual_seed(derived_seed(seed, stream, *more))


@dataclass(frozen=True)
class InverseProblem:
    """The signal model and forward operator of one task (config group ``inverse_task``; module docstring)."""

    task: str
    n_points: int = 50
    noise_sigma: float = 0.01
    blur_kernel: int = 7
    blur_sigma: float = 0.2
    subsample: int = 4

    def __post_init__(self) -> None:
        choose("inverse_task.task", self.task, TASKS)
        check_ranges("inverse_task", _PROBLEM_RANGES, vars(self))
        if self.blur_kernel % 2 == 0:
            raise ConfigError(f"inverse_task.blur_kernel must be odd (a centred kernel), got {self.blur_kernel}")

    @property
    def grid(self) -> torch.Tensor:
        """The ``n_points`` positions ``w_i`` in ``[-pi/2, pi/2]``."""
        return torch.linspace(-math.pi / 2, math.pi / 2, self.n_points, dtype=torch.float64)

    @property
    def kernel(self) -> torch.Tensor:
        """The blur's taps (sigma in units of w, normalised to sum 1)."""
        spacing = math.pi / (self.n_points - 1)
        offsets = torch.arange(self.blur_kernel, dtype=torch.float64) - self.blur_kernel // 2
        taps = torch.exp(-0.5 * (offsets * spacing / self.blur_sigma) ** 2)
        return taps / taps.sum()

    @property
    def measurements(self) -> int:
        """``m``: the length of a measurement."""
        return self.n_points if self.task == "blur" else math.ceil(self.n_points / self.subsample)

    @cached_property
    def matrix(self) -> torch.Tensor:
        """``A [m, n]`` (float32): the zero-padded blur, then for ``downsample`` every ``subsample``-th row."""
        n, half, kernel = self.n_points, self.blur_kernel // 2, self.kernel
        blur = torch.zeros(n, n, dtype=torch.float64)
        for offset in range(-half, half + 1):
            blur += torch.diag(torch.full((n - abs(offset),), float(kernel[offset + half]),
                                          dtype=torch.float64), offset)
        if self.task == "downsample":
            blur = blur[::self.subsample]
        return blur.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` for signals ``x [..., n]``."""
        return x @ self.matrix.to(x.device).T

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y`` (signal space) for measurements ``y [..., m]``."""
        return y @ self.matrix.to(y.device)

    def sample(self, n: int, generator: torch.Generator, device: "str | torch.device" = "cpu"
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fresh (clean signals ``x [n, n_points]``, measurements ``y [n, m]``), drawn on the CPU."""
        frequency = 2 * math.pi * torch.rand(n, 1, generator=generator, dtype=torch.float64)
        phase = torch.randn(n, 1, generator=generator, dtype=torch.float64)
        offset = torch.randn(n, 1, generator=generator, dtype=torch.float64)
        x = (torch.cos(frequency * self.grid + phase) + offset).float()
        noise = torch.randn(n, self.measurements, generator=generator, dtype=torch.float64).float()
        y = self.forward(x) + self.noise_sigma * noise
        return x.to(device), y.to(device)

    @staticmethod
    def psnr(estimate: torch.Tensor, truth: torch.Tensor) -> float:
        """PSNR in dB of a batch: ``10 log10(max(truth^2) / mean((estimate - truth)^2))`` (module docstring)."""
        mse = torch.mean((estimate.detach().double() - truth.double()) ** 2)
        peak = torch.max(truth.double() ** 2)
        return float(10 * torch.log10(peak / mse))

    def settings(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WeightTraining:
    """How network weights are trained (Table B.7 / the parameter half of Table B.8; module docstring)."""

    epochs: int = 50
    batch_size: int = 128
    batches_per_epoch: int = 19
    lr: float = 1e-3
    weight_decay: float = 1e-8
    warmup: bool = False
    valid_samples: int = 2432

    def __post_init__(self) -> None:
        check_ranges("training", _TRAINING_RANGES, vars(self))
        if not isinstance(self.warmup, bool):
            raise ConfigError(f"training.warmup must be true or false, got {self.warmup!r}")

    @property
    def steps(self) -> int:
        return self.epochs * self.batches_per_epoch


@dataclass(frozen=True)
class ArchitectureResult:
    """An architecture trained from scratch: PSNR (dB) on the seed's validation samples (the
    thesis' "architecture validation PSNR") and on its separate test samples; wall-clock seconds
    of training and evaluation."""

    valid_psnr: float
    test_psnr: float
    seconds: float


def evaluation_data(problem: InverseProblem, seed: int, split: str, samples: int,
                    device: "str | torch.device" = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed ``valid`` or ``test`` samples of ``seed`` (module docstring)."""
    choose("evaluation split", split, ("valid", "test"))
    return problem.sample(samples, generator(seed, split), device)


@torch.no_grad()
def evaluate_psnr(predict: Callable[[torch.Tensor], torch.Tensor], problem: InverseProblem,
                  data: tuple[torch.Tensor, torch.Tensor], seed: int) -> float:
    """Mean PSNR of ``predict``'s estimates over the consecutive groups of :data:`PSNR_GROUP`
    samples of ``data``; the ``noise`` op's draws come from ``seed``'s evaluation stream."""
    x, y = data
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(seed, "evaluation_noise"))
        scores = [problem.psnr(predict(y[start:start + PSNR_GROUP]), x[start:start + PSNR_GROUP])
                  for start in range(0, len(x), PSNR_GROUP)]
    return float(np.mean(scores))


def reconstruction_loss(estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Half the sum of squared errors over the batch and the signal: the thesis' data term
    ``1/2 ||.||^2`` applied to the reconstruction, and DnCNN's loss.

    Not the mean squared error: the scale matters to plain gradient descent on alpha (H1, H2),
    and with a mean (6,400x smaller) H1's alpha gradients after warm-up are ~1e-3, which moves
    alpha by ~4e-4 over the whole search, no more than its random initialisation (std 1e-3):
    DAS would be random sampling, which Table 6.1 contradicts. Adam (the weights, the BOHB
    sets' alpha) does not see the scale."""
    return 0.5 * torch.sum((estimate - truth) ** 2)


def weight_optimizer(params: Iterable[nn.Parameter], training: WeightTraining
                     ) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam with the training's lr and weight decay, and its per-step schedule: constant, or
    with ``warmup`` a linear ramp over the first :data:`WARMUP_FRACTION` of the steps."""
    optimizer = torch.optim.Adam(params, lr=training.lr, weight_decay=training.weight_decay, fused=True)
    ramp = max(1, round(WARMUP_FRACTION * training.steps)) if training.warmup else 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / ramp) if ramp else 1.0)
    return optimizer, scheduler


def weight_step(network: Inverse1DNetwork, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, batch: tuple[torch.Tensor, torch.Tensor],
                mixing: torch.Tensor | None = None) -> float:
    """One optimiser step of the network's weights on :func:`reconstruction_loss` of ``batch``; the loss."""
    x, y = batch
    loss = reconstruction_loss(network(y, mixing), x)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return float(loss.detach())


def epoch_batches(problem: InverseProblem, training: WeightTraining, batches: torch.Generator,
                  device: "str | torch.device") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of fresh training batches from the stream ``batches``."""
    return (problem.sample(training.batch_size, batches, device) for _ in range(training.batches_per_epoch))


def train_network(space: Inverse1DSpace, arch: Inverse1DArch, problem: InverseProblem, training: WeightTraining,
                  seed: int, device: str = "cpu") -> tuple[Inverse1DNetwork, ArchitectureResult]:
    """:func:`train_architecture` that also returns the trained network (in eval mode)."""
    start = time.perf_counter()
    arch = space.parse(arch)
    identity = arch_id(space, arch)
    batches = generator(seed, "train", identity)
    with torch.random.fork_rng(devices=[]):  # initialisation and noise-op draws, the caller's RNG untouched
        torch.manual_seed(derived_seed(seed, "train", identity))
        network = discrete_network(space, arch, problem.matrix).to(device)
        optimizer, scheduler = weight_optimizer(network.parameters(), training)
        network.train()
        for _ in range(training.steps):
            weight_step(network, optimizer, scheduler, problem.sample(training.batch_size, batches, device))
        recalibrate_batch_norm(network, epoch_batches(problem, training, batches, device))
    valid, test = (evaluate_psnr(network, problem, evaluation_data(problem, seed, split, training.valid_samples,
                                                                   device), seed) for split in ("valid", "test"))
    result = ArchitectureResult(valid, test, time.perf_counter() - start)
    log.debug("trained %s %s: valid %.2f dB, test %.2f dB in %.1f s", space.name, space.to_str(arch),
              result.valid_psnr, result.test_psnr, result.seconds)
    return network, result


def train_architecture(space: Inverse1DSpace, arch: Inverse1DArch, problem: InverseProblem, training: WeightTraining,
                       seed: int, device: str = "cpu") -> ArchitectureResult:
    """Train ``arch``'s network from scratch on fresh samples and measure its PSNR on the
    validation and test samples of ``seed`` (module docstring)."""
    return train_network(space, arch, problem, training, seed, device)[1]


class Inverse1DBenchmark:
    """Benchmark protocol: an architecture's value is its PSNR after training from scratch
    (:func:`train_architecture`), on the validation or the test samples of ``seed``. Higher is
    better; values in dB. Each architecture is trained once per object (isomorphic ones share
    it)."""

    name = "inverse1d"

    def __init__(self, space: Inverse1DSpace, problem: InverseProblem, training: WeightTraining, seed: int = 0,
                 device: str = "cpu") -> None:
        for setting, value, kind in (("space", space, Inverse1DSpace), ("problem", problem, InverseProblem),
                                     ("training", training, WeightTraining)):
            if not isinstance(value, kind):
                raise ConfigError(f"benchmark.{setting} builds a {type(value).__name__}, not a {kind.__name__}")
        self.space, self.problem, self.training = space, problem, training
        self.seed, self.device = int(seed), device
        self._results: dict[int, ArchitectureResult] = {}

    @property
    def metrics(self) -> tuple[str, ...]:
        task = self.problem.task
        return f"{task}/valid_psnr@retrained", f"{task}/test_psnr@retrained"

    def results(self, arch: Inverse1DArch) -> ArchitectureResult:
        """``arch`` trained from scratch (memoised by its isomorphism class)."""
        identity = arch_id(self.space, self.space.parse(arch))
        if identity not in self._results:
            self._results[identity] = train_architecture(self.space, arch, self.problem, self.training, self.seed,
                                                         self.device)
        return self._results[identity]

    def query(self, archs: Sequence[Inverse1DArch], metric: str) -> np.ndarray:
        choose("metric", metric, self.metrics)
        field = "valid_psnr" if metric == self.metrics[0] else "test_psnr"
        return np.array([getattr(self.results(arch), field) for arch in archs], dtype=np.float64)

    def optimum(self, metric: str, maximize: bool = True) -> float | None:
        return None  # unknown without training the whole space

    def higher_is_better(self, metric: str) -> bool | None:
        """:class:`~nasgen.benchmarks.base.SignedMetrics`: PSNR, higher is better."""
        return True if metric in self.metrics else None

    def unit(self, metric: str) -> str | None:
        """:class:`~nasgen.benchmarks.base.MetricUnits`: dB."""
        return "dB" if metric in self.metrics else None

    def protocol(self, metrics: Sequence[str]) -> dict[str, Any]:
        """:class:`~nasgen.benchmarks.base.ProtocolSettings`: the task, the space, the training and
        the samples behind the PSNRs."""
        return {"inverse_task": self.problem.settings(), "search_space": self.space.settings(),
                "training": asdict(self.training), "seed": self.seed,
                "psnr": (f"10 log10(max x^2 / MSE) per group of {PSNR_GROUP} samples, averaged; after training "
                         f"from scratch, on {self.training.valid_samples} validation (test) samples fixed by the "
                         f"seed")}
