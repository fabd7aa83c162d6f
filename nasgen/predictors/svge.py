"""SVGe's performance predictor (thesis Sections 4.2 and 4.4.3, Table B.3): a 4-layer MLP
(hidden 28, 14, 7) on the latent mean of a pretrained graph VAE, trained jointly with the VAE
on the labelled architectures with the loss ``beta * VAE loss + (1 - beta) * MSE`` (beta = 0.1,
Adam 1e-3, 100 epochs).

Each :meth:`SVGePredictor.fit` starts from the pretrained VAE (``pretrain``: the cache, or
trained now by its own schedule on its split of the space, which needs no labels) and fine-tunes
a fresh copy of it, encoder and decoder: the VAE term keeps the latent space a generator's
while the MSE term orders it by performance. Inputs are the space's flat graph vectors
(:meth:`GraphSpec.flatten` layout); targets are standardised as for every torch predictor.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from nasgen.errors import ConfigError, DataError
from nasgen.generators.base import EncodingGenerator, SelfTrainingGenerator
from nasgen.generators.pretrain import PretrainConfig, built_generator, pretrain
from nasgen.models.gnn import mlp
from nasgen.models.message_passing import unflatten
from nasgen.predictors.training import torch_fit_data, train_weighted
from nasgen.spaces.base import GraphSpec, SearchSpace


class SVGePredictor:
    """Joint VAE + MLP regressor (module docstring).

    Args:
        graph: the graph shape of the vectors it reads, as predictor factories are called: the
            space's, or a larger one of the same node types (the one-node expansions of an
            :class:`~nasgen.spaces.base.ExpandableSpace`: the encoder reads graphs of any size;
            the cells it trains on must fit the space's); ``None``: the space's.
        space: the search space the VAE is pretrained on (``${search_space}`` in the config).
        vae: factory of the VAE (``${generator}``: generator=svge or svge_cpu).
        pretrain_seed: seed of the pretrained VAE (shared by every fit and search seed).
        hidden, beta, epochs, lr, batch_size: the regressor and the joint training (Table B.3).
    """

    def __init__(self, graph: GraphSpec | None = None, *, space: SearchSpace,
                 vae: Callable[[GraphSpec], nn.Module], pretrain_seed: int = 0, hidden: Sequence[int] = (28, 14, 7),
                 beta: float = 0.1, epochs: int = 100, lr: float = 1e-3, batch_size: int = 32,
                 device: str = "cpu") -> None:
        graph = graph or space.graph
        if (graph.node_types, graph.cells) != (space.graph.node_types, space.graph.cells) or \
                graph.max_nodes < space.graph.max_nodes:
            raise ConfigError(f"predictor=svge reads graphs of {space.name} (or of its expansions to more nodes), "
                              f"not graphs of types {graph.node_types} with {graph.max_nodes} nodes")
        if space.graph.cells > 1:
            raise ConfigError(f"predictor=svge encodes one-cell graphs; {space.name} has {space.graph.cells} cells")
        probe = built_generator(vae, space.graph)
        if not (isinstance(probe, EncodingGenerator) and isinstance(probe, SelfTrainingGenerator)):
            raise ConfigError(f"predictor=svge needs a VAE generator (generator=svge or svge_cpu), not "
                              f"{type(probe).__name__}")
        if not 0 <= beta <= 1:
            raise ConfigError(f"predictor.beta must be in [0, 1], got {beta}")
        self.graph, self.space, self.make_vae, self.pretrain_seed = graph, space, vae, pretrain_seed
        self.hidden, self.beta, self.epochs, self.lr, self.batch_size = tuple(hidden), beta, epochs, lr, batch_size
        self.device = device
        self.vae: nn.Module | None = None
        self.regressor: nn.Module | None = None
        self.target_mean, self.target_scale = 0.0, 1.0
        self.vae_record: dict | None = None

    def _graphs(self, x: "np.ndarray | torch.Tensor", nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat graph vectors of :attr:`graph` -> node types ``[B, nodes]`` and upper-triangular
        edges, the graphs cut to their first ``nodes`` nodes (refused where that cuts a real node)."""
        features, adjacency = unflatten(torch.as_tensor(x, dtype=torch.float32), self.graph)
        types = features.argmax(-1)
        if nodes < self.graph.max_nodes and (adjacency[:, nodes:].any() or adjacency[:, :, nodes:].any()
                                             or (types[:, nodes:] != self.space.graph.pad_type).any()):
            raise DataError(f"predictor=svge trains on cells of {self.space.name} (up to {nodes} nodes); "
                            "got larger ones")
        rows, cols = torch.triu_indices(nodes, nodes, offset=1)
        return types[:, :nodes].to(self.device), adjacency[:, :nodes, :nodes][:, rows, cols].to(self.device)

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> None:
        if x.shape[1] != self.graph.vector_dim:
            raise DataError(f"predictor=svge reads flat graph vectors of {self.graph.vector_dim} values, got "
                            f"{x.shape[1]}: use the space's graph encoding")
        data = torch_fit_data(type(self).__name__, x, y, weights, generator)
        self.vae, self.vae_record = pretrain(self.make_vae, self.space, PretrainConfig(seed=self.pretrain_seed),
                                             self.device)
        self.regressor = mlp([self.vae.latent_dim, *self.hidden, 1]).to(self.device)
        self.target_mean, self.target_scale = data.mean, data.scale
        types, edges = self._graphs(data.inputs, self.space.graph.max_nodes)  # the VAE's own layout
        targets = data.targets.to(self.device)
        self.vae.train()
        self.regressor.train()

        def joint_loss(batch: torch.Tensor) -> torch.Tensor:
            _, vae_loss = self.vae.training_loss(types[batch], edges[batch], data.generator)
            predicted = self.regressor(self.vae.encode(types[batch], edges[batch])).squeeze(-1)
            return self.beta * vae_loss + (1 - self.beta) * (predicted - targets[batch]) ** 2

        train_weighted([*self.vae.parameters(), *self.regressor.parameters()], joint_loss, data.weights,
                       self.epochs, self.lr, self.batch_size, data.generator)
        self.vae.eval()
        self.regressor.eval()

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.regressor is None:
            raise DataError("SVGePredictor.predict called before fit")
        types, edges = self._graphs(x, self.graph.max_nodes)
        output = torch.cat([self.regressor(self.vae.encode(t, e)).squeeze(-1)
                            for t, e in zip(types.split(4096), edges.split(4096))])
        return output.cpu().numpy().astype(np.float64) * self.target_scale + self.target_mean
