"""Exactness of the correlation-clustering solvers: BDCC and the cycle cutting plane against brute force
on random signed graphs of up to 10 nodes (also with weights of 0 and below the LP tolerance), and BDCC
against the cycle-cutting-plane ILP on larger ones.

    python scripts/clustering_exactness.py [--small 300] [--tiny 100] [--large 30] [--lp-solver highs] [--seed 0]

Prints the number of graphs checked per solver and every mismatch (objective differs by more than 1e-6,
or a solver did not prove optimality); exits 1 if there was any.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from nasgen.clustering.instance import Instance, random_instance
from nasgen.clustering.solvers import BendersSolver, BruteForce, CycleCuttingPlane, Solver


def check(reference: Solver, solvers: dict[str, Solver], instances: list[Instance], seed: int) -> int:
    """Solve every instance with ``reference`` and each solver; print mismatches, return their count."""
    mismatches = 0
    seconds = dict.fromkeys(solvers, 0.0)
    for k, inst in enumerate(instances):
        expected = reference.solve(inst, 600, np.random.default_rng(seed + k))
        for name, solver in solvers.items():
            began = time.perf_counter()
            got = solver.solve(inst, 600, np.random.default_rng(seed + k))
            seconds[name] += time.perf_counter() - began
            if abs(got.objective - expected.objective) > 1e-6 or not got.optimal or not inst.is_multicut(got.cut):
                mismatches += 1
                print(f"  MISMATCH {inst.name} ({inst.num_nodes} nodes, {inst.num_edges} edges) {name}: "
                      f"{got.objective:.6f} (optimal={got.optimal}) vs {reference.name} {expected.objective:.6f}")
    for name in solvers:
        print(f"  {name:28s} {len(instances)} graphs, {seconds[name]:.1f} s")
    return mismatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=300, help="random graphs of 2-10 nodes vs brute force")
    parser.add_argument("--tiny", type=int, default=100,
                        help="random graphs of 2-10 nodes with 30%% of the weights set to 0 or +-1e-8")
    parser.add_argument("--large", type=int, default=30, help="random graphs of 20-40 nodes vs the cycle ILP")
    parser.add_argument("--lp-solver", default="highs", choices=["highs", "cbc"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    solver = args.lp_solver
    bdcc = {"bdcc tau=0": BendersSolver(tau=0.0, lp_solver=solver),
            "bdcc tau=0.5": BendersSolver(tau=0.5, lp_solver=solver),
            "bdcc tau=0.5 inverse_weight": BendersSolver(tau=0.5, mwr_objective="inverse_weight", lp_solver=solver),
            "bdcc tau=0.5 greedy mincut": BendersSolver(tau=0.5, vertex_cover="greedy", rounding="mincut",
                                                        lp_solver=solver),
            "bdcc tau=0.5 lp_presolve": BendersSolver(tau=0.5, lp_presolve=True, lp_solver=solver)}
    small = [random_instance(rng, int(rng.integers(2, 11)), rng.uniform(0.2, 0.9), name=f"small{k}")
             for k in range(args.small)]
    print(f"{args.small} random graphs of 2-10 nodes against brute force:")
    mismatches = check(BruteForce(), {**bdcc, "cycle cutting plane": CycleCuttingPlane(lp_solver=solver)}, small,
                       args.seed)
    tiny = []
    for k in range(args.tiny):
        base = random_instance(rng, int(rng.integers(2, 11)), rng.uniform(0.3, 0.9))
        weights = base.weights.copy()
        small = rng.random(len(weights)) < 0.3
        weights[small] = rng.choice([0.0, 1e-8, -1e-8], size=small.sum())
        tiny.append(Instance.from_edges(f"tiny{k}", base.num_nodes, base.edges, weights))
    print(f"{args.tiny} random graphs of 2-10 nodes with weights of 0 and +-1e-8 against brute force:")
    mismatches += check(BruteForce(), {**bdcc, "cycle cutting plane": CycleCuttingPlane(lp_solver=solver)}, tiny,
                        args.seed)
    large = []
    for k in range(args.large):
        n = int(rng.integers(20, 41))
        large.append(random_instance(rng, n, rng.uniform(3.0, 5.0) / (n - 1), name=f"large{k}"))
    print(f"{args.large} random graphs of 20-40 nodes (average degree 3-5) against the cycle cutting plane ILP:")
    mismatches += check(CycleCuttingPlane(lp_solver=solver), bdcc, large, args.seed)
    print(f"{'no' if not mismatches else mismatches} mismatches")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
