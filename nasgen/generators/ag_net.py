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

INPUT_TYPE = 0


class AGNetGenerator(nn.Module):
    """Iterative graph generator.

    Args:
        graph: node-type vocabulary and maximum node count of the search space
            (node type 0 is the input node).
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
        batch, n = len(z), self.graph.max_nodes
        input_onehot = torch.zeros(batch, self.graph.num_types, device=z.device)
        input_onehot[:, INPUT_TYPE] = 1.0
        graph_embedding = z
        h = self.init_node(torch.cat([z, graph_embedding, self.type_embedding(input_onehot)], -1)).unsqueeze(1)
        adjacency = torch.zeros(batch, 1, 1, device=z.device)
        # The input node is given, not generated: a large fixed logit keeps the score
        # vector's layout identical to the one-hot encoding of real architectures.
        node_logits = [input_onehot * 20.0 - 10.0]
        edge_columns = []
        for t in range(1, n):
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
        # Reorder the column-wise edge logits to row-major upper-triangular order.
        full = torch.zeros(batch, n, n, device=z.device)
        for t, column in enumerate(edge_columns, start=1):
            full[:, :t, t] = column
        rows, cols = torch.triu_indices(n, n, offset=1, device=z.device)
        return GraphScores(node_logits=torch.stack(node_logits, 1), edge_logits=full[:, rows, cols])
