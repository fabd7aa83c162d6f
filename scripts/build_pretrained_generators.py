"""Build the pretrained generators that ship inside the nasgen package.

    python scripts/build_pretrained_generators.py                 # every space
    python scripts/build_pretrained_generators.py --space nb101   # one of them

Pretrains the generator of ``configs/generator/ag_net.yaml`` with the ``pretrain`` settings of
``configs/config.yaml`` (seed ``pretrain.seed``) on every supported space (NAS-Bench-201,
NAS-Bench-101: options of ``configs/search_space``) and writes
``nasgen/generators/pretrained/<stem>.pt`` (the weights) and ``<stem>.json`` (settings signature,
SHA-256 of the weights, validity curve, timings, torch version). A run whose
settings match loads these instead of pretraining (:func:`nasgen.generators.pretrain.pretrain`).
Pretraining is deterministic on CPU with one torch thread, so a rebuild reproduces the checksum;
rebuild after changing the default settings, the generator or the pretraining code. Takes
about 9 CPU minutes per space (60 ticks of 7-9 s; NB201's and NB101's alike).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

import nasgen.configs
from nasgen.build import build
from nasgen.generators.pretrain import (
    PretrainConfig,
    generator_stem,
    initial_generator,
    settings_signature,
    shipped_dir,
    store,
    train_now,
)
from nasgen.spaces.base import one_cell_space

SPACES = ("nb201", "nb101", "darts")  # options of configs/search_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(shipped_dir()), help="folder to write to (default: the package's)")
    parser.add_argument("--space", choices=SPACES, action="append", help="build only this space's (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the shipped checksum is that of a one-thread CPU pretraining

    configs = Path(nasgen.configs.__file__).parent
    config = PretrainConfig(**OmegaConf.to_container(OmegaConf.load(configs / "config.yaml").pretrain))
    factory = build(OmegaConf.load(configs / "generator" / "ag_net.yaml"), "generator")
    for name in args.space or SPACES:
        space = one_cell_space(build(OmegaConf.load(configs / "search_space" / f"{name}.yaml"), "search space"))
        generator = initial_generator(factory, space, config)
        stem = generator_stem(space, generator, config)
        wall, cpu = time.perf_counter(), time.process_time()
        record = train_now(generator, space, config)
        cpu = time.process_time() - cpu
        record = store(Path(args.out) / stem, generator, settings_signature(space, generator, config), record,
                       built_by="scripts/build_pretrained_generators.py", torch=torch.__version__,
                       cpu_seconds=round(cpu, 1))
        print(f"{space.name}: wrote {record['path']} (sha256 {record['sha256']}): best validity "
              f"{record['validity']:.4f} after {record['ticks']} ticks; {time.perf_counter() - wall:.0f} s wall, "
              f"{cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
