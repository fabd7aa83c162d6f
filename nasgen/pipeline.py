"""One run: build the components from the composed config, search, summarise.

Kept free of method logic: everything specific lives in the instantiated components.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nasgen.errors import ConfigError, DataError, NasgenError
from nasgen.reporting.console import format_value
from nasgen.reporting.results import write_json
from nasgen.search.oracle import BudgetExhausted, Oracle
from nasgen.utils import seed_everything

log = logging.getLogger(__name__)


def build(node: DictConfig, what: str, **kwargs):
    """``hydra.utils.instantiate`` that surfaces nasgen's own errors instead of Hydra's wrapper."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, NasgenError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise ConfigError(f"invalid {what} config: {exc}") from None


def _check_top_level(cfg: DictConfig) -> None:
    if not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {cfg.seed!r}")
    if not isinstance(cfg.budget, int) or cfg.budget < 1:
        raise ConfigError(f"budget must be a positive integer, got {cfg.budget!r}")
    if cfg.device not in ("cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise ConfigError(f"unknown device {cfg.device!r}; valid choices: cpu, cuda, cuda:N")
    if str(cfg.device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device=cuda requested but no CUDA GPU is available; use device=cpu")


def run(cfg: DictConfig, run_dir: Path, choices: dict[str, str] | None = None) -> dict:
    """Run the search described by ``cfg`` and write its outputs to ``run_dir``."""
    _check_top_level(cfg)
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.torch_threads)
    rng = np.random.default_rng(cfg.seed)

    space = build(cfg.search_space, "search_space")
    benchmark = build(cfg.benchmark, "benchmark")
    objective = build(cfg.objective, "objective")
    objective.check(benchmark)
    search = build(cfg.search, "search")
    suites = {name: build(node, f"evaluation.{name}") for name, node in cfg.evaluation.items()}
    for suite in suites.values():  # refuse a config a suite cannot evaluate before paying for the search
        if hasattr(suite, "check"):
            suite.check(objective, benchmark)

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
                **({"cost_limit": objective.cost_limit} if objective.constrained else {})}
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
            "search_stats": getattr(search, "stats", {}),
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
