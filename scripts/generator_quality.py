"""Generator abilities of AG-Net on NAS-Bench-201 (Lukasik thesis 2023, Table 5.6).

    python scripts/generator_quality.py --seed 0
    python scripts/generator_quality.py --seed 0 --samples 10000 --reconstruct 200 --out outputs/quality/generator

Pretrains the generator of ``configs/generator/ag_net.yaml`` with the ``pretrain`` settings of
``configs/config.yaml`` on a random 90 % of the 15,625 cells (cached in $NASGEN_CACHE; the
first run takes several CPU minutes), then measures validity, uniqueness and novelty of
``--samples`` generated cells decoded by argmax and by sampling, and the reconstruction rate
of ``--reconstruct`` held-out cells (:mod:`nasgen.evaluation.generator_quality`). Writes
``<out>/generator_quality.json`` and prints the numbers next to the thesis' ones and to the
expected scores of uniformly random cells.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

import nasgen.configs
from nasgen.errors import NasgenError
from nasgen.evaluation.generator_quality import PAPER_NB201, generator_quality
from nasgen.generators.pretrain import PretrainConfig
from nasgen.pipeline import build
from nasgen.reporting.results import write_json
from nasgen.spaces import NB201Space

ROWS = (("validity", "validity"), ("uniqueness", "uniqueness"), ("uniqueness_iso", "uniqueness (isomorphism)"),
        ("novelty", "novelty"), ("novelty_iso", "novelty (isomorphism)"))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def table(result: dict) -> str:
    lines = [f"{'(in %)':<26} {'argmax':>8} {'sample':>8} {'thesis':>8} {'uniform':>8}"]
    for key, label in ROWS:
        lines.append(f"{label:<26} {_percent(result['argmax'][key]):>8} {_percent(result['sample'][key]):>8} "
                     f"{_percent(PAPER_NB201.get(key)):>8} {_percent(result['uniform_reference'].get(key)):>8}")
    rec = result["reconstruction"]
    if rec["targets"]:
        lines.append(f"reconstruction of {rec['targets']} held-out cells: exact {_percent(rec['exact'])} %, "
                     f"isomorphic {_percent(rec['isomorphic'])} % (mean loss {rec['mean_loss']:.4f}); "
                     f"{_percent(rec['argmax_reachable'])} % of them among the argmax decodings")
    seconds, stats = result["seconds"], result["pretrain"]
    lines.append(f"pretraining: {stats['ticks']} ticks, best validity {_percent(stats['validity'])} %, "
                 f"{stats['source']}")
    lines.append(f"wall-clock: pretrain {seconds['pretrain']:.0f} s, generation {seconds['generation']:.0f} s, "
                 f"reconstruction {seconds['reconstruction']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="train/held-out split and pretraining seed")
    parser.add_argument("--samples", type=int, default=10_000, help="latent vectors to decode")
    parser.add_argument("--reconstruct", type=int, default=200, help="held-out cells to reconstruct")
    parser.add_argument("--train-fraction", type=float, default=0.9)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default="outputs/quality/generator")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    configs = Path(nasgen.configs.__file__).parent
    pretrain_config = PretrainConfig(**OmegaConf.to_container(OmegaConf.load(configs / "config.yaml").pretrain))
    factory = build(OmegaConf.load(configs / "generator" / "ag_net.yaml"), "generator")
    try:
        result = generator_quality(factory, NB201Space(), pretrain_config, args.seed, args.train_fraction,
                                   args.samples, args.reconstruct, args.device)
    except NasgenError as exc:
        sys.exit(f"error: {exc}")
    path = Path(args.out) / "generator_quality.json"
    write_json(path, result)
    print(table(result))
    print(f"written {path}")


if __name__ == "__main__":
    main()
