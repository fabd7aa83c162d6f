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
  discriminates when patterns can coincide: TE-NAS counts them on a one-channel, one-cell copy
  of the network and thousands of tiny (3x3) inputs; the proxy benchmark builds that copy and
  batch from per-proxy settings (``configs/benchmark/proxy.yaml``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasgen.models.nb201_network import model_size
from nasgen.proxies.base import Proxy, ProxyBatch, ProxyInfo


class ParamsM:
    info = ProxyInfo("params_M", True, False, "none", "parameters in millions")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        return model_size(network, batch.input_shape)[0]


class FlopsM:
    info = ProxyInfo("flops_M", True, False, "none", "multiply-accumulates per image in millions (NATS-Bench's count)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        return model_size(network, batch.input_shape)[1]


def _weights(network: nn.Module) -> list[nn.Parameter]:
    return [p for name, p in network.named_parameters() if name.endswith("weight") and p.requires_grad]


class NTKCondition:
    info = ProxyInfo("ntk_cond", False, False, "inputs",
                     "condition number of the neural tangent kernel at initialisation (TE-NAS)")

    def score(self, network: nn.Module, batch: ProxyBatch) -> float:
        network.train()
        weights = _weights(network)
        logits = network(batch.inputs)
        rows = []
        for i in range(len(logits)):
            grads = torch.autograd.grad(logits[i].sum(), weights, retain_graph=i < len(logits) - 1, allow_unused=True)
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

        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            patterns.append((output > 0).flatten(1))

        relus = [m for m in network.modules() if isinstance(m, nn.ReLU)]
        handles = [m.register_forward_hook(record) for m in relus]
        try:
            with torch.no_grad():
                network(batch.inputs)
        finally:
            for handle in handles:
                handle.remove()
        if not patterns:
            return 1.0  # a network without ReLUs is one linear region
        codes = np.packbits(torch.cat(patterns, dim=1).numpy(), axis=1)
        return float(len(np.unique(codes, axis=0)))


PROXIES: dict[str, Proxy] = {p.info.name: p for p in (ParamsM(), FlopsM(), NTKCondition(), LinearRegions())}
