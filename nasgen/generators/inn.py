"""Performance-conditioned generator of G.-Y. Chen (NTU MSc thesis 2023): a graph VAE with an
invertible network (INN) on its latent space.

The graph VAE encodes a cell's nodes with a GIN on the symmetrised adjacency into ``16`` latent
numbers per node and decodes all nodes at once with a small post-LN transformer (no
autoregression). Its flattened node latents ``x`` (``latent_dim = max_nodes * 16``) are the
INN's input; the INN maps ``x`` to ``[z, y]`` with ``y`` (the performance, a fraction) LAST and
``z`` under a ``N(0, I)`` prior. Forward, it is a performance predictor; inverted at a target
``y`` next to a random ``z``, it generates latent codes that decode to candidate cells.

Decisions where the thesis is silent or contradicts itself (``../shared/notes/
chen_inn_generator.md``, ambiguities A1-A8, decided by the author's code):

- encoder: ``gin_rounds`` GIN aggregations (default 1, the code; 5 is the arch2vec reading of
  the text), each ``(1 + eps) h_v + sum of neighbours`` (learnt ``eps``) through an MLP of
  Linear + ReLU + BatchNorm layers (128 x 4) and a final Linear + ReLU; then BatchNorm and
  per-node Linear heads for the mean and the log-variance. Every node is encoded, padding
  nodes too (NB101 pads with ``GraphSpec.pad_type`` nodes without edges), since the decoder
  must reproduce them. Reparameterisation ``mu + eps_scale * sigma * eps`` (``eps_scale`` 0.05);
  the KL uses the full ``sigma``;
- decoder: attention heads written by hand, each ``head_dim`` wide (3 x 32 = 96 inside a
  32-wide model, as Keras' MultiHeadAttention does; torch's cannot split 32 into 3 heads);
  dropout only after the feed-forward layer; an edge head scoring every ordered pair ``(i, j)``
  as two classes. The GVAE's edge loss covers all ``N^2`` entries (the lower triangle's target
  is "no edge");
- decoded edges: nasgen's graphs are upper triangular (edge ``i -> j`` only for ``i < j``), so
  :class:`GraphScores` carries the upper-triangular entries' logit ``log p(edge) - log
  p(no edge)``; a lower-triangular entry decoded as an edge is IGNORED, not counted as
  invalid. The author's NB201 check (decoded adjacency equal to the skeleton) would reject
  such a graph; it is trained towards "no edge" and rare once the VAE has learnt the space;
- INN: ``blocks`` FrEIA ``GLOWCouplingBlock`` s (Ardizzone's two-sided affine coupling,
  ``clamp * tanh`` log-scales), each after a fixed reversal of the features; subnets of
  ``subnet_layers`` x Dense(``subnet_hidden``, ReLU) emitting ``[s, t]``. The log-determinant
  is not part of any loss, so it is never computed. A random fixed permutation
  (``FrEIA.PermuteRandom``) was not used: it reseeds numpy's global generator and registers its
  index tables as parameters;
- losses (weights in :class:`LossSettings`): GVAE ``w_nodes CE(types) + w_edges CE(edges) +
  w_kl KL``, per graph (CE means over nodes / entries, KL summed over a node's dimensions and
  averaged over nodes); INN ``w_reg MSE(y_hat, y) + w_rev L_rev + w_latent MMD``, where the MMD
  compares the forward output ``[z_hat, y_hat]`` with ``[z ~ N(0, I), y]`` (inverse
  multiquadric kernels, biased estimate) and ``L_rev`` is the MSE between ``INN^-1([fresh z,
  y + rev_y_noise * eps])`` and the encoder mean. :mod:`nasgen.generators.inn_training` weighs
  and steps them.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Mapping, Sequence

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GINConv

from nasgen.errors import ConfigError
from nasgen.generators.base import GraphScores
from nasgen.generators.splits import training_split
from nasgen.generators.svge import dense_adjacency
from nasgen.generators.vae_training import train_vae
from nasgen.models.gnn import mlp
from nasgen.models.message_passing import sparse_graphs
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace

FINETUNE_MODES = ("e2e", "partial")  # e2e: GVAE and INN learn the labels; partial: the INN alone


@dataclass(frozen=True)
class EncoderSettings:
    gin_rounds: int = 1
    mlp_hidden: tuple[int, ...] = (128, 128, 128, 128)
    latent_per_node: int = 16
    eps_scale: float = 0.05


@dataclass(frozen=True)
class DecoderSettings:
    d_model: int = 32
    layers: int = 3
    heads: int = 3
    head_dim: int = 32
    ffn: int = 256
    attn_dropout: float = 0.0
    ffn_dropout: float = 0.1


@dataclass(frozen=True)
class INNSettings:
    blocks: int = 4
    subnet_layers: int = 4
    subnet_hidden: int = 128
    clamp: float = 1.0
    clamp_activation: str = "TANH"


@dataclass(frozen=True)
class LossSettings:
    w_nodes: float = 1.0
    w_edges: float = 1.0
    w_kl: float = 0.16
    w_reg: float = 5.0
    w_rev: float = 10.0
    w_latent: float = 1.0
    mmd_widths: tuple[float, ...] = (0.05, 0.2, 0.9)
    rev_y_noise: float = 1e-4


@dataclass(frozen=True)
class PretrainSchedule:
    """The GVAE's unsupervised pretraining (thesis Table 10): ``train_fraction`` of the space
    trains, the first half of the rest validates (plateau, early stopping), the rest is held out."""

    epochs: int = 500
    batch_size: int = 64
    lr: float = 1e-3
    plateau_factor: float = 0.1
    plateau_patience: int = 50
    min_lr: float = 1e-5
    early_stop: int = 100
    train_fraction: float = 0.8
    train_pool: int = 50_000  # distinct sampled cells split where the space cannot be listed (NB101)


@dataclass(frozen=True)
class LabelledSchedule:
    """A labelled fit of the INN (:class:`~nasgen.generators.inn_training.INNTrainer`): the
    retraining after each round (thesis Table 13: ``epochs`` 50, constant lr, ``early_stop`` 10)
    or, as :class:`FinetuneSettings`, the fine-tuning; ``max_steps`` caps the mini-batches of one
    fit (CPU profile)."""

    epochs: int
    batch_size: int = 64
    lr: float = 1e-3
    plateau_patience: int | None = None  # ReduceLROnPlateau on the validation loss; None: constant lr
    plateau_factor: float = 0.1
    min_lr: float = 1e-5
    early_stop: int = 50
    max_steps: int | None = None


@dataclass(frozen=True)
class FinetuneSettings(LabelledSchedule):
    """The labelled fine-tuning on the initial cells (thesis Table 12), which the search and the
    INN studies both run: its schedule, the mode and how often each labelled cell counts."""

    epochs: int = 500
    plateau_patience: int | None = 25
    mode: str = "e2e"  # e2e: GVAE and INN learn; partial: the GVAE is frozen
    repeat: int = 20  # each labelled cell counts this many times (also the cells queried later)


def _settings(kind: type, values: Mapping | None):
    """A settings dataclass from a (Hydra) mapping; lists become tuples (hashable, JSON-able)."""
    values = dict(values or {})
    try:
        return kind(**{k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
                       for k, v in values.items()})
    except TypeError as exc:
        raise ConfigError(f"generator=inn: {exc}") from None


def sinusoidal_positions(positions: int, dim: int) -> torch.Tensor:
    """``[positions, dim]`` sine (even columns) and cosine (odd columns) position codes."""
    position = torch.arange(positions, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    codes = torch.zeros(positions, dim)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency)[:, : dim // 2]
    return codes


def normalised_mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear + ReLU + BatchNorm per hidden layer, then Linear + ReLU (spektral's GIN MLP)."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU(), nn.BatchNorm1d(n_out)]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]), nn.ReLU())


class GINEncoder(nn.Module):
    """Per-node mean and log-variance ``[B, N, L]`` of a graph's latent code."""

    def __init__(self, num_types: int, settings: EncoderSettings) -> None:
        super().__init__()
        latent, hidden = settings.latent_per_node, list(settings.mlp_hidden)
        widths = [num_types] + [hidden[-1]] * (settings.gin_rounds - 1) + [latent]
        self.rounds = nn.ModuleList(GINConv(normalised_mlp([n_in, *hidden, n_out]), train_eps=True)
                                    for n_in, n_out in zip(widths[:-1], widths[1:]))
        self.norm = nn.BatchNorm1d(latent)
        self.mean = nn.Linear(latent, latent)
        self.logvar = nn.Linear(latent, latent)

    def forward(self, node_features: torch.Tensor, adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, nodes = node_features.shape[:2]
        graphs = sparse_graphs(node_features, torch.maximum(adjacency, adjacency.transpose(1, 2)))
        h = graphs.x
        for gin in self.rounds:
            h = gin(h, graphs.edge_index)
        h = self.norm(h)
        return self.mean(h).view(batch, nodes, -1), self.logvar(h).view(batch, nodes, -1)


class SelfAttention(nn.Module):
    """Multi-head self-attention over a graph's node tokens, heads of any width."""

    def __init__(self, d_model: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.dropout = heads, head_dim, dropout
        self.qkv = nn.Linear(d_model, 3 * heads * head_dim)
        self.out = nn.Linear(heads * head_dim, d_model)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, head_dim={self.head_dim}, dropout={self.dropout}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, nodes, _ = x.shape
        q, k, v = self.qkv(x).view(batch, nodes, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(attended.transpose(1, 2).reshape(batch, nodes, -1))


class PostNormBlock(nn.Module):
    """``x = LN(x + attention(x)); x = LN(x + dropout(FFN(x)))``."""

    def __init__(self, settings: DecoderSettings) -> None:
        super().__init__()
        d = settings.d_model
        self.attention = SelfAttention(d, settings.heads, settings.head_dim, settings.attn_dropout)
        self.feed_forward = nn.Sequential(nn.Linear(d, settings.ffn), nn.ReLU(), nn.Linear(settings.ffn, d),
                                          nn.Dropout(settings.ffn_dropout))
        self.norm_attention, self.norm_feed_forward = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm_attention(x + self.attention(x))
        return self.norm_feed_forward(x + self.feed_forward(x))


class TransformerDecoder(nn.Module):
    """Node latents ``[B, N, L]`` -> type logits ``[B, N, T]`` and two-class edge logits
    ``[B, N, N, 2]`` (class 1: edge ``i -> j``)."""

    def __init__(self, graph: GraphSpec, latent_per_node: int, settings: DecoderSettings) -> None:
        super().__init__()
        self.embed = nn.Linear(latent_per_node, settings.d_model, bias=False)
        self.scale = math.sqrt(settings.d_model)
        self.register_buffer("positions", sinusoidal_positions(graph.max_nodes, settings.d_model), persistent=False)
        self.blocks = nn.ModuleList(PostNormBlock(settings) for _ in range(settings.layers))
        self.node_head = nn.Linear(settings.d_model, graph.num_types)
        self.adjacency_head = nn.Linear(settings.d_model, graph.max_nodes)
        self.edge_classes = nn.Linear(1, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(z) * self.scale + self.positions
        for block in self.blocks:
            h = block(h)
        adjacency = torch.relu(self.adjacency_head(h))
        return self.node_head(h), self.edge_classes(adjacency.unsqueeze(-1))


class ReverseFeatures(Fm.InvertibleModule):
    """Fixed reversal of the feature order (the author's ``shuffle_type='reverse'``)."""

    def forward(self, x: Sequence[torch.Tensor], c: Sequence[torch.Tensor] | None = None, rev: bool = False,
                jac: bool = True) -> tuple[list[torch.Tensor], float]:
        return [x[0].flip(1)], 0.0

    def output_dims(self, input_dims: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        return input_dims


def coupling_subnet(dims_in: int, dims_out: int, layers: int, hidden: int) -> nn.Sequential:
    return mlp([dims_in] + [hidden] * layers + [dims_out])


def invertible_network(dim: int, settings: INNSettings) -> Ff.SequenceINN:
    inn = Ff.SequenceINN(dim)
    subnet = partial(coupling_subnet, layers=settings.subnet_layers, hidden=settings.subnet_hidden)
    for _ in range(settings.blocks):
        inn.append(ReverseFeatures)
        inn.append(Fm.GLOWCouplingBlock, subnet_constructor=subnet, clamp=settings.clamp,
                   clamp_activation=settings.clamp_activation.upper())
    return inn


def inverse_multiquadric_mmd(a: torch.Tensor, b: torch.Tensor, widths: Sequence[float]) -> torch.Tensor:
    """Biased MMD estimate between samples ``a`` and ``b`` ``[B, D]`` under the kernel
    ``sum_w w^2 / (w^2 + |u - v|^2)``."""
    def kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        distances = torch.cdist(u, v).pow(2)
        return sum(w * w / (w * w + distances) for w in widths)
    return kernel(a, a).mean() + kernel(b, b).mean() - 2 * kernel(a, b).mean()


@dataclass
class VAEPass:
    """One pass of target graphs through the GVAE: the encoder mean ``[B, latent_dim]``
    (flattened), the decoded scores and the per-graph GVAE loss ``[B]``."""

    mean: torch.Tensor
    scores: GraphScores
    loss: torch.Tensor


class INNGenerator(nn.Module):
    """Graph VAE + INN for one cell graph (``generator=inn``); see the module docstring."""

    def __init__(self, graph: GraphSpec, encoder: Mapping | None = None, decoder: Mapping | None = None,
                 inn: Mapping | None = None, loss: Mapping | None = None, pretrain: Mapping | None = None,
                 finetune: Mapping | None = None) -> None:
        super().__init__()
        if graph.cells != 1:
            raise ConfigError("generator=inn generates one cell graph; search a space of several cell types "
                              "cell by cell (cell_search.all_searches=true)")
        self.graph = graph
        self.encoder_settings = _settings(EncoderSettings, encoder)
        self.decoder_settings = _settings(DecoderSettings, decoder)
        self.inn_settings = _settings(INNSettings, inn)
        self.loss_settings = _settings(LossSettings, loss)
        self.schedule = _settings(PretrainSchedule, pretrain)
        self.finetune = _settings(FinetuneSettings, finetune)
        if self.finetune.mode not in FINETUNE_MODES:
            raise ConfigError(f"generator.finetune.mode must be {' or '.join(FINETUNE_MODES)}, "
                              f"got {self.finetune.mode!r}")
        self.latent_per_node = self.encoder_settings.latent_per_node
        self.latent_dim = graph.max_nodes * self.latent_per_node
        self.encoder = GINEncoder(graph.num_types, self.encoder_settings)
        self.decoder = TransformerDecoder(graph, self.latent_per_node, self.decoder_settings)
        self.inn = invertible_network(self.latent_dim, self.inn_settings)

    def extra_repr(self) -> str:
        inn = self.inn_settings
        return (f"latent_dim={self.latent_dim}, eps_scale={self.encoder_settings.eps_scale}, "
                f"inn_clamp={inn.clamp} ({inn.clamp_activation})")

    # -- graph VAE ----------------------------------------------------------------
    def node_distribution(self, node_types: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-node mean and log-variance ``[B, N, L]`` of graphs in the layout of ``graph_targets``."""
        features = F.one_hot(node_types, self.graph.num_types).float()
        return self.encoder(features, dense_adjacency(edges, self.graph.max_nodes))

    def encode_distribution(self, node_types: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance ``[B, latent_dim]`` (the node latents flattened, as the INN reads them)."""
        mean, logvar = self.node_distribution(node_types, edges)
        return mean.flatten(1), logvar.flatten(1)

    def encode(self, node_types: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        return self.encode_distribution(node_types, edges)[0]

    def decode_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flattened latents ``[B, latent_dim]`` -> type logits and two-class edge logits."""
        return self.decoder(x.view(len(x), self.graph.max_nodes, self.latent_per_node))

    def scores(self, node_logits: torch.Tensor, edge_classes: torch.Tensor) -> GraphScores:
        rows, cols = torch.triu_indices(self.graph.max_nodes, self.graph.max_nodes, offset=1,
                                        device=edge_classes.device)
        upper = edge_classes[:, rows, cols]
        return GraphScores(node_logits=node_logits, edge_logits=upper[..., 1] - upper[..., 0], graph=self.graph)

    def forward(self, x: torch.Tensor) -> GraphScores:
        return self.scores(*self.decode_logits(x))

    def autoencode(self, node_types: torch.Tensor, edges: torch.Tensor, generator: torch.Generator) -> VAEPass:
        """Encode, reparameterise with noise from ``generator``, decode; the per-graph GVAE loss."""
        mean, logvar = self.node_distribution(node_types, edges)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        z = mean + self.encoder_settings.eps_scale * torch.exp(0.5 * logvar) * noise
        node_logits, edge_classes = self.decoder(z)
        batch, nodes = node_types.shape
        weights = self.loss_settings
        node_loss = F.cross_entropy(node_logits.flatten(0, 1), node_types.flatten(), reduction="none")
        adjacency = dense_adjacency(edges, nodes).long()
        edge_loss = F.cross_entropy(edge_classes.reshape(-1, 2), adjacency.flatten(), reduction="none")
        kl = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(-1).mean(1)
        loss = (weights.w_nodes * node_loss.view(batch, nodes).mean(1)
                + weights.w_edges * edge_loss.view(batch, nodes * nodes).mean(1) + weights.w_kl * kl)
        return VAEPass(mean.flatten(1), self.scores(node_logits, edge_classes), loss)

    def training_loss(self, node_types: torch.Tensor, edges: torch.Tensor,
                      generator: torch.Generator) -> tuple[GraphScores, torch.Tensor]:
        """The GVAE loss ``w_nodes CE(types) + w_edges CE(edges) + w_kl KL`` per graph."""
        vae = self.autoencode(node_types, edges, generator)
        return vae.scores, vae.loss

    # -- invertible network -------------------------------------------------------
    def inn_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes ``[B, latent_dim]`` -> ``[z, y]`` (``y`` last)."""
        return self.inn(x, jac=False)[0]

    def invert(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.inn(torch.cat([z, y.view(-1, 1).to(z)], 1), rev=True, jac=False)[0]

    def predict(self, node_types: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        return self.inn_forward(self.encode(node_types, edges))[:, -1]

    def prior(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` draws of ``z ~ N(0, I)`` ``[count, latent_dim - 1]`` on the model's device."""
        return torch.randn(count, self.latent_dim - 1, generator=generator).to(self.decoder.embed.weight.device)

    @torch.no_grad()
    def generate(self, y: float, count: int, generator: torch.Generator, noise_std: float = 0.0) -> GraphScores:
        z = self.prior(count, generator)
        x = self.invert(torch.full((count,), float(y), device=z.device), z)
        if noise_std > 0:
            x = x + noise_std * torch.randn(x.shape, generator=generator).to(x.device)
        return self(x)

    def regression_terms(self, mean: torch.Tensor, y: torch.Tensor,
                         generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward losses of encoder means ``[B, latent_dim]`` labelled ``y`` ``[B]``: the
        per-sample squared error of ``y_hat`` ``[B]`` and the MMD of ``[z_hat, y_hat]`` to
        ``[z ~ N(0, I), y]`` (a scalar)."""
        out = self.inn_forward(mean)
        target = torch.cat([self.prior(len(y), generator), y.view(-1, 1)], 1)
        return (out[:, -1] - y).pow(2), inverse_multiquadric_mmd(out, target, self.loss_settings.mmd_widths)

    def reverse_loss(self, mean: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-sample MSE ``[B]`` between ``INN^-1([fresh z, y + noise])`` and the encoder means."""
        noisy = y + self.loss_settings.rev_y_noise * torch.randn(y.shape, generator=generator).to(y.device)
        return (self.invert(noisy, self.prior(len(y), generator)) - mean).pow(2).mean(1)

    # -- self-training ------------------------------------------------------------
    def training_settings(self) -> dict:
        """The pretraining schedule and what shapes the GVAE's loss (the INN is not pretrained)."""
        losses = asdict(self.loss_settings)
        return asdict(self.schedule) | {"eps_scale": self.encoder_settings.eps_scale} | {
            k: losses[k] for k in ("w_nodes", "w_edges", "w_kl")}

    def training_split(self, space: SearchSpace, seed: int) -> tuple[list[Arch], list[Arch]]:
        return training_split(space, seed, self.schedule.train_fraction, self.schedule.train_pool)

    def validation_archs(self, space: SearchSpace, seed: int) -> list[Arch]:
        """The first half of the held-out cells: early stopping and the learning-rate plateau."""
        held_out = self.training_split(space, seed)[1]
        return held_out[: len(held_out) // 2]

    def fit(self, space: SearchSpace, seed: int, device: "str | torch.device" = "cpu",
            checkpoint: Path | None = None, train_archs: Sequence[Arch] | None = None) -> dict:
        archs = self.training_split(space, seed)[0] if train_archs is None else list(train_archs)
        return train_vae(self, space, archs, seed, device, checkpoint, valid_archs=self.validation_archs(space, seed))

