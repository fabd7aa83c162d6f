"""Published DARTS-space genotypes, in the papers' string form, with the parameter counts the
papers give for their evaluation networks (millions, CIFAR-10: C=36, 20 cells; ImageNet mobile
setting: C=48, 14 cells; both without the auxiliary head).

Use :data:`GENOTYPES` (name -> :class:`~nasgen.spaces.darts_genotype.DartsGenotype`) as known
good architectures of the space, e.g. to seed a search or check a network.
"""
from __future__ import annotations

from nasgen.spaces.darts_genotype import DartsGenotype, parse_genotype

# name: (paper, genotype string as released with the paper's code)
_PUBLISHED: dict[str, tuple[str, str]] = {
    # Liu, Simonyan, Yang: "DARTS: Differentiable Architecture Search", ICLR 2019 (first order)
    "darts_v1": ("DARTS (first order), Liu et al., ICLR 2019",
                 "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), "
                 "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
                 "('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
                 "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
                 "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"),
    # the same paper, second-order search: the cell of its tables ("DARTS")
    "darts_v2": ("DARTS (second order), Liu et al., ICLR 2019",
                 "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
                 "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
                 "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
                 "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
                 "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"),
    "pc_darts": ("PC-DARTS (CIFAR-10 search), Xu et al., ICLR 2020",
                 "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), "
                 "('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), "
                 "('dil_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), "
                 "('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), "
                 "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"),
    "p_darts": ("P-DARTS (CIFAR-10 search), Chen et al., ICCV 2019",
                "Genotype(normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0), "
                "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 0), "
                "('dil_conv_5x5', 4)], normal_concat=range(2, 6), reduce=[('avg_pool_3x3', 0), "
                "('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 0), "
                "('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)], reduce_concat=range(2, 6))"),
}

GENOTYPES: dict[str, DartsGenotype] = {name: parse_genotype(text) for name, (_, text) in _PUBLISHED.items()}
PAPERS: dict[str, str] = {name: paper for name, (paper, _) in _PUBLISHED.items()}

# Parameters (millions) in the papers' result tables. DARTS gives 3.3 M for both of its CIFAR-10
# cells (its script logs 3.349342 for the second-order one; the first-order one counts ~3.16).
CIFAR10_PARAMS_M: dict[str, float] = {"darts_v1": 3.3, "darts_v2": 3.3, "pc_darts": 3.6, "p_darts": 3.4}
IMAGENET_PARAMS_M: dict[str, float] = {"darts_v2": 4.7}
