"""The DARTS-space supernet (issue 20): op sets, shapes, parameter count, masking, topology
choices, genotypes that the NB301 surrogate scores."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from nasgen.benchmarks import NB301Benchmark
from nasgen.errors import ConfigError
from nasgen.models.darts_supernet import DartsSupernet, DartsSupernets
from nasgen.oneshot.base import Decisions, Supernet, SupernetBuilder
from nasgen.spaces.darts import DartsSpace
from nasgen.spaces.darts_genotype import (
    CELL_TYPES,
    NODE_EDGES,
    OPS,
    SUPERNET_EDGES,
    SUPERNET_OP_SETS,
    DartsGenotype,
    supernet_edge_ops,
)

SMALL = DartsSupernets(channels=4, cells_per_stage=1)  # 5 cells


def _uniform(net: Supernet) -> list[torch.Tensor]:
    return [torch.full((c.num_edges, c.num_ops), 1.0 / c.num_ops) for c in net.choices]


def _random_mixing(net: Supernet, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.softmax(torch.randn(c.num_edges, c.num_ops, generator=generator), -1) for c in net.choices]


def test_supernet_edges_and_op_sets_are_the_darts_space():
    assert SUPERNET_EDGES[:5] == ((0, 2), (1, 2), (0, 3), (1, 3), (2, 3)) and len(SUPERNET_EDGES) == 14
    assert NODE_EDGES == ((0, 1), (2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12, 13))
    assert tuple(SUPERNET_OP_SETS) == ("full", "with_none", "s1", "s2", "s3", "s4")
    assert supernet_edge_ops("full")["normal"][13] == OPS and supernet_edge_ops("with_none")["reduce"][0][0] == "none"
    s1 = supernet_edge_ops("s1")
    assert s1["normal"][0] == ("skip_connect", "dil_conv_3x3") and s1["reduce"][0] == ("max_pool_3x3", "avg_pool_3x3")
    assert all(len(ops) == 2 for cell in s1.values() for ops in cell) and s1["normal"] != s1["reduce"]
    assert {supernet_edge_ops(s)["reduce"][7] for s in ("s2", "s3", "s4")} == {
        ("skip_connect", "sep_conv_3x3"), ("none", "skip_connect", "sep_conv_3x3"), ("noise", "sep_conv_3x3")}
    with pytest.raises(ConfigError, match="unknown DARTS supernet op set 's5'; valid choices: full, with_none, s1"):
        SMALL.build("s5", 10, (1, 8, 8))


def test_builder_contract_and_topology_choices():
    assert isinstance(SMALL, SupernetBuilder) and SMALL.space_name == "darts"
    assert SMALL.op_sets()[0] == "full" and SMALL.settings() == {
        "space": "darts", "op_set": "full", "channels": 4, "cells_per_stage": 1, "layers": 5, "stem_multiplier": 3}
    net = SMALL.build("s1", 10, (1, 8, 8))
    assert [c.name for c in net.choices] == list(CELL_TYPES)
    for choice in net.choices:
        assert choice.chooses_topology and choice.keep_inputs == 2 and choice.num_edges == 14
        assert choice.node_inputs == NODE_EDGES  # node 2 listed for uniformity: 2 inputs, no choice
    assert net.choices[0].edge_ops != net.choices[1].edge_ops
    assert [i for i, cell in enumerate(net.cells) if cell.reduction] == [1, 3]  # layers // 3, 2 * layers // 3
    for bad, match in (({"channels": 0}, "study.network.channels must be a positive integer"),
                       ({"cells_per_stage": 0}, "cells_per_stage must be a positive integer"),
                       ({"op_set": "s5"}, "op set 's5'")):
        with pytest.raises(ConfigError, match=match):
            DartsSupernets(**bad)
    with pytest.raises(ConfigError, match="needs images"):
        SMALL.build("full", 10, (8, 8))


@pytest.mark.parametrize("op_set", tuple(SUPERNET_OP_SETS))
def test_forward_shapes_on_digits_and_cifar_inputs(op_set, one_torch_thread):
    for shape in ((1, 8, 8), (3, 32, 32)):
        net = SMALL.build(op_set, 10, shape)
        logits = net(torch.randn(2, *shape), _random_mixing(net))
        assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_odd_and_fashion_mnist_sizes_run(one_torch_thread):
    """Every stride-2 op gives ceil(H / 2): 28 -> 14 -> 7 and odd sizes such as 7 -> 4 -> 2 run."""
    tiny = DartsSupernets(channels=2, cells_per_stage=1)
    for side in (28, 7, 5, 1):
        net = tiny.build("full", 3, (1, side, side))
        assert net(torch.randn(2, 1, side, side), _uniform(net)).shape == (2, 3)


def test_paper_search_network_has_darts_parameter_count():
    """C=16, 8 cells, CIFAR-10: DARTS' train_search logs "param size = 1.930618MB" for its 8-op
    supernet; `none` has no weights, so the 7-op supernet has as many."""
    counts = {op_set: sum(p.numel() for p in DartsSupernets().build(op_set, 10, (3, 32, 32)).parameters())
              for op_set in ("full", "with_none")}
    assert counts == {"full": 1_930_618, "with_none": 1_930_618}
    batch_norms = [m for m in DartsSupernets().build("full", 10, (3, 32, 32)).cells.modules()
                   if isinstance(m, torch.nn.BatchNorm2d)]
    assert batch_norms and not any(bn.affine for bn in batch_norms)  # the mixing weights scale the ops


def test_masking_none_leaves_the_output_unchanged(one_torch_thread):
    net = SMALL.build("with_none", 10, (1, 8, 8)).train()
    images = torch.randn(8, 1, 8, 8)
    mixing = _random_mixing(net, 1)
    masked = [w.clone() for w in mixing]
    masked[0][3, 0] = 0.0   # `none` of a normal edge
    masked[1][12, 0] = 0.0  # and of a reduction edge
    torch.manual_seed(0)
    base = net(images, mixing)
    assert torch.equal(net(images, masked), base)
    masked[0][3, 4] = 0.0   # a sep_conv_3x3 does change it
    assert not torch.allclose(net(images, masked), base)


def test_zero_weight_ops_are_skipped_exactly(one_torch_thread):
    """A one-hot (decided) row computes only its op; removed edges add nothing; gradients reach
    alpha through the undecided rows only."""
    net = SMALL.build("full", 10, (1, 8, 8)).eval()
    alpha = [torch.randn(14, 7, requires_grad=True) for _ in range(2)]
    decisions = Decisions([{0: 3, 5: 2}, {1: 0}], [{2}, set()])
    mixing = decisions.apply([torch.softmax(a, -1) for a in alpha])
    images = torch.randn(4, 1, 8, 8)
    logits = net(images, mixing)
    reference = _dense_forward(net, images, mixing)
    torch.testing.assert_close(logits, reference)
    logits.sum().backward()
    assert alpha[0].grad[[0, 2, 5]].abs().sum() == 0 and alpha[0].grad[1].abs().sum() > 0


def _dense_forward(net: DartsSupernet, images: torch.Tensor, mixing: list[torch.Tensor]) -> torch.Tensor:
    """The supernet computed without skipping any op."""
    s0 = s1 = net.stem(images)
    for cell in net.cells:
        w = mixing[1 if cell.reduction else 0]
        nodes = [cell.preprocess0(s0), cell.preprocess1(s1)]
        for node_edges in NODE_EDGES:
            nodes.append(sum(sum(w[e, o] * op(nodes[SUPERNET_EDGES[e][0]]) for o, op in enumerate(cell.edges[e].ops))
                             for e in node_edges))
        s0, s1 = s1, torch.cat(nodes[2:], dim=1)
    return net.classifier(net.pool(s1))


# Kept edges: node 2 <- 0, 1; node 3 <- 0, 2; node 4 <- 1, 3; node 5 <- 2, 4 (edge ids of SUPERNET_EDGES).
KEPT = (0, 1, 2, 4, 6, 8, 11, 13)


def test_genotype_round_trip_and_nb301_op_rules(caplog):
    net = SMALL.build("with_none", 10, (1, 8, 8))
    ops = [[1 + (e % 7) for e in range(14)], [1 + ((e + 3) % 7) for e in range(14)]]  # never `none`
    genotype = net.genotype(ops, [KEPT, KEPT])
    names = OPS
    assert genotype.normal == tuple((names[e % 7], SUPERNET_EDGES[e][0]) for e in KEPT)
    assert genotype.reduce[0] == (names[3], 0) and genotype.reduce[-1] == (names[(13 + 3) % 7], 4)
    space = DartsSpace()
    assert space.parse(space.to_str(genotype)) == genotype
    # `none` on a removed edge is fine; on a kept edge there is no genotype (logged)
    ops[0][3] = 0
    assert net.genotype(ops, [KEPT, KEPT]) == genotype
    ops[0][4] = 0
    with caplog.at_level(logging.WARNING):
        assert net.genotype(ops, [KEPT, KEPT]) is None
    assert "kept edge 4 (2 -> 3) carries 'none'" in caplog.text
    noisy = SMALL.build("s4", 10, (1, 8, 8))
    assert noisy.genotype([[1] * 14, [1] * 14], [KEPT, KEPT]).normal[0] == ("sep_conv_3x3", 0)
    assert noisy.genotype([[1] * 14, [0] + [1] * 13], [KEPT, KEPT]) is None
    with pytest.raises(ValueError, match="node 3 keeps edges \\[2, 3, 4\\]"):
        net.genotype(ops, [KEPT + (3,), KEPT])
    with pytest.raises(ValueError, match="needs the kept edges"):
        net.genotype(ops)


def test_derived_genotypes_get_nb301_surrogate_predictions(shared_benchmarks):
    bench = NB301Benchmark(source="yahpo", data_root_dir=str(shared_benchmarks))
    metric = "nb301_yahpo/cifar10/valid_acc@98"
    net = SMALL.build("s1", 10, (1, 8, 8))
    genotypes = [net.genotype([[o] * 14, [1 - o] * 14], [KEPT, KEPT]) for o in (0, 1)]
    assert all(isinstance(g, DartsGenotype) for g in genotypes)
    values = bench.query(genotypes, metric)
    assert values.shape == (2,) and np.all((values > 50) & (values < 100))
