"""One run: build the components from the composed config, search, summarise.

Kept free of method logic: everything specific lives in the instantiated components.
:func:`prepare` builds them and runs every check that can refuse the config before anything
is pretrained or queried; ``tests/test_configs.py`` runs it on every experiment combined with
every option of every config group.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from nasgen.benchmarks.base import Benchmark, PartialBenchmark, ProtocolSettings, SurrogateBenchmark
from nasgen.build import build
from nasgen.errors import ConfigError, DataError
from nasgen.evaluation.base import CheckedSuite, EvaluationSuite
from nasgen.objective import Objective
from nasgen.predictors.features import FeatureSearch, check_features
from nasgen.ranges import Int, check_ranges
from nasgen.reporting.console import format_value
from nasgen.reporting.results import write_json
from nasgen.search.base import CheckedSearch, GenerativeSearch, ReportingSearch, SearchLoop
from nasgen.search.cell_by_cell import CellByCellSearch
from nasgen.search.oracle import BudgetExhausted, Oracle
from nasgen.spaces.base import CellwiseSpace, SearchSpace
from nasgen.studies.base import Study, StudyContext, TrialStore
from nasgen.utils import seed_everything

log = logging.getLogger(__name__)


CONFIGS = Path(__file__).parent / "configs"  # the package's config groups, to name a profile's readers
PAPER_PROFILE = "paper"  # the profile of the publications' settings, which caps nothing
PROFILE_READ = "${profile."
BUILT_GROUPS = ("search_space", "benchmark", "objective", "search", "study", "evaluation")  # what prepare builds
INTERPOLATION = re.compile(r"\$\{([\w.]+)\}")  # ${node.key}, not resolvers such as ${oc.env:...}
# Config groups that a component reads through an interpolation of the whole node (study=oneshot's
# `supernet: ${supernet}`, benchmark=inverse1d's `problem: ${inverse_task}`); a choice of one that no
# component of the run reads is refused.
INTERPOLATED_GROUPS = ("supernet", "selection", "inverse_task", "das_hparams")
# Of those, the groups some of whose readers cannot refuse a missing choice themselves (objective=inverse1d
# interpolates ${inverse_task.task}): a run that reads one of them with none chosen is refused here.
REQUIRED_WHEN_READ = ("inverse_task", "das_hparams")
TOP_LEVEL_RANGES = {"seed": Int(0), "budget": Int(1), "torch_threads": Int(1)}


class Components(NamedTuple):
    """Everything a run is made of, built and checked."""

    space: SearchSpace
    benchmark: Benchmark
    objective: Objective
    search: SearchLoop | None
    suites: dict[str, EvaluationSuite]
    study: Study | None = None


def prepare(cfg: DictConfig) -> Components:
    """Build the run's components and run every check that can refuse ``cfg``: setting ranges,
    budget against the space, objective against the benchmark, search against space and
    objective, each evaluation suite against objective and benchmark. Nothing is pretrained or
    queried, so every config problem stops the run before it costs anything."""
    _check_top_level(cfg)
    _check_profile(cfg)
    _check_read_groups(cfg)
    space = build(cfg.search_space, "search_space", SearchSpace)
    benchmark = build(cfg.benchmark, "benchmark", Benchmark)
    if benchmark.space.name != space.name:
        raise ConfigError(f"benchmark {benchmark.name} answers for the {benchmark.space.name} space, not for "
                          f"search_space={space.name}; choose search_space={benchmark.space.name} or a benchmark "
                          f"of {space.name}")
    _check_budget(cfg.budget, space, benchmark)
    objective = build(cfg.objective, "objective", Objective)
    objective.check(benchmark)
    if cfg.get("study") is not None:
        return _prepare_study(cfg, space, benchmark, objective)
    if cfg.get("search") is None:
        raise ConfigError("no search chosen (search=null): choose one, e.g. search=random, or a study experiment")
    search = build(cfg.search, "search", SearchLoop)
    _check_predictor_features(cfg, search, benchmark)
    if isinstance(space, CellwiseSpace) and space.graph.cells > 1 and (
            isinstance(search, GenerativeSearch) or cfg.cell_search.all_searches):
        # a fresh search loop per cell type: each phase starts from nothing but the fixed cell
        search = CellByCellSearch(lambda: build(cfg.search, "search", SearchLoop), cfg.cell_search.first_cell,
                                  cfg.cell_search.first_share, cfg.cell_search.first_others)
    if isinstance(search, CheckedSearch):
        search.check(space, objective)
    suites = {name: build(node, f"evaluation.{name}", EvaluationSuite) for name, node in cfg.evaluation.items()}
    for suite in suites.values():
        if isinstance(suite, CheckedSuite):
            suite.check(objective, benchmark)
    return Components(space, benchmark, objective, search, suites)


def _check_predictor_features(cfg: DictConfig, search: SearchLoop, benchmark: Benchmark) -> None:
    """``predictor_features`` need a search whose predictor reads an encoding, and free metrics."""
    features = list(cfg.get("predictor_features") or [])
    if not features:
        return
    if not isinstance(search, FeatureSearch):
        reason = ("its differentiable predictor scores the generator's graph output, which has no proxy values"
                  if isinstance(search, GenerativeSearch) else "it has no predictor that reads an encoding")
        raise ConfigError(f"predictor_features cannot be used with search {type(search).__name__}: {reason}; "
                          f"use search=bananas, bo or gp_bo, or set predictor_features=[]")
    check_features(benchmark, features)


def _prepare_study(cfg: DictConfig, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> Components:
    """A study measures models instead of searching: search, variant and evaluation suites have
    nothing to act on, so a study composed with one is refused rather than silently ignoring it."""
    if cfg.get("search") is not None or cfg.get("evaluation"):
        raise ConfigError("a study (study=...) measures models and does not search: drop the search=, variant= "
                          "and evaluation= options, or choose a search experiment")
    study = build(cfg.study, "study", Study)
    study.check(space, benchmark, objective)
    return Components(space, benchmark, objective, None, {}, study)


def _check_budget(budget: int, space: SearchSpace, benchmark: Benchmark) -> None:
    """A budget no search can spend is refused: more than the distinct (non-isomorphic)
    architectures of the space, or than a partial table that skips what it lacks holds."""
    if budget > space.distinct_architectures:
        raise ConfigError(f"budget={budget} is more than the {space.distinct_architectures} distinct "
                          f"(non-isomorphic) architectures of the {space.name} space, the most a search can query")
    if isinstance(benchmark, PartialBenchmark) and benchmark.skip_missing and budget > benchmark.evaluable_count:
        raise ConfigError(f"budget={budget} is more than the {benchmark.evaluable_count} architectures the "
                          f"{benchmark.name} table holds (benchmark.skip_missing=true passes over the others)")


def _check_profile(cfg: DictConfig) -> None:
    """A compute profile other than the paper's caps the settings that interpolate it
    (``${profile.finetune_epochs}``); a run none of whose built components reads one, directly or
    through a node it interpolates (``generator: ${generator}``), would run the same under any
    profile's name, so it is refused, naming the options that read a profile."""
    profile = cfg.get("profile")
    if profile is None or profile.get("name") == PAPER_PROFILE:
        return
    if _reads_profile(OmegaConf.to_container(cfg, resolve=False)):
        return
    readers = sorted(f"{folder.name}={option.stem}" for folder in CONFIGS.iterdir() if folder.is_dir()
                     for option in folder.glob("*.yaml")
                     if folder.name not in ("profile", "experiment") and PROFILE_READ in option.read_text())
    raise ConfigError(f"profile={profile.get('name')} changes only settings that read it, and no component of this "
                      f"run does; drop profile= (or set profile={PAPER_PROFILE}) or use it with "
                      f"{', '.join(readers) or 'a component that reads it'}")


def _reads_profile(settings: dict) -> bool:
    """Whether a component built from ``settings`` (the unresolved config) reads the profile."""
    return any(PROFILE_READ in text for text in _read_strings(settings))


def _reads_group(settings: dict, group: str, readers: tuple[str, ...] = BUILT_GROUPS) -> bool:
    """Whether a component built from ``settings`` (of the ``readers`` groups) interpolates the
    top-level node ``group`` (``supernet: ${supernet}``), directly or through a node it interpolates."""
    return any(key == group or key.startswith(f"{group}.")
               for text in _read_strings(settings, readers) for key in INTERPOLATION.findall(text))


def _read_strings(settings: dict, readers: tuple[str, ...] = BUILT_GROUPS) -> Iterator[str]:
    """Every string of the ``readers`` groups' nodes and of the nodes they interpolate, transitively."""
    pending: list = [settings.get(key) for key in readers]
    followed: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending += node.values()
        elif isinstance(node, list):
            pending += node
        elif isinstance(node, str):
            yield node
            for key in set(INTERPOLATION.findall(node)) - followed:
                followed.add(key)
                pending.append(_lookup(settings, key))


def _check_read_groups(cfg: DictConfig) -> None:
    """A choice of a group that only some component reads through an interpolation (``supernet``
    and ``selection``, read by study=oneshot) is refused where no component of the run reads it:
    it would change nothing. A group of :data:`REQUIRED_WHEN_READ` that a component reads is
    refused where none is chosen."""
    settings = OmegaConf.to_container(cfg, resolve=False)
    for group in INTERPOLATED_GROUPS:
        if settings.get(group) is None and group in REQUIRED_WHEN_READ and _reads_group(settings, group):
            readers = [key for key in BUILT_GROUPS if _reads_group(settings, group, (key,))]
            options = sorted(option.stem for option in (CONFIGS / group).glob("*.yaml"))
            raise ConfigError(f"the run's {', '.join(readers)} read(s) {group}, and none is chosen; choose "
                              f"{group}={'|'.join(options)}")
        if settings.get(group) is None or _reads_group(settings, group):
            continue
        readers = sorted(f"{folder.name}={option.stem}" for folder in CONFIGS.iterdir() if folder.is_dir()
                         for option in folder.glob("*.yaml")
                         if folder.name != "experiment" and f"${{{group}}}" in option.read_text())
        raise ConfigError(f"{group}= is set, and no component of this run reads it; drop {group}= (or set "
                          f"{group}=null) or use it with {', '.join(readers) or 'a component that reads it'}")


def _lookup(settings: dict, dotted: str) -> object:
    node: object = settings
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _check_top_level(cfg: DictConfig) -> None:
    check_ranges("", TOP_LEVEL_RANGES, cfg)
    if cfg.device not in ("cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise ConfigError(f"unknown device {cfg.device!r}; valid choices: cpu, cuda, cuda:N")
    if str(cfg.device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device=cuda requested but no CUDA GPU is available; use device=cpu")


def run(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None) -> dict:
    """Run the search (or study) described by ``cfg`` and write its outputs to ``run_dir``."""
    space, benchmark, objective, search, suites, study = prepare(cfg)
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.torch_threads)
    if study is not None:
        return _run_study(cfg, run_dir, study, StudyContext(space, benchmark, objective, run_dir, cfg.seed,
                                                            str(cfg.device), TrialStore(run_dir / "trials")),
                          choices or {})
    rng = np.random.default_rng(cfg.seed)

    history = run_dir / "history.csv"
    if history.is_file() and not cfg.resume:
        raise DataError(f"{run_dir} already holds a search history; continue it with "
                        f"`nasgen resume {run_dir}` or choose a new run directory")
    oracle = Oracle(space, benchmark, objective, cfg.budget, history)
    protocol = {"benchmark": benchmark.name,
                **{k: cfg.benchmark[k] for k in ("dataset", "source") if k in cfg.benchmark},
                "search_metric": objective.search_metric, "report_metric": objective.report_metric,
                "maximize": objective.maximize,
                **({"cost_metric": objective.cost_metric} if objective.cost_metric else {}),
                **({"cost_limit": objective.cost_limit} if objective.constrained else {}),
                # values predicted by a model, not measured: say which model
                **({"surrogate": benchmark.surrogate} if isinstance(benchmark, SurrogateBenchmark) else {}),
                **(benchmark.protocol(objective.metrics) if isinstance(benchmark, ProtocolSettings) else {})}
    if isinstance(search, CellByCellSearch):
        protocol["cell_search"] = {"first_cell": search.first_cell, "first_share": search.first_share,
                                   "first_others": search.first_others}
    choices = choices or {}
    method = choices.get("variant") or choices.get("search", type(search).__name__)
    log.info("searching %s with %s: %d queries, search metric %s, reported metric %s",
             protocol.get("dataset", benchmark.name), method,
             cfg.budget, objective.search_metric, objective.report_metric)
    if objective.constrained:
        log.info("constraint: %s <= %g", objective.cost_metric, objective.cost_limit)
    start, status = time.perf_counter(), "interrupted"
    try:
        search.run(space, oracle, rng)
        status = "complete"
    except BudgetExhausted:
        status = "complete"
    finally:
        oracle.close()
        results = {
            "name": cfg.name, "method": method,
            "status": status, "seed": cfg.seed, "budget": cfg.budget, "queries": oracle.spent,
            "protocol": protocol,
            "wall_time_s": round(time.perf_counter() - start, 2),
            "search_stats": search.stats if isinstance(search, ReportingSearch) else {},
            # free metrics (predictor features) read outside the budget, and their cost
            **({"free_metrics": {"reads": oracle.free_reads, "wall_time_s": round(oracle.free_seconds, 2)}}
               if oracle.free_reads else {}),
            "config": OmegaConf.to_container(cfg, resolve=True),
        }
        write_json(run_dir / "results.json", results)
    for suite in suites.values():  # after a complete search; each result is saved before the next suite
        results.update(suite(oracle, benchmark, run_dir))
        write_json(run_dir / "results.json", results)
    if results.get("best"):
        write_json(run_dir / "best_arch.json", results["best"])
    best = results.get("best")
    if best:
        log.info("best architecture %s: %s = %s, %s = %s (%d queries) -> %s", best["arch"], objective.search_metric,
                 format_value(best[objective.search_metric]), objective.report_metric,
                 format_value(best[objective.report_metric]), oracle.spent, run_dir)
    else:
        log.warning("no queried architecture %s (%d queries) -> %s", "satisfies the constraint"
                    if objective.constrained else "was evaluated", oracle.spent, run_dir)
    return results


def _run_study(cfg: DictConfig, run_dir: Path, study: Study, context: StudyContext, choices: dict[str, str]) -> dict:
    """Run ``study``; its finished trials are kept in ``run_dir/trials`` and reused on resume."""
    if context.trials.has_trials() and not cfg.resume:
        raise DataError(f"{run_dir} already holds study trials; continue them with `nasgen resume {run_dir}` or "
                        "choose a new run directory")
    protocol = {"benchmark": context.benchmark.name,
                **{k: cfg.benchmark[k] for k in ("dataset", "source") if k in cfg.benchmark},
                "search_metric": context.objective.search_metric, "report_metric": context.objective.report_metric,
                **({"surrogate": context.benchmark.surrogate}
                   if isinstance(context.benchmark, SurrogateBenchmark) else {}),
                **(context.benchmark.protocol(context.objective.metrics)
                   if isinstance(context.benchmark, ProtocolSettings) else {})}
    method = choices.get("study", type(study).__name__)
    log.info("study %s on %s: models learn %s", method, context.benchmark.name, context.objective.search_metric)
    results = {"name": cfg.name, "method": method, "status": "interrupted", "seed": cfg.seed, "protocol": protocol,
               "config": OmegaConf.to_container(cfg, resolve=True)}
    start = time.perf_counter()
    try:
        found = study(context)
        # a study's protocol adds to the run's (benchmark, metrics) instead of replacing it
        results.update({**found, "protocol": {**protocol, **found.get("protocol", {})}})
        results["status"] = "complete"
    finally:
        results["wall_time_s"] = round(time.perf_counter() - start, 2)
        results["trials_reused"] = context.trials.reused
        write_json(run_dir / "results.json", results)
    log.info("study %s complete in %.0f s -> %s", method, results["wall_time_s"], run_dir)
    return results
