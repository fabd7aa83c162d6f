"""The NB201 network: sizes against the official NATS-Bench records, shapes, ops, determinism."""
from __future__ import annotations

import bz2
import pickle
from pathlib import Path

import pytest
import torch

from nasgen.errors import ConfigError
from nasgen.models.nb201_network import Cell, NB201Network, Normalize, Zero, make_op, model_size
from nasgen.spaces.nb201 import OPS, NB201Space

# dataset in the NATS record -> (classes, input resolution)
NATS_DATASETS = {"cifar10": (10, 32), "cifar100": (100, 32), "ImageNet16-120": (120, 16)}


def nats_record(shared: Path, index: int) -> dict:
    path = shared / "nb201" / "nats_fixture" / "NATS-tss-v1_0-3ffb9-simple" / f"{index:06d}.pickle.pbz2"
    with bz2.open(path, "rb") as f:
        return pickle.load(f)


@pytest.mark.parametrize("index", [0, 11, 284])
def test_params_and_flops_match_the_nats_records(shared_benchmarks: Path, index: int):
    record = nats_record(shared_benchmarks, index)["200"]
    arch = NB201Space().from_str(record["arch_str"])
    assert NB201Space().index(arch) == index
    for dataset, (classes, size) in NATS_DATASETS.items():
        official = record["all_results"][(dataset, 777)]
        params, flops = model_size(NB201Network(arch, classes), (3, size, size))
        assert params == pytest.approx(official["params"], abs=1e-6), dataset
        assert flops == pytest.approx(official["flop"], abs=1e-5), dataset


@pytest.mark.parametrize("in_channels,size", [(1, 8), (1, 28), (3, 32)])
def test_forward_shapes(in_channels: int, size: int):
    net = NB201Network((3, 3, 3, 1, 2, 4), num_classes=7, channels=4, cells_per_stage=1, in_channels=in_channels)
    assert net(torch.rand(2, in_channels, size, size)).shape == (2, 7)


def test_zero_gives_zeros_and_identity_passes_through():
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(Zero()(x), torch.zeros_like(x))
    assert torch.equal(make_op("skip_connect", 4)(x), x)
    none, skip = OPS.index("none"), OPS.index("skip_connect")
    assert torch.equal(Cell((none,) * 6, 4)(x), torch.zeros_like(x))
    # only the direct edge 0->3 is a skip connection: the cell is the identity
    assert torch.equal(Cell((none, none, none, skip, none, none), 4)(x), x)
    # 0->1 and 1->3 skips, 0->2->3 conv paths zeroed: again the identity
    assert torch.equal(Cell((skip, none, none, none, skip, none), 4)(x), x)
    # two skip routes into node 3 add up
    assert torch.equal(Cell((skip, none, none, skip, skip, none), 4)(x), 2 * x)


def test_pooling_op_ignores_padding():
    pooled = make_op("avg_pool_3x3", 1)(torch.ones(1, 1, 4, 4))
    assert torch.allclose(pooled, torch.ones(1, 1, 4, 4))  # count_include_pad=False keeps borders at 1


def test_same_seed_gives_the_same_network():
    arch = (3, 2, 4, 1, 3, 0)
    x = torch.rand(3, 3, 16, 16)
    outputs = []
    for _ in range(2):
        torch.manual_seed(5)
        net = NB201Network(arch, 10, channels=4, cells_per_stage=2).eval()
        outputs.append(net(x))
    assert torch.equal(outputs[0], outputs[1])


def test_model_size_keeps_the_training_mode():
    net = NB201Network((3,) * 6, 10, channels=4, cells_per_stage=1)
    model_size(net, (3, 8, 8))
    assert net.training


def test_normalize():
    norm = Normalize((0.5, 0.25), (0.5, 2.0))
    x = torch.rand(2, 2, 3, 3)
    expected = torch.stack([(x[:, 0] - 0.5) / 0.5, (x[:, 1] - 0.25) / 2.0], dim=1)
    assert torch.allclose(norm(x), expected)
    with pytest.raises(ConfigError):
        Normalize((0.5,), (0.0,))


def test_bad_arch_is_a_config_error():
    with pytest.raises(ConfigError, match="6 op ids"):
        NB201Network((0, 1, 2), 10)
    with pytest.raises(ConfigError):
        NB201Network((0, 1, 2, 3, 4, 5), 10)
