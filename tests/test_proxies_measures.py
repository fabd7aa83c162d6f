"""The training-free measures: finite on real NB201 and DARTS networks, equal to closed forms or
to explicit autograd computations on small hand-made modules, deterministic, free of side
effects on the caller's network, and signed the right way on real NB201 cells."""
from __future__ import annotations

import ast
import copy
import gc
import json
import math
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasgen.errors import ConfigError
from nasgen.models.darts_network import DartsNetwork
from nasgen.models.nb201_network import NB201Network, count_params
from nasgen.proxies.base import INPUT_KINDS, ProxyBatch, score_network
from nasgen.proxies.inputs import proxy_batch
from nasgen.proxies.measures import PROXIES
from nasgen.spaces.darts_genotypes import GENOTYPES
from nasgen.spaces.nb201 import NB201Space, arch_from_naslib

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
MIXED = (1, 2, 3, 4, 3, 2)  # skip, conv1x1, conv3x3, avg-pool, conv3x3, conv1x1


@pytest.fixture(autouse=True)
def single_thread(one_torch_thread):
    """Small networks: more threads only contend with other jobs."""


def tiny_nb201(arch, seed: int = 0) -> NB201Network:
    torch.manual_seed(seed)
    return NB201Network(arch, num_classes=10, channels=4, cells_per_stage=1)


def tiny_batch(size: int = 8) -> ProxyBatch:
    return proxy_batch("gaussian", batch_size=size, input_shape=(3, 8, 8), num_classes=10)


def vector_batch(inputs: torch.Tensor, classes: int, seed: int = 0) -> ProxyBatch:
    """A batch of vectors ``(B, d)`` for the hand-made fully connected modules."""
    targets = torch.randint(classes, (len(inputs),), generator=torch.Generator().manual_seed(seed))
    return ProxyBatch(inputs, targets, classes, "gaussian")


def values_equal(first: dict[str, float], second: dict[str, float]) -> bool:
    return first.keys() == second.keys() and all(
        first[k] == second[k] or (math.isnan(first[k]) and math.isnan(second[k])) for k in first)


# -- every proxy on real networks -----------------------------------------------------------------
def test_registry_declares_every_proxy():
    assert {"synflow", "snip", "grasp", "fisher", "grad_norm", "plain", "l2_norm", "jacov", "nwot", "ntk_cond",
            "linear_regions", "params_M", "flops_M"} <= set(PROXIES)
    for name, proxy in PROXIES.items():
        assert proxy.info.name == name and proxy.info.metric == f"proxy/{name}"
        assert proxy.info.needs in INPUT_KINDS
    assert PROXIES["synflow"].info.log_scale and PROXIES["fisher"].info.log_scale
    assert not PROXIES["plain"].info.higher_is_better and not PROXIES["ntk_cond"].info.higher_is_better
    assert PROXIES["grasp"].info.higher_is_better and PROXIES["jacov"].info.higher_is_better


@pytest.mark.parametrize("network", ["nb201", "darts_auxiliary"])
def test_every_proxy_is_finite_on_a_tiny_network(network: str):
    if network == "nb201":
        model = tiny_nb201(MIXED)
    else:  # in training mode its forward returns (logits, auxiliary logits)
        torch.manual_seed(0)
        model = DartsNetwork(GENOTYPES["darts_v2"], 10, channels=4, layers=3, auxiliary=True)
        assert isinstance(model.train()(torch.randn(2, 3, 8, 8)), tuple)
    values = score_network(model, list(PROXIES.values()), tiny_batch(), seed=0)
    assert set(values) == {p.info.metric for p in PROXIES.values()}
    assert all(math.isfinite(v) for v in values.values()), values


def test_synflow_does_not_overflow_on_a_full_size_nb201_network():
    torch.manual_seed(0)
    network = NB201Network(NB201Space().from_str(ALL_CONV3), num_classes=100)  # C=16, N=5
    value = PROXIES["synflow"].score(network, proxy_batch("gaussian", batch_size=2, input_shape=(3, 32, 32)))
    assert math.isfinite(value) and 30 < value < 61  # log10; NB201's raw values span 1e32-1e61


def test_undefined_measures_are_nan_and_an_empty_flow_ranks_lowest():
    """The all-``none`` cell: nothing reaches the logits from the input."""
    values = score_network(tiny_nb201(NB201Space().from_str(ALL_NONE)), list(PROXIES.values()), tiny_batch(), 0)
    assert math.isnan(values["proxy/jacov"]) and math.isnan(values["proxy/ntk_cond"])
    assert values["proxy/synflow"] == -math.inf and values["proxy/nwot"] == -math.inf
    assert values["proxy/snip"] == 0 and values["proxy/grad_norm"] == 0 and values["proxy/linear_regions"] == 1


# -- closed forms and explicit computations on hand-made modules ----------------------------------
def test_synflow_of_a_bias_free_linear_network_is_its_closed_form():
    """For ``R = 1^T |W2| |W1| 1`` each of the two layers contributes ``R``, so synflow = 2R;
    a batch norm in between (here with running statistics far from fresh) is made the identity
    up to ``1/sqrt(1 + eps)``."""
    torch.manual_seed(0)
    first, second = nn.Linear(5, 4, bias=False), nn.Linear(4, 3, bias=False)
    flow = float(torch.ones(3).double() @ second.weight.detach().abs().double() @ first.weight.detach().abs().double()
                 @ torch.ones(5).double())
    batch = vector_batch(torch.randn(6, 5), 3)
    plain = nn.Sequential(copy.deepcopy(first), nn.ReLU(), copy.deepcopy(second))
    assert PROXIES["synflow"].score(plain, batch) == pytest.approx(math.log10(2 * flow), rel=1e-12)
    norm = nn.BatchNorm1d(4)
    with_norm = nn.Sequential(copy.deepcopy(first), norm, nn.ReLU(), copy.deepcopy(second)).train()
    with_norm(10 + 5 * torch.randn(16, 5))  # moves the running statistics
    assert float(norm.running_mean.abs().max()) > 0.5
    assert PROXIES["synflow"].score(with_norm, batch) == pytest.approx(
        math.log10(2 * flow / math.sqrt(1 + norm.eps)), rel=1e-12)


def small_convnet() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 5))


def test_gradient_sums_match_an_explicit_backward_pass():
    """snip, grad_norm and plain: conv and linear weights only (not batch-norm scales), training mode."""
    batch = proxy_batch("gaussian", batch_size=6, input_shape=(3, 6, 6), num_classes=5)
    network = small_convnet().train()
    F.cross_entropy(network(batch.inputs), batch.targets).backward()
    weights = [network[0].weight, network[5].weight]
    pairs = [(w.detach(), w.grad) for w in weights]
    expected = {"snip": sum(float((w * g).abs().sum()) for w, g in pairs),
                "grad_norm": sum(float(g.norm()) for _, g in pairs),
                "plain": sum(float((w * g).sum()) for w, g in pairs)}
    for name, value in expected.items():
        assert PROXIES[name].score(small_convnet(), batch) == pytest.approx(value, rel=1e-5), name


def test_grasp_is_minus_theta_times_the_explicit_hessian_gradient_product():
    torch.manual_seed(2)
    network = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 3))
    batch = vector_batch(torch.randn(5, 4), 3)
    shapes = [network[0].weight.shape, network[2].weight.shape]
    theta = torch.cat([network[0].weight.detach().flatten(), network[2].weight.detach().flatten()]).double()

    def loss(flat: torch.Tensor) -> torch.Tensor:
        w1, w2 = flat[:12].view(shapes[0]), flat[12:].view(shapes[1])
        hidden = torch.tanh(batch.inputs.double() @ w1.T + network[0].bias.detach().double())
        return F.cross_entropy(hidden @ w2.T + network[2].bias.detach().double(), batch.targets)

    gradient = torch.autograd.functional.jacobian(loss, theta)
    hessian = torch.autograd.functional.hessian(loss, theta)
    expected = float(-(theta * (hessian @ gradient)).sum())
    assert PROXIES["grasp"].score(network, batch) == pytest.approx(expected, rel=1e-4)


def test_fisher_of_a_linear_classifier_is_its_closed_form():
    """One linear layer: activation ``a`` = logits, ``dL/da = (softmax(a) - onehot) / B``;
    each channel's saliency counts ``in_features`` times (zero-cost-nas's broadcast)."""
    torch.manual_seed(3)
    layer = nn.Linear(6, 4)
    batch = vector_batch(torch.randn(5, 6), 4)
    with torch.no_grad():
        activation = layer(batch.inputs).double()
        grad = (activation.softmax(1) - F.one_hot(batch.targets, 4).double()) / len(batch.inputs)
        expected = 0.5 * 6 * float((activation * grad).pow(2).mean(0).sum())
    assert PROXIES["fisher"].score(layer, batch) == pytest.approx(math.log10(expected), rel=1e-5)


def test_jacov_of_a_linear_model_is_its_closed_form():
    """``f(x) = Wx``: every input's Jacobian is ``W^T 1``, all correlations are 1, the
    eigenvalues are ``B`` and ``B - 1`` zeros."""
    torch.manual_seed(4)
    size, k = 6, 1e-5
    value = PROXIES["jacov"].score(nn.Linear(7, 3, bias=False), vector_batch(torch.randn(size, 7), 3))
    expected = -((math.log(size + k) + 1 / (size + k)) + (size - 1) * (math.log(k) + 1 / k))
    assert value == pytest.approx(expected, rel=1e-6)


def test_ntk_condition_of_a_linear_model_is_the_condition_of_the_gram_matrix():
    """``f(x) = Wx`` with ``C`` outputs: the NTK is ``C X X^T``."""
    torch.manual_seed(5)
    inputs = torch.randn(4, 6)
    gram = 3 * inputs.double().numpy() @ inputs.double().numpy().T
    eigenvalues = np.linalg.eigvalsh(gram)
    value = PROXIES["ntk_cond"].score(nn.Linear(6, 3, bias=False), vector_batch(inputs, 3))
    assert value == pytest.approx(eigenvalues[-1] / eigenvalues[0], rel=1e-6)


def test_linear_regions_of_a_one_dimensional_relu_network_on_a_dense_grid():
    """Hidden unit ``j`` switches at ``x = -b_j / w_j``: a grid over ``[-3, 3]`` crosses one
    region boundary per switch point inside it."""
    torch.manual_seed(6)
    network = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    switches = (-network[0].bias / network[0].weight[:, 0]).detach().numpy()
    inside = int(np.sum(np.abs(switches) < 3))
    assert inside >= 2  # the check is not vacuous
    grid = torch.linspace(-3, 3, 20001).unsqueeze(1)
    assert PROXIES["linear_regions"].score(network, vector_batch(grid, 1)) == inside + 1


def test_nwot_of_known_codes_is_the_log_determinant_of_the_agreement_kernel():
    codes = np.array([[1, 1, 0, 0, 1], [0, 1, 1, 0, 0], [1, 0, 1, 1, 0]])
    units = codes.shape[1]
    kernel = np.array([[units - int(np.sum(a != b)) for b in codes] for a in codes], dtype=float)
    inputs = torch.tensor(2.0 * codes - 1.0, dtype=torch.float32)  # +1 active, -1 inactive
    value = PROXIES["nwot"].score(nn.Sequential(nn.ReLU()), vector_batch(inputs, 5))
    assert value == pytest.approx(math.log(np.linalg.det(kernel)), rel=1e-9)
    repeated = torch.cat([inputs, inputs[:1]])  # two equal codes: K is singular
    assert PROXIES["nwot"].score(nn.Sequential(nn.ReLU()), vector_batch(repeated, 5)) == -math.inf


# -- determinism and side effects -----------------------------------------------------------------
def test_same_seed_gives_identical_values_and_the_callers_network_is_untouched():
    network, batch = tiny_nb201(MIXED), tiny_batch()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    first = score_network(network, list(PROXIES.values()), batch, seed=7)
    second = score_network(network, list(PROXIES.values()), batch, seed=7)
    assert values_equal(first, second)
    assert values_equal(first, score_network(tiny_nb201(MIXED), list(PROXIES.values()), batch, seed=7))
    state = network.state_dict()
    assert all(torch.equal(before[k], state[k]) for k in before)
    assert network.training and all(p.grad is None and p.dtype == torch.float32 for p in network.parameters())


@pytest.mark.parametrize("name", sorted(PROXIES))
def test_a_measure_leaves_no_hooks_no_gradients_and_no_graph(name: str):
    """Nothing the measure built outlives it: with the cycle collector off, the weights die with
    the network (a graph kept alive by a reference cycle would hold them)."""
    network = tiny_nb201(MIXED)
    gc.collect()
    gc.disable()
    try:
        PROXIES[name].score(network, tiny_batch())
        assert all(p.grad is None for p in network.parameters())
        assert not any(m._forward_hooks or m._backward_hooks for m in network.modules())
        weights = [weakref.ref(p) for p in network.parameters()]
        del network
        assert all(weight() is None for weight in weights)
    finally:
        gc.enable()


# -- signs on real NB201 cells --------------------------------------------------------------------
def test_the_empty_cell_scores_below_the_all_conv_cell():
    space = NB201Space()
    empty, conv = (space.from_index(space.index(space.from_str(text))) for text in (ALL_NONE, ALL_CONV3))
    proxies = [PROXIES[name] for name in ("synflow", "params_M", "flops_M")]
    low = score_network(tiny_nb201(empty), proxies, tiny_batch(), 0)
    high = score_network(tiny_nb201(conv), proxies, tiny_batch(), 0)
    assert all(low[k] < high[k] for k in low), (low, high)


# -- NASLib's published per-cell values (scripts/proxy_agreement.py) ------------------------------
def test_naslib_op_tuples_map_to_cells_with_the_published_parameter_counts(shared_benchmarks: Path):
    """The published values are keyed by NASLib's op tuple; its ``idx`` is not the NB201 index."""
    table = json.loads((shared_benchmarks / "nb201" / "naslib_zc_nb201_subset.json").read_text())
    space = NB201Space()
    records = list(table["cifar10"].values())[:12]
    archs = [arch_from_naslib(ast.literal_eval(record["arch"])) for record in records]
    published = [record["params"]["score"] for record in records]
    assert [round(count_params(NB201Network(arch, 10)), 6) for arch in archs] == published
    at_idx = [round(count_params(NB201Network(space.from_index(int(r["idx"])), 10)), 6) for r in records]
    assert sum(a == b for a, b in zip(at_idx, published)) < len(records) // 2
    with pytest.raises(ConfigError, match="is no NASLib NB201 op tuple"):
        arch_from_naslib((0, 1, 2, 3, 4, 5))
