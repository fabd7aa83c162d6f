"""How fast the clustering solvers' LPs/ILPs are with CBC (through PuLP), HiGHS through PuLP and HiGHS
through highspy directly (nasgen's ``lp_solver=highs``).

    python scripts/clustering_lp_speed.py [--sides 12 20 28] [--time-limit 300]

1. the fixed cost of one solve (a 2-variable LP), 2. BDCC's dual subproblem LPs at the first master
point of a 28x28 blob grid, 3. the master ILP with the rows of a finished cycle cutting plane run, and
4. whole BDCC (tau = 0.5) and cycle-cutting-plane solves of blob grids with each ``lp_solver``.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import numpy as np
from scipy.sparse import csr_matrix, vstack

from nasgen.clustering import lp
from nasgen.clustering.bdcc import Decomposition, vertex_cover
from nasgen.clustering.cycles import violated_cycles
from nasgen.clustering.instance import blob_grid_instance
from nasgen.clustering.solvers import BendersSolver, CycleCuttingPlane, master_program


def pulp_highs(time_limit_s: float, integral: bool, warm_start: bool):
    import pulp

    return pulp.HiGHS(msg=False, gapRel=0.0, gapAbs=0.0, threads=1,
                      timeLimit=None if math.isinf(time_limit_s) else time_limit_s)


MAKERS = {
    "cbc (PuLP)": lambda program: lp.PulpModel(program, lp.cbc),
    "highs (PuLP)": lambda program: lp.PulpModel(program, pulp_highs),
    "highs (highspy)": lambda program: lp.HighsModel(program),
}


def timed(make, programs) -> tuple[float, list[float]]:
    began = time.perf_counter()
    values = [make(p).solve().value for p in programs]
    return (time.perf_counter() - began) / len(programs), values


def report(title: str, programs: list[lp.LinearProgram]) -> None:
    print(f"\n{title}")
    reference = None
    for name, make in MAKERS.items():
        seconds, values = timed(make, programs)
        reference = values if reference is None else reference
        agree = np.allclose(values, reference, atol=1e-6)
        print(f"  {name:16s} {1000 * seconds:9.1f} ms per solve{'' if agree else '   VALUES DIFFER'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[12, 20, 28])
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args()

    tiny = lp.LinearProgram(np.array([-1.0, -1.0]), np.zeros(2), np.ones(2), csr_matrix(np.array([[2.0, 1.0]])),
                            np.array([-np.inf]), np.array([1.5]))
    report("1. a 2-variable LP (fixed cost per solve), 20 solves", [tiny] * 20)

    inst = blob_grid_instance(np.random.default_rng(28), 28)
    x = lp.HighsModel(master_program(inst)).solve().x
    decomposition = Decomposition.build(inst, vertex_cover(inst, "ilp", lp.backend("highs")))
    hits = decomposition.violated(inst, x)[:20]
    sub = decomposition.subproblems[hits[0]]
    report(f"2. BDCC dual subproblems at the first master LP point, 28x28 grid ({len(sub.edges)} columns, "
           f"{sub.rows.shape[0]} rows), {len(hits)} solves",
           [decomposition.subproblems[i].program(x) for i in hits])

    model, collected = lp.HighsModel(master_program(inst)), []
    while True:
        x = model.solve().x
        rows = violated_cycles(inst, x)
        if not rows.shape[0]:
            break
        model.add_rows(rows, np.full(rows.shape[0], -np.inf), np.zeros(rows.shape[0]))
        collected.append(rows)
    rows = vstack(collected, format="csr")
    master = replace(master_program(inst), rows=rows, row_lower=np.full(rows.shape[0], -np.inf),
                     row_upper=np.zeros(rows.shape[0]), integral=True)
    report(f"3. the master ILP after the LP phase of the cycle cutting plane, 28x28 grid ({inst.num_edges} "
           f"columns, {master.rows.shape[0]} rows), 1 solve", [master])

    print("\n4. whole solves of blob grids (seconds; master / separation seconds)")
    for side in args.sides:
        grid = blob_grid_instance(np.random.default_rng(side), side)
        for solver_name, make in (("bdcc tau=0.5", lambda s: BendersSolver(tau=0.5, lp_solver=s)),
                                  ("cycle cutting plane", lambda s: CycleCuttingPlane(lp_solver=s))):
            cells = []
            for backend in ("cbc", "highs"):
                began = time.perf_counter()
                solution = make(backend).solve(grid, args.time_limit, np.random.default_rng(0))
                cells.append(f"{backend} {time.perf_counter() - began:7.2f} s "
                             f"({solution.stats['master_seconds']:.2f} / {solution.stats['separation_seconds']:.2f})"
                             f"{'' if solution.optimal else ' NOT SOLVED'}")
            print(f"  {side}x{side} ({grid.num_edges} edges) {solver_name:20s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
