"""Graph layers for small DAGs with soft (probabilistic) adjacency.

Generators emit edge *probabilities*, so message passing here works on dense
``[B, N, N]`` adjacency tensors where ``A[b, u, v]`` weighs the edge ``u -> v``.
With at most a few dozen nodes per cell, dense batched matmuls are faster on CPU and
GPU than scatter-based sparse message passing and keep everything differentiable.
"""
from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int], final_activation: bool = False) -> nn.Sequential:
    """Fully connected layers with ReLU between them."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class TwoSidedMessagePassing(nn.Module):
    """One round of forward + backward message passing with a GRU node update.

    The message from ``u`` to ``v`` is a single linear layer of ``(h_u, h_v)``; forward
    messages follow edges (information flow of the network), backward messages go
    against them (gradient flow), and both aggregates update the node state through a
    GRU cell, as in the two-sided GNN encoder of SVGe (Lukasik et al.).
    Because the message is linear, ``sum_u A[u,v] (P h_u + Q h_v)`` is computed as
    ``(A^T P h)[v] + deg_in(v) Q h_v`` without materialising all node pairs.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.forward_source = nn.Linear(dim, dim)
        self.forward_target = nn.Linear(dim, dim, bias=False)
        self.backward_source = nn.Linear(dim, dim)
        self.backward_target = nn.Linear(dim, dim, bias=False)
        self.update = nn.GRUCell(2 * dim, dim)

    def forward(self, h: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """``h``: ``[B, N, D]`` node states; ``adjacency``: ``[B, N, N]`` edge weights."""
        incoming = adjacency.transpose(1, 2)  # incoming[b, v, u] = A[b, u, v]
        forward_msg = incoming @ self.forward_source(h) + incoming.sum(-1, keepdim=True) * self.forward_target(h)
        backward_msg = adjacency @ self.backward_source(h) + adjacency.sum(-1, keepdim=True) * self.backward_target(h)
        batch, nodes, dim = h.shape
        updated = self.update(torch.cat([forward_msg, backward_msg], -1).reshape(-1, 2 * dim), h.reshape(-1, dim))
        return updated.reshape(batch, nodes, dim)


class GatedSum(nn.Module):
    """Graph readout ``sum_v fc(h_v) * sigmoid(gate(h_v))`` over the node axis of dense ``[B, N, D]`` states."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.value = nn.Linear(dim, out_dim)
        self.gate = nn.Linear(dim, out_dim)

    def terms(self, h: torch.Tensor) -> torch.Tensor:
        """Each node's summand ``fc(h_v) * sigmoid(fc_gate(h_v))`` (a decoder that adds nodes one
        by one adds their terms up itself)."""
        return self.value(h) * torch.sigmoid(self.gate(h))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.terms(h).sum(dim=1)
