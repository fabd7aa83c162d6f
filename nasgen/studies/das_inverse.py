"""Is differentiable architecture search one-shot? The 1-D inverse-problem study of thesis
chapter 6 (Lukasik 2023; Geiping et al. 2021) as a study (``study=das_inverse``).

One run is one cell of a thesis table: one ``method`` on one task (``inverse_task``: blur or
downsample), one space (``search_space=inverse1d_sequential|inverse1d_nonsequential``, op set
``good`` or ``all``) and one hyperparameter set (``das_hparams``), repeated for ``trials``
independent trials. The methods (:data:`METHODS`):

- ``das``: first-order bilevel DAS (:func:`~nasgen.oneshot.das_inverse.das_search`), the argmax
  architecture then trained from scratch;
- ``das_single``: DAS-single, the ops pretrained and frozen, only alpha learned
  (:func:`~nasgen.oneshot.das_inverse.das_single_search`), then trained from scratch;
- ``gradient_only`` / ``nets_only``: every slot the learnable gradient step / the 2-layer CNN;
- ``random_sampling``: one random architecture;
- ``random_search``: ``random_search_size`` random architectures (5: the time of one DAS run in
  the thesis), the best by architecture PSNR reported, every candidate recorded.

Every architecture is trained from scratch with the hyperparameters' weight training (the
param half of Tables B.7-B.9, :meth:`DASHyperparameters.weight_training`) by
:func:`~nasgen.benchmarks.inverse1d.train_architecture`, which measures its architecture PSNR on
fresh validation samples (``<task>/valid_psnr@retrained``, the thesis' number) and on a separate
fresh test stream (``<task>/test_psnr@retrained``). DAS and DAS-single also give the one-shot
PSNR: the supernet itself on fresh validation samples at the end of the search.

Seeds: trial t's seed is ``SeedSequence([run seed, t])``'s first 32-bit word (the trial records
it). DAS searches with it, and every architecture of the trial trains with it: the validation and
test samples come from the seed alone, so all methods of a trial are measured on the same samples,
and the initialisation and batches from (seed, architecture) (:mod:`nasgen.benchmarks.inverse1d`).
Random sampling draws its architecture from ``default_rng(seed)``, random search its candidates
from ``default_rng([seed, 1])``: never random sampling's draw of the same trial. Same config and
seed: the same numbers, whatever was resumed.

Outputs: ``trials/`` (one JSON per finished trial, :class:`~nasgen.studies.base.TrialStore`: a
killed run resumed with ``nasgen resume RUN_DIR`` repeats no finished trial); ``trials.csv``
(:data:`~nasgen.reporting.das_inverse_report.RECORD_COLUMNS`, rewritten after every trial, so that
``nasgen report`` reads a sweep that is still going); for DAS and DAS-single
``oneshot_vs_architecture.png`` (architecture vs one-shot PSNR of every trial, regression line and
Pearson / Spearman / Kendall in the legend: the thesis' Fig. 6.3) and ``correlation.json``;
``results.json`` gets ``summary`` (max / mean / median of each PSNR over the trials, seconds) and
the cell in its ``protocol``. Time accounting of a trial: ``search_seconds`` is the
search (DAS, DAS-single with its pretraining, random search's training of all candidates),
``train_seconds`` the training of the reported architecture from scratch (none for random search,
whose winner is reported from its own candidate training), ``seconds`` the trial's wall-clock.
"""
from __future__ import annotations

import logging
import math
import time
from functools import partial

import numpy as np

from nasgen.benchmarks.base import Benchmark
from nasgen.benchmarks.inverse1d import (
    ArchitectureResult,
    Inverse1DBenchmark,
    InverseProblem,
    WeightTraining,
    train_architecture,
)
from nasgen.errors import ConfigError, choose
from nasgen.objective import Objective
from nasgen.oneshot.das_inverse import DASHyperparameters, das_search, das_single_search
from nasgen.ranges import Int, ranges
from nasgen.reporting.console import progress_bar
from nasgen.reporting.das_inverse_report import (
    METHODS,
    ONE_SHOT_METHODS,
    TRIALS_FILE,
    plot_run_scatter,
    psnr_stats,
    write_trials,
)
from nasgen.reporting.results import write_json
from nasgen.spaces.base import SearchSpace
from nasgen.spaces.inverse1d import Inverse1DSpace
from nasgen.studies.base import StudyContext

log = logging.getLogger(__name__)

UNIFORM_OPS = {"gradient_only": "gradient", "nets_only": "cnn"}  # the "only" baselines: every slot this op
SEARCHES = {"das": das_search, "das_single": das_single_search}
SCATTER, CORRELATION = "oneshot_vs_architecture.png", "correlation.json"


def trial_seed(run_seed: int, trial: int) -> int:
    """Trial ``trial``'s seed (module docstring)."""
    return int(np.random.SeedSequence([run_seed, trial]).generate_state(1)[0])


def _psnr_of(result: ArchitectureResult) -> float:
    """A candidate's architecture PSNR for ranking: a diverged training (NaN) ranks last."""
    return result.valid_psnr if math.isfinite(result.valid_psnr) else -math.inf


@ranges("study", trials=Int(1), random_search_size=Int(1))
class DASInverseStudy:
    """The study (module docstring): ``method`` on ``problem`` with ``hparams``, ``trials`` times."""

    def __init__(self, method: str, problem: InverseProblem, hparams: DASHyperparameters, trials: int = 75,
                 random_search_size: int = 5) -> None:
        choose("study.method", method, METHODS)
        self.method, self.problem, self.hparams = method, problem, hparams
        self.trials, self.random_search_size = trials, random_search_size

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        if not isinstance(space, Inverse1DSpace) or not isinstance(benchmark, Inverse1DBenchmark):
            raise ConfigError(f"study=das_inverse trains 1-D inverse-problem networks: it needs search_space="
                              f"inverse1d_sequential or inverse1d_nonsequential with benchmark=inverse1d, not "
                              f"{space.name} with {benchmark.name}")
        if self.method == "das_single" and not space.sequential:  # das_single_search refuses it, after training
            raise ConfigError("study.method=das_single needs search_space=inverse1d_sequential: its frozen ops come "
                              "from trained single-op networks, which the non-sequential cells do not have")
        metric = f"{self.problem.task}/valid_psnr@retrained"
        if objective.search_metric != metric:
            raise ConfigError(f"study=das_inverse runs the {self.problem.task} task, whose architecture PSNR is "
                              f"{metric}; objective.search_metric is {objective.search_metric} (objective=inverse1d "
                              "follows inverse_task)")

    def cell(self, space: Inverse1DSpace) -> dict:
        """What a record says about the run's cell besides the trial."""
        return {"method": self.method, "task": self.problem.task, "layout": space.layout, "ops": space.ops,
                "hparams": self.hparams.name}

    # -- the run ---------------------------------------------------------------------------------
    def __call__(self, context: StudyContext) -> dict:
        space = context.space  # an Inverse1DSpace: check() refused any other
        training = self.hparams.weight_training()
        records: list[dict] = []
        for t in progress_bar(range(self.trials), desc=f"{self.method} trials", leave=False):
            record = context.trials.trial(f"trial{t:04d}", partial(self._trial, space, t, context, training))
            records.append(record)
            write_trials(context.run_dir / TRIALS_FILE, records)
            log.info("trial %d/%d: %s, architecture PSNR %.2f dB%s (%.0f s)", t + 1, self.trials, record["arch"],
                     record["valid_psnr"], "" if record["oneshot_psnr"] is None else
                     f", one-shot PSNR {record['oneshot_psnr']:.2f} dB", record["seconds"])
        outputs = [TRIALS_FILE]
        summary = self._summary(records)
        if self.method in ONE_SHOT_METHODS:
            outputs += self._scatter(context, records)
        return {"summary": summary, "protocol": self._protocol(context), "outputs": outputs}

    def _trial(self, space: Inverse1DSpace, t: int, context: StudyContext, training: WeightTraining) -> dict:
        seed, device = trial_seed(context.seed, t), context.device
        train = partial(train_architecture, space, problem=self.problem, training=training, device=device)
        started = time.perf_counter()
        record: dict = {"trial": t, "seed": seed, **self.cell(space), "oneshot_psnr": None, "search_seconds": 0.0,
                        "candidates": []}
        if self.method in SEARCHES:
            found = SEARCHES[self.method](space, self.problem, self.hparams, seed=seed, device=device)
            arch, result = found.arch, train(arch=found.arch, seed=seed)
            record.update(oneshot_psnr=found.oneshot_psnr, search_seconds=found.seconds, alphas=found.alphas)
        elif self.method in UNIFORM_OPS:
            arch = space.uniform(UNIFORM_OPS[self.method])
            result = train(arch=arch, seed=seed)
        elif self.method == "random_sampling":
            arch = space.sample(1, np.random.default_rng(seed))[0]
            result = train(arch=arch, seed=seed)
        else:  # random_search: the best of its candidates, each trained once
            tried = [(candidate, train(arch=candidate, seed=seed))
                     for candidate in space.sample(self.random_search_size, np.random.default_rng([seed, 1]))]
            arch, result = max(tried, key=lambda pair: _psnr_of(pair[1]))
            record["candidates"] = [{"arch": "-".join(space.op_list(a)), "valid_psnr": r.valid_psnr,
                                     "test_psnr": r.test_psnr} for a, r in tried]
            record["search_seconds"] = sum(r.seconds for _, r in tried)
        record.update(arch="-".join(space.op_list(arch)), valid_psnr=result.valid_psnr, test_psnr=result.test_psnr,
                      search_seconds=round(record["search_seconds"], 2),
                      train_seconds=0.0 if self.method == "random_search" else round(result.seconds, 2),
                      seconds=round(time.perf_counter() - started, 2))
        return record

    def _summary(self, records: list[dict]) -> dict:
        task = self.problem.task
        summary = {f"{task}/valid_psnr@retrained": psnr_stats([r["valid_psnr"] for r in records]),
                   f"{task}/test_psnr@retrained": psnr_stats([r["test_psnr"] for r in records])}
        if self.method in ONE_SHOT_METHODS:
            summary["oneshot_psnr"] = psnr_stats([r["oneshot_psnr"] for r in records])
        seconds = [r["seconds"] for r in records]
        return {**summary, "trials": len(records), "seconds_per_trial": round(float(np.mean(seconds)), 2),
                "seconds": round(float(np.sum(seconds)), 2)}

    def _scatter(self, context: StudyContext, records: list[dict]) -> list[str]:
        found = plot_run_scatter(context.run_dir / SCATTER, [r["oneshot_psnr"] for r in records],
                                 [r["valid_psnr"] for r in records],
                                 f"{self.method}, {self.problem.task}, {context.space.name} ({records[0]['ops']} "
                                 f"ops), {self.hparams.name}")
        write_json(context.run_dir / CORRELATION, {
            **found, "x": "one-shot PSNR: the supernet at the end of the search, fresh validation samples (dB)",
            "y": f"{self.problem.task}/valid_psnr@retrained: the derived architecture trained from scratch, fresh "
                 "validation samples (dB)"})
        return [SCATTER, CORRELATION]

    def _protocol(self, context: StudyContext) -> dict:
        """The study's part of ``results.json``'s protocol (the benchmark's names the task, the space
        and the weight training)."""
        task = self.problem.task
        return {"study": "das_inverse (thesis ch. 6)", **self.cell(context.space), "trials": self.trials,
                **({"random_search_size": self.random_search_size} if self.method == "random_search" else {}),
                "trial_seeds": "SeedSequence([seed, trial]); every architecture of a trial trains with its seed",
                "das_hparams": self.hparams.settings(), "device": context.device,
                "architecture_psnr": f"{task}/valid_psnr@retrained: the architecture trained from scratch with "
                                     "weight_training, on fresh validation samples",
                **({"oneshot_psnr": "the supernet at the end of the search, on fresh validation samples"}
                   if self.method in ONE_SHOT_METHODS else {})}
