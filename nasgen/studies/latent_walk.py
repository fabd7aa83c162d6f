"""Smoothness of an encoding generator's latent space (thesis Figures 4.2 and 4.3, SVGe on NB101).

- PCA grid: the latent means of the labelled cells above ``threshold`` (thesis: NB101 validation
  accuracy above 75 %) give two principal directions; points of a ``[-r, r]^2`` grid around their
  mean (thesis r = 0.3) are decoded (deterministic decoding) and coloured by the table's value
  of the decoded cell, or by the ``predictor``'s (trained on the labelled cells) where the table
  lacks it (NASLib's 500 NB101 cells label few decodes; the NB201 table labels all).
- Great circle: from the encoding ``z0`` of a start cell, a random direction orthogonal to it
  (scaled to ``|z0|``) spans a circle through ``z0`` around the origin; ``walk_points``
  equidistant points on it (thesis 14) are decoded and drawn. How many consecutive decodes differ
  by one edit (one operation or one edge of the graph view; isomorphic cells: none) measures the
  smoothness the thesis shows only as a picture. The thesis starts from a "flat net" it does not
  define; the default start here is the best labelled cell.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from nasgen.benchmarks.base import Benchmark  # noqa: E402
from nasgen.errors import ConfigError  # noqa: E402
from nasgen.evaluation.predictor_quality import write_csv  # noqa: E402
from nasgen.generators.base import EncodingGenerator, graph_targets  # noqa: E402
from nasgen.generators.pretrain import PretrainConfig, built_generator, pretrain  # noqa: E402
from nasgen.objective import Objective  # noqa: E402
from nasgen.predictors.base import Predictor  # noqa: E402
from nasgen.reporting.report import _markdown  # noqa: E402
from nasgen.reporting.results import save_figure, write_json  # noqa: E402
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace  # noqa: E402
from nasgen.studies.base import StudyContext  # noqa: E402
from nasgen.studies.labelled import fit_predict, labelled_archs, require_table  # noqa: E402


class LatentWalkStudy:
    """PCA grid and great-circle walk through a pretrained encoding generator's latent space.

    Args:
        generator: the ``generator`` group's factory (must build an
            :class:`~nasgen.generators.base.EncodingGenerator`); pretrained via ``pretrain``.
        pretrain: the run's pretraining settings.
        predictor: the ``predictor`` group's factory, for grid cells the table lacks.
        threshold: only labelled cells with a search metric above it span the PCA (in the
            metric's unit; thesis: 75 on NB101 validation accuracy in %).
        grid_range, grid_points: the grid ``linspace(-grid_range, grid_range, grid_points)`` on
            both principal directions (thesis: [-0.3, 0.3]).
        walk_points: equidistant points on the great circle (thesis: 14).
        walk_start: the start cell as the space's string; ``None``: the best labelled cell.
    """

    def __init__(self, generator: Callable[[GraphSpec], torch.nn.Module], predictor: Callable[[GraphSpec], Predictor],
                 pretrain: "PretrainConfig | dict | None" = None, threshold: float = 75.0, grid_range: float = 0.3,
                 grid_points: int = 13, walk_points: int = 14, walk_start: str | None = None,
                 device: str = "cpu") -> None:
        if grid_points < 2 or walk_points < 3 or grid_range <= 0:
            raise ConfigError("study latent_walk needs grid_points >= 2, walk_points >= 3 and grid_range > 0")
        self.make_generator, self.make_predictor = generator, predictor
        self.pretrain_config = pretrain if isinstance(pretrain, PretrainConfig) else PretrainConfig(**(pretrain or {}))
        self.threshold, self.grid_range, self.grid_points = threshold, grid_range, grid_points
        self.walk_points, self.walk_start, self.device = walk_points, walk_start, device

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        require_table(benchmark, "latent_walk")
        if not isinstance(built_generator(self.make_generator, space.graph), EncodingGenerator):
            raise ConfigError("study latent_walk walks an encoder's latent space: choose a generator with an "
                              "encoder (generator=svge)")
        if self.walk_start is not None:
            space.from_str(self.walk_start)

    def __call__(self, context: StudyContext) -> dict:
        space, metric = context.space, context.objective.search_metric
        started = time.perf_counter()
        generator, record = pretrain(self.make_generator, space, self.pretrain_config, context.device)
        generator.eval()
        archs, values = labelled_archs(space, context.benchmark, metric, seed=context.seed)
        sign = 1.0 if context.objective.maximize else -1.0
        above = [i for i in range(len(archs)) if sign * values[i] > sign * self.threshold]
        if len(above) < 3:
            raise ConfigError(f"only {len(above)} labelled cells have {metric} beyond {self.threshold}: "
                              f"lower study.threshold")
        codes = self._encode(generator, space, archs)
        table = {space.key(a): float(v) for a, v in zip(archs, values)}
        grid = context.trials.trial("pca_grid", lambda: self._grid(generator, space, codes[above], archs, values,
                                                                    table, context.seed))
        walk = context.trials.trial("great_circle", lambda: self._walk(generator, space, codes, archs, values,
                                                                       sign, context.seed))
        write_csv(grid["rows"], context.run_dir / "latent_grid.csv")
        write_json(context.run_dir / "latent_walk.json", walk)
        self._plot_grid(context.run_dir / "latent_grid.png", grid, metric)
        self._plot_walk(context.run_dir / "latent_walk.png", space, walk)
        summary = self._write(context, grid, walk, len(above), metric)
        outputs = [summary] + [context.run_dir / name for name in
                               ("latent_grid.csv", "latent_grid.png", "latent_walk.json", "latent_walk.png")]
        return {"outputs": [str(p) for p in outputs], "generator": record,
                "smoothness": walk["edits_summary"], "grid_summary": grid["summary"],
                "study_seconds": time.perf_counter() - started}

    def _encode(self, generator: torch.nn.Module, space: SearchSpace, archs: list[Arch]) -> np.ndarray:
        types, edges = graph_targets(space, archs)
        with torch.no_grad():
            return generator.encode(types.to(self.device), edges.to(self.device)).cpu().double().numpy()

    def _decode(self, generator: torch.nn.Module, space: SearchSpace, z: np.ndarray) -> list[Arch | None]:
        with torch.no_grad():
            return generator(torch.as_tensor(z, dtype=torch.float32, device=self.device)).decode(space, sample=False)

    def _grid(self, generator: torch.nn.Module, space: SearchSpace, codes: np.ndarray, archs: list[Arch],
              values: np.ndarray, table: dict, seed: int) -> dict:
        center = codes.mean(0)
        _, singular, directions = np.linalg.svd(codes - center, full_matrices=False)
        steps = np.linspace(-self.grid_range, self.grid_range, self.grid_points)
        a, b = np.meshgrid(steps, steps, indexing="ij")
        z = center + a.reshape(-1, 1) * directions[0] + b.reshape(-1, 1) * directions[1]
        decoded = self._decode(generator, space, z)
        valid = [arch for arch in decoded if arch is not None]
        unlabelled = [arch for arch in valid if space.key(arch) not in table]
        predicted = dict(zip([space.key(arch) for arch in unlabelled], fit_predict(
            self.make_predictor, space.graph, space.encode(archs), values, space.encode(unlabelled), seed))) \
            if unlabelled else {}
        rows = []
        for (u, v), arch in zip(zip(a.ravel(), b.ravel()), decoded):
            key = None if arch is None else space.key(arch)
            source = "invalid" if arch is None else "table" if key in table else "predicted"
            value = table.get(key, predicted.get(key, math.nan)) if arch is not None else math.nan
            rows.append({"pc1": float(u), "pc2": float(v), "arch": "" if arch is None else space.to_str(arch),
                         "value": float(value), "source": source})
        projected = (codes - center) @ directions[:2].T
        explained = (singular[:2] ** 2 / np.sum(singular ** 2)).tolist()
        summary = {"points": len(rows), "valid": len(valid), "distinct": len({space.key(x) for x in valid}),
                   "from_table": sum(r["source"] == "table" for r in rows),
                   "predicted": sum(r["source"] == "predicted" for r in rows),
                   "pca_cells": len(codes), "explained_variance": explained}
        return {"rows": rows, "summary": summary, "projected": projected.tolist()}

    def _walk(self, generator: torch.nn.Module, space: SearchSpace, codes: np.ndarray, archs: list[Arch],
              values: np.ndarray, sign: float, seed: int) -> dict:
        start = space.from_str(self.walk_start) if self.walk_start is not None else archs[int(np.argmax(sign * values))]
        z0 = self._encode(generator, space, [start])[0]
        direction = torch.randn(len(z0), generator=torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()
        direction -= direction @ z0 / (z0 @ z0) * z0
        direction *= np.linalg.norm(z0) / np.linalg.norm(direction)
        angles = 2 * np.pi * np.arange(self.walk_points) / self.walk_points
        z = np.cos(angles)[:, None] * z0 + np.sin(angles)[:, None] * direction
        decoded = self._decode(generator, space, z)
        edits = [_edits(space, decoded[i], decoded[(i + 1) % len(decoded)]) for i in range(len(decoded))]
        counted = [e for e in edits if e is not None]
        summary = {"pairs": len(edits), "unchanged": counted.count(0), "one_edit": counted.count(1),
                   "more_edits": sum(e > 1 for e in counted), "with_invalid": len(edits) - len(counted),
                   "mean_edits": float(np.mean(counted)) if counted else None}
        return {"start": space.to_str(start), "archs": [None if a is None else space.to_str(a) for a in decoded],
                "edits_to_next": edits, "edits_summary": summary, "radius": float(np.linalg.norm(z0))}

    def _write(self, context: StudyContext, grid: dict, walk: dict, above: int, metric: str):
        g, w = grid["summary"], walk["edits_summary"]
        text = (f"# Latent walks (thesis Figures 4.2 and 4.3)\n\n"
                f"PCA of the latent means of {above} labelled cells with {metric} beyond {self.threshold} "
                f"(explained variance of PC1/PC2: {g['explained_variance'][0]:.2f} / "
                f"{g['explained_variance'][1]:.2f}); "
                f"grid [-{self.grid_range}, {self.grid_range}]^2 of {self.grid_points} x {self.grid_points} points, "
                f"deterministic decoding.\n\n"
                + _markdown(["grid points", "valid decodes", "distinct cells", "value from table", "value predicted"],
                            [[str(g["points"]), str(g["valid"]), str(g["distinct"]), str(g["from_table"]),
                              str(g["predicted"])]])
                + f"\n\nGreat circle through the encoding of `{walk['start']}` (radius {walk['radius']:.2f}), "
                  f"{len(walk['archs'])} equidistant points, consecutive decodes compared (the last with the first). "
                  f"The thesis shows this walk as a figure and gives no number.\n\n"
                + _markdown(["pairs", "same cell", "one edit", "more edits", "an invalid decode", "mean edits"],
                            [[str(w["pairs"]), str(w["unchanged"]), str(w["one_edit"]), str(w["more_edits"]),
                              str(w["with_invalid"]), "-" if w["mean_edits"] is None else f"{w['mean_edits']:.2f}"]]))
        return context.write_text("latent_walk.md", text)

    def _plot_grid(self, path, grid: dict, metric: str) -> None:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.2))
        projected = np.array(grid["projected"])
        left.scatter(projected[:, 0], projected[:, 1], s=6, c="tab:gray")
        r = self.grid_range
        left.add_patch(plt.Rectangle((-r, -r), 2 * r, 2 * r, fill=False, color="tab:red"))
        left.set_title("labelled cells above the threshold (PC1/PC2)")
        values = np.array([row["value"] for row in grid["rows"]]).reshape(self.grid_points, self.grid_points)
        image = right.imshow(values.T, origin="lower", extent=(-r, r, -r, r), cmap="viridis")
        fig.colorbar(image, ax=right, label=metric)
        right.set_title("decoded grid (blank: invalid)")
        for ax in (left, right):
            ax.set_xlabel("PC1")
            ax.set_ylabel("PC2")
        save_figure(fig, path)

    @staticmethod
    def _plot_walk(path, space: SearchSpace, walk: dict) -> None:
        columns = math.ceil(len(walk["archs"]) / 2)
        fig, axes = plt.subplots(2, columns, figsize=(2.2 * columns, 5.0))
        names = space.graph.node_types
        for index, (ax, text) in enumerate(zip(axes.ravel(), walk["archs"])):
            ax.set_axis_off()
            ax.set_title(f"{index}", fontsize=8)
            if text is None:
                ax.text(0.5, 0.5, "invalid", ha="center", transform=ax.transAxes)
                continue
            types, adjacency = space.to_graph(space.from_str(text))
            nodes = [v for v in range(len(types)) if v < space.graph.num_inputs or adjacency[:, v].any()
                     or adjacency[v].any()]
            graph = nx.DiGraph([(u, v) for u in nodes for v in nodes if adjacency[u, v]])
            graph.add_nodes_from(nodes)
            position = {v: (0.3 * (v % 2), -v) for v in nodes}
            nx.draw_networkx(graph, position, ax=ax, node_size=160, font_size=5, arrowsize=6,
                             labels={v: names[types[v]][:7] for v in nodes}, node_color="tab:olive",
                             connectionstyle="arc3,rad=0.3")
        save_figure(fig, path)


def _edits(space: SearchSpace, first: Arch | None, second: Arch | None) -> int | None:
    """Operations and edges that differ between two cells' graph views; 0 for isomorphic cells,
    ``None`` when one is invalid."""
    if first is None or second is None:
        return None
    if space.key(first) == space.key(second):
        return 0
    (types_a, adjacency_a), (types_b, adjacency_b) = space.to_graph(first), space.to_graph(second)
    return int(np.sum(np.asarray(types_a) != np.asarray(types_b))
               + np.sum(np.asarray(adjacency_a) != np.asarray(adjacency_b)))
