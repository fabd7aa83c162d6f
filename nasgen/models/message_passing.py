"""Message passing on batches of cell graphs with torch-geometric: the encoders of the GNN
performance predictor (thesis chapter 3) and of SVGe (chapter 4).

Graphs arrive dense, as the spaces and generators produce them: node-type probabilities
``[B, N, T]`` (one-hot for real architectures, softmax scores for generated ones) and edge weights
``[B, N, N]`` (0/1, or edge probabilities). :func:`sparse_graphs` turns them into one
torch-geometric batch whose edges carry their weights, so a generated graph's scores stay
differentiable through the encoder, and whose nodes can be masked (padding nodes of smaller
NB101 cells take no part). Messages follow the edges (forward: the network's data flow) or go
against them (backward: the gradient flow).

The dense ``TwoSidedMessagePassing`` of :mod:`nasgen.models.gnn` (AG-Net) stays dense: it runs
inside AG-Net's node-by-node generation loop, a dozen times per graph on growing prefixes,
where rebuilding a sparse batch per step costs more than the few dense products it replaces.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.nn import MessagePassing, global_add_pool

from nasgen.models.gnn import GatedSum
from nasgen.spaces.base import GraphSpec


@dataclass(frozen=True)
class SparseGraphs:
    """A torch-geometric style batch: node features ``x`` ``[M, T]``, ``edge_index`` ``[2, E]``
    (source row, target row), ``edge_weight`` ``[E]``, the graph of each node ``batch`` ``[M]``
    and ``num_graphs``."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_weight: torch.Tensor
    batch: torch.Tensor
    num_graphs: int

    @property
    def reversed_edges(self) -> torch.Tensor:
        """``edge_index`` with every edge turned around (backward messages)."""
        return self.edge_index.flip(0)


def sparse_graphs(node_features: torch.Tensor, adjacency: torch.Tensor,
                  node_mask: torch.Tensor | None = None) -> SparseGraphs:
    """Dense ``[B, N, T]`` node features and ``[B, N, N]`` edge weights (``A[b, u, v]``: edge
    ``u -> v``) -> :class:`SparseGraphs`; ``node_mask`` ``[B, N]`` keeps only the marked nodes
    (and their edges). Zero-weight edges are dropped; the others keep their weight (and gradient)."""
    batch, nodes = node_features.shape[:2]
    if node_mask is None:
        node_mask = torch.ones(batch, nodes, dtype=torch.bool, device=node_features.device)
    kept = (adjacency.detach() != 0) & node_mask.unsqueeze(1) & node_mask.unsqueeze(2)
    graph, source, target = kept.nonzero(as_tuple=True)
    # row of node (b, v) among the kept nodes (torch-geometric's dense_to_sparse re-indexes the
    # same way, but in place, which breaks the gradient of soft edge weights)
    row = (node_mask.flatten().cumsum(0) - 1).view(batch, nodes)
    edge_index = torch.stack([row[graph, source], row[graph, target]])
    graph_of_node = torch.arange(batch, device=node_features.device).repeat_interleave(node_mask.sum(1))
    return SparseGraphs(node_features[node_mask], edge_index, adjacency[graph, source, target], graph_of_node,
                        batch)


def unflatten(vectors: torch.Tensor, graph: GraphSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat architecture vectors ``[B, graph.vector_dim]`` (:meth:`GraphSpec.flatten`, or a
    generator's soft :meth:`GraphScores.vector`) -> node-type weights ``[B * cells, N, T]`` and
    upper-triangular edge weights ``[B * cells, N, N]``, the cells of an architecture in a row."""
    cells = vectors.reshape(-1, graph.cell_vector_dim)
    n, types = graph.max_nodes, graph.num_types
    node_features = cells[:, : n * types].reshape(-1, n, types)
    rows, cols = torch.triu_indices(n, n, offset=1, device=vectors.device)
    adjacency = torch.zeros(len(cells), n, n, dtype=vectors.dtype, device=vectors.device)
    adjacency[:, rows, cols] = cells[:, n * types:]
    return node_features, adjacency


def real_nodes(node_features: torch.Tensor, adjacency: torch.Tensor, graph: GraphSpec) -> torch.Tensor | None:
    """``[B, N]`` mask of the nodes that are not padding (:attr:`GraphSpec.pad_type`), ``None``
    for a space without padding. A padding node is one whose most likely type is the pad type and
    whose edges weigh less than one half in all: exact for real graphs; for a generator's soft
    graph, the nodes that would decode as padding. The mask is a discrete choice (no gradient)."""
    if graph.pad_type is None:
        return None
    with torch.no_grad():
        pad_typed = node_features.argmax(-1) == graph.pad_type
        edge_weight = adjacency.sum(1) + adjacency.sum(2)
        return ~(pad_typed & (edge_weight < 0.5))


class EdgeMessages(MessagePassing):
    """``a_v = sum over edges u -> v of w_uv * fc([h_u, h_v])``: one fully connected layer of the
    sender's and the receiver's state, weighted by the edge's weight, summed at the receiver."""

    def __init__(self, dim: int) -> None:
        super().__init__(aggr="add")
        self.fc = nn.Linear(2 * dim, dim)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        return self.propagate(edge_index, h=h, edge_weight=edge_weight)

    def message(self, h_j: torch.Tensor, h_i: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        return edge_weight.unsqueeze(-1) * self.fc(torch.cat([h_j, h_i], -1))


class BidirectionalGRURound(nn.Module):
    """One round of the chapter-3 predictor's encoder: forward and backward messages are summed
    and update each node state through one GRU cell."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.forward_messages = EdgeMessages(dim)
        self.backward_messages = EdgeMessages(dim)
        self.update = nn.GRUCell(dim, dim)

    def forward(self, h: torch.Tensor, graphs: SparseGraphs) -> torch.Tensor:
        messages = self.forward_messages(h, graphs.edge_index, graphs.edge_weight) + \
            self.backward_messages(h, graphs.reversed_edges, graphs.edge_weight)
        return self.update(messages, h)


class DirectedGRURound(nn.Module):
    """One round of one direction of SVGe's encoder: messages along (``backward=False``) or
    against the edges update the node states through this direction's GRU cell."""

    def __init__(self, dim: int, backward: bool = False) -> None:
        super().__init__()
        self.backward = backward
        self.messages = EdgeMessages(dim)
        self.update = nn.GRUCell(dim, dim)

    def forward(self, h: torch.Tensor, graphs: SparseGraphs) -> torch.Tensor:
        edges = graphs.reversed_edges if self.backward else graphs.edge_index
        return self.update(self.messages(h, edges, graphs.edge_weight), h)

    def new_node(self, h_new: torch.Tensor, h_senders: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Dense update of one new node per graph (``h_new`` ``[B, D]``) from the states of the
        nodes that send to it (``h_senders`` ``[B, S, D]``, edge weights ``weights`` ``[B, S]``).

        SVGe's decoder adds nodes one at a time and its messages follow the decoding order, so
        the nodes already there never receive from a new one: re-propagating the whole partial
        graph would recompute their states unchanged, and this one step per new node is
        equivalent (and cheap inside the generation loop, where a sparse batch per step is not)."""
        if h_senders.shape[1] == 0:
            return self.update(torch.zeros_like(h_new), h_new)
        pairs = torch.cat([h_senders, h_new.unsqueeze(1).expand_as(h_senders)], -1)
        return self.update((weights.unsqueeze(-1) * self.messages.fc(pairs)).sum(1), h_new)


class GatedSumPool(GatedSum):
    """:class:`~nasgen.models.gnn.GatedSum` over each graph's nodes of a sparse batch."""

    def forward(self, h: torch.Tensor, graphs: SparseGraphs) -> torch.Tensor:
        return global_add_pool(self.terms(h), graphs.batch, size=graphs.num_graphs)
