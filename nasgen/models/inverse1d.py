"""Networks of the 1-D inverse-problem study (Lukasik's thesis, chapter 6): its operations, the
mixed operation and the sequential and non-sequential meta-architectures.

A network maps measurements ``y [B, m]`` to an estimate of the signal ``[B, n]``. It starts from
``x0 = A^T y`` (the operator's adjoint maps the measurements into signal space, where every
operation works) and every operation maps a signal ``[B, n]`` to a signal, reading ``y`` and
the operator matrix ``A [m, n]`` where it needs them:

- ``gradient`` (eq. 6.6): ``x - tau A^T (A x - y) - tau F(x)``. The step size ``tau`` is a
  learnable scalar, initialised to ``1 / ||A||_2^2`` (``1 / L`` for the Lipschitz constant ``L``
  of the data term's gradient: the classical step that decreases ``||A x - y||``, the thesis'
  "suitably chosen" step); learnable because the thesis leaves it open and a fixed step would
  tie the layer's strength to the operator's norm.
- ``cnn`` (eq. 6.7): ``F(x)``.
- ``F`` of both: Conv1d(1 -> 32, kernel 5) -> BatchNorm -> ReLU -> Conv1d(32 -> 1, kernel 5),
  zero padding ("same"). The thesis names the layers but not their size; 32 channels as the
  implementer's note suggests, kernel 5 so that one F sees 9 samples, more than the 7-tap blur.
- ``roll``: the input rolled by one position along *every* dimension, as the thesis words it:
  along the signal, and along the batch, so that an estimate moves to its neighbouring sample
  and no longer matches its own measurements. (A shift along the signal alone is undone by
  the next convolution; the thesis designs the op to harm.)
- ``noise``: a gradient step ``x - tau A^T (A x - y)`` (learnable ``tau``, no ``F``) plus white
  Gaussian noise of std 0.1 (Table B.7's "noise level 0.10", read as this op's, since the text
  sets the measurement noise to 0.01), in training and evaluation alike. The noise comes from
  torch's global RNG, which the caller seeds.
- ``zero`` (non-sequential cells only): no connection.

Meta-architectures (:mod:`nasgen.spaces.inverse1d`): sequential, ``x0 + o_L(...o_1(x0))`` (the
layers' output added to the residual branch of Fig. 6.1; DnCNN is the all-``cnn`` case);
non-sequential, per cell ``s_0`` = the cell input, ``s_j = sum_{i<j} o_ij(s_i)`` (as DARTS sums a
node's inputs; ``zeros`` when all are ``zero``), the cell output a 1x1 Conv1d(2 -> 1) of the
last two states; the network's output is the last cell's.

One class serves both forms: every slot holds a candidate list; a *discrete* network has one
candidate per slot (the argmax architecture, retrained from scratch), a *supernet* every op of
the space per slot and mixes them with weights ``[slots, ops]`` passed to ``forward`` (the
softmax of alpha, eq. 6.2). The op modules are the same, so :meth:`Inverse1DNetwork.op` lets
weights move between the forms (DAS-single; the one-hot test).

Speed (the study trains thousands of these on two CPU cores, where per-call overhead, not
arithmetic, is the cost): every op that reads the same input is evaluated together by
:func:`apply_ops`: the data term's gradient ``A^T (A x - y)`` once for all ``gradient`` and
``noise`` ops, and the ``F`` of every ``gradient`` and ``cnn`` op in one batched computation
(:func:`joint_features`). A supernet slot's four candidates share one input; in a
non-sequential cell every edge leaving a state does (the network evaluates a cell state by
state, pushing each state's edges into their targets' sums). Evaluating the ops one by one
made one DAS step of the sequential supernet 2x slower.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from nasgen.spaces.inverse1d import ZERO, Inverse1DArch, Inverse1DSpace

WIDTH = 32
KERNEL = 5
NOISE_OP_STD = 0.1


class TwoLayerCNN(nn.Module):
    """``F(x)``: Conv1d(1 -> width) -> BatchNorm -> ReLU -> Conv1d(width -> 1), kernel ``kernel``,
    zero padding, on one-channel signals ``[B, n]``: the function, parameters, initialisation
    and running statistics of that ``nn`` stack (checked in the tests), computed by
    :func:`joint_features`, which evaluates several of them on one input at once.
    ``momentum = None``: the running statistics are the cumulative average (as in
    ``nn.BatchNorm1d``), what :func:`recalibrate_batch_norm` uses."""

    def __init__(self, width: int = WIDTH, kernel: int = KERNEL, momentum: float | None = 0.1,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.width, self.kernel, self.momentum, self.eps = width, kernel, momentum, eps
        first, second = nn.Conv1d(1, width, kernel), nn.Conv1d(width, 1, kernel)  # torch's initialisation
        self.weight1 = nn.Parameter(first.weight.detach()[:, 0, :].clone())  # [width, kernel]
        self.bias1 = nn.Parameter(first.bias.detach().clone())
        self.norm_weight = nn.Parameter(torch.ones(width))
        self.norm_bias = nn.Parameter(torch.zeros(width))
        self.register_buffer("running_mean", torch.zeros(width))
        self.register_buffer("running_var", torch.ones(width))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        self.weight2 = nn.Parameter(second.weight.detach()[0].T.contiguous())  # [kernel, width]
        self.bias2 = nn.Parameter(second.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return joint_features([self], x)[0]


def joint_features(nets: Sequence[TwoLayerCNN], x: torch.Tensor) -> torch.Tensor:
    """``[len(nets), B, n]``: every net's ``F(x)`` (equal widths and kernels, all in training or
    all in eval mode), as one computation.

    Features are channel-major ``[channels, B * n]``. The first convolution is a product of the
    stacked weights with the signal's windows ``[kernel, B * n]`` (a strided view). Its batch
    norm is folded into it: in training a channel's batch mean and variance are those of a linear
    map of the windows, ``w . mean(windows) + b`` and ``w^T Cov(windows) w`` with a ``kernel x
    kernel`` covariance, so the normalised features are one product ``(gamma w / sqrt(var + eps))
    @ (windows - mean) + beta``; in eval mode the running statistics fold in likewise. The second
    convolution projects each position's features onto the taps (a batched product per net),
    which a strided view along the diagonal sums. On the CPU at these sizes ``nn.Conv1d``
    (MKL-DNN primitives cost more to set up than to run) and ``nn.BatchNorm1d`` (its backward
    alone took a third of the op) made a training step of ten ``cnn`` layers 2.5x slower."""
    first = nets[0]
    batch, n = x.shape
    k, half, count = first.kernel, first.kernel // 2, len(nets)
    padded = F.pad(x, (half, half))
    stride = padded.stride()
    windows = padded.as_strided((k, batch, n), (stride[1], stride[0], stride[1])).reshape(k, batch * n)
    weight1 = torch.cat([net.weight1 for net in nets])
    gamma, beta = torch.cat([net.norm_weight for net in nets]), torch.cat([net.norm_bias for net in nets])
    if first.training:
        mean = windows.mean(dim=1, keepdim=True)
        centred = windows - mean
        covariance = centred @ centred.T / centred.shape[1]
        variance = ((weight1 @ covariance) * weight1).sum(dim=1)
        with torch.no_grad():  # nn.BatchNorm1d's running statistics (unbiased variance)
            samples = centred.shape[1]
            means = (weight1 @ mean.squeeze(1)).split(first.width)
            variances = (variance * samples / (samples - 1)).split(first.width)
            for net, batch_mean, batch_variance in zip(nets, means, variances):
                net.num_batches_tracked += 1
                factor = 1.0 / float(net.num_batches_tracked) if net.momentum is None else net.momentum
                net.running_mean.lerp_(batch_mean + net.bias1, factor)
                net.running_var.lerp_(batch_variance, factor)
        scale = gamma * torch.rsqrt(variance + first.eps)
        hidden = torch.addmm(beta[:, None], weight1 * scale[:, None], centred)
    else:
        scale = gamma * torch.rsqrt(torch.cat([net.running_var for net in nets]) + first.eps)
        shift = torch.cat([net.bias1 - net.running_mean for net in nets])
        hidden = torch.addmm((beta + scale * shift)[:, None], weight1 * scale[:, None], windows)
    weight2 = torch.stack([net.weight2 for net in nets])  # [nets, k, width]
    taps = torch.bmm(weight2, torch.relu(hidden).view(count, first.width, batch * n))
    taps = F.pad(taps.view(count, k, batch, n), (half, half))  # [nets, k, B, n + k - 1]
    # out[net, b, i] = sum_j taps[net, j, b, i + j]
    stride = taps.stride()
    diagonal = taps.as_strided((count, batch, n, k), (stride[0], stride[2], stride[3], stride[1] + stride[3]))
    return diagonal.sum(-1) + torch.cat([net.bias2 for net in nets])[:, None, None]


@torch.no_grad()
def recalibrate_batch_norm(network: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                           mixing: torch.Tensor | None = None) -> None:
    """Replace the running statistics of every ``F`` of ``network`` by their cumulative average
    over ``batches`` (``(x, y)`` pairs) at the network's final weights; the network is left in eval mode.

    Why: the running averages (momentum 0.1) mix the statistics of the last training steps'
    weights; in a stack of several ``cnn`` layers the mismatch compounds. A network of eight
    ``cnn`` layers between two ``gradient`` layers, trained on blur, measured 16.8 dB with them
    and 27.1 dB with its batches' own statistics; after recalibration on one epoch of fresh
    training batches the measurement is that of the weights, not of the last steps' noise
    (the "precise batch norm" of Wu and Johnson, 2021)."""
    nets = [module for module in network.modules() if isinstance(module, TwoLayerCNN)]
    momenta = [net.momentum for net in nets]
    for net in nets:
        net.momentum = None
        net.running_mean.zero_()
        net.running_var.fill_(1.0)
        net.num_batches_tracked.zero_()
    network.train()
    for _, y in batches:
        network(y, mixing) if mixing is not None else network(y)
    for net, momentum in zip(nets, momenta):
        net.momentum = momentum
    network.eval()


class Operation(nn.Module, ABC):
    """An op of the study: its output from its input ``x``, the data term's gradient
    ``A^T (A x - y)`` at ``x`` (if it reads it) and its ``F(x)`` (if it has a ``regulariser``),
    which :func:`apply_ops` computes once for every op reading ``x``."""

    reads_data_gradient: bool = False

    def __init__(self, regulariser: TwoLayerCNN | None = None) -> None:
        super().__init__()
        # a submodule, or None: set here, since a class attribute would hide a registered submodule
        self.regulariser = regulariser

    @abstractmethod
    def combine(self, x: torch.Tensor, data_gradient: torch.Tensor | None,
                features: torch.Tensor | None) -> torch.Tensor: ...


class GradientStep(Operation):
    """``x - tau (A^T (A x - y) + F(x))`` with a learnable ``tau``; without ``F`` and with
    ``noise_std > 0`` the harmful ``noise`` op (module docstring)."""

    reads_data_gradient = True

    def __init__(self, tau: float, regulariser: TwoLayerCNN | None, noise_std: float = 0.0) -> None:
        super().__init__(regulariser)
        self.tau = nn.Parameter(torch.tensor(float(tau)))
        self.noise_std = noise_std

    def combine(self, x: torch.Tensor, data_gradient: torch.Tensor | None,
                features: torch.Tensor | None) -> torch.Tensor:
        update = data_gradient if features is None else data_gradient + features
        out = x - self.tau * update
        if self.noise_std > 0:
            out = out + self.noise_std * torch.randn_like(out)
        return out


class NetworkOp(Operation):
    """``cnn``: the learned mapping alone, blind to the operator (eq. 6.7)."""

    def __init__(self) -> None:
        super().__init__(TwoLayerCNN())

    def combine(self, x: torch.Tensor, data_gradient: torch.Tensor | None,
                features: torch.Tensor | None) -> torch.Tensor:
        return features


class Roll(Operation):
    """``roll``: one position along the batch and the signal (module docstring)."""

    def combine(self, x: torch.Tensor, data_gradient: torch.Tensor | None,
                features: torch.Tensor | None) -> torch.Tensor:
        return torch.roll(x, shifts=(1, 1), dims=(0, 1))


def make_op(name: str, tau: float) -> Operation:
    """The module of op ``name`` (not ``zero``, which has none); ``tau`` the initial step size."""
    if name == "gradient":
        return GradientStep(tau, TwoLayerCNN())
    if name == "noise":
        return GradientStep(tau, None, NOISE_OP_STD)
    if name == "cnn":
        return NetworkOp()
    if name == "roll":
        return Roll()
    raise ValueError(f"unknown inverse1d op {name!r}")


def initial_step(operator: torch.Tensor) -> float:
    """``1 / ||A||_2^2``: the step that makes a plain gradient step decrease the data misfit."""
    return float(1.0 / torch.linalg.matrix_norm(operator.double(), ord=2) ** 2)


def apply_ops(ops: Sequence[Operation], x: torch.Tensor, y: torch.Tensor, operator: torch.Tensor
              ) -> list[torch.Tensor]:
    """Every op's output on the same input ``x`` (measurements ``y``, operator matrix ``A``),
    sharing the data term's gradient and evaluating all ``F`` together."""
    data_gradient = (x @ operator.T - y) @ operator if any(op.reads_data_gradient for op in ops) else None
    nets = [op.regulariser for op in ops if op.regulariser is not None]
    features = iter(joint_features(nets, x).unbind(0) if nets else ())
    return [op.combine(x, data_gradient, next(features) if op.regulariser is not None else None) for op in ops]


class Inverse1DNetwork(nn.Module):
    """A network of an :class:`~nasgen.spaces.inverse1d.Inverse1DSpace` (module docstring):
    ``candidates[slot]`` are the op names of a slot, one (discrete) or all of the space's
    (supernet); ``operator`` is the matrix ``A`` of the forward operator."""

    def __init__(self, space: Inverse1DSpace, candidates: Sequence[Sequence[str]], operator: torch.Tensor) -> None:
        super().__init__()
        if len(candidates) != space.num_slots:
            raise ValueError(f"{space.name} has {space.num_slots} slots, got candidates for {len(candidates)}")
        self.space = space
        self.candidates = tuple(tuple(names) for names in candidates)
        self.register_buffer("operator", operator.detach().clone().float())
        tau = initial_step(self.operator)
        self.slots = nn.ModuleList(nn.ModuleList(make_op(name, tau) for name in names if name != ZERO)
                                   for names in self.candidates)
        # candidate index of each module of a slot (``zero`` has no module: it adds nothing)
        self._live = [[k for k, name in enumerate(names) if name != ZERO] for names in self.candidates]
        self.cell_outputs = nn.ModuleList(nn.Conv1d(2, 1, 1) for _ in range(0 if space.sequential else space.cells))

    def op(self, slot: int, name: str) -> Operation:
        """The module of candidate ``name`` in ``slot``."""
        k = self.candidates[slot].index(name)
        return self.slots[slot][self._live[slot].index(k)]

    def initial_estimate(self, y: torch.Tensor) -> torch.Tensor:
        """``x0 = A^T y``."""
        return y @ self.operator

    def forward(self, y: torch.Tensor, mixing: torch.Tensor | None = None) -> torch.Tensor:
        """The estimate of the signals measured as ``y [B, m]``; ``mixing [slots, candidates]``
        weighs a supernet's candidates (a discrete network takes none)."""
        if mixing is None and any(len(names) > 1 for names in self.candidates):
            raise ValueError("a supernet needs mixing weights [slots, candidates]")
        x0 = self.initial_estimate(y)
        if self.space.sequential:
            x = x0
            for slot in range(len(self.candidates)):
                (out,) = self._slots(x, y, [slot], mixing)
                x = torch.zeros_like(x) if out is None else out
            return x0 + x
        x, per = x0, self.space.slots_per_cell
        for cell, output in enumerate(self.cell_outputs):
            states: list[torch.Tensor] = [x]
            sums: dict[int, torch.Tensor] = {}
            for source in range(self.space.states):
                # every edge leaving the source state, pushed into its target's sum
                edges = [(cell * per + k, target) for k, (start, target) in enumerate(self.space.edges)
                         if start == source]
                outs = self._slots(states[source], y, [slot for slot, _ in edges], mixing)
                for (_, target), out in zip(edges, outs):
                    if out is not None:
                        sums[target] = out if target not in sums else sums[target] + out
                states.append(sums.get(source + 1, torch.zeros_like(x)))
            x = output(torch.stack(states[-2:], dim=1)).squeeze(1)
        return x

    def _slots(self, x: torch.Tensor, y: torch.Tensor, slots: Sequence[int], mixing: torch.Tensor | None
               ) -> list[torch.Tensor | None]:
        """Each slot's output on the same input ``x``: its op (discrete) or the sum of its
        candidates weighted by their row of ``mixing``; ``None`` where nothing is added (``zero``)."""
        ops = [op for slot in slots for op in self.slots[slot]]
        outs = iter(apply_ops(ops, x, y, self.operator) if ops else ())
        results: list[torch.Tensor | None] = []
        for slot in slots:
            total = None
            for k in self._live[slot]:
                out = next(outs)
                if mixing is not None:
                    out = mixing[slot, k] * out
                total = out if total is None else total + out
            results.append(total)
        return results


def discrete_network(space: Inverse1DSpace, arch: Inverse1DArch, operator: torch.Tensor) -> Inverse1DNetwork:
    """The network of one architecture, built from its canonical form (dead states hold no ops,
    so isomorphic architectures build the same modules)."""
    return Inverse1DNetwork(space, [(name,) for name in space.op_list(space.canonical(arch))], operator)


def supernet(space: Inverse1DSpace, operator: torch.Tensor) -> Inverse1DNetwork:
    """Every op of the space in every slot, mixed by the weights passed to ``forward``."""
    return Inverse1DNetwork(space, [space.op_names] * space.num_slots, operator)
