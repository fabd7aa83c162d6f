"""Seeding helpers: every random component draws from generators derived from ``cfg.seed``."""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def torch_generator(rng: np.random.Generator, device: "str | torch.device" = "cpu") -> torch.Generator:
    """A torch generator seeded from ``rng`` so torch sampling follows the run's seed."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(rng.integers(2**62)))
    return generator


def reseed_torch(generator: torch.Generator) -> None:
    """Seed torch's global RNG (used by module initialisation) from ``generator``, so models
    built inside a search loop follow the run's seed."""
    torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
