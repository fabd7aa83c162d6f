"""The ``nasgen`` command.

    nasgen run [hydra overrides]     run a search (any Hydra feature: -m, --cfg job, --help, ...);
                                     the default experiment is the quickstart (a small AG-Net search
                                     with real training on scikit-learn's digits and a robustness
                                     report), also with overrides: `nasgen run seed=3` is the
                                     quickstart with seed 3; `experiment=NAME` replaces it and
                                     `experiment=none` leaves the bare config defaults
    nasgen resume RUN_DIR            continue a killed run without repeating paid queries
    nasgen cluster [hydra overrides] correlation clustering of a signed graph (thesis ch. 8: Benders
                                     decomposition with Magnanti-Wong rows, or a baseline), own
                                     config root configs/cluster.yaml: `nasgen cluster --help`
    nasgen report PATH... [--out DIR] [--budgets N...] [--reference NAME...]
                                     tables + curves of runs / sweeps (partial ones too;
                                     one-shot runs: oneshot.md + the trajectory plot; the 1-D
                                     inverse-problem study: das_inverse_table.md + the scatter)
    nasgen data {list,import,verify} manage benchmark tables
    nasgen data score-proxies ...    score training-free proxies of a space into the cache
"""
from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import nasgen.rundir  # noqa: F401  (registers the nasgen.fresh_dir resolver the config uses)
from nasgen.errors import NasgenError

log = logging.getLogger("nasgen")
USAGE = __doc__.strip()
INTERRUPTED = 128 + signal.SIGINT  # the shell's exit status for a process stopped by Ctrl-C


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def _hydra_run(cfg: DictConfig) -> float | None:
    from nasgen.pipeline import run

    hydra_cfg = HydraConfig.get()
    try:
        results = run(cfg, Path(hydra_cfg.runtime.output_dir), dict(hydra_cfg.runtime.choices))
    except NasgenError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the pipeline has saved results.json as interrupted
        log.error("interrupted; resume with `nasgen resume %s`", hydra_cfg.runtime.output_dir)
        raise SystemExit(INTERRUPTED) from None
    best = results.get("best") or {}
    return best.get(results["protocol"]["report_metric"])  # for Hydra sweepers


@hydra.main(version_base="1.3", config_path="configs", config_name="cluster")
def _hydra_cluster(cfg: DictConfig) -> float:
    from nasgen.clustering.run import run

    try:
        return run(cfg, Path(HydraConfig.get().runtime.output_dir))["objective"]  # for Hydra sweepers
    except NasgenError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None


def _cluster(args: list[str]) -> int:
    sys.argv = ["nasgen cluster", *args]
    _hydra_cluster()
    return 0


def _run(args: list[str]) -> int:
    sys.argv = ["nasgen run", *args]  # the default experiment is config.yaml's, whatever the overrides
    _hydra_run()
    return 0


def _resume(args: list[str]) -> int:
    if len(args) < 1:
        print("usage: nasgen resume RUN_DIR [extra overrides]", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.is_file() or not (run_dir / ".hydra" / "config.yaml").is_file():
        print(f"nasgen: error: {run_dir} is not a nasgen run directory (no .hydra/overrides.yaml and "
              f".hydra/config.yaml)", file=sys.stderr)
        return 1
    # the composed config is checked against the saved one (nasgen.rundir.RunDirectories)
    previous = [o for o in yaml.safe_load(overrides_file.read_text()) or []
                if not o.startswith(("hydra.run.dir=", "resume="))]
    return _run([*previous, *_experiment_of(run_dir, previous), *args[1:], f"hydra.run.dir={run_dir}",
                 "resume=true"])


def _experiment_of(run_dir: Path, overrides: list[str]) -> list[str]:
    """``experiment=...`` as the run composed it, where its overrides do not name it: the default
    experiment may have changed since (runs made before quickstart became the default had none)."""
    if any(o.lstrip("+~").startswith("experiment=") for o in overrides):
        return []
    hydra_file = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_file.is_file():
        return []
    choices = ((yaml.safe_load(hydra_file.read_text()) or {}).get("hydra", {}).get("runtime", {})
               .get("choices", {}))
    if "experiment" not in choices:
        return []
    return [f"experiment={choices['experiment'] or 'none'}"]


def _report(args: list[str]) -> int:
    import argparse

    from nasgen.reporting.references import ONESHOT_REFERENCES, REFERENCES
    from nasgen.reporting.report import write_report

    parser = argparse.ArgumentParser(prog="nasgen report", description="Summarise nasgen runs and sweeps: "
                                     "mean ± std over seeds of the best architecture at given budgets, the "
                                     "best value of each metric over all queried architectures, and any-time "
                                     "curves. Works on running or interrupted sweeps.")
    parser.add_argument("paths", nargs="+", help="run directories or folders containing them (searched recursively)")
    parser.add_argument("--out", help="output folder (default: <first path>/report)")
    parser.add_argument("--budgets", type=int, nargs="+", help="query counts for the table (default: the runs' "
                        "evaluation.summary.report_at values and their budgets)")
    parser.add_argument("--reference", nargs="+", action="extend", default=[],
                        choices=sorted({*REFERENCES, *ONESHOT_REFERENCES}),
                        help="published rows beside the runs in the table of maxima over all queried architectures "
                        "(chen_t2: the INN thesis' NB201 Table 2/7, chen_t4: its Table 4, chen_t5: its Tables 5/6) "
                        "or, for one-shot runs, in oneshot.md (darts_pt: DARTS-PT / DrNAS NB201 rows and, as "
                        "reference only, their DARTS-space tables)")
    parsed = parser.parse_args(args)
    out = Path(parsed.out) if parsed.out else Path(parsed.paths[0]) / "report"
    print(write_report(parsed.paths, out, parsed.budgets, list(dict.fromkeys(parsed.reference))))
    print(f"\nwrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    # SIGTERM (SLURM's time limit, `timeout`, `kill`) stops a run like Ctrl-C: results.json says
    # "interrupted" and the run can be resumed. SIGINT too, also where the process started with it
    # ignored (a job put in the background by a non-interactive shell): Python then installs no
    # handler, and `kill -INT` did nothing.
    previous_handlers = {signum: signal.signal(signum, signal.default_int_handler)
                         for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        if command == "run":
            return _run(rest)
        if command == "resume":
            return _resume(rest)
        if command == "cluster":
            return _cluster(rest)
        if command == "report":
            return _report(rest)
        if command == "data":
            from nasgen.benchmarks.cli import main as data_main

            return data_main(rest)
    except NasgenError as exc:
        print(f"nasgen: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before a run directory exists (a run reports its own, see _hydra_run)
        print("nasgen: interrupted", file=sys.stderr)
        return INTERRUPTED
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    print(f"nasgen: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
