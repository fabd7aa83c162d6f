"""A rank loss through a non-differentiable surrogate, for AG-Net's "XGB + ranking" variant.

The ranking of a batch is a combinatorial solver; its gradient is estimated by blackbox
differentiation (Vlastelica et al., ICLR 2020; for rank-based losses Rolinek et al., CVPR
2020): with upstream gradient ``g`` on the ranks of scores ``s``, the gradient on ``s`` is
``-(rank(s) - rank(s + lambda g)) / lambda``.

The scores are the surrogate's predictions (in its standardised units) for the generator's
argmax graphs, and the rank loss compares their normalised ranks with those of the paired
targets. A tree ensemble is piecewise constant in its binary input, so the gradient on a score
reaches the generator through the surrogate's discrete sensitivity instead: for every operation
node, the score change of swapping its type for each other operation type. A sample whose score
should rise is pulled (cross-entropy on the node-type logits, weighted by the size of the score
gradient) towards the type with the largest gain at each node, one whose score should fall
towards the largest loss. The AG-Net papers do not say how their ranking gradient reaches the
generator; this is our construction. A first version passed the bit sensitivities straight
through the argmax into the soft graph vector; that push neither saturates nor respects the
one-hot structure and wrecked the generator within a few retrainings (decoded validity 0), even
at 1/300 of the reconstruction loss's weight.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from nasgen.generators.base import GraphScores

Predict = Callable[[np.ndarray], np.ndarray]


def ranks(scores: torch.Tensor) -> torch.Tensor:
    """Ranks within a batch divided by its size: ``1/n`` for the highest score, 1 for the lowest."""
    return (torch.argsort(torch.argsort(scores, descending=True)).to(scores.dtype) + 1) / len(scores)


class BlackboxRank(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores: torch.Tensor, lam: float) -> torch.Tensor:  # noqa: D102
        result = ranks(scores)
        ctx.save_for_backward(scores, result)
        ctx.lam = lam
        return result

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: D102
        scores, result = ctx.saved_tensors
        return -(result - ranks(scores + ctx.lam * grad)) / ctx.lam, None


def type_swap_gains(predict: Predict, node_types: np.ndarray, vector: np.ndarray, num_types: int) -> np.ndarray:
    """``f(graph with node k of type t) - f(graph)`` ``[rows, nodes, types]`` for the one-hot node
    blocks of ``vector`` (``[rows, nodes * num_types + edges]``, the layout of
    :meth:`GraphSpec.flatten`); 0 for the current type."""
    rows, nodes = node_types.shape
    swapped = np.repeat(vector[:, None, None, :], nodes, axis=1).repeat(num_types, axis=2)
    for k in range(nodes):
        block = swapped[:, k, :, k * num_types:(k + 1) * num_types]
        block[:] = np.eye(num_types, dtype=vector.dtype)
    predicted = predict(swapped.reshape(-1, vector.shape[1])).reshape(rows, nodes, num_types)
    # Swapping node 0 to its own type leaves the graph as it is: that entry is f(graph).
    unchanged = predicted[np.arange(rows), 0, node_types[:, 0]]
    return predicted - unchanged[:, None, None]


def blackbox_rank_loss(predict: Predict, scores: GraphScores, targets: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-sample squared difference between the normalised rank of each generated graph under
    ``predict`` and that of its paired ``targets``; its gradient reaches the node-type logits of
    the operation nodes (never the given inputs, the output or padding; never towards an input
    or the output type)."""
    graph, logits = scores.graph, scores.node_logits
    node_types = logits.argmax(-1).detach().cpu().numpy()
    vector = scores.hard_vector().detach().cpu().numpy()
    num_types = logits.shape[-1]
    values = torch.as_tensor(predict(vector), dtype=logits.dtype, device=logits.device).requires_grad_()
    loss = (BlackboxRank.apply(values, lam) - ranks(targets)) ** 2
    (score_grad,) = torch.autograd.grad(loss.sum(), values)
    gains = type_swap_gains(predict, node_types, vector, num_types)
    improved = -np.sign(score_grad.cpu().numpy())[:, None, None] * gains
    not_operations = [t for t in range(num_types) if t not in graph.operation_types]
    improved[..., not_operations] = -np.inf  # never a target: input and output types
    target = np.where(improved.max(-1) > 0, improved.argmax(-1), node_types)
    # Operation nodes: between the given inputs and the last node in a space whose graphs all
    # have max_nodes nodes (the last one is the output); in a padded space, wherever the
    # generated type is an operation (the output and the padding after it are left alone).
    first, end = graph.num_inputs, graph.max_nodes - (graph.pad_type is None)
    per_node = F.cross_entropy(logits[:, first:end].transpose(1, 2),
                               torch.as_tensor(target[:, first:end], device=logits.device), reduction="none")
    if graph.pad_type is None:
        pull = per_node.mean(1) * score_grad.abs()
    else:
        mask = torch.as_tensor(np.isin(node_types[:, first:end], graph.operation_types), dtype=logits.dtype,
                               device=logits.device)
        pull = (per_node * mask).sum(1) / mask.sum(1).clamp(min=1) * score_grad.abs()
    # Forward value: the rank loss; gradient: the pull towards the surrogate's preferred types.
    return loss.detach() + pull - pull.detach()
