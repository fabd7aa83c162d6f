"""Generator abilities of AG-Net on NAS-Bench-201 or -101 (Lukasik thesis 2023, Table 5.6).

    python scripts/generator_quality.py --seed 0
    python scripts/generator_quality.py --seed 0 --samples 10000 --reconstruct 200 --out outputs/quality/generator
    python scripts/generator_quality.py --space nb101 --pool 50000 --ticks 120

Pretrains the generator of ``configs/generator/ag_net.yaml`` with the ``pretrain`` settings of
``configs/config.yaml`` (``--ticks`` overrides their number) on a random 90 % of the 15,625
NB201 cells, or of ``--pool`` distinct NB101 cells drawn by the space's sampler (NB101 is too
large to list; cached in $NASGEN_CACHE; the first run takes several CPU minutes), then measures
validity, uniqueness and novelty of ``--samples`` generated cells decoded by argmax and by
sampling, and the reconstruction rate of ``--reconstruct`` held-out cells
(:mod:`nasgen.evaluation.generator_quality`). Writes ``<out>/generator_quality.json`` (default
out: ``outputs/quality/generator``, for NB101 ``outputs/quality/generator-nb101``) and prints
the numbers next to the thesis' ones and to the expected scores of uniformly random cells.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch
from omegaconf import OmegaConf

import nasgen.configs
from nasgen.build import build
from nasgen.errors import NasgenError
from nasgen.evaluation.generator_quality import PAPER, generator_quality
from nasgen.generators.pretrain import PretrainConfig
from nasgen.reporting.results import write_json
from nasgen.spaces.base import one_cell_space

SPACES = ("nb201", "nb101", "darts")  # options of configs/search_space; the first is the default

ROWS = (("validity", "validity"), ("uniqueness", "uniqueness"), ("uniqueness_iso", "uniqueness (isomorphism)"),
        ("novelty", "novelty"), ("novelty_iso", "novelty (isomorphism)"))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def table(result: dict) -> str:
    paper = PAPER.get(result["space"], {})
    lines = [f"{'(in %)':<26} {'argmax':>8} {'sample':>8} {'thesis':>8} {'uniform':>8}"]
    for key, label in ROWS:
        lines.append(f"{label:<26} {_percent(result['argmax'][key]):>8} {_percent(result['sample'][key]):>8} "
                     f"{_percent(paper.get(key)):>8} {_percent(result['uniform_reference'].get(key)):>8}")
    rec = result["reconstruction"]
    if rec["targets"]:
        lines.append(f"reconstruction of {rec['targets']} held-out cells: exact {_percent(rec['exact'])} %, "
                     f"isomorphic {_percent(rec['isomorphic'])} % (mean loss {rec['mean_loss']:.4f}); "
                     f"{_percent(rec['argmax_reachable'])} % of them among the argmax decodings")
    seconds, stats = result["seconds"], result["pretrain"]
    pool = result["settings"]["pool"]
    if pool is not None:
        lines.append(f"training set: {result['train_size']} of {pool} distinct sampled cells "
                     f"(drawn in {result['seconds']['pool']:.0f} s); uniform: over all classes of the space")
    lines.append(f"pretraining: {stats['ticks']} ticks, best validity {_percent(stats['validity'])} %, "
                 f"{stats['source']}")
    lines.append(f"wall-clock: pretrain {seconds['pretrain']:.0f} s, generation {seconds['generation']:.0f} s, "
                 f"reconstruction {seconds['reconstruction']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", choices=SPACES, default=SPACES[0])
    parser.add_argument("--seed", type=int, default=0, help="train/held-out split and pretraining seed")
    parser.add_argument("--samples", type=int, default=10_000, help="latent vectors to decode")
    parser.add_argument("--reconstruct", type=int, default=200, help="held-out cells to reconstruct")
    parser.add_argument("--train-fraction", type=float, default=0.9)
    parser.add_argument("--pool", type=int, default=50_000,
                        help="distinct cells to split where the space cannot be listed (NB101)")
    parser.add_argument("--ticks", type=int, help="pretraining ticks (default: config.yaml's pretrain.ticks)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", help="default: outputs/quality/generator, for other spaces than nb201 "
                        "outputs/quality/generator-<space>")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    configs = Path(nasgen.configs.__file__).parent
    pretrain_config = PretrainConfig(**OmegaConf.to_container(OmegaConf.load(configs / "config.yaml").pretrain))
    if args.ticks is not None:
        pretrain_config = replace(pretrain_config, ticks=args.ticks)
    factory = build(OmegaConf.load(configs / "generator" / "ag_net.yaml"), "generator")
    space = one_cell_space(build(OmegaConf.load(configs / "search_space" / f"{args.space}.yaml"), "search space"))
    try:
        result = generator_quality(factory, space, pretrain_config, args.seed, args.train_fraction,
                                   args.samples, args.reconstruct, args.device, pool=args.pool)
    except NasgenError as exc:
        sys.exit(f"error: {exc}")
    out = args.out or ("outputs/quality/generator" if args.space == SPACES[0] else
                       f"outputs/quality/generator-{args.space}")
    path = Path(out) / "generator_quality.json"
    write_json(path, result)
    print(table(result))
    print(f"written {path}")


if __name__ == "__main__":
    main()
