"""Abilities of graph generators in one table (thesis Table 4.1) and the isomorphism check of an
encoder (thesis Section 4.3).

:class:`GeneratorAbilities` measures every generator it is given (``generators``: name ->
factory, e.g. SVGe, the INN's graph VAE and AG-Net), per seed:

- reconstruction accuracy on held-out cells, for a generator with an encoder: each cell is
  encoded to the mean of ``q(z | G)`` and, where the encoder gives the posterior
  (:class:`~nasgen.generators.base.VariationalEncoder`), to ``encodings`` draws ``z ~ q(z | G)``,
  each decoded once by argmax (SVGe and the INN's transformer decode deterministically, so
  D-VAE's 10 decodings per ``z`` would repeat one graph 10 times); a cell counts as
  reconstructed when the decoded graph is the cell itself. A generator without an encoder
  (AG-Net) has none ("-"); :mod:`nasgen.evaluation.generator_quality` inverts AG-Net by
  optimising latent vectors instead, a different measure that does not belong in this column;
- validity, uniqueness and novelty of ``prior_samples`` decodings of ``z ~ N(0, I)``, once each,
  with :func:`~nasgen.evaluation.generator_quality.generation_metrics`: exact cells, and
  isomorphism classes in the ``_iso`` columns. Generators named in ``sampled_decoding`` decode by
  sampling their scores, as their search does (AG-Net), the others by argmax.

A generator that trains itself (:class:`~nasgen.generators.base.SelfTrainingGenerator`) is
trained per seed on its own training split (cached), and novelty counts cells outside it.
Another one (AG-Net) is taken as :func:`~nasgen.generators.pretrain.pretrain` gives it with the
default settings (the generator shipped with nasgen); it was trained on draws from the whole
space, so its novelty is measured against the seed's 90 % split of
:func:`~nasgen.generators.splits.training_split`, i.e. the share of decoded cells outside that
set, not of cells it never saw.

:class:`IsomorphismCheck`: distinct sampled cells with all ``max_nodes`` nodes, each with every
reordering of its inner nodes that keeps the adjacency upper triangular (another topological
order) and changes the graph layout, make pairs of isomorphic graphs until there are ``pairs``
(thesis: 11,606 pairs of 7-node NB101 cells, 100 % identical); the share of pairs whose latent
means agree to ``tolerance`` (max abs difference) is reported. The benchmark's labelled NB101
cells cannot serve: of NASLib's 292 distinct ones a single cell has 7 nodes.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Callable, Iterator, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from nasgen.benchmarks.base import Benchmark  # noqa: E402
from nasgen.errors import ConfigError  # noqa: E402
from nasgen.evaluation.generator_quality import PAPER as AG_NET_PAPER  # noqa: E402
from nasgen.evaluation.generator_quality import generation_metrics  # noqa: E402
from nasgen.evaluation.predictor_quality import write_csv  # noqa: E402
from nasgen.generators.base import (  # noqa: E402
    EncodingGenerator,
    SelfTrainingGenerator,
    VariationalEncoder,
    graph_targets,
)
from nasgen.generators.pretrain import PretrainConfig, built_generator, pretrain  # noqa: E402
from nasgen.generators.splits import training_split  # noqa: E402
from nasgen.generators.svge import cell_lengths  # noqa: E402
from nasgen.objective import Objective  # noqa: E402
from nasgen.reporting.report import _markdown  # noqa: E402
from nasgen.reporting.results import save_figure  # noqa: E402
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace  # noqa: E402
from nasgen.studies.base import StudyContext  # noqa: E402

MEASURES = {"reconstruction": "Accuracy", "validity": "Validity", "uniqueness": "Uniqueness", "novelty": "Novelty"}
# Thesis Table 4.1 (%), by space name; AG-Net's row: the AG-Net thesis' Table 5.6 (no reconstruction).
PAPER = {
    "nb201": {"arch2vec": (99.99, 95.93, 7.33, 13.26), "DGMG": (99.97, 100.00, 5.35, 12.62),
              "SVGe": (99.99, 100.00, 8.28, 10.24)},
    "nb101": {"D-VAE": (25.89, 82.55, 19.84, 16.52), "arch2vec": (98.84, 43.70, 10.00, 82.84),
              "DGMG": (99.99, 89.70, 29.24, 16.72), "SVGe": (99.57, 79.16, 32.10, 16.37)},
}
DECODE_CHUNK = 2048


def trained_generator(factory: Callable[[GraphSpec], nn.Module], space: SearchSpace, seed: int,
                      device: str) -> tuple[nn.Module, dict]:
    """The generator of ``factory``, pretrained (cached): one that trains itself by its own schedule
    with ``seed``, another one with the default pretraining settings; and its record."""
    trains_itself = isinstance(built_generator(factory, space.graph), SelfTrainingGenerator)
    generator, record = pretrain(factory, space, replace(PretrainConfig(), seed=seed if trains_itself else 0),
                                 device)
    generator.eval()
    return generator, record


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean of the known values (uniqueness and novelty are unknown when nothing decoded is valid)."""
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _require_one_cell(space: SearchSpace, study: str) -> None:
    if space.graph.cells > 1:
        raise ConfigError(f"{study} measures one-cell graphs; {space.name} has {space.graph.cells} cells per "
                          "architecture")


@torch.no_grad()
def decode_latents(generator: nn.Module, space: SearchSpace, z: torch.Tensor, sample: bool = False,
                   rng: torch.Generator | None = None) -> list[Arch | None]:
    """The cells ``generator`` decodes from latent vectors ``z`` (argmax, or sampled with ``rng``), in chunks."""
    return [a for chunk in z.split(DECODE_CHUNK) for a in generator(chunk).decode(space, sample, rng)]


@torch.no_grad()
def _latent_distribution(generator: VariationalEncoder, space: SearchSpace, archs: Sequence[Arch],
                         device: str) -> tuple[torch.Tensor, torch.Tensor]:
    types, edges = graph_targets(space, archs)
    parts = [generator.encode_distribution(t.to(device), e.to(device))
             for t, e in zip(types.split(DECODE_CHUNK), edges.split(DECODE_CHUNK))]
    return torch.cat([m for m, _ in parts]), torch.cat([v for _, v in parts])


def _share_rebuilt(decoded: Sequence[Arch | None], targets: Sequence[Arch]) -> float:
    return float(np.mean([d == t for d, t in zip(decoded, targets)]))


class GeneratorAbilities:
    """Thesis Table 4.1 for several generators (module docstring)."""

    def __init__(self, generators: Mapping[str, Callable[[GraphSpec], nn.Module]],
                 seeds: Sequence[int] = (0, 1, 2), prior_samples: int = 1000, encodings: int = 10,
                 held_out: int | None = None, sampled_decoding: Sequence[str] = (), device: str = "cpu") -> None:
        if not generators:
            raise ConfigError("the generator abilities study needs at least one generator (study.generators)")
        unknown = sorted(set(sampled_decoding) - set(generators))
        if unknown:
            raise ConfigError(f"study.sampled_decoding names {', '.join(unknown)}, not among the generators "
                              f"{', '.join(generators)}")
        self.generators = dict(generators)
        self.seeds = list(seeds)
        self.prior_samples, self.encodings, self.held_out = prior_samples, encodings, held_out
        self.sampled_decoding = set(sampled_decoding)
        self.device = device

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        _require_one_cell(space, "the generator abilities study")
        for factory in self.generators.values():
            built_generator(factory, space.graph)

    def __call__(self, context: StudyContext) -> dict:
        rows = [context.trials.trial(f"generator={name},seed={seed}",
                                     lambda name=name, seed=seed: self._trial(context.space, name, seed))
                for name in self.generators for seed in self.seeds]
        space_name = context.space.name
        write_csv(rows, context.run_dir / "vae_abilities.csv")
        table = context.write_text("vae_abilities.md", self.markdown(space_name, rows))
        self.plot(space_name, rows, context.run_dir / "vae_abilities.png")
        summary = {name: {m: _mean([r[m] for r in rows if r["generator"] == name])
                          for m in (*MEASURES, "reconstruction_sampled")} for name in self.generators}
        return {"outputs": [str(context.run_dir / f) for f in ("vae_abilities.csv", "vae_abilities.png")]
                + [str(table)], "abilities": summary}

    def _trial(self, space: SearchSpace, name: str, seed: int) -> dict:
        started = time.perf_counter()
        generator, record = trained_generator(self.generators[name], space, seed, self.device)
        trained = time.perf_counter()
        trains_itself = isinstance(generator, SelfTrainingGenerator)
        train, held_out = generator.training_split(space, seed) if trains_itself else training_split(space, seed)
        held_out = held_out[:self.held_out]
        rng = torch.Generator().manual_seed(seed)
        reconstruction: dict[str, float | None] = {"reconstruction": None, "reconstruction_sampled": None}
        if isinstance(generator, VariationalEncoder):
            mean, logvar = _latent_distribution(generator, space, held_out, self.device)
            noise = torch.randn((self.encodings, *mean.shape), generator=rng).to(mean.device)
            sampled = (mean + torch.exp(0.5 * logvar) * noise).flatten(0, 1)  # encoding-major
            reconstruction = {
                "reconstruction": _share_rebuilt(decode_latents(generator, space, mean), held_out),
                "reconstruction_sampled": _share_rebuilt(decode_latents(generator, space, sampled),
                                                         held_out * self.encodings)}
        elif isinstance(generator, EncodingGenerator):
            types, edges = graph_targets(space, held_out)
            with torch.no_grad():
                mean = generator.encode(types.to(self.device), edges.to(self.device))
            reconstruction["reconstruction"] = _share_rebuilt(decode_latents(generator, space, mean), held_out)
        sampled_decoding = name in self.sampled_decoding
        prior = decode_latents(generator, space, torch.randn(self.prior_samples, generator.latent_dim,
                                                             generator=rng).to(self.device), sampled_decoding, rng)
        generation = generation_metrics(prior, set(train), {space.key(a) for a in train}, space.key)
        return {
            "generator": name, "seed": seed, "train_size": len(train), "held_out": len(held_out),
            "encodings": self.encodings, "prior_samples": self.prior_samples,
            "decoding": "sampled" if sampled_decoding else "argmax", **reconstruction,
            **{k: generation[k] for k in ("validity", "uniqueness", "uniqueness_iso", "novelty", "novelty_iso")},
            "epochs": record.get("epochs"), "training_source": record["source"],
            "training_seconds": record.get("seconds"), "seconds_per_epoch": record.get("seconds_per_epoch"),
            "measure_seconds": time.perf_counter() - trained, "trial_seconds": time.perf_counter() - started,
        }

    def markdown(self, space_name: str, rows: Sequence[dict]) -> str:
        def cell(values: list[float | None]) -> str:
            known = [100 * v for v in values if v is not None]
            if len(values) == 1:
                return f"{known[0]:.2f}" if known else "-"
            return f"{np.mean(known):.2f} ± {np.std(known):.2f}" if known else "-"

        body, notes = [], []
        for name in self.generators:
            mine = [r for r in rows if r["generator"] == name]
            seeds = f"seed {mine[0]['seed']}" if len(mine) == 1 else f"mean ± std, {len(mine)} seeds"
            body.append([f"ours {name} ({seeds})", *(cell([r[m] for r in mine]) for m in MEASURES)])
            first = mine[0]
            trained = (f"trained on {first['train_size']} cells, {first['epochs']} epochs, "
                       f"{np.mean([r['seconds_per_epoch'] or 0 for r in mine]):.1f} s per epoch"
                       if first["epochs"] is not None else f"{first['training_source']} generator")
            sampled = ("" if first["reconstruction_sampled"] is None else
                       f"; {first['encodings']} draws z ~ q(z|G) per held-out cell: "
                       f"{cell([r['reconstruction_sampled'] for r in mine])}")
            notes.append(f"- {name}: {trained}; {first['decoding']} decoding of {first['prior_samples']} prior "
                         f"samples; {first['held_out']} held-out cells{sampled}; per isomorphism class uniqueness "
                         f"{cell([r['uniqueness_iso'] for r in mine])}, novelty "
                         f"{cell([r['novelty_iso'] for r in mine])}.")
        body += [[f"thesis {method}", *(f"{v:.2f}" for v in values)]
                 for method, values in PAPER.get(space_name, {}).items()]
        if space_name in AG_NET_PAPER:
            body.append(["AG-Net thesis (Table 5.6)", "-",
                         *(f"{100 * AG_NET_PAPER[space_name][m]:.2f}" for m in ("validity", "uniqueness", "novelty"))])
        header = (f"Table 4.1 layout on {space_name} (%). Accuracy: held-out cells encoded to the mean of q(z|G) and "
                  f"decoded once (the graph itself = reconstructed; '-': no encoder). Validity / uniqueness / novelty: "
                  f"z ~ N(0, I) decoded once each (D-VAE: 1,000 z x 10 stochastic decodings), uniqueness and "
                  f"novelty per exact cell. Thesis rows: its schedules (SVGe 300 epochs).")
        return (f"# Generator abilities ({space_name})\n\n{_markdown(['model', *MEASURES.values()], body)}\n\n"
                f"{header}\n\n" + "\n".join(notes) + "\n")

    def plot(self, space_name: str, rows: Sequence[dict], path) -> None:
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        positions = np.arange(len(MEASURES))
        bars = [(f"ours {name}", np.array([[100 * (r[m] or 0) for m in MEASURES]
                                           for r in rows if r["generator"] == name])) for name in self.generators]
        if "SVGe" in PAPER.get(space_name, {}):
            bars.append(("thesis SVGe", np.array([PAPER[space_name]["SVGe"]])))
        width = 0.8 / len(bars)
        for i, (label, values) in enumerate(bars):
            ax.bar(positions + (i - (len(bars) - 1) / 2) * width, values.mean(0), width, yerr=values.std(0),
                   label=label)
        ax.set_xticks(positions, list(MEASURES.values()))
        ax.set_ylabel("%")
        ax.set_title(f"Generator abilities on {space_name}")
        ax.legend(fontsize=8)
        save_figure(fig, path)


def isomorphic_relabellings(types: np.ndarray, adjacency: np.ndarray, length: int,
                            given: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every graph made by reordering the inner nodes (after the ``given`` inputs, before the
    output at ``length - 1``) of one graph so that its edges still go forward, differing from it."""
    results = []
    for inner in itertools.permutations(range(given, length - 1)):
        order = np.array([*range(given), *inner, *range(length - 1, len(types))])
        moved = adjacency[np.ix_(order, order)]
        if np.tril(moved).any() or (np.array_equal(moved, adjacency) and np.array_equal(types[order], types)):
            continue
        results.append((types[order], moved))
    return results


class IsomorphismCheck:
    """Isomorphic graphs to identical latent means (module docstring)."""

    def __init__(self, generator: Callable[[GraphSpec], nn.Module], seed: int = 0, pairs: int = 11_606,
                 tolerance: float = 1e-5, device: str = "cpu") -> None:
        self.make_generator = generator
        self.seed, self.pairs, self.tolerance, self.device = seed, pairs, tolerance, device

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        _require_one_cell(space, "the isomorphism check")
        if not isinstance(built_generator(self.make_generator, space.graph), EncodingGenerator):
            raise ConfigError("the isomorphism check needs a generator with an encoder (generator=svge)")

    def __call__(self, context: StudyContext) -> dict:
        result = context.trials.trial(f"seed={self.seed}", lambda: self._trial(context.space))
        rows = [{"cell": c, "pairs": p, "identical": i, "max_difference": d} for c, p, i, d in result["per_cell"]]
        write_csv(rows, context.run_dir / "isomorphism.csv")
        table = context.write_text("isomorphism.md", self.markdown(context.space.name, result))
        self.plot(result, context.run_dir / "isomorphism.png")
        return {"outputs": [str(context.run_dir / "isomorphism.csv"), str(table),
                            str(context.run_dir / "isomorphism.png")],
                "isomorphism": {k: v for k, v in result.items() if k != "per_cell"}}

    def pair_source(self, space: SearchSpace) -> Iterator[tuple[str, np.ndarray, np.ndarray, list]]:
        """Distinct sampled cells with all ``max_nodes`` nodes that have other topological orders:
        ``(cell string, types, edges, relabellings)``."""
        rng = np.random.default_rng(self.seed)
        graph, seen = space.graph, set()
        rows, cols = np.triu_indices(graph.max_nodes, k=1)
        while True:
            fresh = [a for a in space.sample(1000, rng) if space.key(a) not in seen]
            if not fresh:
                raise ConfigError(f"{space.name}'s sampler gives no new cells after {len(seen)}; ask for fewer "
                                  f"than {self.pairs} pairs")
            for arch in fresh:
                seen.add(space.key(arch))
                types, adjacency = space.to_graph(arch)
                if int(cell_lengths(torch.as_tensor(types)[None], graph)[0]) < graph.max_nodes:
                    continue
                variants = isomorphic_relabellings(types, adjacency.astype(np.float32), graph.max_nodes,
                                                   graph.num_inputs)
                if variants:
                    yield space.to_str(arch), types, adjacency[rows, cols].astype(np.float32), variants

    def _trial(self, space: SearchSpace) -> dict:
        started = time.perf_counter()
        generator, record = trained_generator(self.make_generator, space, self.seed, self.device)
        rows, cols = np.triu_indices(space.graph.max_nodes, k=1)
        per_cell, pairs = [], 0
        for name, types, edges, variants in self.pair_source(space):
            variants = variants[:self.pairs - pairs]
            graph_types = torch.as_tensor(np.stack([types] + [t for t, _ in variants]))
            graph_edges = torch.as_tensor(np.stack([edges] + [a[rows, cols] for _, a in variants]))
            with torch.no_grad():
                means = generator.encode(graph_types.to(self.device), graph_edges.to(self.device)).cpu()
            differences = (means[1:] - means[0]).abs().amax(1)
            per_cell.append((name, len(variants), int((differences < self.tolerance).sum()),
                             float(differences.max())))
            pairs += len(variants)
            if pairs >= self.pairs:
                break
        identical = sum(i for _, _, i, _ in per_cell)
        return {"nodes": space.graph.max_nodes, "cells": len(per_cell), "pairs": pairs, "identical": identical,
                "share": identical / max(pairs, 1), "tolerance": self.tolerance,
                "max_difference": max((d for *_, d in per_cell), default=0.0), "per_cell": per_cell,
                "training_source": record["source"], "seconds": time.perf_counter() - started}

    @staticmethod
    def markdown(space_name: str, result: dict) -> str:
        body = [["ours", f"{result['nodes']}-node sampled cells", str(result["pairs"]),
                 f"{100 * result['share']:.2f}", f"{result['max_difference']:.2e}"],
                ["thesis SVGe", "7-node NB101 cells", "11606", "100.00", "-"]]
        return (f"# Isomorphic graphs to identical embeddings ({space_name})\n\n"
                + _markdown(["model", "graphs", "pairs", "identical (%)", "max abs difference"], body)
                + f"\n\nA pair: one of {result['cells']} distinct sampled {result['nodes']}-node cells and another "
                  f"topological order of its inner nodes (a different graph layout, the same cell). Identical: "
                  f"the latent means differ by less than {result['tolerance']:g} in every coordinate.\n")

    @staticmethod
    def plot(result: dict, path) -> None:
        fig, ax = plt.subplots(figsize=(5, 3.4))
        differences = [d for *_, d in result["per_cell"]]
        ax.hist(np.log10(np.maximum(differences, 1e-12)), bins=30)
        ax.axvline(np.log10(result["tolerance"]), color="k", ls="--", label="tolerance")
        ax.set_xlabel("log10 max abs difference of latent means (per cell)")
        ax.set_ylabel("cells")
        ax.legend(fontsize=8)
        save_figure(fig, path)
