"""The 1-D inverse-problem study's core (thesis chapter 6): operators, signals, PSNR, the two
spaces, the networks, training and DAS. Trainings here are a few steps long; the study's
settings are Table B.7's."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from nasgen.benchmarks.base import Benchmark, MetricUnits, ProtocolSettings, SignedMetrics
from nasgen.benchmarks.inverse1d import (
    PSNR_GROUP,
    Inverse1DBenchmark,
    InverseProblem,
    WeightTraining,
    evaluate_psnr,
    evaluation_data,
    generator,
    train_architecture,
)
from nasgen.errors import ConfigError
from nasgen.models.inverse1d import (
    GradientStep,
    TwoLayerCNN,
    apply_ops,
    discrete_network,
    initial_step,
    joint_features,
    recalibrate_batch_norm,
    supernet,
)
from nasgen.oneshot.das_inverse import DASHyperparameters, das_search, das_single_search
from nasgen.spaces.base import SearchSpace
from nasgen.spaces.inverse1d import Inverse1DSpace

TASKS = ("blur", "downsample")
QUICK = WeightTraining(epochs=2, batch_size=32, batches_per_epoch=5, valid_samples=256)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny networks: one thread each (conftest's ``one_torch_thread``)."""


def quick_hparams(**changes) -> DASHyperparameters:
    settings = dict(name="quick", param_lr=1e-3, param_wd=1e-8, param_warmup=False, alpha_lr=1e-3, alpha_wd=1e-3,
                    alpha_warmup=True, alpha_scheduler="linear", alpha_optimizer="gd", epochs=2, batch_size=32,
                    batches_per_epoch=5, valid_samples=256)
    return DASHyperparameters(**{**settings, **changes})


# -- the problem ----------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_adjoint_is_the_transpose_of_the_operator(task):
    problem = InverseProblem(task)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, problem.n_points, generator=gen, dtype=torch.float64)
    y = torch.randn(64, problem.measurements, generator=gen, dtype=torch.float64)
    matrix = problem.matrix.double()
    ax, aty = x @ matrix.T, y @ matrix
    assert torch.allclose((ax * y).sum(1), (x * aty).sum(1), atol=1e-10)
    # and forward/adjoint apply that matrix (float32)
    assert torch.allclose(problem.forward(x.float()), ax.float(), atol=1e-5)
    assert torch.allclose(problem.adjoint(y.float()), aty.float(), atol=1e-5)


def test_blur_kernel_is_a_normalised_gaussian_in_signal_units():
    problem = InverseProblem("blur")
    kernel = problem.kernel
    assert len(kernel) == 7 and torch.isclose(kernel.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.allclose(kernel, kernel.flip(0)) and int(kernel.argmax()) == 3
    spacing = math.pi / 49  # sigma 0.2 in units of w, on 50 points over [-pi/2, pi/2]
    assert float(kernel[4] / kernel[3]) == pytest.approx(math.exp(-0.5 * (spacing / 0.2) ** 2))
    # zero padding: an interior row is the kernel, a boundary row its truncation
    assert torch.allclose(problem.matrix[25, 22:29], kernel.float())
    assert torch.allclose(problem.matrix[0, :4], kernel[3:].float()) and problem.matrix[0, 4:].abs().sum() == 0


def test_downsampling_keeps_every_fourth_blurred_sample_from_the_first():
    blur, down = InverseProblem("blur"), InverseProblem("downsample")
    assert down.matrix.shape == (13, 50)
    assert torch.equal(down.matrix, blur.matrix[::4])
    x, y = down.sample(8, generator(0, "valid"))
    assert x.shape == (8, 50) and y.shape == (8, 13)
    assert down.adjoint(y).shape == (8, 50)


def test_signals_follow_the_cosine_model():
    problem = InverseProblem("blur")
    x, y = problem.sample(20000, generator(3, "valid"))
    # x - O_y is a cosine: each signal spans at most 2
    assert float((x.max(1).values - x.min(1).values).max()) <= 2.0 + 1e-5
    # E[x_i] = E[cos(f w_i + O_x)] = exp(-1/2) E_f[cos(f w_i)], f ~ U[0, 2 pi]
    w = problem.grid
    expected = math.exp(-0.5) * torch.where(w == 0, torch.ones_like(w), torch.sin(2 * math.pi * w) / (2 * math.pi * w))
    standard_error = float(x.std(0).max()) / math.sqrt(len(x))
    assert torch.allclose(x.mean(0).double(), expected, atol=5 * standard_error)
    # O_y ~ N(0, 1) is what the signals' means vary by (plus the cosine's own mean, |.| <= 1)
    assert 1.0 < float(x.mean(1).std()) < 1.3
    noise = y - problem.forward(x)
    assert float(noise.std()) == pytest.approx(0.01, rel=0.03) and abs(float(noise.mean())) < 1e-3


def test_samples_are_seeded_and_the_streams_differ():
    problem = InverseProblem("downsample")
    first = problem.sample(16, generator(5, "valid"))
    assert all(torch.equal(a, b) for a, b in zip(first, problem.sample(16, generator(5, "valid"))))
    assert not torch.equal(first[0], problem.sample(16, generator(5, "test"))[0])
    assert not torch.equal(first[0], problem.sample(16, generator(6, "valid"))[0])
    assert torch.equal(evaluation_data(problem, 5, "valid", 16)[0], first[0])


def test_psnr_uses_the_batch_peak_and_averages_groups():
    truth = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    estimate = truth + 0.1  # MSE 0.01, peak^2 = 4
    assert InverseProblem.psnr(estimate, truth) == pytest.approx(10 * math.log10(4 / 0.01))
    problem = InverseProblem("blur")
    x, y = problem.sample(2 * PSNR_GROUP + 10, generator(0, "valid"))
    groups = [problem.psnr(problem.adjoint(y[i:i + PSNR_GROUP]), x[i:i + PSNR_GROUP])
              for i in (0, PSNR_GROUP, 2 * PSNR_GROUP)]
    assert evaluate_psnr(problem.adjoint, problem, (x, y), 0) == pytest.approx(np.mean(groups))


def test_settings_out_of_range_are_refused():
    with pytest.raises(ConfigError, match="inverse_task.task"):
        InverseProblem("deblur")
    with pytest.raises(ConfigError, match="blur_kernel"):
        InverseProblem("blur", blur_kernel=6)
    with pytest.raises(ConfigError, match="training.epochs"):
        WeightTraining(epochs=0)
    with pytest.raises(ConfigError, match="alpha_optimizer"):
        quick_hparams(alpha_optimizer="sgd")
    with pytest.raises(ConfigError, match="search_space.layout"):
        Inverse1DSpace("cells")


# -- the spaces -----------------------------------------------------------------------------
def test_space_sizes_and_slots():
    assert Inverse1DSpace("sequential", "all").distinct_architectures == 4 ** 10
    assert Inverse1DSpace("sequential", "good").distinct_architectures == 2 ** 10
    nonsequential = Inverse1DSpace("nonsequential", "all")
    assert nonsequential.num_slots == 30 and len(nonsequential.edges) == 15
    assert nonsequential.op_names == ("zero", "gradient", "cnn", "roll", "noise")
    assert isinstance(nonsequential, SearchSpace)
    space = Inverse1DSpace()
    assert space.op_list(space.uniform("cnn")) == ["cnn"] * 10
    assert space.from_str(space.to_str(space.uniform("roll"))) == space.uniform("roll")
    with pytest.raises(ConfigError):
        space.from_str("cnn-cnn")


@pytest.mark.parametrize("ops, states", [("good", 4), ("all", 3)])
def test_nonsequential_size_counts_the_distinct_keys(ops, states):
    """The closed form of ``distinct_architectures`` against all keys of a small cell."""
    space = Inverse1DSpace("nonsequential", ops, cells=1, states=states)
    keys = {space.key(arch) for arch in itertools.product(range(len(space.op_names)), repeat=space.num_slots)}
    assert space.distinct_architectures == len(keys)


def test_dead_states_are_canonicalised():
    space = Inverse1DSpace("nonsequential", "all", cells=1, states=4)  # edges (0,1) (0,2) (1,2) (0,3) (1,3) (2,3) ...
    arch = list(space.uniform("cnn"))
    for k, (source, _) in enumerate(space.edges):
        if source == 1:
            arch[k] = 0  # state 1 feeds nothing: its input op (edge 0 -> 1) is irrelevant
    canonical = space.canonical(tuple(arch))
    assert canonical[space.edges.index((0, 1))] == 0
    assert sum(op != 0 for op in canonical) == sum(op != 0 for op in arch) - 1


# -- the networks ---------------------------------------------------------------------------
def test_joint_features_equal_the_conv_batchnorm_stack():
    torch.manual_seed(0)
    nets = [TwoLayerCNN() for _ in range(3)]
    references = []
    for net in nets:
        with torch.no_grad():
            net.norm_weight.uniform_(0.5, 1.5)
            net.norm_bias.uniform_(-0.5, 0.5)
        reference = nn.Sequential(nn.Conv1d(1, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(),
                                  nn.Conv1d(32, 1, 5, padding=2))
        with torch.no_grad():
            reference[0].weight.copy_(net.weight1[:, None])
            reference[0].bias.copy_(net.bias1)
            reference[1].weight.copy_(net.norm_weight)
            reference[1].bias.copy_(net.norm_bias)
            reference[3].weight.copy_(net.weight2.T[None])
            reference[3].bias.copy_(net.bias2)
        references.append(reference)
    x = 2 * torch.randn(64, 50) + 1
    for _ in range(2):  # training mode, twice: outputs and running statistics
        joint = joint_features(nets, x)
        for out, net, reference in zip(joint, nets, references):
            assert torch.allclose(out, reference(x[:, None])[:, 0], atol=1e-5)
            assert torch.allclose(net.running_mean, reference[1].running_mean, atol=1e-5)
            assert torch.allclose(net.running_var, reference[1].running_var, atol=1e-5)
    for net, reference in zip(nets, references):
        net.eval()
        reference.eval()
    for out, reference in zip(joint_features(nets, x), references):
        assert torch.allclose(out, reference(x[:, None])[:, 0], atol=1e-5)


@pytest.mark.parametrize("task", TASKS)
def test_gradient_step_without_regulariser_output_reduces_the_data_misfit(task):
    problem = InverseProblem(task)
    regulariser = TwoLayerCNN()
    with torch.no_grad():  # F = 0
        regulariser.weight2.zero_()
        regulariser.bias2.zero_()
    step = GradientStep(initial_step(problem.matrix), regulariser)
    x_true, y = problem.sample(64, generator(0, "valid"))
    x = problem.adjoint(y)
    for _ in range(5):
        (after,) = apply_ops([step], x, y, problem.matrix)
        before_misfit = (problem.forward(x) - y).norm(dim=1)
        after_misfit = (problem.forward(after) - y).norm(dim=1)
        assert (after_misfit < before_misfit).all()
        x = after.detach()


def _copy_chosen_ops(source, target, space, arch):
    for slot, name in enumerate(space.op_list(arch)):
        if name != "zero":
            target.op(slot, name).load_state_dict(source.op(slot, name).state_dict())
    target.cell_outputs.load_state_dict(source.cell_outputs.state_dict())


@pytest.mark.parametrize("layout", ["sequential", "nonsequential"])
def test_supernet_with_one_hot_weights_is_the_discrete_network(layout):
    space = Inverse1DSpace(layout, "all")
    problem = InverseProblem("blur")
    noise, roll = space.op_names.index("noise"), space.op_names.index("roll")
    # every op but noise (whose draws differ when the supernet also runs the other ops)
    arch = tuple(roll if op == noise else op for op in space.sample(1, np.random.default_rng(0))[0])
    assert len(set(arch)) == len(space.op_names) - 1
    torch.manual_seed(0)
    big = supernet(space, problem.matrix)
    small = discrete_network(space, arch, problem.matrix)
    _copy_chosen_ops(big, small, space, arch)
    one_hot = torch.eye(len(space.op_names))[list(arch)]
    _, y = problem.sample(32, generator(0, "valid"))
    assert torch.allclose(big(y, one_hot), small(y), atol=1e-5)
    big.eval()
    small.eval()
    assert torch.allclose(big(y, one_hot), small(y), atol=1e-5)


def test_roll_moves_estimates_to_the_neighbouring_sample():
    space = Inverse1DSpace("sequential", "all", layers=1)
    problem = InverseProblem("blur")
    network = discrete_network(space, space.uniform("roll"), problem.matrix)
    _, y = problem.sample(4, generator(0, "valid"))
    x0 = problem.adjoint(y)
    assert torch.allclose(network(y), x0 + torch.roll(x0, (1, 1), (0, 1)))


# -- training, the benchmark and DAS --------------------------------------------------------------
def test_training_beats_the_initial_estimate_and_is_deterministic():
    space, problem = Inverse1DSpace(), InverseProblem("blur")
    training = WeightTraining(epochs=3, batch_size=64, batches_per_epoch=10, valid_samples=256)
    result = train_architecture(space, space.uniform("gradient"), problem, training, seed=1)
    x, y = evaluation_data(problem, 1, "valid", 256)
    assert result.valid_psnr > evaluate_psnr(problem.adjoint, problem, (x, y), 1) + 1.0
    again = train_architecture(space, space.uniform("gradient"), problem, training, seed=1)
    assert (again.valid_psnr, again.test_psnr) == (result.valid_psnr, result.test_psnr)
    other = train_architecture(space, space.uniform("gradient"), problem, training, seed=2)
    assert other.valid_psnr != result.valid_psnr


def test_benchmark_answers_psnr_after_retraining():
    space = Inverse1DSpace("sequential", "good", layers=3)
    benchmark = Inverse1DBenchmark(space, InverseProblem("downsample"), QUICK, seed=0)
    assert isinstance(benchmark, Benchmark) and isinstance(benchmark, SignedMetrics)
    assert isinstance(benchmark, ProtocolSettings) and isinstance(benchmark, MetricUnits)
    assert benchmark.metrics == ("downsample/valid_psnr@retrained", "downsample/test_psnr@retrained")
    archs = space.sample(2, np.random.default_rng(0))
    valid = benchmark.query(archs, benchmark.metrics[0])
    test = benchmark.query(archs, benchmark.metrics[1])  # from memory: trained once per arch
    assert valid.shape == (2,) and np.isfinite(valid).all() and np.isfinite(test).all()
    direct = train_architecture(space, archs[0], InverseProblem("downsample"), QUICK, 0)
    assert (valid[0], test[0]) == (direct.valid_psnr, direct.test_psnr)
    assert benchmark.higher_is_better(benchmark.metrics[0]) is True
    assert benchmark.unit(benchmark.metrics[1]) == "dB"
    assert benchmark.protocol(benchmark.metrics)["inverse_task"]["task"] == "downsample"
    with pytest.raises(ConfigError):
        benchmark.query(archs, "blur/valid_psnr@retrained")


def test_das_is_deterministic_and_its_result_is_described():
    space, problem = Inverse1DSpace("nonsequential", "good", states=3), InverseProblem("blur")
    hparams = quick_hparams(alpha_optimizer="adam", alpha_lr=0.05, alpha_warmup=False)
    first = das_search(space, problem, hparams, seed=0)
    second = das_search(space, problem, hparams, seed=0)
    assert (first.arch, first.oneshot_psnr, first.alphas) == (second.arch, second.oneshot_psnr, second.alphas)
    assert len(first.arch) == space.num_slots and np.isfinite(first.oneshot_psnr)
    alphas = np.array(first.alphas)
    assert alphas.shape == (space.num_slots, 3) and np.allclose(alphas.sum(1), 1.0)
    assert tuple(alphas.argmax(1)) == first.arch
    assert das_search(space, problem, hparams, seed=1).alphas != first.alphas


def test_das_moves_alpha_away_from_harmful_ops_on_blur():
    space, problem = Inverse1DSpace("sequential", "all"), InverseProblem("blur")
    hparams = quick_hparams(alpha_optimizer="adam", alpha_lr=0.05, alpha_warmup=False, alpha_scheduler="none",
                            epochs=6, batches_per_epoch=10, batch_size=64)
    result = das_search(space, problem, hparams, seed=0)
    harmful = np.array(result.alphas)[:, [space.op_names.index("roll"), space.op_names.index("noise")]].sum(1)
    # 0.5 at the start; seeds 0, 1, 2 end at 0.37, 0.32, 0.40 with 10, 10, 8 good argmax ops of 10
    assert harmful.mean() < 0.42
    assert sum(space.op_names[op] in ("gradient", "cnn") for op in result.arch) >= 8


def test_das_single_learns_alpha_only():
    space, problem = Inverse1DSpace("sequential", "all", layers=4), InverseProblem("blur")
    hparams = quick_hparams(alpha_optimizer="adam", alpha_lr=0.05, alpha_warmup=False)
    result = das_single_search(space, problem, hparams, seed=0)
    baseline = train_architecture(space, space.uniform("cnn"), problem, hparams.weight_training(), 0)
    pretrained = result.pretrained["cnn"]  # the very "nets only" network of this seed
    assert (pretrained.valid_psnr, pretrained.test_psnr) == (baseline.valid_psnr, baseline.test_psnr)
    assert np.abs(np.array(result.alphas) - 0.25).max() > 1e-3  # alpha moved
    with pytest.raises(ConfigError, match="sequential"):
        das_single_search(Inverse1DSpace("nonsequential"), problem, hparams, seed=0)


def test_recalibrated_statistics_are_the_cumulative_average_at_the_final_weights():
    space, problem = Inverse1DSpace("sequential", "good", layers=1), InverseProblem("blur")
    network = discrete_network(space, space.uniform("cnn"), problem.matrix)
    net = network.op(0, "cnn").regulariser
    reference = nn.BatchNorm1d(32, momentum=None)
    batches = [problem.sample(32, generator(seed, "valid")) for seed in range(3)]
    for _, y in batches:
        reference(torch.addmm(net.bias1[:, None], net.weight1, _windows(problem.adjoint(y))).unsqueeze(0))
    recalibrate_batch_norm(network, batches)
    assert not network.training and net.momentum == 0.1
    assert torch.allclose(net.running_mean, reference.running_mean, atol=1e-5)
    assert torch.allclose(net.running_var, reference.running_var, atol=1e-5)


def _windows(x: torch.Tensor, kernel: int = 5) -> torch.Tensor:
    """``[kernel, B * n]``: the zero-padded windows of ``x [B, n]`` that the first convolution reads."""
    padded = torch.nn.functional.pad(x, (kernel // 2, kernel // 2))
    return torch.stack([padded[:, j:j + x.shape[1]].reshape(-1) for j in range(kernel)])
