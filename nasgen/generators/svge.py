"""SVGe: smooth variational graph embeddings (Lukasik et al., IJCNN 2021; thesis chapter 4).

A graph VAE for cell DAGs. The encoder runs two separate GNNs over a graph's real nodes, one
along the edges (data flow) and one against them, concatenates their final node states and
reads out the mean and the log-variance of ``q(z | G)`` with two gated sums. The decoder builds
the graph twice, node by node: forward from the input(s) and backward from the output, each
with its own networks; the decoded graph is the union of the two (thesis Algorithms 3 and 4).

Decisions where the thesis leaves a choice (``../shared/notes/lukasik_ch4_svge.md`` section 7):

- separate node-type tables for the two encoder directions (125 each), separate weights per
  message-passing round; the variance is read out as a log-variance;
- each decoding direction has its own networks (type table ``L_d``, f_addNode, f_initNode,
  f_addEdges, GNN, readout). Its GNN passes messages along the decoding order only, so a node's
  state never changes once it is placed and each step computes just the new node's states
  (:meth:`DirectedGRURound.new_node`); the graph embedding is the running gated sum of the
  placed nodes (``z`` before the first);
- decoding is deterministic: argmax types, edges with probability > 0.5; a direction ends at
  its end node (forward: the output; backward: the last given input), later positions are
  padding (``GraphSpec.pad_type``, no edges);
- merging: node types from the forward decoding; the edges of both directions (backward
  positions reversed onto forward ones) where both decoded the same number of nodes, else the
  forward graph alone (the forward decoding is the one whose order is the graph layout's);
- the reconstruction loss is summed over steps and edges (D-VAE's convention, which the KL
  weight 0.005 is relative to).

The graph layout is the space's :class:`GraphSpec`: a graph's nodes end at its first output node
after the inputs (NB101 pads smaller cells after it), and only those nodes are encoded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasgen.generators.base import GraphScores
from nasgen.generators.splits import training_split
from nasgen.generators.vae_training import train_vae
from nasgen.models.gnn import mlp
from nasgen.models.message_passing import DirectedGRURound, GatedSumPool, sparse_graphs
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace

FIXED_LOGIT = 10.0  # logit of a given or padding choice: the score layout stays that of one-hot graphs


def graph_lengths(types: torch.Tensor, start: int, end_types: Sequence[int], end_count: int = 1) -> torch.Tensor:
    """Nodes of each sequence ``[B, N]`` up to and including its end: the ``end_count``-th node
    of a type in ``end_types`` at position ``start`` or later; ``N`` where there is none."""
    positions = torch.arange(types.shape[1], device=types.device)
    is_end = torch.isin(types, torch.as_tensor(list(end_types), device=types.device)) & (positions >= start)
    reached = is_end.long().cumsum(1) >= end_count
    return torch.where(reached.any(1), reached.long().argmax(1) + 1, types.shape[1])


def cell_lengths(types: torch.Tensor, graph: GraphSpec) -> torch.Tensor:
    """Real nodes of graphs in ``graph``'s layout: up to the first output node after the inputs
    (the rest is padding)."""
    return graph_lengths(types, graph.num_inputs, (graph.output_type,))


def reversal(lengths: torch.Tensor, nodes: int) -> torch.Tensor:
    """Per graph the position map between forward and backward order: ``n - 1 - t`` for the
    ``n`` real nodes, padding in place (its own inverse)."""
    positions = torch.arange(nodes, device=lengths.device).expand(len(lengths), -1)
    return torch.where(positions < lengths[:, None], lengths[:, None] - 1 - positions, positions)


def reverse_graphs(types: torch.Tensor, adjacency: torch.Tensor,
                   lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Graphs in backward order: real nodes reversed, edges turned around (still upper triangular)."""
    order = reversal(lengths, types.shape[1])
    rows = torch.arange(len(types), device=types.device)[:, None, None]
    return types.gather(1, order), adjacency[rows, order[:, None, :], order[:, :, None]]


def dense_adjacency(edges: torch.Tensor, nodes: int) -> torch.Tensor:
    """Row-major upper-triangular edge values ``[B, E]`` -> ``[B, N, N]``."""
    rows, cols = torch.triu_indices(nodes, nodes, offset=1, device=edges.device)
    adjacency = edges.new_zeros(len(edges), nodes, nodes)
    adjacency[:, rows, cols] = edges
    return adjacency


@dataclass
class Decoded:
    """One direction's decoding, in that direction's order: type logits ``[B, N, T]``, edge
    logits ``[B, N, N]`` (``[j, t]``: edge from the ``j``-th to the ``t``-th placed node) and
    the types and edges placed (the targets under teacher forcing)."""

    node_logits: torch.Tensor
    edge_logits: torch.Tensor
    types: torch.Tensor
    adjacency: torch.Tensor


class SVGeEncoder(nn.Module):
    """Forward and backward GNN over the real nodes, gated-sum readouts of mean and log-variance."""

    def __init__(self, graph: GraphSpec, latent_dim: int, node_dim: int, gnn_layers: int) -> None:
        super().__init__()
        # A linear map of one-hot (or soft) types is an embedding table that also takes the
        # type probabilities of generated graphs.
        self.forward_types = nn.Linear(graph.num_types, node_dim, bias=False)
        self.backward_types = nn.Linear(graph.num_types, node_dim, bias=False)
        self.forward_rounds = nn.ModuleList(DirectedGRURound(node_dim) for _ in range(gnn_layers))
        self.backward_rounds = nn.ModuleList(DirectedGRURound(node_dim, backward=True) for _ in range(gnn_layers))
        self.mean = GatedSumPool(2 * node_dim, latent_dim)
        self.logvar = GatedSumPool(2 * node_dim, latent_dim)

    def forward(self, node_features: torch.Tensor, adjacency: torch.Tensor,
                lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = torch.arange(node_features.shape[1], device=lengths.device) < lengths[:, None]
        graphs = sparse_graphs(node_features, adjacency, mask)
        h_forward, h_backward = self.forward_types(graphs.x), self.backward_types(graphs.x)
        for forward_round, backward_round in zip(self.forward_rounds, self.backward_rounds):
            h_forward, h_backward = forward_round(h_forward, graphs), backward_round(h_backward, graphs)
        h = torch.cat([h_forward, h_backward], -1)
        return self.mean(h, graphs), self.logvar(h, graphs)


class DirectionalDecoder(nn.Module):
    """Generates a graph node by node in one direction (thesis Algorithm 4): from ``z`` and the
    graph embedding a node type (f_addNode), the new node's state (f_initNode), its edges from
    every placed node (f_addEdges), its states after message passing, the new graph embedding."""

    def __init__(self, graph: GraphSpec, start_types: Sequence[int], latent_dim: int, node_dim: int,
                 gnn_layers: int) -> None:
        super().__init__()
        self.graph = graph
        self.start_types = tuple(start_types)
        self.type_table = nn.Embedding(graph.num_types, node_dim)
        self.add_node = mlp([2 * latent_dim, node_dim, graph.num_types])
        self.init_node = mlp([2 * latent_dim + node_dim, node_dim, node_dim])
        self.add_edge = mlp([2 * node_dim + 2 * latent_dim, node_dim, 1])
        self.rounds = nn.ModuleList(DirectedGRURound(node_dim) for _ in range(gnn_layers))
        self.readout = GatedSumPool(node_dim, latent_dim)

    def forward(self, z: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor] | None = None) -> Decoded:
        """Decode ``z`` (argmax types, edges at p > 0.5), or with ``targets`` (types ``[B, N]``,
        adjacency ``[B, N, N]`` in this direction's order) under teacher forcing."""
        batch, nodes, num_types = len(z), self.graph.max_nodes, self.graph.num_types
        start = len(self.start_types)
        states: list[list[torch.Tensor]] = [[] for _ in range(len(self.rounds) + 1)]  # per round, per node
        graph_embedding, readout_sum = z, None
        node_logits, types = [], []
        edge_logits = torch.full((batch, nodes, nodes), -FIXED_LOGIT, device=z.device)
        adjacency = torch.zeros(batch, nodes, nodes, device=z.device)
        for t in range(nodes):
            if t < start:
                node_type = torch.full((batch,), self.start_types[t], dtype=torch.long, device=z.device)
                logits = (F.one_hot(node_type, num_types).float() * 2 - 1) * FIXED_LOGIT
            else:
                logits = self.add_node(torch.cat([z, graph_embedding], -1))
                node_type = targets[0][:, t] if targets is not None else logits.argmax(-1)
            node_logits.append(logits)
            types.append(node_type)
            h = self.init_node(torch.cat([z, graph_embedding, self.type_table(node_type)], -1))
            incoming = adjacency.new_zeros(batch, t)  # the given start nodes are not joined among themselves
            if t >= start:
                placed = torch.stack(states[-1], 1)
                context = torch.cat([graph_embedding, z], -1).unsqueeze(1).expand(-1, t, -1)
                column = self.add_edge(torch.cat([h.unsqueeze(1).expand(-1, t, -1), placed, context], -1)).squeeze(-1)
                edge_logits[:, :t, t] = column
                incoming = targets[1][:, :t, t] if targets is not None else (column > 0).float()
                adjacency[:, :t, t] = incoming
            states[0].append(h)
            for k, gnn_round in enumerate(self.rounds):
                senders = torch.stack(states[k][:t], 1) if t else h.new_zeros(batch, 0, h.shape[-1])
                h = gnn_round.new_node(h, senders, incoming)
                states[k + 1].append(h)
            term = self.readout.terms(h)
            readout_sum = term if readout_sum is None else readout_sum + term
            graph_embedding = readout_sum
        return Decoded(torch.stack(node_logits, 1), edge_logits, torch.stack(types, 1), adjacency)


class SVGeGenerator(nn.Module):
    """SVGe as an :class:`~nasgen.generators.base.EncodingGenerator` that trains itself
    (:class:`~nasgen.generators.base.SelfTrainingGenerator`: ``pretrain`` hands it the training).

    Args:
        graph: the space's graph shape.
        latent_dim: size of ``z`` (thesis: 56).
        node_dim: node state size per direction (thesis: 125; the encoder concatenates to 250).
        gnn_layers: message-passing rounds (thesis: 2).
        kl_weight: weight of the KL term (thesis alpha: 0.005).
        epochs, batch_size, lr, plateau_patience, plateau_factor: the VAE schedule (thesis Table
            B.2: 300 epochs, batch 32 on NB201 and 128 on NB101, Adam 1e-3, learning rate x 0.1
            after 10 epochs without a lower training loss).
        train_fraction: share of the space's cells trained on (the rest is held out).
        train_pool: for a space that cannot be listed (NB101), how many distinct sampled cells
            are split (listed spaces, NB201, split all their architectures).
    """

    def __init__(self, graph: GraphSpec, latent_dim: int = 56, node_dim: int = 125, gnn_layers: int = 2,
                 kl_weight: float = 0.005, epochs: int = 300, batch_size: int = 32, lr: float = 1e-3,
                 plateau_patience: int = 10, plateau_factor: float = 0.1, train_fraction: float = 0.9,
                 train_pool: int = 50_000) -> None:
        super().__init__()
        self.graph = graph
        self.latent_dim = latent_dim
        self.kl_weight = kl_weight
        self.schedule = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "plateau_patience": plateau_patience,
                         "plateau_factor": plateau_factor, "train_fraction": train_fraction, "train_pool": train_pool}
        self.encoder = SVGeEncoder(graph, latent_dim, node_dim, gnn_layers)
        self.forward_decoder = DirectionalDecoder(graph, graph.input_types, latent_dim, node_dim, gnn_layers)
        self.backward_decoder = DirectionalDecoder(graph, (graph.output_type,), latent_dim, node_dim, gnn_layers)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, kl_weight={self.kl_weight}"

    # -- encoder ------------------------------------------------------------------
    def encode_graphs(self, node_features: torch.Tensor,
                      adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z | G)`` for type weights ``[B, N, T]`` (one-hot, or a
        generator's probabilities) and edge weights ``[B, N, N]``; the real nodes are read
        from the most probable types."""
        return self.encoder(node_features, adjacency, cell_lengths(node_features.argmax(-1), self.graph))

    def encode_distribution(self, node_types: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z | G)`` for graphs in the layout of :func:`graph_targets`.
        The message passing reads graphs of any size: graphs with more nodes than the space's
        (NB101 cells grown to 8 nodes, thesis Table 4.4) encode in a layout of their own size."""
        features = F.one_hot(node_types, self.graph.num_types).float()
        return self.encoder(features, dense_adjacency(edges, node_types.shape[1]),
                            cell_lengths(node_types, self.graph))

    def encode(self, node_types: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        return self.encode_distribution(node_types, edges)[0]

    # -- decoder ------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> GraphScores:
        forward, backward = self.forward_decoder(z), self.backward_decoder(z)
        graph = self.graph
        return self._union(forward, backward, cell_lengths(forward.types, graph),
                           graph_lengths(backward.types, 1, graph.input_types, graph.num_inputs))

    def _union(self, forward: Decoded, backward: Decoded, forward_lengths: torch.Tensor,
               backward_lengths: torch.Tensor) -> GraphScores:
        """Forward node types; edges of both directions where they placed as many nodes, else
        the forward ones; padding (no edges) after the forward end node."""
        graph, nodes = self.graph, self.graph.max_nodes
        alive = torch.arange(nodes, device=forward_lengths.device) < forward_lengths[:, None]
        pad_type = graph.output_type if graph.pad_type is None else graph.pad_type
        pad_logits = (F.one_hot(torch.tensor(pad_type), graph.num_types).float() * 2 - 1) * FIXED_LOGIT
        node_logits = torch.where(alive.unsqueeze(-1), forward.node_logits, pad_logits.to(forward.node_logits))
        order = reversal(backward_lengths, nodes)
        rows = torch.arange(len(order), device=order.device)[:, None, None]
        backward_edges = backward.edge_logits[rows, order[:, None, :], order[:, :, None]]
        agree = (forward_lengths == backward_lengths)[:, None, None]
        edges = torch.where(agree, torch.maximum(forward.edge_logits, backward_edges), forward.edge_logits)
        edges = torch.where(alive[:, :, None] & alive[:, None, :], edges, -FIXED_LOGIT)
        upper_rows, upper_cols = torch.triu_indices(nodes, nodes, offset=1, device=edges.device)
        return GraphScores(node_logits=node_logits, edge_logits=edges[:, upper_rows, upper_cols], graph=graph)

    # -- training -----------------------------------------------------------------
    def training_loss(self, node_types: torch.Tensor, edges: torch.Tensor,
                      generator: torch.Generator) -> tuple[GraphScores, torch.Tensor]:
        """Teacher-forced reconstruction of both directions from ``z ~ q(z | G)`` plus
        ``kl_weight`` x KL(q(z | G) || N(0, I)), per graph."""
        mean, logvar = self.encode_distribution(node_types, edges)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        z = mean + torch.exp(0.5 * logvar) * noise
        adjacency = dense_adjacency(edges, self.graph.max_nodes)
        lengths = cell_lengths(node_types, self.graph)
        backward_types, backward_adjacency = reverse_graphs(node_types, adjacency, lengths)
        forward = self.forward_decoder(z, (node_types, adjacency))
        backward = self.backward_decoder(z, (backward_types, backward_adjacency))
        reconstruction = (self._direction_loss(forward, lengths, self.graph.num_inputs)
                          + self._direction_loss(backward, lengths, 1))
        kl = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(1)
        return self._union(forward, backward, lengths, lengths), reconstruction + self.kl_weight * kl

    @staticmethod
    def _direction_loss(decoded: Decoded, lengths: torch.Tensor, start: int) -> torch.Tensor:
        """Summed cross-entropy of the generated types and BCE of every edge decision into them."""
        batch, nodes, num_types = decoded.node_logits.shape
        positions = torch.arange(nodes, device=lengths.device)
        generated = (positions >= start) & (positions < lengths[:, None])
        type_loss = F.cross_entropy(decoded.node_logits.reshape(-1, num_types), decoded.types.reshape(-1),
                                    reduction="none").view(batch, nodes)
        decisions = generated[:, None, :] & (positions[:, None] < positions[None, :])
        edge_loss = F.binary_cross_entropy_with_logits(decoded.edge_logits, decoded.adjacency, reduction="none")
        return (type_loss * generated).sum(1) + (edge_loss * decisions).sum((1, 2))

    def training_settings(self) -> dict:
        return dict(self.schedule)

    def training_split(self, space: SearchSpace, seed: int) -> tuple[list[Arch], list[Arch]]:
        return training_split(space, seed, self.schedule["train_fraction"], self.schedule["train_pool"])

    def fit(self, space: SearchSpace, seed: int, device: "str | torch.device" = "cpu",
            checkpoint: Path | None = None, train_archs: Sequence[Arch] | None = None) -> dict:
        archs = self.training_split(space, seed)[0] if train_archs is None else list(train_archs)
        return train_vae(self, space, archs, seed, device, checkpoint)
