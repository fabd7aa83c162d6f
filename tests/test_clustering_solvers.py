"""Correlation-clustering solvers: exactness against brute force and each other, the subproblem duality,
validity of Benders rows, feasibility of roundings, the bounds trace, the time limit, process parallelism."""
from __future__ import annotations

import time

import numpy as np
import pulp
import pytest

from nasgen.clustering import lp
from nasgen.clustering.bdcc import Decomposition, mwr_direction, solve_subproblem, vertex_cover
from nasgen.clustering.cycles import broken_cycles
from nasgen.clustering.instance import Instance, blob_grid_instance, random_instance
from nasgen.clustering.rounding import MinCutRounding, ThresholdRounding
from nasgen.clustering.solvers import BendersSolver, BruteForce, CycleCuttingPlane, Solver, set_partitions
from nasgen.errors import ConfigError, DataError

HIGHS = lp.backend("highs")


def small_instances(count: int, seed: int = 0) -> list[Instance]:
    rng = np.random.default_rng(seed)
    return [random_instance(rng, int(rng.integers(2, 11)), rng.uniform(0.2, 0.9), name=f"small{k}")
            for k in range(count)]


def sparse_instance(seed: int, num_nodes: int, degree: float = 4.0) -> Instance:
    rng = np.random.default_rng(seed)
    return random_instance(rng, num_nodes, degree / (num_nodes - 1), name=f"sparse{seed}")


def grid_instance(side: int, seed: int = 0) -> Instance:
    return blob_grid_instance(np.random.default_rng(seed), side)


# -- Instance ------------------------------------------------------------------------------------------------


def test_instance_normalises_edges_and_scores_cuts():
    inst = Instance.from_edges("t", 4, [[1, 0], [0, 1], [2, 2], [2, 3], [1, 2], [2, 0]],
                               [1.0, 2.0, 5.0, -1.0, 0.5, 1.0])
    assert inst.edges.tolist() == [[0, 1], [0, 2], [1, 2], [2, 3]]  # merged, self-loop dropped, sorted
    assert inst.weights.tolist() == [3.0, 1.0, 0.5, -1.0]
    cut = inst.cut_of(np.array([0, 0, 1, 1]))
    assert cut.tolist() == [0, 1, 1, 0]
    assert inst.objective(cut) == pytest.approx(1.0 + 0.5 + 1.0)  # two attractive cut, |-1| kept
    assert inst.is_multicut(cut)
    lonely = np.array([1, 0, 0, 0])  # cuts (0, 1) although 0 and 1 stay joined through 2
    assert not inst.is_multicut(lonely) and inst.components(lonely).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        inst.edges[0, 0] = 5  # read-only


@pytest.mark.parametrize("edges, weights, message", [
    ([[0, 7]], [1.0], "node ids must lie in"),
    ([[0, 1]], [np.nan], "finite"),
    ([[0, 1], [1, 2]], [1.0], "2 edges but weights"),
    ([0, 1, 2], [1.0], "pairs of node ids"),
])
def test_instance_rejects_malformed_input_in_one_line(edges, weights, message):
    with pytest.raises(DataError, match=message) as error:
        Instance.from_edges("bad", 3, edges, weights)
    assert "\n" not in str(error.value)


# -- exactness -----------------------------------------------------------------------------------------------


def test_set_partitions_are_bell_many_and_distinct():
    assert [len(set_partitions(n)) for n in range(1, 11)] == [1, 2, 5, 15, 52, 203, 877, 4140, 21147, 115975]
    strings = set_partitions(6)
    assert len({tuple(s) for s in strings}) == len(strings)
    assert np.all(strings.max(axis=1) < 6) and np.all(strings[:, 0] == 0)


def test_exact_solvers_equal_brute_force_on_random_small_graphs():
    """120 random signed graphs of 2-10 nodes (``scripts/clustering_exactness.py`` runs hundreds)."""
    solvers = [BendersSolver(tau=0.0), BendersSolver(tau=0.5), BendersSolver(tau=0.5, rounding="mincut",
               mwr_objective="inverse_weight", vertex_cover="greedy", lp_presolve=True), CycleCuttingPlane()]
    for k, inst in enumerate(small_instances(120)):
        reference = BruteForce().solve(inst, 60, np.random.default_rng(k)).objective
        for solver in solvers:
            solution = solver.solve(inst, 60, np.random.default_rng(k))
            assert solution.optimal, (inst.name, solver.name)
            assert solution.objective == pytest.approx(reference, abs=1e-6), (inst.name, solver.name)
            assert solution.lower_bound == pytest.approx(reference, abs=1e-6)
            assert inst.is_multicut(solution.cut)
            assert np.array_equal(inst.cut_of(solution.partition), solution.cut)
            assert solution.objective == pytest.approx(inst.objective(solution.cut))


@pytest.mark.parametrize("tiny", [0.0, 1e-8])
def test_zero_and_below_tolerance_weights_still_give_the_optimum(tiny):
    """A weight of 0 (BDCC's subproblem then sees no repair cost) or below the LP tolerance (the master
    ignores it): the solvers still end on a clustering whose cost meets the bound."""
    rng = np.random.default_rng(3)
    for k in range(40):
        base = random_instance(rng, int(rng.integers(3, 11)), rng.uniform(0.3, 0.9))
        weights = base.weights.copy()
        small = rng.random(len(weights)) < 0.3
        weights[small] = tiny * rng.choice([1.0, -1.0], size=small.sum())
        inst = Instance.from_edges(f"tiny{k}", base.num_nodes, base.edges, weights)
        reference = BruteForce().solve(inst, 60, rng).objective
        for solver in (BendersSolver(tau=0.0), BendersSolver(tau=0.5), CycleCuttingPlane()):
            solution = solver.solve(inst, 60, np.random.default_rng(k))
            assert solution.optimal and inst.is_multicut(solution.cut), (inst.name, solver.name)
            assert solution.objective == pytest.approx(reference, abs=1e-6), (inst.name, solver.name)


def test_broken_cycles_are_the_cycles_a_non_clustering_breaks():
    inst = Instance.from_edges("square", 4, [[0, 1], [1, 2], [2, 3], [0, 3], [0, 2]], [1.0, 1.0, 1.0, 1.0, -1.0])
    assert broken_cycles(inst, inst.cut_of(np.array([0, 0, 1, 1]))).shape[0] == 0
    lonely = np.array([0, 0, 0, 0, 1])  # the diagonal cut, the square around it not
    rows = broken_cycles(inst, lonely).toarray()
    assert rows.shape[0] == 1 and rows[0] @ lonely == 1 and rows[0, 4] == 1 and (rows[0] == -1).sum() == 2


def test_cbc_backend_is_exact_too():
    for k, inst in enumerate(small_instances(8, seed=1)):
        reference = BruteForce().solve(inst, 60, np.random.default_rng(k)).objective
        for solver in (BendersSolver(tau=0.5, lp_solver="cbc"), CycleCuttingPlane(lp_solver="cbc")):
            assert solver.solve(inst, 60, np.random.default_rng(k)).objective == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize("seed, num_nodes", [(1, 20), (2, 30), (3, 40), (4, 40)])
def test_bdcc_equals_the_cycle_ilp_on_larger_graphs(seed, num_nodes):
    inst = sparse_instance(seed, num_nodes)
    reference = CycleCuttingPlane().solve(inst, 60, np.random.default_rng(0))
    assert reference.optimal
    for tau in (0.0, 0.5):
        solution = BendersSolver(tau=tau).solve(inst, 60, np.random.default_rng(0))
        assert solution.optimal and solution.objective == pytest.approx(reference.objective, abs=1e-6)


def test_brute_force_refuses_big_graphs_in_one_line():
    with pytest.raises(ConfigError, match="at most 10 nodes.*has 11") as error:
        BruteForce().solve(sparse_instance(0, 11), 1, np.random.default_rng(0))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"tau": 1.5}, "tau must lie in"), ({"parallel": "threads"}, "unknown bdcc.parallel"),
    ({"lp_solver": "cplex"}, "unknown lp_solver"), ({"rounding": "qpbo"}, "unknown bdcc.rounding"),
])
def test_bdcc_rejects_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BendersSolver(**kwargs)


def test_solvers_satisfy_the_protocol():
    assert all(isinstance(s, Solver) for s in (BendersSolver(), CycleCuttingPlane(), BruteForce()))


# -- subproblems and rows ------------------------------------------------------------------------------------


def test_vertex_covers_cover_the_repulsive_edges_and_the_ilp_is_minimum():
    for seed in range(6):
        inst = sparse_instance(30 + seed, 10, degree=5.0)
        minus = inst.edges[inst.repulsive]
        subsets = (np.arange(2 ** 10)[:, None] >> np.arange(10)) & 1
        covering = subsets[np.all(subsets[:, minus[:, 0]] | subsets[:, minus[:, 1]], axis=1)]
        exact, greedy = vertex_cover(inst, "ilp", HIGHS), vertex_cover(inst, "greedy", HIGHS)
        for cover in (exact, greedy):
            assert np.all(cover[minus[:, 0]] | cover[minus[:, 1]])
        assert exact.sum() == covering.sum(axis=1).min() <= greedy.sum()


def primal_subproblem(inst: Instance, root: int, owned: np.ndarray, x: np.ndarray) -> float:
    """(8.7) written out on the whole graph, independently of ``bdcc``'s dual."""
    problem = pulp.LpProblem("primal", pulp.LpMinimize)
    m = {v: problem.add_variable(f"m{v}", 0) for v in range(inst.num_nodes) if v != root}

    def level(v):
        return 0 if v == root else m[v]

    plus = np.flatnonzero(~inst.repulsive)
    f = {int(e): problem.add_variable(f"f{e}", 0) for e in np.concatenate([plus, owned])}
    problem += pulp.lpSum(abs(inst.weights[e]) * f[e] for e in f)
    for e in plus:
        i, j = map(int, inst.edges[e])
        if root in (i, j):
            problem += level(j if i == root else i) <= x[e] + f[e]
        else:
            problem += level(i) - level(j) <= x[e] + f[e]
            problem += level(j) - level(i) <= x[e] + f[e]
    for e in owned:
        i, j = map(int, inst.edges[e])
        problem += x[e] - f[e] <= level(j if i == root else i)
    problem.solve(pulp.PULP_CBC_CMD(msg=False))
    return pulp.value(problem.objective) or 0.0


def test_dual_subproblem_value_equals_the_primal():
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(6):
        inst = sparse_instance(seed, 12, degree=4.0)
        cover = vertex_cover(inst, "ilp", HIGHS)
        decomposition = Decomposition.build(inst, cover)
        minus = np.flatnonzero(inst.repulsive)
        owner = np.where(cover[inst.edges[minus, 0]], inst.edges[minus, 0], inst.edges[minus, 1])
        for _ in range(3):
            x = rng.random(inst.num_edges) * (rng.random(inst.num_edges) < 0.6)
            for root in np.unique(owner):
                primal = primal_subproblem(inst, int(root), minus[owner == root], x)
                found = np.flatnonzero(decomposition.roots == root)
                dual = 0.0
                for backend in ("highs", "cbc"):
                    if len(found):
                        program = decomposition.subproblems[found[0]].program(x)
                        dual = lp.backend(backend).model(program).solve().value
                    assert dual == pytest.approx(primal, abs=1e-7), (seed, root, backend)
                checked += primal > 1e-6
    assert checked >= 10  # the comparison met violated subproblems, not only Q = 0


def test_benders_and_mwr_rows_keep_every_clustering_and_cut_off_x():
    rng = np.random.default_rng(1)
    for seed in range(5):
        inst = sparse_instance(10 + seed, 14, degree=5.0)
        decomposition = Decomposition.build(inst, vertex_cover(inst, "ilp", HIGHS))
        clusterings = np.array([inst.cut_of(rng.integers(0, rng.integers(1, 6), inst.num_nodes))
                                for _ in range(300)], dtype=np.float64)
        for _ in range(3):
            x = rng.random(inst.num_edges) * (rng.random(inst.num_edges) < 0.5)
            for index in decomposition.violated(inst, x):
                for kind in ("random", "inverse_weight"):
                    result = solve_subproblem(decomposition.subproblems[index], x, HIGHS, inst.num_edges, 0.5,
                                              mwr_direction(kind, inst, rng))
                    assert result.value > 0 and len(result.rows) >= 1
                    assert np.all(result.rows @ x > 0)            # each row cuts the master point off
                    assert np.all(clusterings @ result.rows.T <= 1e-9)  # and no clustering


def test_roundings_always_give_a_clustering():
    rng = np.random.default_rng(2)
    for seed in range(6):
        inst = sparse_instance(20 + seed, 25, degree=5.0)
        decomposition = Decomposition.build(inst, vertex_cover(inst, "greedy", HIGHS))
        for rounding in (ThresholdRounding(), MinCutRounding(decomposition)):
            for _ in range(5):
                cut = rounding.round(inst, rng.random(inst.num_edges))
                assert inst.is_multicut(cut)


def test_mincut_rounding_keeps_an_optimal_clustering():
    inst = sparse_instance(5, 30)
    optimum = CycleCuttingPlane().solve(inst, 60, np.random.default_rng(0))
    decomposition = Decomposition.build(inst, vertex_cover(inst, "ilp", HIGHS))
    rounded = MinCutRounding(decomposition).round(inst, optimum.cut.astype(float))
    assert inst.objective(rounded) == pytest.approx(optimum.objective)


# -- trace, time limit, parallelism ---------------------------------------------------------------------------


def test_trace_bounds_move_monotonically_and_reach_the_reported_solution():
    inst = grid_instance(12)
    seen = []
    solution = BendersSolver(tau=0.5).solve(inst, 60, np.random.default_rng(0), on_trace=seen.append)
    trace = solution.trace
    assert seen == trace and solution.optimal
    assert {p.phase for p in trace} <= {"lp", "ilp"} and trace[0].phase == "lp"
    for phase in ("lp", "ilp"):
        lower = [p.lower_bound for p in trace if p.phase == phase]
        assert all(b >= a - 1e-7 for a, b in zip(lower, lower[1:]))
    upper = [p.upper_bound for p in trace]
    assert all(b <= a for a, b in zip(upper, upper[1:]))
    assert all(b.seconds >= a.seconds and b.rows >= a.rows for a, b in zip(trace, trace[1:]))
    assert all(p.parallel_seconds <= p.seconds + 1e-9 for p in trace)
    assert trace[-1].upper_bound == pytest.approx(solution.objective)
    assert max(p.lower_bound for p in trace) == pytest.approx(solution.lower_bound)
    assert solution.stats["subproblems_solved"] > 0 and solution.stats["mwr_rows"] > 0


def test_time_limit_stops_cleanly_with_bounds():
    inst = grid_instance(28, seed=28)  # without MWR, presolved duals: not solved in 30 s
    began = time.perf_counter()
    solution = BendersSolver(tau=0.0, lp_presolve=True).solve(inst, 1.0, np.random.default_rng(0))
    assert time.perf_counter() - began < 3.0
    assert not solution.optimal and solution.trace
    assert solution.lower_bound <= solution.objective and inst.is_multicut(solution.cut)


def test_same_seed_same_run():
    inst = grid_instance(10, seed=3)
    runs = [BendersSolver(tau=0.5).solve(inst, 60, np.random.default_rng(7)) for _ in range(2)]
    assert runs[0].objective == runs[1].objective
    assert [p.rows for p in runs[0].trace] == [p.rows for p in runs[1].trace]


def test_processes_give_the_serial_optimum_and_trajectory():
    inst = grid_instance(14, seed=1)
    serial = BendersSolver(tau=0.5).solve(inst, 120, np.random.default_rng(0))
    parallel = BendersSolver(tau=0.5, parallel="processes", workers=2).solve(inst, 120, np.random.default_rng(0))
    assert serial.optimal and parallel.optimal
    assert parallel.objective == pytest.approx(serial.objective)
    assert [p.rows for p in parallel.trace] == [p.rows for p in serial.trace]
    assert parallel.stats["subproblems_solved"] == serial.stats["subproblems_solved"]
