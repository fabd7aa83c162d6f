"""The graph neural network performance predictor of Lukasik et al. (GCPR 2020; thesis chapter 3).

An architecture's flat vector (:meth:`GraphSpec.flatten`, or a generator's soft
:meth:`GraphScores.vector`) is read back as node-type weights and edge weights
(:func:`~nasgen.models.message_passing.unflatten`). Each node starts from an embedding of its
type: a bias-free linear map of the type weights, which is the thesis' lookup table for one-hot
types and stays differentiable for soft ones. Two rounds of message passing follow, each summing
the messages along the edges and against them into one GRU update (per-round weights, no
nonlinearity after the message layer: the thesis' single fully connected layer). A gated sum
reads each cell out to a graph embedding, and an MLP regresses the target from the embeddings
of an architecture's cells, concatenated (DARTS: normal and reduction cell through the same
network; a nasgen extension, the thesis evaluates NB101 only).

Padding nodes of smaller cells (NB101 pads to 7 nodes) are left out of the graph
(:func:`~nasgen.models.message_passing.real_nodes`): kept, each would add the same gated
readout term, so the embedding would count padding, and a cell would not be the same graph as
its unpadded self (the thesis' encoder sees graphs of their own size).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nasgen.errors import ConfigError, DataError
from nasgen.models.gnn import mlp
from nasgen.models.message_passing import BidirectionalGRURound, GatedSumPool, real_nodes, sparse_graphs, unflatten
from nasgen.predictors.training import TorchRegressor
from nasgen.ranges import Float, Int, ranges
from nasgen.spaces.base import GraphSpec


@ranges("predictor", node_dim=Int(1), graph_dim=Int(1), rounds=Int(1), epochs=Int(1), lr=Float(0.0, above=True),
        batch_size=Int(1))
class GNNPredictor(TorchRegressor):
    """The chapter-3 encoder and regressor, a differentiable predictor (AG-Net can train it
    jointly through soft graph vectors). Defaults are the thesis' (Table B.1): node embedding
    250, graph embedding 56, 2 rounds, regressor 56 -> 28 -> 14 -> 7 -> 1 (linear output), Adam
    5e-5, batch 128, 100 epochs; trained alone on standardised targets (MSE)."""

    def __init__(self, graph: GraphSpec | None = None, node_dim: int = 250, graph_dim: int = 56, rounds: int = 2,
                 hidden: Sequence[int] = (28, 14, 7), epochs: int = 100, lr: float = 5e-5,
                 batch_size: int = 128) -> None:
        if graph is None:
            raise ConfigError("the GNN predictor reads graphs: build it with the space's GraphSpec "
                              "(GNNPredictor(space.graph))")
        super().__init__(epochs, lr, batch_size)
        self.graph, self.node_dim, self.graph_dim, self.num_rounds = graph, node_dim, graph_dim, rounds
        self.hidden = tuple(hidden)
        self.reset(graph.vector_dim)

    def reset(self, input_dim: int) -> None:
        if input_dim != self.graph.vector_dim:
            raise DataError(f"the GNN predictor reads flat graph vectors of width {self.graph.vector_dim}, "
                            f"got {input_dim}")
        self.embed = nn.Linear(self.graph.num_types, self.node_dim, bias=False)
        self.rounds = nn.ModuleList(BidirectionalGRURound(self.node_dim) for _ in range(self.num_rounds))
        self.readout = GatedSumPool(self.node_dim, self.graph_dim)
        self.regressor = mlp([self.graph.cells * self.graph_dim, *self.hidden, 1])

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Graph embeddings ``[B, cells * graph_dim]`` of flat vectors ``[B, graph.vector_dim]``."""
        node_features, adjacency = unflatten(x, self.graph)
        graphs = sparse_graphs(node_features, adjacency, real_nodes(node_features, adjacency, self.graph))
        h = self.embed(graphs.x)
        for message_round in self.rounds:
            h = message_round(h, graphs)
        return self.readout(h, graphs).reshape(len(x), -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.regressor(self.embedding(x)).squeeze(-1)
