"""The training-free measures, one class each, and :data:`PROXIES`, the registry by name.

Architecture-only counts:
- ``params_M``, ``flops_M``: parameters and multiply-accumulates per image (millions), counted as
  NATS-Bench counts them (:func:`nasgen.models.nb201_network.model_size`). Bigger networks are
  better on NB201, so both count as higher-is-better predictors.

TE-NAS (Chen, Gong & Wang, ICLR 2021):
- ``ntk_cond``: condition number of the empirical neural tangent kernel on one batch, network in
  training mode (batch statistics): row ``i`` of ``J`` is the gradient of the sum of sample
  ``i``'s logits with respect to every weight tensor (parameters named ``weight``), and the
  value is ``lambda_max / lambda_min`` of ``J J^T``. Lower is better (better trainability).
- ``linear_regions``: the number of distinct ReLU activation patterns (signs of every ReLU unit
  of the network, concatenated) over the batch. Higher is better (more expressive). It only
  discriminates when patterns can coincide: TE-NAS counts them on its thin network (one
  one-channel cell, no stem) and thousands of tiny (3x3) crops; the proxy benchmark and
  ``study=tenas`` both use that network (``NB201Networks(layout="thin")``, the pruning study's
  mixed twin) and those crops (``proxy_batch(crop=3)``), so their counts are one definition.

Zero-cost proxies (Abdelfattah, Mehrotra, Dudziak & Lane, ICLR 2021, "Zero-cost proxies for
lightweight NAS"; the definitions of its code, SamsungLabs/zero-cost-nas
``foresight/pruners/measures``, as NASLib's NAS-Bench-Suite-Zero reuses them in
``naslib/predictors/utils/pruners/measures``, whose per-cell values ``scripts/proxy_agreement.py``
compares against), written here from those definitions:
- ``synflow``, ``snip``, ``grasp``, ``fisher``, ``grad_norm``, ``plain``, ``l2_norm``: sums over
  the weights of every convolution and linear layer (the layers both code bases count; batch-norm
  scales are not weights there), on the fixed batch with cross-entropy, batch norm in training
  mode (batch statistics) except for synflow.
- ``jacov`` and ``nwot``: Mellor, Turner, Storkey & Crowley, "Neural architecture search without
  training" (ICML 2021; v1 of the arXiv paper for ``jacov``, v2 for ``nwot``), training mode.

Every measure reads the logits through :func:`logits` (a DARTS network with an auxiliary head
returns ``(logits, auxiliary logits)`` in training mode: the auxiliary head is no part of the
architecture being ranked, so it is ignored), removes the hooks it registers and clears the
gradients it leaves, so no graph or activation outlives a call.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasgen.models.nb201_network import model_size
from nasgen.proxies.base import Proxy, ProxyBatch, ProxyInfo


def logits(network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The main logits of ``network`` on ``inputs``, also for networks whose forward returns
    ``(logits, auxiliary logits)`` (a DARTS network with an auxiliary head in training mode)."""
    output = network(inputs)
    return output[0] if isinstance(output, tuple) else output


def _weights(network: nn.Module) -> list[nn.Parameter]:
    return [p for name, p in network.named_parameters() if name.endswith("weight") and p.requires_grad]


def _layers(network: nn.Module) -> list[nn.Module]:
    """The convolutions and linear layers: the layers whose weights the zero-cost proxies sum over."""
    return [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _log10(value: float) -> float:
    """log10 of a non-negative raw measure: -inf for an exact 0 (the lowest possible rank, e.g. a
    cell of only ``none`` edges, through which nothing flows), NaN for a non-finite value."""
    if not math.isfinite(value) or value < 0:
        return float("nan")
    return math.log10(value) if value > 0 else -math.inf


@contextmanager
def _relu_codes(network: nn.Module, record: Callable[[torch.Tensor], None]) -> Iterator[None]:
    """Call ``record`` with the binary code ``(B, units)`` (output > 0) of every ``nn.ReLU`` the
    forward passes run inside the block (ReLUs called as functions are not seen)."""
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        record((output > 0).flatten(1))

    handles = [m.register_forward_hook(hook) for m in network.modules() if isinstance(m, nn.ReLU)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _reached(weights: list[torch.Tensor], grads: tuple) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(W, dR/dW)`` (both detached) for the weights the differentiated value ``R`` reaches."""
    return [(w.detach(), g.detach()) for w, g in zip(weights, grads) if g is not None]


def _loss_gradients(network: nn.Module, batch: ProxyBatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(W, dL/dW)`` for every conv/linear layer that the cross-entropy ``L`` of the batch
    reaches, network in training mode. Uses ``autograd.grad``, so no ``.grad`` is left behind."""
    network.train()
    weights = [layer.weight for layer in _layers(network)]
    loss = F.cross_entropy(logits(network, batch.inputs), batch.targets)
    return _reached(weights, torch.autograd.grad(loss, weights, allow_unused=True))


class ParamsM:
    info = ProxyInfo("params_M", True, False, "none", "parameters in millions")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        return model_size(network, batch.input_shape)[0]


class FlopsM:
    info = ProxyInfo("flops_M", True, False, "none", "multiply-accumulates per image in millions (NATS-Bench's count)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        return model_size(network, batch.input_shape)[1]


class NTKCondition:
    info = ProxyInfo("ntk_cond", False, False, "inputs",
                     "condition number of the neural tangent kernel at initialisation (TE-NAS)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        network.train()
        weights = _weights(network)
        outputs = logits(network, batch.inputs)
        rows = []
        for i in range(len(outputs)):
            grads = torch.autograd.grad(outputs[i].sum(), weights, retain_graph=i < len(outputs) - 1,
                                        allow_unused=True)
            rows.append(torch.cat([g.flatten() for g in grads if g is not None]))
        jacobian = torch.stack(rows).double()
        eigenvalues = torch.linalg.eigvalsh(jacobian @ jacobian.T)
        smallest, largest = float(eigenvalues[0]), float(eigenvalues[-1])
        return largest / smallest if smallest > 0 and math.isfinite(largest) else float("nan")


class LinearRegions:
    info = ProxyInfo("linear_regions", True, False, "inputs",
                     "distinct ReLU activation patterns over the batch (TE-NAS's count of linear regions)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        network.train()
        patterns: list[torch.Tensor] = []
        with _relu_codes(network, patterns.append), torch.no_grad():
            logits(network, batch.inputs)
        if not patterns:
            return 1.0  # a network without ReLUs is one linear region
        codes = np.packbits(torch.cat(patterns, dim=1).cpu().numpy(), axis=1)
        return float(len(np.unique(codes, axis=0)))


class Synflow:
    """Synaptic flow (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020), as the zero-cost proxies
    paper scores it: every parameter replaced by its absolute value, double precision, one
    all-ones input, ``R`` = sum of the logits, value ``sum over conv/linear weights of
    |theta * dR/dtheta|``. Data-independent; higher is better. Stored as log10: raw values span
    1e32-1e61 on NB201 (a full-size NB201 network stays far below double's 1e308).

    zero-cost-nas scores a copy whose batch norms are replaced by the identity. nasgen's networks
    cannot drop their batch norms, so each one is reset to its fresh state (running mean 0,
    variance 1, scale 1, shift 0) and used in eval mode: the identity up to the factor
    ``1/sqrt(1 + eps)`` (1e-5), which changes log10 by about 2e-6 per batch norm on a path, far
    below any difference between architectures. (A batch norm in training mode would instead
    zero the constant all-ones feature maps.)"""

    info = ProxyInfo("synflow", True, True, "none",
                     "log10 synaptic flow of |weights| on an all-ones input (Tanaka et al. 2020; zero-cost proxies)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        network.double().eval()
        with torch.no_grad():
            for module in network.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.reset_parameters()
            for parameter in network.parameters():
                parameter.abs_()
        weights = [layer.weight for layer in _layers(network)]
        flow = logits(network, torch.ones(1, *batch.input_shape, dtype=torch.float64)).sum()
        reached = _reached(weights, torch.autograd.grad(flow, weights, allow_unused=True))
        return _log10(sum(float((w * g).abs().sum()) for w, g in reached))


class Snip:
    """SNIP connection sensitivity (Lee, Ajanthan & Torr, ICLR 2019) as a network score:
    ``sum over conv/linear weights of |theta * dL/dtheta|`` (zero-cost-nas takes ``|dL/dmask|``
    of a multiplicative mask of ones, which is the same number), cross-entropy on the batch,
    training mode. Higher is better."""

    info = ProxyInfo("snip", True, False, "images", "sum |theta * dL/dtheta| (SNIP, Lee et al. 2019)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        return sum(float((w * g).abs().sum()) for w, g in _loss_gradients(network, batch))


class Grasp:
    """GraSP (Wang, Zhang & Grosse, ICLR 2020) as zero-cost-nas scores it: ``g = dL/dtheta``,
    ``Hg`` by double backpropagation (the gradient of ``g.detach() . dL/dtheta``), value
    ``sum over conv/linear weights of -theta * Hg``, training mode.

    Sign convention: GraSP prunes the weights with the largest ``theta * Hg``; zero-cost-nas adds
    the minus sign so that, summed, the score correlates *positively* with accuracy (Spearman
    +0.51 to +0.55 on NB201 in its notebook and in NASLib's per-cell values): higher is better.
    Signed, so not log-scaled. zero-cost-nas runs two forward passes (one for ``g`` without a
    graph, one with ``create_graph``); they give the same ``g`` on the same batch, so one is run."""

    info = ProxyInfo("grasp", True, False, "images", "sum -theta * (H g), GraSP as in zero-cost proxies")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        network.train()
        weights = [layer.weight for layer in _layers(network)]
        loss = F.cross_entropy(logits(network, batch.inputs), batch.targets)
        grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
        reached = [(w, g) for w, g in zip(weights, grads) if g is not None]
        if not reached:
            return float("nan")
        product = sum((g.detach() * g).sum() for _, g in reached)
        if not product.requires_grad:  # the gradient does not depend on the weights: H g = 0
            return 0.0
        hessian = _reached([w for w, _ in reached], torch.autograd.grad(product, [w for w, _ in reached],
                                                                         allow_unused=True))
        return sum(float((-w * hg).sum()) for w, hg in hessian)


class Fisher:
    """Fisher pruning saliency (Theis, Korshunova, Tejani & Huszar 2018) summed over the network,
    as zero-cost-nas computes it: for the output activation ``a`` of every conv/linear layer and
    its loss gradient ``g``, channel ``k`` gets ``0.5 * mean over samples of (sum over positions
    of a * g)^2``; training mode. zero-cost-nas then copies each channel's value to every weight
    of that output channel and sums, so a channel counts ``fan_in`` (``in_channels / groups * kh
    * kw``, or ``in_features``) times; that weighting is kept here so values rank like the
    published ones (the plain per-channel sum of Theis et al. would weight every channel once).
    Higher is better; raw values span about six decades on NB201, so stored as log10."""

    info = ProxyInfo("fisher", True, True, "images",
                     "log10 summed Fisher channel saliency (Theis et al. 2018; zero-cost proxies)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        network.train()
        layers = _layers(network)
        saliencies: list[float] = []

        def capture(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            # the closure holds the detached activation: capturing ``output`` itself (a first
            # version) made a cycle output -> hook -> closure -> output that kept the whole graph
            # alive until the cycle collector ran
            activation, scale = output.detach(), 0.5 * layer.weight[0].numel()

            def saliency(grad: torch.Tensor) -> None:
                per_channel = activation * grad
                if per_channel.dim() > 2:
                    per_channel = per_channel.flatten(2).sum(2)
                saliencies.append(float(per_channel.pow(2).mean(0).sum()) * scale)

            if output.requires_grad:
                output.register_hook(saliency)

        handles = [layer.register_forward_hook(capture) for layer in layers]
        try:
            loss = F.cross_entropy(logits(network, batch.inputs), batch.targets)
        finally:
            for handle in handles:
                handle.remove()
        # the hooks fire on every layer output on the way to the weights
        torch.autograd.grad(loss, [layer.weight for layer in layers], allow_unused=True)
        return _log10(sum(saliencies)) if saliencies else float("nan")


class GradNorm:
    """Gradient norm (zero-cost proxies): ``sum over conv/linear layers of ||dL/dW||_2``,
    cross-entropy on the batch, training mode. Higher is better."""

    info = ProxyInfo("grad_norm", True, False, "images", "sum over layers of the L2 norm of the weight gradient")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        return sum(float(g.norm()) for _, g in _loss_gradients(network, batch))


class Plain:
    """``sum over conv/linear weights of theta * dL/dtheta`` (signed; the "plain" saliency of
    zero-cost-nas and NASLib), training mode. It correlates *negatively* with accuracy on NB201
    (Spearman -0.26 for all three datasets in NASLib's per-cell values): lower is better."""

    info = ProxyInfo("plain", False, False, "images", "sum theta * dL/dtheta (zero-cost proxies' plain saliency)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        return sum(float((w * g).sum()) for w, g in _loss_gradients(network, batch))


class L2Norm:
    """``sum over conv/linear layers of ||W||_2`` at initialisation (NASLib's ``l2_norm``): mostly
    a smooth function of the layers' sizes. Higher is better (Spearman +0.73 on NB201 in NASLib's
    per-cell values)."""

    info = ProxyInfo("l2_norm", True, False, "none", "sum of the conv/linear weights' L2 norms at initialisation")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        with torch.no_grad():
            return sum(float(layer.weight.norm()) for layer in _layers(network))


class JacobianCovariance:
    """Jacobian covariance (Mellor et al., arXiv v1): ``J[i]`` = gradient of the sum of sample
    ``i``'s logits with respect to its input, flattened; ``C`` = correlation matrix of the rows
    of ``J``; value ``-sum over eigenvalues v of C of (log(v + 1e-5) + 1 / (v + 1e-5))`` (the
    version of NASLib and zero-cost-nas). Training mode. Higher is better (less correlated
    Jacobians). NaN when some Jacobian is constant (its correlation is undefined), e.g. a cell
    of ``none`` edges only. Eigenvalues by ``eigvalsh`` (``C`` is symmetric; the reference's
    general ``eig`` can return complex round-off)."""

    info = ProxyInfo("jacov", True, False, "images",
                     "-sum(log(v + k) + 1/(v + k)) over eigenvalues of the input-Jacobian correlation "
                     "(Mellor et al. v1)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        network.train()
        inputs = batch.inputs.clone().requires_grad_(True)
        (jacobian,) = torch.autograd.grad(logits(network, inputs).sum(), inputs, allow_unused=True)
        if jacobian is None:  # the logits do not depend on the input
            return float("nan")
        rows = jacobian.flatten(1).double().cpu().numpy()
        if np.any(rows.std(axis=1) == 0):
            return float("nan")
        eigenvalues = np.linalg.eigvalsh(np.corrcoef(rows))
        shifted = eigenvalues + 1e-5
        value = -float(np.sum(np.log(shifted) + 1.0 / shifted))
        return value if math.isfinite(value) else float("nan")


class NWOT:
    """Neural architecture search without training (Mellor et al., ICML 2021, arXiv v2): for every
    ReLU unit, the binary code (active or not) of each input of the batch; ``K[i, j]`` = number
    of units on which inputs ``i`` and ``j`` agree (units minus their Hamming distance), summed
    over every ReLU; value ``log |det K|``. Training mode. Higher is better (inputs the network
    separates more). ``K`` is accumulated layer by layer, so its memory is ``B x B``, not the
    codes of the whole network. -inf when ``K`` is singular (two inputs with identical codes,
    e.g. no ReLU sees a non-zero value), as NASLib stores it."""

    info = ProxyInfo("nwot", True, False, "images",
                     "log|K| of the ReLU-code Hamming kernel over the batch (Mellor et al. v2)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        network.train()
        size = len(batch.inputs)
        kernel = torch.zeros(size, size, dtype=torch.float64, device=batch.inputs.device)

        def accumulate(codes: torch.Tensor) -> None:
            active = codes.double()
            kernel.add_(active @ active.T).add_((1 - active) @ (1 - active).T)

        with _relu_codes(network, accumulate), torch.no_grad():
            logits(network, batch.inputs)
        sign, logdet = np.linalg.slogdet(kernel.cpu().numpy())
        return float(logdet) if sign > 0 else -math.inf


PROXIES: dict[str, Proxy] = {p.info.name: p for p in (
    ParamsM(), FlopsM(), NTKCondition(), LinearRegions(), Synflow(), Snip(), Grasp(), Fisher(), GradNorm(),
    Plain(), L2Norm(), JacobianCovariance(), NWOT())}
