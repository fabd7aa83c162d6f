"""Do training-free measures predict robustness? (the methodology of the robustness
chapter's Figure 7.6, on data we can train on here).

    python scripts/robustness_measures_study.py --archs 30 --jobs 2

Trains ``--archs`` random, pairwise non-isomorphic NB201 cells briefly on Fashion-MNIST
(``apt-get install dataset-fashion-mnist``), evaluates FGSM / PGD and the 15 common
corruptions, computes the Jacobian Frobenius norm and the largest input-Hessian eigenvalue
on the trained and on a randomly initialised copy of each network, and prints Kendall's tau
between every measure and every robust accuracy. Per-architecture results are appended to
``<out>/archs.jsonl`` as they finish, so an interrupted study resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from nasgen.benchmarks.training import TrainingBenchmark
from nasgen.evaluation.robustness import evaluate_robustness, summarise
from nasgen.spaces import NB201Space

ATTACKS = {"fgsm": {"epsilons": [0.5, 1, 2, 4, 8]},
           "pgd": {"epsilons": [0.5, 1, 2, 4, 8], "steps": 40, "max_samples": 200}}


def evaluate_arch(arch_text: str, args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    space = NB201Space()
    arch = space.from_str(arch_text)
    benchmark = TrainingBenchmark(args.dataset, epochs=args.epochs, channels=args.channels,
                                  cells_per_stage=args.cells, max_train_samples=args.max_train, seed=args.seed,
                                  checkpoint_dir=Path(args.out) / "checkpoints")
    started = time.perf_counter()
    trained = benchmark.results(arch)
    model = benchmark.load_model(arch)
    x, y = benchmark.evaluation_data("test", args.eval_samples)
    result = evaluate_robustness(model, x, y, num_classes=benchmark.num_classes, attacks=ATTACKS,
                                 corruptions={"max_samples": args.corruption_samples},
                                 measures={"batches": args.measure_batches, "batch_size": args.measure_batch_size},
                                 seed=args.seed, progress=False)
    return {"arch": arch_text, "index": space.index(arch), "trained": trained, **summarise(result),
            "seconds": round(time.perf_counter() - started, 1)}


def table(rows: list[dict]) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    targets = {"clean": [r["clean_accuracy"] for r in rows],
               "corruption mean": [r["corruption_mean_accuracy"] for r in rows]}
    for attack, by_eps in rows[0]["attacks"].items():
        for eps in by_eps:
            targets[f"{attack}@eps={eps}"] = [r["attacks"][attack][eps] for r in rows]
    measures = {}
    for state, get in (("trained", lambda r: r["measures"]), ("random init", lambda r: r["measures"]["random_init"])):
        for name in ("jacobian_norm", "hessian_max_eigenvalue"):
            measures[f"{name} ({state})"] = [get(r)[name] for r in rows]
    return list(targets), {k: np.array(v) for k, v in targets.items()}, {k: np.array(v) for k, v in measures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--archs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--cells", type=int, default=1, help="cells per stage (N)")
    parser.add_argument("--max-train", type=int, default=5000, help="training images used")
    parser.add_argument("--eval-samples", type=int, default=1000, help="test images for clean / FGSM / corruptions")
    parser.add_argument("--corruption-samples", type=int, default=300, help="test images for the corruptions")
    parser.add_argument("--measure-batches", type=int, default=2)
    parser.add_argument("--measure-batch-size", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="outputs/studies/robustness_measures")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    space, rng = NB201Space(), np.random.default_rng(args.seed)
    chosen: dict = {}
    while len(chosen) < args.archs:
        arch = space.sample(1, rng)[0]
        chosen.setdefault(space.key(arch), space.to_str(arch))
    done_file = out / "archs.jsonl"
    rows = [json.loads(line) for line in done_file.read_text().splitlines()] if done_file.is_file() else []
    todo = [a for a in chosen.values() if a not in {r["arch"] for r in rows}]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool, open(done_file, "a") as sink:
        for row in pool.map(evaluate_arch, todo, [args] * len(todo)):
            rows.append(row)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            print(f"[{len(rows)}/{args.archs}] {row['arch']}: clean {row['clean_accuracy']:.3f}, "
                  f"corruptions {row['corruption_mean_accuracy']:.3f}, {row['seconds']} s", flush=True)
    wall = time.perf_counter() - started

    names, targets, measures = table(rows)
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    result = {}
    for measure, values in measures.items():
        taus = {name: float(kendalltau(values, targets[name]).statistic) for name in names}
        result[measure] = taus
        lines.append(f"| {measure} | " + " | ".join(f"{taus[n]:+.2f}" for n in names) + " |")
    markdown = "\n".join(lines)
    summary = {"settings": vars(args), "archs": len(rows), "wall_time_s": round(wall, 1),
               "seconds_per_arch": float(np.mean([r["seconds"] for r in rows])), "kendall_tau": result,
               "clean_accuracy_range": [float(targets["clean"].min()), float(targets["clean"].max())]}
    (out / "kendall_tau.json").write_text(json.dumps(summary, indent=2))
    (out / "kendall_tau.md").write_text(markdown + "\n")
    print(f"\nKendall tau between each measure and each accuracy over {len(rows)} architectures "
          f"(negative: a smaller measure goes with higher accuracy)\n{markdown}")
    print(f"\nwall-clock {wall:.0f} s for {len(todo)} new architectures with {args.jobs} jobs; "
          f"{summary['seconds_per_arch']:.0f} s per architecture (training + evaluation)")


if __name__ == "__main__":
    main()
