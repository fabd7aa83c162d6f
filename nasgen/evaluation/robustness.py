"""Robustness of a trained network, as collected for the NB201 robustness dataset (Lukasik
thesis 2023, Chapter 7 and Appendix C): clean accuracy, adversarial attacks
(:mod:`nasgen.evaluation.attacks`), common corruptions (:mod:`nasgen.evaluation.corruptions`)
and training-free measures (:mod:`nasgen.evaluation.training_free`).

:func:`evaluate_robustness` evaluates any model on given data; :class:`RobustnessSuite` is the
evaluation suite that runs it on the best architecture of a search, for benchmarks that can
hand out trained models (``load_model``), writes ``robustness.json``,
``robustness_attacks.png`` and ``robustness_corruptions.png`` to the run directory and logs a
compact summary. Accuracies and confidences are fractions in [0, 1] in the results; plots and
log lines show them in %, like every other accuracy of nasgen. Epsilons are in units of 1/255.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from nasgen.benchmarks.robustness import (  # noqa: E402
    ADVERSARIAL_MEAN_DEFINITION,
    ADVERSARIAL_MEAN_MAX_EPS,
    adversarial_means,
)
from nasgen.errors import ConfigError  # noqa: E402
from nasgen.evaluation.attacks import (  # noqa: E402
    ATTACK_OPTIONS,
    Tally,
    attack_options,
    evaluate_attacks,
    inference_mode,
    model_device,
)
from nasgen.evaluation.corruptions import CORRUPTIONS, SEVERITIES, check_corruption, evaluate_corruptions  # noqa: E402
from nasgen.evaluation.training_free import training_free_measures  # noqa: E402
from nasgen.reporting.console import format_value  # noqa: E402
from nasgen.reporting.results import save_figure, write_json  # noqa: E402
from nasgen.search.oracle import Oracle  # noqa: E402

log = logging.getLogger(__name__)

DEFAULT_CORRUPTIONS: dict[str, Any] = {"names": list(CORRUPTIONS), "severities": list(SEVERITIES),
                                       "max_samples": None}
DEFAULT_MEASURES: dict[str, Any] = {"batches": 10, "batch_size": 256, "n_projections": 1, "hessian_iterations": 20,
                                    "hessian_tol": 1e-3, "random_init": True}
# The epsilon (in 1/255) at which the console summary names each attack's accuracy: the
# robustness dataset's headline value, also the default column of `nasgen report`.
SUMMARY_EPSILON = 1.0


@runtime_checkable
class ModelBenchmark(Protocol):
    """A benchmark that trains its architectures and hands out the trained networks."""

    @property
    def dataset(self) -> str: ...

    @property
    def num_classes(self) -> int: ...

    def load_model(self, arch: Any) -> nn.Module:
        """The trained network of ``arch``: eval mode, takes images in [0, 1], returns logits."""

    def evaluation_data(self, split: str = "test", max_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] ``(N, C, H, W)`` and labels of ``split`` (the first ``max_samples``)."""


def _settings(part: str, given: Mapping | None, defaults: Mapping) -> dict:
    unknown = set(given or {}) - set(defaults)
    if unknown:
        raise ConfigError(f"unknown {part} setting(s) {', '.join(sorted(unknown))}; valid: {', '.join(defaults)}")
    return {**defaults, **(given or {})}


def _check_samples(what: str, value: Any) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ConfigError(f"{what} must be a positive integer or null, got {value!r}")


def check_settings(attacks: Mapping[str, Mapping | None] | None, corruptions: Mapping | None,
                   measures: Mapping | None) -> tuple[dict | None, dict | None, dict | None]:
    """The three parts' settings completed with their defaults (``None``: part skipped);
    raises a :class:`ConfigError` for anything invalid, before any evaluation runs."""
    attack_settings = None if attacks is None else {
        name: attack_options(name, options) for name, options in attacks.items() if options is not None}
    corruption_settings = None if corruptions is None else _settings("corruptions", corruptions, DEFAULT_CORRUPTIONS)
    if corruption_settings is not None:
        for name in corruption_settings["names"]:
            for severity in corruption_settings["severities"]:
                check_corruption(name, severity)
        _check_samples("corruptions.max_samples", corruption_settings["max_samples"])
    measure_settings = None if measures is None else _settings("measures", measures, DEFAULT_MEASURES)
    if measure_settings is not None:
        for key in ("batches", "batch_size", "n_projections", "hessian_iterations"):
            if not isinstance(measure_settings[key], int) or measure_settings[key] < 1:
                raise ConfigError(f"measures.{key} must be a positive integer, got {measure_settings[key]!r}")
    return attack_settings, corruption_settings, measure_settings


def evaluate_clean(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, num_classes: int | None = None,
                   batch_size: int = 256) -> dict:
    """Accuracy, mean confidence and confusion matrix on ``(x, y)`` as given."""
    tally, device = Tally(num_classes), model_device(model)
    with inference_mode(model), torch.no_grad():
        for start in range(0, len(x), batch_size):
            tally.update(model(x[start:start + batch_size].to(device)), y[start:start + batch_size])
    return {"num_samples": len(x), **tally.result()}


def evaluate_robustness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, num_classes: int | None = None,
                        attacks: Mapping[str, Mapping | None] | None = ATTACK_OPTIONS,
                        corruptions: Mapping | None = DEFAULT_CORRUPTIONS, measures: Mapping | None = DEFAULT_MEASURES,
                        max_samples: int | None = None, batch_size: int = 256, seed: int = 0,
                        progress: bool = True) -> dict:
    """Clean accuracy, attacks, corruptions and training-free measures of ``model`` on the first
    ``max_samples`` of ``(x, y)`` (images in [0, 1], ``(N, C, H, W)``).

    ``attacks``: attack name -> options (see :data:`~nasgen.evaluation.attacks.ATTACK_OPTIONS`;
    ``None`` options skip that attack). ``corruptions``: ``names``, ``severities`` and
    ``max_samples``. ``measures``: see :data:`DEFAULT_MEASURES`. ``None`` skips a part.
    Missing settings take their defaults. Returns the full results (confusion matrices included)."""
    attack_settings, corruption_settings, measure_settings = check_settings(attacks, corruptions, measures)
    _check_samples("max_samples", max_samples)
    x, y = x[:max_samples], y[:max_samples]
    if not len(x):
        raise ConfigError("robustness evaluation got no images")
    num_classes = num_classes or _output_size(model, x[:1])
    common = {"num_classes": num_classes, "batch_size": batch_size, "seed": seed, "progress": progress}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    result: dict = {"num_samples": len(x), "num_classes": num_classes, "epsilon_unit": "1/255", "seed": seed,
                    "clean": evaluate_clean(model, x, y, num_classes=num_classes, batch_size=batch_size)}
    seconds["clean"] = time.perf_counter() - started
    if attack_settings is not None:
        started = time.perf_counter()
        result["attacks"] = evaluate_attacks(model, x, y, attack_settings, **common)
        seconds["attacks"] = time.perf_counter() - started
    if corruption_settings is not None:
        started = time.perf_counter()
        limit = corruption_settings["max_samples"]
        result["corruptions"] = evaluate_corruptions(model, x[:limit], y[:limit], corruption_settings["names"],
                                                     corruption_settings["severities"], **common)
        seconds["corruptions"] = time.perf_counter() - started
    if measure_settings is not None:
        started = time.perf_counter()
        result["measures"] = {**training_free_measures(model, x, y, seed=seed, progress=progress, **measure_settings),
                              "settings": measure_settings}
        seconds["measures"] = time.perf_counter() - started
    result["seconds"] = {part: round(value, 2) for part, value in seconds.items()}
    return result


def _output_size(model: nn.Module, x: torch.Tensor) -> int:
    with inference_mode(model), torch.no_grad():
        return model(x.to(model_device(model))).shape[1]


def summarise(result: Mapping) -> dict:
    """The headline numbers of :func:`evaluate_robustness`'s result (no confusion matrices)."""
    summary: dict = {"num_samples": result["num_samples"], "clean_accuracy": result["clean"]["accuracy"]}
    if "attacks" in result:
        summary["attacks"] = {name: {f"{eps:g}": acc for eps, acc in zip(rows["epsilons"], rows["accuracy"])}
                              for name, rows in result["attacks"].items()}
        # attacks capped at fewer images are read against the clean accuracy of those images
        summary["attack_subsets"] = {
            name: {"num_samples": rows["num_samples"], "clean_accuracy": rows["clean_accuracy"]}
            for name, rows in result["attacks"].items() if rows["num_samples"] != result["num_samples"]}
        by_attack = {name: dict(zip(rows["epsilons"], rows["accuracy"])) for name, rows in result["attacks"].items()}
        if any(min(values, default=np.inf) <= ADVERSARIAL_MEAN_MAX_EPS for values in by_attack.values()):
            means = {name: float(value) for name, value in adversarial_means(by_attack).items()}
            summary["adversarial_mean"] = {"accuracy": means.pop("adversarial_mean"),
                                           "definition": ADVERSARIAL_MEAN_DEFINITION, "per_attack": means}
    if "corruptions" in result:
        summary["corruption_mean_accuracy"] = result["corruptions"]["mean_accuracy"]
    if "measures" in result:
        summary["measures"] = {k: v for k, v in result["measures"].items() if k not in ("settings", "batches")}
    return summary


def summary_text(summary: Mapping) -> str:
    """:func:`summarise`'s headline numbers in one line: clean accuracy, each attack at
    :data:`SUMMARY_EPSILON` (or, for an attack not run there, at its smallest epsilon), the mean
    corruption accuracy (all in %) and the training-free measures."""
    parts = [f"clean {format_value(100 * summary['clean_accuracy'])} %"]
    attacks = []
    for name, by_epsilon in summary.get("attacks", {}).items():
        epsilon = min(by_epsilon, key=lambda eps: (float(eps) != SUMMARY_EPSILON, float(eps)))
        notes = [] if float(epsilon) == SUMMARY_EPSILON else [f"eps={epsilon}/255"]
        subset = summary.get("attack_subsets", {}).get(name)
        if subset:
            notes.append(f"{subset['num_samples']} images, clean {format_value(100 * subset['clean_accuracy'])} %")
        noted = f" ({'; '.join(notes)})" if notes else ""
        attacks.append(f"{name} {format_value(100 * by_epsilon[epsilon])} %{noted}")
    if attacks:
        parts.append(f"at eps={SUMMARY_EPSILON:g}/255: " + ", ".join(attacks))
    if "corruption_mean_accuracy" in summary:
        parts.append(f"corruptions mean {format_value(100 * summary['corruption_mean_accuracy'])} %")
    measures = summary.get("measures", {})
    if "jacobian_norm" in measures:
        parts.append(f"jacobian norm {format_value(measures['jacobian_norm'])}, "
                     f"hessian max eigenvalue {format_value(measures['hessian_max_eigenvalue'])}")
    return "; ".join(parts)


def _percent_axis(ax: plt.Axes, images: str) -> None:
    ax.set_ylabel(f"accuracy on {images} (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)


def plot_attacks(result: Mapping, path: Path, images: str, title: str = "") -> None:
    """Accuracy (%) vs epsilon (log scale), one line per attack, clean accuracy dotted; attacks
    capped by ``max_samples`` show their own clean accuracy in the legend. ``images`` names the
    evaluated data (e.g. ``"digits test"``) on the axis."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, rows in result["attacks"].items():
        ax.plot(rows["epsilons"], [100 * a for a in rows["accuracy"]], "o-", ms=3,
                label=f"{name} ({rows['num_samples']} images, clean {100 * rows['clean_accuracy']:.1f} %)")
    ax.axhline(100 * result["clean"]["accuracy"], color="k", ls=":", lw=1,
               label=f"clean ({result['num_samples']} images)")
    ax.set_xscale("log")
    ax.set_xlabel("epsilon (x 1/255, L-inf)")
    _percent_axis(ax, images)
    ax.set_title(f"{title or 'adversarial attacks'} on {images}", fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_corruptions(result: Mapping, path: Path, images: str, title: str = "") -> None:
    """Accuracy (%) vs severity, one line per corruption, clean accuracy dotted."""
    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    colours = plt.get_cmap("tab20")
    for i, (name, rows) in enumerate(result["corruptions"]["per_corruption"].items()):
        ax.plot(rows["severities"], [100 * a for a in rows["accuracy"]], "o-", ms=3, color=colours(i % 20),
                label=name)
    ax.axhline(100 * result["clean"]["accuracy"], color="k", ls=":", lw=1, label="clean")
    ax.set_xticks(list(SEVERITIES))
    ax.set_xlabel("severity")
    _percent_axis(ax, images)
    ax.set_title(f"{title or 'common corruptions'} on {images}", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    save_figure(fig, path)


class RobustnessSuite:
    """Evaluation suite: robustness of the search's best architecture (by the search metric),
    trained by the benchmark. Skipped (with a log message) for benchmarks without trained
    models, such as lookup tables. Settings as in :func:`evaluate_robustness`; ``split`` and
    ``max_samples`` choose the images taken from ``benchmark.evaluation_data``."""

    def __init__(self, split: str = "test", max_samples: int | None = 1000, batch_size: int = 256, seed: int = 0,
                 attacks: Mapping[str, Mapping | None] | None = ATTACK_OPTIONS,
                 corruptions: Mapping | None = DEFAULT_CORRUPTIONS, measures: Mapping | None = DEFAULT_MEASURES,
                 plot: bool = True, progress: bool = True) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"robustness batch_size must be a positive integer, got {batch_size!r}")
        _check_samples("robustness max_samples", max_samples)
        check_settings(attacks, corruptions, measures)  # fail before the search, not after it
        self.split, self.max_samples, self.batch_size, self.seed = split, max_samples, batch_size, seed
        self.attacks, self.corruptions, self.measures = attacks, corruptions, measures
        self.plot, self.progress = plot, progress

    def __call__(self, oracle: Oracle, benchmark: Any, run_dir: Path) -> dict:
        if not isinstance(benchmark, ModelBenchmark):
            log.info("robustness evaluation skipped: benchmark %r hands out no trained models "
                     "(needs load_model, evaluation_data, dataset and num_classes)",
                     benchmark.name)
            return {}
        if not oracle.records:
            log.info("robustness evaluation skipped: the search queried no architecture")
            return {}
        record = oracle.records[oracle.incumbents()[-1]]
        model = benchmark.load_model(oracle.space.from_str(record["arch"]))
        x, y = benchmark.evaluation_data(self.split, self.max_samples)
        log.info("robustness evaluation of %s on %d %s images", record["arch"], len(x), self.split)
        result = evaluate_robustness(model, x, y, num_classes=benchmark.num_classes, attacks=self.attacks,
                                     corruptions=self.corruptions, measures=self.measures,
                                     batch_size=self.batch_size, seed=self.seed, progress=self.progress)
        arch = {"arch": record["arch"], "index": record["index"], "found_at_query": record["query"],
                "split": self.split}
        write_json(Path(run_dir) / "robustness.json", {**arch, **result})
        images = f"{benchmark.dataset} {self.split}"
        if self.plot:
            name = f"index {record['index']}" if record["index"] != "" else record["arch"]
            title = f"best architecture ({name})"
            if "attacks" in result:
                plot_attacks(result, Path(run_dir) / "robustness_attacks.png", images, title)
            if "corruptions" in result:
                plot_corruptions(result, Path(run_dir) / "robustness_corruptions.png", images, title)
        summary = summarise(result)
        log.info("robustness on %s (%d images): %s", images, len(x), summary_text(summary))
        return {"robustness": {**arch, **summary}}
