"""Records, statistics and the ``nasgen report`` section of the 1-D inverse-problem study
(``study=das_inverse``; thesis chapter 6, ``nasgen/studies/das_inverse.py``).

A run of the study is one cell of a thesis table: one method on one task, space, op set and
hyperparameter set, repeated for ``trials`` trials. Its ``trials.csv`` holds one row per trial
(:data:`RECORD_COLUMNS`). Three PSNRs appear, each in dB and each named by its protocol:

- ``valid_psnr``: the *architecture PSNR*: the derived (or sampled) architecture trained from
  scratch with the hyperparameters' weight training, measured on fresh validation samples;
  the thesis' "architecture validation PSNR", the number of Tables 6.1-6.4;
- ``test_psnr``: the same trained network on a separate fresh test stream;
- ``oneshot_psnr`` (DAS and DAS-single only): the *one-shot PSNR*: the supernet itself (softmax
  mixture of every op) on fresh validation samples at the end of the search.

``nasgen report`` groups the trials of every run under the given paths by (experiment, layout,
task, ops, method, hparams) and writes ``das_inverse_table.md``/``.csv`` (max / mean / median
architecture PSNR, the thesis' cell beside ours), ``das_inverse_scatter.png`` (architecture vs
one-shot PSNR of every DAS / DAS-single trial with a regression line and the three correlations
in the legend, the thesis' Figs. 6.3-6.7) and the analysis "random samples needed to beat DAS's
median" (Sec. 6.4.2; :func:`samples_to_beat`). A run that is still going or was killed counts
with the trials it has finished (``trials.csv`` is rewritten after every trial); the table says
how many of a cell's runs are partial.
"""
from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from scipy.stats import kendalltau, pearsonr, spearmanr  # noqa: E402

from nasgen.paths import atomic_write  # noqa: E402
from nasgen.reporting.references import DAS_INVERSE_REFERENCES, DAS_INVERSE_SAMPLES_TO_BEAT  # noqa: E402
from nasgen.reporting.report import _markdown, _panel_grid  # noqa: E402
from nasgen.reporting.results import save_figure, write_table_csv  # noqa: E402

STUDY_TARGET = "nasgen.studies.das_inverse.DASInverseStudy"
TRIALS_FILE = "trials.csv"
RECORD_COLUMNS = ("trial", "seed", "method", "task", "layout", "ops", "hparams", "arch", "oneshot_psnr",
                  "valid_psnr", "test_psnr", "search_seconds", "train_seconds", "seconds", "candidates")
_INTEGERS = ("trial", "seed")
_NUMBERS = ("oneshot_psnr", "valid_psnr", "test_psnr", "search_seconds", "train_seconds", "seconds")
METHODS = ("gradient_only", "nets_only", "das", "das_single", "random_sampling", "random_search")
ONE_SHOT_METHODS = ("das", "das_single")   # methods with a supernet, hence a one-shot PSNR
RANDOM_METHODS = ("random_sampling", "random_search")
METHOD_LABELS = {"gradient_only": "Learnable Grad. only", "nets_only": "Nets only", "das": "DAS",
                 "das_single": "DAS-single", "random_sampling": "Random Sampling", "random_search": "Random Search"}
# the thesis' orders of rows (Tables 6.1-6.4); a value outside them sorts after them
LAYOUTS, TASKS, OP_SETS = ("sequential", "nonsequential"), ("blur", "downsample"), ("good", "all")
HPARAMS = ("h1", "h2", "bohb_oneshot_blur", "bohb_oneshot_ds", "bohb_blur", "bohb_das_single",
           "bohb_nonseq_oneshot_blur", "bohb_nonseq_blur")
REPEATS, ORDER_SEED = 10, 0   # the thesis' 10 random-search runs; the seed of their random orders
CELL_FIELDS = ("experiment", "layout", "task", "ops", "method", "hparams")


# -- records -----------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value) if value else ""
    return str(value)


def write_trials(path: Path, records: Sequence[dict]) -> None:
    """``trials.csv``: one row per trial record, :data:`RECORD_COLUMNS` (a missing PSNR is an empty
    cell; random search's candidates a JSON list)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RECORD_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({column: _text(record.get(column)) for column in RECORD_COLUMNS} for record in records)
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())


def read_trials(path: Path) -> list[dict]:
    """The records of a ``trials.csv``, typed: integers, floats (``None`` for an empty cell, NaN
    stays NaN) and the candidates list."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    records = []
    for row in rows:
        record: dict[str, Any] = dict(row)
        for column in _INTEGERS:
            record[column] = int(row[column])
        for column in _NUMBERS:
            record[column] = float(row[column]) if row.get(column) not in (None, "") else None
        record["candidates"] = json.loads(row["candidates"]) if row.get("candidates") else []
        records.append(record)
    return records


# -- statistics --------------------------------------------------------------------------------------
def psnr_stats(values: Sequence[float | None]) -> dict[str, float | int]:
    """Max, mean and median over the finite values, how many there are (``n``) and how many were
    not finite (a diverged training: NaN or infinite PSNR, left out of the statistics)."""
    given = [float(v) for v in values if v is not None]
    finite = [v for v in given if math.isfinite(v)]
    if not finite:
        return {"max": math.nan, "mean": math.nan, "median": math.nan, "n": 0, "non_finite": len(given)}
    return {"max": max(finite), "mean": float(np.mean(finite)), "median": float(np.median(finite)),
            "n": len(finite), "non_finite": len(given) - len(finite)}


def correlations(oneshot: Sequence[float | None], architecture: Sequence[float | None]) -> dict[str, float | int]:
    """Pearson, Spearman and Kendall correlation of the finite pairs, and their count ``n``; NaN
    where fewer than 3 pairs or a constant side leave a correlation undefined."""
    pairs = [(float(x), float(y)) for x, y in zip(oneshot, architecture)
             if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    result: dict[str, float | int] = {"n": len(pairs), "pearson": math.nan, "spearman": math.nan,
                                      "kendall": math.nan}
    if len(pairs) < 3:
        return result
    x, y = map(np.asarray, zip(*pairs))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return result
    with warnings.catch_warnings():  # ties-only ranks and the like: the value is NaN, said in the table
        warnings.simplefilter("ignore")
        result.update(pearson=float(pearsonr(x, y)[0]), spearman=float(spearmanr(x, y)[0]),
                      kendall=float(kendalltau(x, y)[0]))
    return result


def draw_scatter(ax: plt.Axes, oneshot: Sequence[float | None], architecture: Sequence[float | None],
                 title: str) -> dict[str, float | int]:
    """Architecture PSNR (y) against one-shot PSNR (x) of each trial, the least-squares line and the
    three correlations in the legend (the thesis' Fig. 6.3 layout); returns the correlations."""
    found = correlations(oneshot, architecture)
    pairs = [(x, y) for x, y in zip(oneshot, architecture)
             if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    ax.scatter([x for x, _ in pairs], [y for _, y in pairs], s=14, alpha=0.7, label=f"trials (n={found['n']})")
    legend = (f"Pearson {found['pearson']:.2f}, Spearman {found['spearman']:.2f}, "
              f"Kendall {found['kendall']:.2f}")
    x = np.array([p[0] for p in pairs])
    if len(pairs) >= 2 and np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, [p[1] for p in pairs], 1)
        line = np.linspace(x.min(), x.max(), 2)
        ax.plot(line, slope * line + intercept, color="C3", lw=1.2, label=f"linear fit; {legend}")
    else:  # no line through one point or a vertical column: the correlations still go to the legend
        ax.plot([], [], " ", label=legend)
    ax.set_xlabel("one-shot PSNR: supernet, end of search, fresh validation samples (dB)", fontsize=7)
    ax.set_ylabel("architecture PSNR: retrained, fresh validation samples (dB)", fontsize=7)
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="best")
    return found


def plot_run_scatter(path: Path, oneshot: Sequence[float | None], architecture: Sequence[float | None],
                     title: str) -> dict[str, float | int]:
    """One run's :func:`draw_scatter` as a figure of its own; returns the correlations."""
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    found = draw_scatter(ax, oneshot, architecture, title)
    save_figure(fig, path)
    return found


@dataclass(frozen=True)
class SamplesToBeat:
    """How many random architectures a random search draws until one beats ``target``, in
    ``len(counts)`` random orders of a finite pool of trained random architectures."""

    target: float
    pool: int                           # trained random architectures
    beaters: int                        # of them with an architecture PSNR above ``target``
    counts: tuple[int | None, ...]      # per random order: draws up to the first beater; None: none in the pool

    @property
    def mean(self) -> float:
        """Mean draws over the orders that found a beater (NaN where none did)."""
        reached = [c for c in self.counts if c is not None]
        return float(np.mean(reached)) if reached else math.nan

    @property
    def expected(self) -> float:
        """The exact mean over all random orders of the pool: the first of ``beaters`` marked items
        in a random order of ``pool`` sits at (pool + 1) / (beaters + 1) on average."""
        return (self.pool + 1) / (self.beaters + 1) if self.beaters else math.nan


def samples_to_beat(target: float, pool: Sequence[float | None], repeats: int = REPEATS,
                    seed: int = ORDER_SEED) -> SamplesToBeat:
    """Random search as the thesis ran it 10 times (Sec. 6.4.2), replayed on the random
    architectures the sweep trained: in ``repeats`` seeded random orders of ``pool``, the draws
    until the first architecture PSNR above ``target``. A non-finite PSNR (a diverged training)
    is a draw that beats nothing. A pool without any beater gives ``None`` counts: more draws than
    the pool holds would be needed, and nothing is extrapolated beyond it."""
    values = np.array([math.nan if v is None else float(v) for v in pool])
    rng = np.random.default_rng(seed)
    beats = np.nan_to_num(values, nan=-math.inf) > target
    counts = []
    for _ in range(repeats):
        hits = np.flatnonzero(beats[rng.permutation(len(values))])
        counts.append(int(hits[0]) + 1 if len(hits) else None)
    return SamplesToBeat(float(target), len(values), int(beats.sum()), tuple(counts))


def random_pool(records: Sequence[dict]) -> list[float | None]:
    """Architecture PSNRs of every trained random architecture among ``records``: each random
    sampling trial's and every candidate of each random search trial."""
    pool: list[float | None] = []
    for record in records:
        if record["method"] == "random_sampling":
            pool.append(record["valid_psnr"])
        elif record["method"] == "random_search":
            pool += [candidate["valid_psnr"] for candidate in record["candidates"]]
    return pool


# -- runs --------------------------------------------------------------------------------------------
@dataclass
class DASInverseRun:
    path: Path
    experiment: str
    complete: bool
    trials: list[dict]


def load_das_inverse_run(run_dir: Path) -> DASInverseRun | None:
    """The run in ``run_dir`` if it is one of this study (its ``trials.csv`` and the composed
    config naming the study), else None."""
    config_file, trials_file = run_dir / ".hydra" / "config.yaml", run_dir / TRIALS_FILE
    if not (config_file.is_file() and trials_file.is_file()):
        return None
    config = OmegaConf.load(config_file)
    if OmegaConf.select(config, "study._target_", default=None) != STUDY_TARGET:
        return None
    results = run_dir / "results.json"
    complete = results.is_file() and json.loads(results.read_text()).get("status") == "complete"
    return DASInverseRun(run_dir, str(config.get("name") or "?"), complete, read_trials(trials_file))


def find_das_inverse_runs(paths: Sequence["str | Path"]) -> list[DASInverseRun]:
    """Every run of the study at or under ``paths`` (a run, a ``-m`` sweep folder, folders of them),
    each once."""
    folders: dict[Path, None] = {}
    for path in map(Path, paths):
        found = [path / TRIALS_FILE] if (path / TRIALS_FILE).is_file() else sorted(path.rglob(TRIALS_FILE))
        folders.update((f.parent.resolve(), None) for f in found)
    return [run for run in map(load_das_inverse_run, folders) if run is not None]


def _position(order: Sequence[str], value: str) -> tuple[int, str]:
    return (order.index(value) if value in order else len(order), value)


def _cell_order(key: tuple[str, ...]) -> tuple:
    experiment, layout, task, ops, method, hparams = key
    return (experiment, _position(LAYOUTS, layout), _position(TASKS, task), _position(OP_SETS, ops),
            _position(METHODS, method), _position(HPARAMS, hparams))


def cells(runs: Sequence[DASInverseRun]) -> dict[tuple[str, ...], tuple[list[DASInverseRun], list[dict]]]:
    """(experiment, layout, task, ops, method, hparams) -> (its runs, their trial records), in the
    thesis' row order."""
    grouped: dict[tuple[str, ...], tuple[list[DASInverseRun], list[dict]]] = {}
    for run in runs:
        for record in run.trials:
            key = (run.experiment, *(str(record[f]) for f in CELL_FIELDS[1:]))
            members, records = grouped.setdefault(key, ([], []))
            if run not in members:
                members.append(run)
            records.append(record)
    return dict(sorted(grouped.items(), key=lambda item: _cell_order(item[0])))


def _number(value: float, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def das_inverse_table(runs: Sequence[DASInverseRun]) -> tuple[list[str], list[list[str]]]:
    """Per cell: trials, runs (partial), max / mean / median architecture PSNR and the thesis'
    cell, the mean test and one-shot PSNR, the mean wall-clock of a trial and the thesis' time."""
    header = [*CELL_FIELDS, "trials", "runs (partial)", "max", "mean", "median", "thesis max", "thesis mean",
              "thesis median", "thesis trials", "thesis table", "test PSNR mean", "one-shot PSNR mean",
              "s per trial", "thesis time per trial"]
    rows = []
    for key, (members, records) in cells(runs).items():
        architecture = psnr_stats([r["valid_psnr"] for r in records])
        test, oneshot = psnr_stats([r["test_psnr"] for r in records]), psnr_stats([r["oneshot_psnr"] for r in records])
        reference = DAS_INVERSE_REFERENCES.get(key[1:])
        diverged = f" ({architecture['non_finite']} diverged)" if architecture["non_finite"] else ""
        rows.append([*key[:4], METHOD_LABELS.get(key[4], key[4]), key[5], f"{len(records)}{diverged}",
                     f"{len(members)} ({sum(not run.complete for run in members)})",
                     *(_number(architecture[s]) for s in ("max", "mean", "median")),
                     *(reference.psnr if reference else ("-", "-", "-")),
                     reference.trials if reference else "-", reference.tables if reference else "-",
                     _number(test["mean"]), _number(oneshot["mean"]),
                     _number(float(np.mean([r["seconds"] for r in records])), 1),
                     reference.time if reference and reference.time else "-"])
    return header, rows


def correlation_table(runs: Sequence[DASInverseRun]) -> tuple[list[str], list[list[str]]]:
    """Per DAS / DAS-single cell: the correlations of one-shot and architecture PSNR over its trials."""
    header = [*CELL_FIELDS, "trials", "pearson", "spearman", "kendall"]
    rows = []
    for key, (_, records) in cells(runs).items():
        if key[4] in ONE_SHOT_METHODS:
            found = correlations([r["oneshot_psnr"] for r in records], [r["valid_psnr"] for r in records])
            rows.append([*key[:4], METHOD_LABELS[key[4]], key[5], str(found["n"]),
                         *(_number(found[c]) for c in ("pearson", "spearman", "kendall"))])
    return header, rows


def _unique(records: Sequence[dict]) -> list[dict]:
    """Records of the same cell, method, seed and trial counted once (two sweeps of one cell, e.g.
    Table 6.1's DAS with H1 and Table 6.2's, compute the same trials)."""
    seen: dict[tuple, dict] = {}
    for record in records:
        seen.setdefault(tuple(str(record[f]) for f in (*CELL_FIELDS[1:], "seed", "trial")), record)
    return list(seen.values())


def samples_to_beat_table(runs: Sequence[DASInverseRun]) -> tuple[list[str], list[list[str]]]:
    """Per (layout, task, ops, hparams) with DAS trials and trained random architectures (of any
    experiment): DAS's median architecture PSNR and the random draws needed to beat it
    (:func:`samples_to_beat`), next to the thesis' number where it has one."""
    header = ["layout", "task", "ops", "hparams", "DAS trials", "DAS median", "random pool", "pool above median",
              f"mean draws ({REPEATS} orders)", "orders that beat it", "exact mean for this pool",
              "thesis draws (DAS median)"]
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for run in runs:
        for record in run.trials:
            groups[(str(record["layout"]), str(record["task"]), str(record["ops"]), str(record["hparams"]))].append(
                record)
    rows = []
    for key in sorted(groups, key=lambda k: (_position(LAYOUTS, k[0]), _position(TASKS, k[1]),
                                             _position(OP_SETS, k[2]), _position(HPARAMS, k[3]))):
        records = _unique(groups[key])
        das = psnr_stats([r["valid_psnr"] for r in records if r["method"] == "das"])
        pool = random_pool(records)
        if not das["n"] or not pool:
            continue
        found = samples_to_beat(float(das["median"]), pool)
        reached = sum(c is not None for c in found.counts)
        thesis = DAS_INVERSE_SAMPLES_TO_BEAT.get(key)
        rows.append([*key, str(das["n"]), _number(das["median"]), str(found.pool), str(found.beaters),
                     _number(found.mean, 1) if reached else f"none: more than {found.pool}",
                     f"{reached}/{len(found.counts)}", _number(found.expected, 1) if found.beaters else "-",
                     f"{thesis[0]} ({thesis[1]} dB)" if thesis else "-"])
    return header, rows


def plot_scatter(runs: Sequence[DASInverseRun], path: Path) -> bool:
    """One panel per DAS / DAS-single cell (:func:`draw_scatter`); False when there is none."""
    panels = [(key, records) for key, (_, records) in cells(runs).items() if key[4] in ONE_SHOT_METHODS]
    if not panels:
        return False
    fig, axes = _panel_grid(len(panels), width=4.8, height=4.0)
    for ax, (key, records) in zip(axes, panels):
        experiment, layout, task, ops, method, hparams = key
        draw_scatter(ax, [r["oneshot_psnr"] for r in records], [r["valid_psnr"] for r in records],
                     f"{experiment}\n{layout}, {task}, {ops} ops, {METHOD_LABELS[method]}, {hparams}")
    save_figure(fig, path)
    return True


TABLE_NOTE = ("Architecture PSNR (dB): each trial's derived or sampled architecture trained from scratch with the "
              "hyperparameters' weight training, on fresh validation samples (the thesis' \"architecture validation "
              "PSNR\"); max / mean / median over the trials of a cell, the thesis' cell beside it. `test PSNR`: the "
              "same networks on a separate fresh test stream. `one-shot PSNR`: the supernet at the end of the search "
              "on fresh validation samples (DAS, DAS-single). `s per trial`: our mean wall-clock of a trial (search, "
              "training and measuring) on the run's device; the thesis' times are per run on its GPU. `runs "
              "(partial)`: runs of the cell, of them not complete.")
SAMPLES_NOTE = ("Random samples needed to beat DAS's median architecture PSNR (thesis Sec. 6.4.2): the trained random "
                "architectures of the cell's task, space, op set and hyperparameters (every random-sampling trial and "
                f"every random-search candidate) in {REPEATS} random orders (seed {ORDER_SEED}), counting draws until "
                "the first one above DAS's median. `exact mean`: (pool + 1) / (above + 1), the mean over all orders "
                "of this pool. A pool without any architecture above the median says so: the count exceeds the "
                "pool, and nothing is extrapolated beyond it.")


def write_das_inverse_report(runs: Sequence[DASInverseRun], out: Path) -> str:
    """Write ``das_inverse_table.md``/``.csv``, ``das_inverse_correlation.csv``,
    ``das_inverse_samples_to_beat.csv`` and ``das_inverse_scatter.png`` to ``out``; return the markdown."""
    out = Path(out)
    header, rows = das_inverse_table(runs)
    write_table_csv(out / "das_inverse_table.csv", header, rows)
    markdown = (f"1-D inverse problems, DAS and baselines (thesis ch. 6): {len(runs)} runs\n\n{TABLE_NOTE}\n\n"
                f"{_markdown(header, rows)}")
    correlation_header, correlation_rows = correlation_table(runs)
    if correlation_rows:
        write_table_csv(out / "das_inverse_correlation.csv", correlation_header, correlation_rows)
        markdown += ("\n\nOne-shot PSNR vs architecture PSNR over the trials of each DAS / DAS-single cell "
                     f"(`das_inverse_scatter.png`)\n\n{_markdown(correlation_header, correlation_rows)}")
    beat_header, beat_rows = samples_to_beat_table(runs)
    if beat_rows:
        write_table_csv(out / "das_inverse_samples_to_beat.csv", beat_header, beat_rows)
        markdown += f"\n\n{SAMPLES_NOTE}\n\n{_markdown(beat_header, beat_rows)}"
    plot_scatter(runs, out / "das_inverse_scatter.png")
    with atomic_write(out / "das_inverse_table.md", "w") as f:
        f.write(f"# nasgen report: 1-D inverse problems\n\n{markdown}\n")
    return markdown
