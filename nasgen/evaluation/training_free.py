"""Training-free robustness measures of the NB201 robustness dataset (Lukasik thesis 2023,
Section 7.4.1): the Frobenius norm of the input-output Jacobian (Hoffman, Roberts & Yaida
2019; used by Hosseini et al. 2021) and the largest eigenvalue of the input Hessian of the
loss (Zhao et al. 2020; Mok et al. 2021), each averaged over mini-batches (the thesis: 10
batches of 256 images), on a given network and, optionally, on a randomly initialised copy.

- Jacobian: ``||J(x)||_F**2 = C * E_v ||v^T J(x)||**2`` for ``v`` uniform on the unit sphere of
  the ``C`` logits, so a few vector-Jacobian products estimate it without forming ``J``.
  Projections are drawn as random orthonormal sets (each one uniform on the sphere, lower
  variance than independent draws; ``C`` projections give the exact norm). A batch's value
  is ``sqrt(mean over images of ||J(x)||_F**2)``, Hoffman et al.'s batch-averaged quantity.
- Hessian: power iteration on Hessian-vector products by double backpropagation, run for all
  images of a batch at once; each image's Hessian of its own cross-entropy is one block, so
  the iteration finds every image's dominant eigenvalue and a batch's value is their mean.
  For ReLU networks the input Hessian ``J^T (diag(p) - p p^T) J`` is positive semi-definite,
  so the dominant eigenvalue is the largest one.

The random initialisation uses each layer's own ``reset_parameters``, with batch-norm
statistics re-estimated on the measured images (see :func:`reinitialised`).
"""
from __future__ import annotations

import copy
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasgen.errors import ConfigError
from nasgen.evaluation.attacks import inference_mode, model_device
from nasgen.reporting.console import progress_bar


def jacobian_sq_norms(model: nn.Module, x: torch.Tensor, n_projections: int = 1,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Random-projection estimates of ``||J(x_i)||_F**2`` per image (logits w.r.t. inputs)."""
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    n, classes = logits.shape
    k = min(n_projections, classes)
    # per image, k orthonormal directions in logit space (QR of a Gaussian matrix)
    gaussian = torch.randn(n, classes, k, generator=generator).to(logits)
    directions, _ = torch.linalg.qr(gaussian)
    total = torch.zeros(n, device=x.device)
    for j in range(k):
        (vjp,) = torch.autograd.grad(logits, x, grad_outputs=directions[:, :, j], retain_graph=j < k - 1)
        total += vjp.flatten(1).pow(2).sum(1)
    return (classes / k * total).detach()


def hessian_eigenvalues(model: nn.Module, x: torch.Tensor, y: torch.Tensor, iterations: int = 20,
                        tol: float = 1e-3, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dominant eigenvalue of each image's input Hessian of its cross-entropy, by power
    iteration (stops early once every image's estimate changes by less than ``tol``, relative)."""
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")  # a sum keeps the images' blocks unscaled
    (gradient,) = torch.autograd.grad(loss, x, create_graph=True)
    vector = torch.randn(x.shape, generator=generator).to(x)
    vector = vector / vector.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
    eigenvalues = torch.zeros(len(x), device=x.device)
    for _ in range(iterations):
        (product,) = torch.autograd.grad(gradient, x, grad_outputs=vector, retain_graph=True)
        previous, eigenvalues = eigenvalues, (product * vector).flatten(1).sum(1)
        norms = product.flatten(1).norm(dim=1)
        vector = product / norms.clamp_min(1e-30).view(-1, *[1] * (x.dim() - 1))
        if torch.all((eigenvalues - previous).abs() <= tol * eigenvalues.abs().clamp_min(1e-12)):
            break
    return eigenvalues.detach()


def reinitialised(model: nn.Module, seed: int = 0, calibration: torch.Tensor | None = None,
                  batch_size: int = 256) -> nn.Module:
    """A copy of ``model`` in eval mode with every layer's parameters drawn anew (each layer's
    ``reset_parameters``). Batch-norm statistics are re-estimated on ``calibration`` images:
    with fresh statistics eval-mode batch norm is the identity, and through a deep network
    with PyTorch's default init the logits then all but vanish."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in fresh.modules():
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
    norms = [m for m in fresh.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))]
    if norms and calibration is not None:
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the calibration batches
        fresh.train()
        with torch.no_grad():
            for images in calibration.split(batch_size):
                fresh(images.to(model_device(fresh)))
    return fresh.eval()


def _batches(x: torch.Tensor, y: torch.Tensor, batches: int, batch_size: int) -> Iterator[tuple]:
    for start in range(0, min(len(x), batches * batch_size), batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batches: int = 10, batch_size: int = 256,
            n_projections: int = 1, hessian_iterations: int = 20, hessian_tol: float = 1e-3, seed: int = 0,
            progress: bool = True) -> dict[str, float]:
    """``jacobian_norm`` and ``hessian_max_eigenvalue`` of ``model``, each the mean of the
    per-batch values over the first ``batches`` batches of ``(x, y)``."""
    if min(batches, batch_size, n_projections, hessian_iterations) < 1:
        raise ConfigError("training-free measures need positive batches, batch_size, n_projections and "
                          "hessian_iterations")
    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)
    jacobian, hessian = [], []
    with inference_mode(model):
        for images, labels in progress_bar(list(_batches(x, y, batches, batch_size)), desc="measures",
                                           enabled=progress, leave=False):
            images, labels = images.to(device), labels.to(device)
            jacobian.append(float(jacobian_sq_norms(model, images, n_projections, generator).mean().sqrt()))
            hessian.append(float(hessian_eigenvalues(model, images, labels, hessian_iterations, hessian_tol,
                                                     generator).mean()))
    return {"jacobian_norm": float(np.mean(jacobian)), "hessian_max_eigenvalue": float(np.mean(hessian)),
            "batches": len(jacobian)}


def training_free_measures(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, random_init: bool = True,
                           batches: int = 10, batch_size: int = 256, seed: int = 0, **settings) -> dict:
    """:func:`measure` on ``model`` and, with ``random_init``, under ``"random_init"`` on a copy
    re-initialised with ``seed`` (batch-norm statistics re-estimated on the measured images)."""
    common = {"batches": batches, "batch_size": batch_size, "seed": seed, **settings}
    result = measure(model, x, y, **common)
    if random_init:
        fresh = reinitialised(model, seed, calibration=x[: batches * batch_size], batch_size=batch_size)
        result["random_init"] = measure(fresh, x, y, **common)
    return result
