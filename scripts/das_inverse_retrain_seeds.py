"""How much of a 1-D inverse-problem cell's spread is the retraining's? (thesis ch. 6, issue 22)

Retrains the architectures recorded in one run of ``study=das_inverse`` (one cell of Tables
6.1-6.4) with extra training seeds and measures every network on the *trial's* validation
samples, so only the initialisation and the training batches change. Prints, per trial, the
recorded architecture PSNR, the PSNR of each extra seed and their range.

    python scripts/das_inverse_retrain_seeds.py outputs/multirun/das_inverse_table6_3/<date>/2 \
        --trials 0 --seeds 1 2

Used for docs/results.md, Table 6.3: in the non-sequential space the same architecture's PSNR
moved by up to 21 dB between training seeds.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nasgen.benchmarks.inverse1d import evaluate_psnr, evaluation_data, train_network
from nasgen.reporting.das_inverse_report import TRIALS_FILE, load_das_inverse_run


def retrain(run: Path, trials: list[int], seeds: list[int]) -> list[dict]:
    """Per trial: its seed, architecture, recorded architecture PSNR and the PSNR of each extra
    training seed, all on the trial's validation samples."""
    study_run = load_das_inverse_run(run)
    if study_run is None:
        raise SystemExit(f"{run} is not a run of study=das_inverse (it needs .hydra/config.yaml and {TRIALS_FILE})")
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    space, problem = instantiate(config.search_space), instantiate(config.inverse_task)
    training = instantiate(config.das_hparams).weight_training()
    records = {record["trial"]: record for record in study_run.trials}
    missing = sorted(set(trials) - set(records))
    if missing:
        raise SystemExit(f"{run / TRIALS_FILE} has no trial {missing}; it has {sorted(records)}")
    results = []
    for t in trials:
        trial_seed, arch = records[t]["seed"], space.from_str(records[t]["arch"])
        data = evaluation_data(problem, trial_seed, "valid", training.valid_samples)
        psnrs = [evaluate_psnr(train_network(space, arch, problem, training, seed)[0], problem, data, trial_seed)
                 for seed in seeds]
        results.append({"trial": t, "seed": trial_seed, "arch": records[t]["arch"],
                         "recorded": records[t]["valid_psnr"], "retrained": dict(zip(seeds, psnrs))})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a das_inverse run directory (with .hydra/config.yaml and trials.csv)")
    parser.add_argument("--trials", type=int, nargs="+", default=[0], help="trial numbers to retrain")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="extra training seeds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{args.run}: architecture PSNR (dB) on each trial's validation samples", flush=True)
    for result in retrain(args.run, args.trials, args.seeds):
        values = [result["recorded"], *result["retrained"].values()]
        print(f"trial {result['trial']} {result['arch']}\n  recorded {result['recorded']:.2f}; "
              + "; ".join(f"seed {seed}: {psnr:.2f}" for seed, psnr in result["retrained"].items())
              + f"; range {max(values) - min(values):.2f}", flush=True)


if __name__ == "__main__":
    main()
