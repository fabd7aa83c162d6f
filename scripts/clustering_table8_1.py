"""Thesis Table 8.1 and Fig. 8.1 (correlation clustering by Benders decomposition) on our instances.

    python scripts/clustering_table8_1.py                      # the default instances, 300 s per solve
    python scripts/clustering_table8_1.py --time-limit 60 --instance "digits_grid index=0,1,2,3"

Solves every instance with BDCC at tau 0.5 and 0 (no Magnanti-Wong rows), the first
``--figure-instances`` also at tau 0.01 and 0.99, and writes into ``--out``: ``table8_1.md`` / ``.csv``
(the fraction of instances with gap <= 0.1 / 1 / 10 after 10 / 50 / 100 / 300 s, serial time for par=0
and the simulated parallel time of the same solves for par=1, beside the thesis' numbers),
``instances.csv`` (every solve) and ``tau_comparison.png`` (Fig. 8.1). ``--processes`` adds solves with
the subproblems in worker processes, read on their real wall-clock; ``--solver lp_presolve=true`` solves in
the regime of the thesis' CPLEX runs (presolved subproblems return weaker duals, so Magnanti-Wong rows
matter more; see ``BendersSolver``).

An instance spec is an option of ``nasgen cluster``'s ``clustering/instance`` group and settings of it;
comma-separated values expand into one instance each (``"fmnist_grid index=0,1,2 block=1"``). Each
finished solve is kept in ``<out>/trials``: a killed study run again with the same arguments solves only
the missing ones. Timings need a quiet machine: solves run one after the other.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time

from nasgen.clustering.study import DEFAULT_INSTANCES, Study
from nasgen.errors import NasgenError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instance", action="append", dest="instances", metavar="SPEC",
                        help=f"instance spec, repeatable (default: {'; '.join(DEFAULT_INSTANCES)})")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds of serial wall-clock per solve")
    parser.add_argument("--figure-instances", type=int, default=3,
                        help="the first this many instances also run tau 0.01 and 0.99 for Fig. 8.1")
    parser.add_argument("--processes", action="store_true",
                        help="also solve with subproblems in worker processes (clustering/solver=bdcc_parallel)")
    parser.add_argument("--solver", action="append", default=[], metavar="KEY=VALUE", dest="solver_settings",
                        help="a setting of clustering/solver=bdcc for every solve, repeatable, e.g. lp_presolve=true "
                             "(the thesis' regime: weaker plain Benders rows) or lp_solver=cbc")
    parser.add_argument("--seed", type=int, default=0, help="the solver's seed (Magnanti-Wong objectives)")
    parser.add_argument("--out", default="outputs/studies/clustering_table8_1")
    args = parser.parse_args(argv)
    # SIGTERM (kill, a scheduler's time limit) and SIGINT also where the shell started the script with it
    # ignored (in the background) stop it like Ctrl-C, as `nasgen run` (nasgen/cli.py)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.default_int_handler)
    started = time.perf_counter()
    try:
        study = Study(args.instances or DEFAULT_INSTANCES, args.out, args.time_limit, args.seed,
                      args.figure_instances, args.processes, args.solver_settings)
        result = study.run()
    except NasgenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; the finished solves are in {args.out}/trials: the same command resumes", file=sys.stderr)
        return 130
    print((study.out / "table8_1.md").read_text())
    print(f"{result['solves']} solves ({result['reused']} reused) in {time.perf_counter() - started:.0f} s; "
          f"wrote {', '.join(result['outputs'])} to {study.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
