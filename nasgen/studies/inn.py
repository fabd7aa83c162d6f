"""The INN generator as a predictor and as an inverse model (Chen 2023, Figs 7-12 and 15-17; the
implementer's note, section 2.7): how well its forward direction predicts the accuracy of
held-out cells, and which accuracy the cells have that its inverse direction generates for a
target accuracy.

:class:`INNRegression`, per seed (one :class:`~nasgen.studies.base.TrialStore` trial):

1. the pretrained graph VAE of ``generator=inn`` (label-free, cached by
   :func:`~nasgen.generators.pretrain.pretrain` with ``pretrain_seed``: one per space, shared by
   every seed and dataset, as in the thesis' code);
2. the benchmark's labelled cells, one per isomorphism class, split by the seed into ``train``
   (thesis: 350), ``valid`` (50) and ``test`` cells (10 % of the space: 1,562 on NB201) with
   disjoint classes; sizes >= 1 are counts, sizes below 1 shares of the labelled classes
   (NASLib's 500 NB101 cells are 292 classes: 70 / 10 / 20 % keep the thesis' 350 / 50 / 100
   proportions);
3. the labelled fine-tuning the search starts with, by the generator's own ``finetune``
   settings (``generator.finetune``: mode e2e, each cell x20, epochs of the profile; no rank
   weights) with :class:`~nasgen.generators.inn_training.INNTrainer`, on the objective's search
   metric scaled to fractions (:func:`~nasgen.search.ag_net.target_scale`);
4. regression: the forward prediction of each test cell against its value (Kendall tau,
   Spearman rho, RMSE in the metric's unit);
5. inversion: for (a) each test cell's value and (b) the sweep of targets 0, ``sweep_step``,
   ..., 1 (as fractions; ``sweep_samples`` latent draws each), ``[z ~ N(0, I), y']`` inverted and
   decoded deterministically; the share of valid decodings, of those the share the benchmark
   labels (all on NB201; few of NASLib's partial NB101 table) and the re-simulation error
   ``|y' - y|`` of the labelled ones. The thesis shows both only as figures (no numbers); the
   mean absolute error is also given for the targets within the range of the labelled values,
   since a target outside it (e.g. 100 %) cannot be met by any cell.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from torch import nn  # noqa: E402

from nasgen.benchmarks.base import Benchmark, PartialBenchmark  # noqa: E402
from nasgen.errors import ConfigError  # noqa: E402
from nasgen.evaluation.predictor_quality import METRICS, regression_metrics, split, write_csv  # noqa: E402
from nasgen.generators.base import PerformanceConditionedGenerator, graph_targets  # noqa: E402
from nasgen.generators.inn_training import INNTrainer, labelled_set  # noqa: E402
from nasgen.generators.pretrain import PretrainConfig, built_generator, pretrain  # noqa: E402
from nasgen.objective import Objective  # noqa: E402
from nasgen.reporting.report import _markdown  # noqa: E402
from nasgen.reporting.results import save_figure  # noqa: E402
from nasgen.search.ag_net import target_scale  # noqa: E402
from nasgen.search.common import require_one_cell  # noqa: E402
from nasgen.spaces.base import Arch, GraphSpec, SearchSpace  # noqa: E402
from nasgen.studies.base import StudyContext  # noqa: E402
from nasgen.studies.generator_abilities import decode_latents  # noqa: E402
from nasgen.studies.labelled import require_table  # noqa: E402

# The thesis' figures of these measures (no numbers are given), by space name.
THESIS_FIGURES = {"nb201": {"regression": "Figs 11, 15", "inversion": "Figs 12, 16", "sweep": "Fig. 17"},
                  "nb101": {"regression": "Fig. 7", "inversion": "Fig. 8", "sweep": "Figs 9, 10"}}
INVERSIONS = {"test": "targets = test values", "sweep": "targets = sweep"}
INVERSION_MEASURES = {"validity": "valid decodings", "labelled": "labelled (of valid)",
                      "mae": "re-simulation MAE", "mae_in_range": "MAE, targets in range",
                      "spearman_in_range": "Spearman(y', y), targets in range"}


def _size(value: float | None, classes: int, rest: int) -> int:
    """A count (``value`` >= 1), a share of the labelled classes (below 1) or, ``None``, ``rest``."""
    if value is None:
        return rest
    return int(value) if value >= 1 else int(round(value * classes))


def _known_mean(values: Sequence[float]) -> float | None:
    """Mean of the finite values; ``None`` when there is none (no decoded cell was valid)."""
    known = [v for v in values if np.isfinite(v)]
    return float(np.mean(known)) if known else None


class INNRegression:
    """The INN's regression and inversion on held-out labelled cells (module docstring)."""

    def __init__(self, generator: Callable[[GraphSpec], nn.Module], seeds: Sequence[int] = (0, 1, 2),
                 train: float = 350, valid: float = 50, test: float | None = 1562, pretrain_seed: int = 0,
                 sweep_step: float = 0.005, sweep_samples: int = 1, profile: str | None = None,
                 device: str = "cpu") -> None:
        self.make_generator = generator
        self.seeds = list(seeds)
        self.train, self.valid, self.test = train, valid, test
        self.pretrain_seed, self.profile, self.device = pretrain_seed, profile, device
        if not 0 < sweep_step <= 1 or sweep_samples < 1:
            raise ConfigError(f"the inversion sweep needs 0 < sweep_step <= 1 and sweep_samples >= 1, got "
                              f"{sweep_step} and {sweep_samples}")
        self.sweep = np.repeat(np.round(np.arange(0.0, 1.0 + sweep_step / 2, sweep_step), 6), sweep_samples)

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        require_one_cell(space, "the INN regression study")
        require_table(benchmark, "inn_regression")
        if not isinstance(built_generator(self.make_generator, space.graph), PerformanceConditionedGenerator):
            raise ConfigError("the INN regression study needs a performance-conditioned generator (generator=inn)")

    def __call__(self, context: StudyContext) -> dict:
        metric = context.objective.search_metric
        results = [context.trials.trial(f"seed={seed}", lambda seed=seed: self._trial(context, metric, seed))
                   for seed in self.seeds]
        run_dir, name = context.run_dir, context.space.name
        rows = [r["summary"] for r in results]
        write_csv(rows, run_dir / "inn_regression.csv")
        write_csv([{"seed": r["summary"]["seed"], **row} for r in results for row in r["inversion"]],
                  run_dir / "inversion.csv")
        table = context.write_text("inn_regression.md", self.markdown(name, metric, rows))
        plot_regression(results, metric, run_dir / "inn_regression.png")
        plot_inversion(results, metric, run_dir / "inn_inversion.png")
        summary = {m: _known_mean([r[m] for r in rows]) for m in rows[0] if isinstance(rows[0][m], float)}
        return {"outputs": [str(run_dir / f) for f in ("inn_regression.csv", "inversion.csv", "inn_regression.png",
                                                      "inn_inversion.png")] + [str(table)],
                "inn_regression": summary}

    def _trial(self, context: StudyContext, metric: str, seed: int) -> dict:
        space, benchmark, device = context.space, context.benchmark, self.device
        started = time.perf_counter()
        model, record = pretrain(self.make_generator, space, replace(PretrainConfig(), seed=self.pretrain_seed),
                                 device)
        pretrained = time.perf_counter()
        archs = benchmark.archs()
        values = np.asarray(benchmark.query(archs, metric), dtype=np.float64)
        classes = len({space.key(archs[i]) for i in np.flatnonzero(np.isfinite(values))})
        n_train, n_valid = _size(self.train, classes, 0), _size(self.valid, classes, 0)
        n_test = _size(self.test, classes, classes - n_train - n_valid)
        fitted, test = split(space, archs, values, n_test, n_train + n_valid, seed)
        scale = target_scale(benchmark, metric, values[np.isfinite(values)])

        settings = model.finetune

        def labelled(cells: list[Arch]):
            return labelled_set(space, cells, benchmark.query(cells, metric) * scale, settings.repeat)

        trainer = INNTrainer(model, mode=settings.mode, lr=settings.lr, device=device)
        fit = trainer.fit(labelled(fitted[:n_train]), labelled(fitted[n_train:]), settings, rank_k=None,
                          generator=torch.Generator().manual_seed(seed))
        finetuned = time.perf_counter()
        model.eval()
        true = np.asarray(benchmark.query(test, metric), dtype=np.float64)
        types, edges = graph_targets(space, test)
        with torch.no_grad():
            predicted = model.predict(types.to(device), edges.to(device)).cpu().numpy().astype(np.float64) / scale
        rng = torch.Generator().manual_seed(seed)
        label_range = (float(np.nanmin(values)), float(np.nanmax(values)))
        inversion = {kind: self._invert(model, space, benchmark, metric, targets, scale, label_range, rng)
                     for kind, targets in (("test", true * scale), ("sweep", self.sweep))}
        summary = {"seed": seed, "train": n_train, "valid": n_valid, "test": n_test,
                   **regression_metrics(predicted, true),
                   **{f"{kind}_{m}": value for kind, (stats, _) in inversion.items() for m, value in stats.items()},
                   "pretrain_source": record["source"], "pretrain_epochs": record.get("epochs"),
                   "finetune_mode": settings.mode, "finetune_repeat": settings.repeat,
                   "finetune_max_epochs": settings.epochs, "finetune_epochs": fit["epochs"],
                   "finetune_steps": fit["steps"], "finetune_stopped": fit.get("stopped"), "profile": self.profile,
                   "pretrain_seconds": pretrained - started,
                   "finetune_seconds": finetuned - pretrained, "measure_seconds": time.perf_counter() - finetuned}
        return {"summary": summary, "range": label_range,
                "regression": {"predicted": predicted.tolist(), "true": true.tolist()},
                "inversion": [{"kind": kind, **row} for kind, (_, rows) in inversion.items() for row in rows]}

    def _invert(self, model: nn.Module, space: SearchSpace, benchmark: Benchmark, metric: str, targets: np.ndarray,
                scale: float, label_range: tuple[float, float], rng: torch.Generator) -> tuple[dict, list[dict]]:
        """Decodings of ``[z ~ N(0, I), y']`` for the fractions ``targets``: summary and one row each."""
        y = torch.as_tensor(targets, dtype=torch.float32)
        z = torch.randn(len(y), model.latent_dim - 1, generator=rng)
        with torch.no_grad():
            decoded = decode_latents(model, space, model.invert(y.to(self.device), z.to(self.device)))
        valid = [a is not None for a in decoded]
        cells = [a for a in decoded if a is not None]
        known = (benchmark.evaluable(cells) if isinstance(benchmark, PartialBenchmark)
                 else np.ones(len(cells), dtype=bool))
        values = np.full(len(cells), np.nan)
        if known.any():
            values[known] = benchmark.query([c for c, k in zip(cells, known) if k], metric)
        found = iter(values)
        outcome = np.array([next(found) if ok else np.nan for ok in valid])
        wanted = np.asarray(targets, dtype=np.float64) / scale
        labelled = np.isfinite(outcome)
        in_range = labelled & (wanted >= label_range[0]) & (wanted <= label_range[1])
        errors = np.abs(wanted - outcome)
        stats = {"validity": float(np.mean(valid)), "labelled": float(labelled.sum() / max(sum(valid), 1)),
                 "mae": float(errors[labelled].mean()) if labelled.any() else float("nan"),
                 "mae_in_range": float(errors[in_range].mean()) if in_range.any() else float("nan"),
                 "spearman_in_range": (float(spearmanr(wanted[in_range], outcome[in_range])[0])
                                       if in_range.sum() > 2 else float("nan"))}
        rows = [{"target": float(t), "decoded": space.to_str(a) if a is not None else "", "true": float(v),
                 "valid": a is not None} for t, a, v in zip(wanted, decoded, outcome)]
        return stats, rows

    def markdown(self, space_name: str, metric: str, rows: Sequence[dict]) -> str:
        def cell(measure: str, digits: int) -> str:
            values = np.array([r[measure] for r in rows], dtype=np.float64)
            if np.isnan(values).all():
                return "-"
            mean = f"{np.nanmean(values):.{digits}f}"
            return mean if len(values) == 1 else f"{mean} ± {np.nanstd(values):.{digits}f}"

        figures = THESIS_FIGURES.get(space_name, {})
        body = [[title, cell(m, 2 if m == "rmse" else 3), f"figure only ({figures.get('regression', '-')})"]
                for m, title in METRICS.items()]
        for kind, label in INVERSIONS.items():
            figure = figures.get("inversion" if kind == "test" else "sweep", "-")
            body += [[f"{title} ({label})", cell(f"{kind}_{m}", 2 if m.startswith("mae") else 3),
                      f"figure only ({figure})"] for m, title in INVERSION_MEASURES.items()]
        first = rows[0]
        notes = (
            f"{metric} on {space_name}, {len(rows)} seed(s) (mean ± std over seeds). Per seed: "
            f"{first['train']} training + {first['valid']} validation cells (each x{first['finetune_repeat']}) "
            f"fine-tune the INN ({first['finetune_mode']}, at most {first['finetune_max_epochs']} epochs, ran "
            f"{', '.join(str(r['finetune_epochs']) for r in rows)}; profile {self.profile}) on "
            f"the graph VAE pretrained once (seed {self.pretrain_seed}, source {first['pretrain_source']}, "
            f"{first['pretrain_epochs']} epochs); {first['test']} test cells of other isomorphism classes. RMSE "
            f"and MAE in the metric's unit. Inversion: one z ~ N(0, I) per target, decoded by argmax; "
            f"'labelled': decoded cells the benchmark holds a value for; MAE = |y' - y| over those; 'in range': "
            f"targets within the labelled values. The thesis (350 / 50 / 10 % of the space) shows these only "
            f"as figures. Seconds per seed: pretraining {np.mean([r['pretrain_seconds'] for r in rows]):.0f}, "
            f"fine-tuning {np.mean([r['finetune_seconds'] for r in rows]):.0f}, measuring "
            f"{np.mean([r['measure_seconds'] for r in rows]):.0f}.")
        return (f"# INN regression and inversion ({space_name})\n\n"
                f"{_markdown(['measure', 'ours', 'thesis'], body)}\n\n{notes}\n")


def plot_regression(results: Sequence[dict], metric: str, path) -> None:
    """Predicted against true value of the test cells, one colour per seed."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for result in results:
        ax.scatter(result["regression"]["true"], result["regression"]["predicted"], s=3, alpha=0.4,
                   label=f"seed {result['summary']['seed']}")
    low, high = results[0]["range"]
    ax.plot([low, high], [low, high], "k--", lw=0.8)
    ax.set_xlabel(f"true {metric}")
    ax.set_ylabel("INN prediction")
    ax.legend(fontsize=7, markerscale=3)
    save_figure(fig, path)


def plot_inversion(results: Sequence[dict], metric: str, path) -> None:
    """True value of the decoded cell against the target: test values and the sweep, with the
    range of the benchmark's values."""
    fig, axes = plt.subplots(1, len(INVERSIONS), figsize=(5.0 * len(INVERSIONS), 4.0))
    low, high = results[0]["range"]
    for ax, (kind, label) in zip(axes, INVERSIONS.items()):
        for result in results:
            rows = [r for r in result["inversion"] if r["kind"] == kind and np.isfinite(r["true"])]
            ax.scatter([r["target"] for r in rows], [r["true"] for r in rows], s=4, alpha=0.5,
                       label=f"seed {result['summary']['seed']}")
        ax.axhspan(low, high, color="grey", alpha=0.12, label="benchmark's values")
        lower, upper = ax.get_xlim()
        ax.plot([max(lower, low), min(upper, high)], [max(lower, low), min(upper, high)], "k--", lw=0.8)
        ax.set_xlabel(f"target y' ({metric})")
        ax.set_ylabel("true value of the decoded cell")
        ax.set_title(label)
        ax.legend(fontsize=7, markerscale=2)
    save_figure(fig, path)
