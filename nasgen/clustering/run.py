"""``nasgen cluster``: build the configured instance, solve it, write the run directory.

Outputs (``outputs/cluster/DATE/TIME/``): ``partition.json`` (a cluster label per node),
``bounds_trace.csv`` (appended while solving, see :mod:`nasgen.clustering.report`), ``summary.json``
(objective, bounds, gap, optimality, the solver's stats, the instance's size, and for instances with
ground-truth labels Rand index and variation of information), ``gap_vs_time.png`` (thesis Fig. 8.1's
layout), ``partition.png`` (the clusters drawn at the nodes' coordinates, for instances that have them:
the segmentation of an image grid) and ``instance.txt`` (the instance in the text format, unless
``save_instance=false``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from time import perf_counter
from typing import Callable

import numpy as np
from omegaconf import DictConfig

from nasgen.build import build
from nasgen.clustering.instance import Instance
from nasgen.clustering.instances import DescribesClusters, InstanceSource, write_text
from nasgen.clustering.metrics import num_clusters, rand_index, variation_of_information
from nasgen.clustering.report import TraceWriter, plot_gap_vs_time, plot_partition, trace_row
from nasgen.clustering.solvers import Solution, Solver, TracePoint
from nasgen.errors import ConfigError
from nasgen.reporting.results import write_json

log = logging.getLogger("nasgen")


def instance_size(instance: Instance) -> dict:
    return {"name": instance.name, "nodes": instance.num_nodes, "edges": instance.num_edges,
            "repulsive": int(np.sum(instance.weights < 0))}


def solve(solver: Solver, instance: Instance, time_limit_s: float, seed: int,
          on_trace: Callable[[TracePoint], None] | None = None) -> tuple[dict, Solution]:
    """Solve ``instance`` with a generator seeded by ``seed``; returns the summary (with the trace as rows
    under ``trace``) and the solution. ``on_trace`` also sees every trace point as it comes."""
    if not float(time_limit_s) > 0:
        raise ConfigError(f"time_limit_s must be > 0, got {time_limit_s}")
    trace: list[dict] = []

    def record(point: TracePoint) -> None:
        trace.append(trace_row(point))
        if on_trace is not None:
            on_trace(point)

    started = perf_counter()
    solution = solver.solve(instance, float(time_limit_s), np.random.default_rng(seed), on_trace=record)
    seconds = perf_counter() - started
    summary = {"instance": instance_size(instance), "solver": solver.name, "time_limit_s": float(time_limit_s),
               "seed": int(seed), "objective": solution.objective, "lower_bound": solution.lower_bound,
               "gap": max(0.0, solution.objective - solution.lower_bound), "optimal": solution.optimal,
               "clusters": num_clusters(solution.partition), "seconds": seconds,
               "parallel_seconds": trace[-1]["parallel_seconds"] if trace else None, "stats": solution.stats}
    if instance.labels is not None:
        summary.update(true_clusters=num_clusters(instance.labels),
                       rand_index=rand_index(instance.labels, solution.partition),
                       variation_of_information=variation_of_information(instance.labels, solution.partition))
    return {**summary, "trace": trace}, solution


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """``nasgen cluster`` in ``run_dir``: returns what ``summary.json`` holds."""
    source = build(cfg.clustering.instance, "clustering.instance", InstanceSource)
    solver = build(cfg.clustering.solver, "clustering.solver", Solver)
    instance = source.build()
    log.info("instance %s: %d nodes, %d edges (%d repulsive); solver %s, time limit %g s", instance.name,
             instance.num_nodes, instance.num_edges, int(np.sum(instance.weights < 0)), solver.name,
             cfg.time_limit_s)
    outputs = ["partition.json", "bounds_trace.csv", "summary.json", "gap_vs_time.png"]
    if cfg.save_instance:
        write_text(instance, run_dir / "instance.txt")
        outputs.append("instance.txt")
    with TraceWriter(run_dir / "bounds_trace.csv") as writer:
        result, solution = solve(solver, instance, cfg.time_limit_s, cfg.seed, on_trace=writer)
    trace = result.pop("trace")
    write_json(run_dir / "partition.json", {"instance": instance.name, "labels": solution.partition})
    if isinstance(source, DescribesClusters):
        result["cluster_summary"] = source.describe_clusters(instance, solution.partition)
    if instance.coordinates is not None:
        plot_partition(instance.coordinates, solution.partition, f"{instance.name}: {result['clusters']} clusters",
                       run_dir / "partition.png")
        outputs.append("partition.png")
    result["outputs"] = outputs
    write_json(run_dir / "summary.json", result)
    plot_gap_vs_time([(f"{instance.name} ({instance.num_nodes} nodes, {instance.num_edges} edges)",
                       [(solver.name, "red", trace)])], run_dir / "gap_vs_time.png")
    quality = (f"; Rand index {result['rand_index']:.3f}, VI {result['variation_of_information']:.3f} nats "
               f"({result['clusters']} clusters, {result['true_clusters']} classes)" if "rand_index" in result
               else f"; {result['clusters']} clusters")
    log.info("objective %.6g, lower bound %.6g, gap %.3g, %s after %.1f s%s; wrote %s to %s", result["objective"],
             result["lower_bound"], result["gap"], "optimal" if result["optimal"] else "not proven optimal",
             result["seconds"], quality, ", ".join(outputs), run_dir)
    return result
