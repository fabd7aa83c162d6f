"""Generator interface: latent vectors -> differentiable graph scores -> architectures."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from nasgen.spaces.base import Arch, GraphSpec, SearchSpace, StructuredDecoding


@dataclass
class GraphScores:
    """Differentiable generator output for a batch of graphs.

    ``node_logits``: ``[B, N, T]`` node-type logits (the first ``graph.num_inputs`` rows are the
    given input nodes); ``edge_logits``: ``[B, E]`` logits of the upper-triangular adjacency,
    row-major (``np.triu_indices(N, 1)`` order, the order of :meth:`GraphSpec.flatten`).
    """

    node_logits: torch.Tensor
    edge_logits: torch.Tensor
    graph: GraphSpec

    def vector(self) -> torch.Tensor:
        """Soft counterpart of :meth:`GraphSpec.flatten`: type probabilities + edge probabilities."""
        probs = torch.softmax(self.node_logits, dim=-1).flatten(1)
        return torch.cat([probs, torch.sigmoid(self.edge_logits)], dim=1)

    def hard_vector(self) -> torch.Tensor:
        """The argmax graph in the layout of :meth:`vector` (one-hot types, edges with p > 0.5)."""
        types = torch.nn.functional.one_hot(self.node_logits.argmax(-1), self.node_logits.shape[-1]).flatten(1)
        return torch.cat([types.float(), (self.edge_logits > 0).float()], dim=1)

    def reconstruction_loss(self, node_types: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """Per-graph cross-entropy on node types (after the given input nodes) + BCE on edges."""
        given = self.graph.num_inputs
        logits = self.node_logits[:, given:]
        node_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), node_types[:, given:].reshape(-1),
                                    reduction="none").view(len(logits), -1).mean(1)
        edge_loss = F.binary_cross_entropy_with_logits(self.edge_logits, edges, reduction="none").mean(1)
        return node_loss + edge_loss

    def decode(self, space: SearchSpace, sample: bool = True,
               generator: torch.Generator | None = None) -> list[Arch | None]:
        """Discrete architectures; ``None`` where the graph is not valid in ``space``.

        ``sample=True`` draws node types from ``Categorical(logits)`` and edges from
        ``Bernoulli(sigmoid(logits))`` (AG-Net, thesis Algorithm 5); ``sample=False`` takes
        the argmax types and edges with probability > 0.5. A space with
        :class:`~nasgen.spaces.base.StructuredDecoding` decodes the edges itself (DARTS).
        """
        graph = space.graph
        types = self._decode_types(sample, generator)
        if isinstance(space, StructuredDecoding):
            # numpy draws for the space's conditioned edges, seeded from the torch stream
            seed = int(torch.randint(2**62, (1,), generator=generator)) if sample else 0
            return space.decode_edges(types, self.edge_logits.detach().float().cpu().numpy(), sample,
                                      np.random.default_rng(seed))
        if sample:
            edges = torch.bernoulli(torch.sigmoid(self.edge_logits.detach().float().cpu()), generator=generator)
            edges = edges.numpy().astype(np.uint8)
        else:
            edges = (self.edge_logits > 0).cpu().numpy()
        rows, cols = np.triu_indices(graph.max_nodes, k=1)
        adjacency = np.zeros((len(types), graph.max_nodes, graph.max_nodes), dtype=np.uint8)
        adjacency[:, rows, cols] = edges
        return space.from_graphs(types, adjacency)

    def _decode_types(self, sample: bool, generator: torch.Generator | None) -> np.ndarray:
        """Node types ``[B, N]``: drawn from the type scores (the given inputs kept), or the argmax."""
        if not sample:
            return self.node_logits.argmax(-1).cpu().numpy()
        probs = torch.softmax(self.node_logits.detach().float().cpu(), -1)
        types = torch.multinomial(probs.flatten(0, 1), 1, generator=generator).view(probs.shape[:2])
        types[:, :self.graph.num_inputs] = self.node_logits[:, :self.graph.num_inputs].argmax(-1).cpu()
        return types.numpy()


def graph_targets(space: SearchSpace, archs: Sequence[Arch]) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction targets: node types ``[B, N]`` (long) and edges ``[B, E]`` (float)."""
    graphs = [space.to_graph(a) for a in archs]
    rows, cols = np.triu_indices(space.graph.max_nodes, k=1)
    types = torch.as_tensor(np.stack([t for t, _ in graphs]), dtype=torch.long)
    edges = torch.as_tensor(np.stack([a[rows, cols] for _, a in graphs]), dtype=torch.float32)
    return types, edges


@runtime_checkable
class Generator(Protocol):
    """A torch module mapping latent vectors to :class:`GraphScores`, which owns its training
    loss: pretraining and weighted retraining call only :meth:`training_loss`, so any generator
    (AG-Net's, a VAE's decoder with its encoder, an invertible network) fits the LSO loop."""

    graph: GraphSpec
    latent_dim: int

    def __call__(self, z: torch.Tensor) -> GraphScores: ...

    def training_loss(self, node_types: torch.Tensor, edges: torch.Tensor,
                      generator: torch.Generator) -> tuple[GraphScores, torch.Tensor]:
        """For a batch of target graphs (``graph_targets``), the scores the generator produced
        while learning them and its per-sample loss ``[B]``; ``generator`` draws any randomness
        (so a seed decides it)."""


@runtime_checkable
class EncodingGenerator(Generator, Protocol):
    """A generator with an encoder (a VAE's decoder and its encoder: SVGe): architectures map to
    latent points, so labelled architectures can be placed in its latent space and searched there
    (``search=latent_bo``), and latent points between them decoded."""

    def encode(self, node_types: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """Latent means ``[B, latent_dim]`` of target graphs in the layout of :func:`graph_targets`
        (deterministic: no reparameterisation noise)."""


@runtime_checkable
class SelfTrainingGenerator(Generator, Protocol):
    """A generator that brings its own training schedule (a VAE: epochs over a fixed split of the
    space into training and held-out cells), to which
    :func:`~nasgen.generators.pretrain.pretrain` hands the training instead of AG-Net's ticks of
    random draws; it is cached the same way, its own settings in the cache key."""

    def training_settings(self) -> dict:
        """Everything besides the weights' initialisation and the seed that decides the trained weights."""

    def training_split(self, space: SearchSpace, seed: int) -> tuple[list[Arch], list[Arch]]:
        """The training cells and the held-out ones (reconstruction is measured on these)."""

    def fit(self, space: SearchSpace, seed: int, device: "str | torch.device" = "cpu",
            checkpoint: Path | None = None, train_archs: Sequence[Arch] | None = None) -> dict:
        """Train on :meth:`training_split`'s training cells (or ``train_archs``), resuming from
        and saving to ``checkpoint`` each epoch; the training statistics (JSON-able)."""


@runtime_checkable
class PerformanceConditionedGenerator(EncodingGenerator, Protocol):
    """An encoding generator whose latent space carries a performance coordinate (the INN of
    Chen 2023): the forward direction predicts a graph's performance from its latent code and
    the inverse direction generates latent codes for a target performance. Performances are
    the search's scaled targets (fractions: accuracy x 0.01)."""

    def predict(self, node_types: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """Predicted performance ``[B]`` of target graphs in the layout of :func:`graph_targets`."""

    def invert(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Latent codes ``[B, latent_dim]`` whose performance coordinate is ``y`` ``[B]``, the rest
        ``z`` ``[B, latent_dim - 1]``."""

    def generate(self, y: float, count: int, generator: torch.Generator, noise_std: float = 0.0) -> GraphScores:
        """Scores of ``count`` graphs generated for target performance ``y``: ``z ~ N(0, I)``
        (drawn with ``generator``), inverted at ``y``, plus ``N(0, noise_std^2)`` latent noise, decoded."""
