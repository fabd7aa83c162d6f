"""AG-Net generator (Lukasik, Jung, Keuper: "Learning Where To Look - Generative NAS is
Surprisingly Efficient", ECCV 2022).

A purely generative model: from ``z ~ N(0, I)`` it builds the cell graph node by node
like the SVGe decoder, but never samples inside the loop. Node types enter the node
initialisation as soft probabilities through an MLP (instead of an embedding lookup)
and edges enter message passing as probabilities, so the output scores are a
differentiable function of ``z`` and of the weights; a predictor on those scores can
pass gradients back into the generator.
"""
from __future__ import annotations

import torch
from torch import nn

from nasgen.generators.base import GraphScores
from nasgen.models.gnn import GatedSum, TwoSidedMessagePassing, mlp
from nasgen.spaces.base import GraphSpec


class AGNetGenerator(nn.Module):
    """Iterative graph generator.

    Args:
        graph: the space's graph shape: node types, the given input nodes (their types, in
            order, at the first positions; not generated), maximum node count.
        latent_dim: size of ``z``; the graph embedding starts as ``z`` so it has this size too.
        hidden_dim: node embedding size.
        gnn_layers: rounds of two-sided message passing after each added node.
    """

    def __init__(self, graph: GraphSpec, latent_dim: int = 32, hidden_dim: int = 32, gnn_layers: int = 2) -> None:
        super().__init__()
        self.graph = graph
        self.latent_dim = latent_dim
        types = graph.num_types
        self.type_embedding = mlp([types, hidden_dim, hidden_dim])
        self.add_node = mlp([2 * latent_dim, hidden_dim, types])
        self.init_node = mlp([2 * latent_dim + hidden_dim, hidden_dim, hidden_dim])
        self.add_edge = mlp([2 * hidden_dim + 2 * latent_dim, hidden_dim, 1])
        self.propagate = nn.ModuleList(TwoSidedMessagePassing(hidden_dim) for _ in range(gnn_layers))
        self.readout = GatedSum(hidden_dim, latent_dim)

    def _embed_graph(self, h: torch.Tensor, adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.propagate:
            h = layer(h, adjacency)
        return h, self.readout(h)

    def forward(self, z: torch.Tensor) -> GraphScores:
        batch, n, given = len(z), self.graph.max_nodes, self.graph.num_inputs
        input_onehot = torch.zeros(batch, given, self.graph.num_types, device=z.device)
        input_onehot[:, range(given), list(self.graph.input_types)] = 1.0
        graph_embedding = z
        h = self.init_node(torch.cat([z.unsqueeze(1).expand(-1, given, -1),
                                      graph_embedding.unsqueeze(1).expand(-1, given, -1),
                                      self.type_embedding(input_onehot)], -1))
        adjacency = torch.zeros(batch, given, given, device=z.device)
        if given > 1:  # the given inputs are not connected among themselves; they are embedded together
            h, graph_embedding = self._embed_graph(h, adjacency)
        # The input nodes are given, not generated: a large fixed logit keeps the score
        # vector's layout identical to the one-hot encoding of real architectures.
        node_logits = list((input_onehot * 20.0 - 10.0).unbind(1))
        edge_columns = []
        for t in range(given, n):
            logits = self.add_node(torch.cat([z, graph_embedding], -1))
            node_logits.append(logits)
            new = self.init_node(torch.cat([z, graph_embedding, self.type_embedding(torch.softmax(logits, -1))], -1))
            context = torch.cat([graph_embedding, z], -1).unsqueeze(1).expand(-1, t, -1)
            pair = torch.cat([new.unsqueeze(1).expand(-1, t, -1), h, context], -1)
            column = self.add_edge(pair).squeeze(-1)  # logits of edges j -> t, j < t
            edge_columns.append(column)
            h = torch.cat([h, new.unsqueeze(1)], 1)
            adjacency = nn.functional.pad(adjacency, (0, 1, 0, 1))
            adjacency[:, :t, t] = torch.sigmoid(column)
            h, graph_embedding = self._embed_graph(h, adjacency)
        # Reorder the column-wise edge logits to row-major upper-triangular order (edges among
        # the given inputs get a large negative logit: they never exist).
        full = torch.full((batch, n, n), -10.0, device=z.device) if given > 1 else torch.zeros(batch, n, n,
                                                                                                  device=z.device)
        for t, column in enumerate(edge_columns, start=given):
            full[:, :t, t] = column
        rows, cols = torch.triu_indices(n, n, offset=1, device=z.device)
        return GraphScores(node_logits=torch.stack(node_logits, 1), edge_logits=full[:, rows, cols], graph=self.graph)

    def training_loss(self, node_types: torch.Tensor, edges: torch.Tensor,
                      generator: torch.Generator) -> tuple[GraphScores, torch.Tensor]:
        """AG-Net learns without an encoder: graphs generated from random ``z ~ N(0, I)`` are
        compared with the (unpaired) target graphs by the reconstruction loss."""
        z = torch.randn(len(node_types), self.latent_dim, generator=generator).to(node_types.device)
        scores = self(z)
        return scores, scores.reconstruction_loss(node_types, edges)
