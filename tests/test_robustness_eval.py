"""Robustness evaluation: attacks, corruptions, training-free measures and the suite, on a tiny
CNN trained for a few seconds on scikit-learn's bundled digits (8x8 grey images)."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.datasets import load_digits
from torch import nn

import nasgen
from nasgen.errors import ConfigError
from nasgen.evaluation.attacks import (
    ATTACKS,
    FGSM_EPSILONS,
    PGD_EPSILONS,
    attack_batch,
    attack_options,
    evaluate_attacks,
    inference_mode,
)
from nasgen.evaluation.corruptions import CORRUPTIONS, SEVERITIES, corrupt, evaluate_corruptions
from nasgen.evaluation.robustness import RobustnessSuite, evaluate_robustness
from nasgen.evaluation.training_free import hessian_eigenvalues, jacobian_sq_norms, measure, reinitialised
from nasgen.spaces.nb201 import NB201Space

TOLERANCE = 0.02  # accuracy may rise by one or two images out of 200 between epsilons


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The machine is shared: one thread, which is also faster for these tiny models."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    return torch.tensor(data.images / 16.0, dtype=torch.float32)[:, None], torch.tensor(data.target)


@pytest.fixture(scope="module")
def trained(digits) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The tiny CNN after 12 epochs of Adam on 1,400 digits (~93 % test accuracy), and the
    remaining 397 digits as test data."""
    x, y = digits
    torch.manual_seed(0)
    model = tiny_cnn()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(12):
        order = torch.randperm(1400, generator=generator)
        for start in range(0, 1400, 64):
            batch = order[start:start + 64]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    test_x, test_y = x[1400:], y[1400:]
    with torch.no_grad():
        assert (model(test_x).argmax(1) == test_y).float().mean() > 0.85
    return model, test_x, test_y


@pytest.fixture(scope="module")
def digits32(digits) -> np.ndarray:
    """64 digits upsampled to 32x32, the resolution CIFAR-10-C's parameters are written for."""
    return F.interpolate(digits[0][:64], size=32, mode="bilinear", align_corners=False).clamp(0, 1).numpy()


# -- attacks ---------------------------------------------------------------------------------------
def test_fgsm_and_pgd_accuracy_falls_with_epsilon(trained):
    model, x, y = trained
    x, y = x[:200], y[:200]
    result = evaluate_attacks(model, x, y, {"fgsm": {}, "pgd": {}}, progress=False)
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    for name, epsilons in (("fgsm", FGSM_EPSILONS), ("pgd", PGD_EPSILONS)):
        rows = result[name]
        assert rows["epsilons"] == list(epsilons)
        accuracy = [clean, *rows["accuracy"]]
        assert all(b <= a + TOLERANCE for a, b in zip(accuracy, accuracy[1:])), (name, accuracy)
        assert rows["accuracy"][-1] < clean - 0.05, (name, accuracy)
        for acc, confidence, confusion in zip(rows["accuracy"], rows["confidence"], rows["confusion"]):
            matrix = np.array(confusion)
            assert matrix.shape == (10, 10) and matrix.sum() == 200
            assert np.trace(matrix) / 200 == pytest.approx(acc)
            assert 0.1 <= confidence <= 1
    assert result["fgsm"]["accuracy"][-1] < 0.2  # eps = 255/255 leaves nothing of a digit


def test_apgd_and_square_run_and_never_beat_clean(trained):
    model, x, y = trained
    x, y = x[:100], y[:100]
    attacks = {"aa_apgd-ce": {"epsilons": [1, 8], "n_iter": 20},
               "aa_square": {"epsilons": [1, 8], "n_queries": 100}}
    result = evaluate_attacks(model, x, y, attacks, progress=False)
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    for name in attacks:
        assert len(result[name]["accuracy"]) == 2
        assert all(acc <= clean + 1e-9 for acc in result[name]["accuracy"]), (name, clean, result[name])
    assert result["aa_apgd-ce"]["accuracy"][-1] < clean


def test_attacks_stay_in_the_ball_are_deterministic_and_leave_torch_rng_alone(trained):
    model, x, y = trained
    x, y = x[:32], y[:32]
    eps = 8 / 255
    state = torch.get_rng_state()
    with inference_mode(model):
        for name in ATTACKS:
            options = attack_options(name, {"steps": 5} if name == "pgd" else
                                     {"n_iter": 5} if name == "aa_apgd-ce" else
                                     {"n_queries": 20} if name == "aa_square" else {})
            first = attack_batch(model, x, y, name, eps, options, seed=3)
            again = attack_batch(model, x, y, name, eps, options, seed=3)
            assert torch.equal(first, again), name
            assert (first - x).abs().max() <= eps + 1e-6 and first.min() >= 0 and first.max() <= 1, name
    assert torch.equal(torch.get_rng_state(), state)
    assert all(p.requires_grad for p in model.parameters())  # inference_mode restored them


def test_attack_options_are_checked():
    with pytest.raises(ConfigError, match="unknown attack"):
        attack_options("cw")
    with pytest.raises(ConfigError, match="steps"):
        attack_options("fgsm", {"steps": 3})
    with pytest.raises(ConfigError, match="positive epsilons"):
        attack_options("pgd", {"epsilons": [0, 1]})


# -- corruptions -----------------------------------------------------------------------------------
def test_corruptions_keep_shape_and_range_and_are_deterministic(digits):
    grey8 = digits[0][:6].numpy()
    rng = np.random.default_rng(0)
    colour16 = rng.random((3, 3, 16, 16)).astype(np.float32)
    for name in CORRUPTIONS:
        for images in (grey8, colour16):
            out = corrupt(images, name, 3, seed=7)
            assert out.shape == images.shape and out.dtype == np.float32, name
            assert out.min() >= 0 and out.max() <= 1, name
            assert np.array_equal(out, corrupt(images, name, 3, seed=7)), name
        single = torch.from_numpy(colour16[0])
        out = corrupt(single, name, 5, seed=1)
        assert isinstance(out, torch.Tensor) and out.shape == single.shape, name
    # the random ones depend on the seed
    for name in ("gaussian_noise", "glass_blur", "snow", "frost", "fog", "elastic_transform"):
        assert not np.array_equal(corrupt(colour16, name, 3, seed=1), corrupt(colour16, name, 3, seed=2)), name
    with pytest.raises(ConfigError, match="severity"):
        corrupt(grey8, "fog", 6)
    with pytest.raises(ConfigError, match="unknown corruption"):
        corrupt(grey8, "spatter", 1)


# CIFAR-10-C's own parameters do not grow the pixel change at every step for three corruptions,
# so those are checked on the steps where they do (see nasgen.evaluation.corruptions):
# - glass_blur: severities 1-3 blur more after one shuffling pass, and blurring undoes part of the
#   shuffle; a second pass (2 -> 4 and 3 -> 5, same blur) shuffles more;
# - frost: 3 -> 4 only lowers the image weight (0.9 -> 0.85) under the same frost weight, which on
#   dark digits lowers the change; every step that raises the frost weight raises it;
# - elastic_transform: severities trade the affine jitter (8 % -> 3 % of the side) for a growing
#   local displacement field; every severity must still change the image.
# Snow 2 -> 3 is a near tie (bigger but no more flakes: zooming smooths the noise before the
# threshold), about 0.5 % lower on digits; hence the 2 % tolerance.
EXPECTED_STEPS = {"glass_blur": [(2, 4), (3, 5)], "frost": [(1, 2), (2, 3), (4, 5)], "elastic_transform": []}


def test_corruptions_grow_with_severity(digits32):
    for name in CORRUPTIONS:
        change = {s: float(np.abs(corrupt(digits32, name, s, seed=0) - digits32).mean()) for s in SEVERITIES}
        assert change[1] > 1e-3, (name, change)
        steps = EXPECTED_STEPS.get(name, list(zip(SEVERITIES, SEVERITIES[1:])))
        for low, high in steps:
            assert change[high] >= 0.98 * change[low], (name, change)


def test_evaluate_corruptions(trained):
    model, x, y = trained
    result = evaluate_corruptions(model, x[:64], y[:64], ["gaussian_noise", "contrast"], [1, 5], batch_size=32,
                                  progress=False)
    rows = result["per_corruption"]["contrast"]
    assert rows["severities"] == [1, 5] and len(rows["accuracy"]) == 2
    assert rows["accuracy"][1] <= rows["accuracy"][0]
    assert np.array(rows["confusion"][0]).sum() == 64
    assert result["mean_accuracy"] == pytest.approx(np.mean(
        [a for r in result["per_corruption"].values() for a in r["accuracy"]]))
    again = evaluate_corruptions(model, x[:64], y[:64], ["gaussian_noise", "contrast"], [1, 5], batch_size=32,
                                 progress=False)
    assert again == result


# -- training-free measures ------------------------------------------------------------------------
def exact_jacobian_sq_norms(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.autograd.functional.jacobian(model, image[None]).pow(2).sum() for image in x])


@pytest.mark.parametrize("weights", ["trained", "random"])
def test_jacobian_norm_matches_exact(trained, weights):
    model, x, _ = trained
    model = model if weights == "trained" else reinitialised(model, seed=1)
    x = x[:200]
    exact = exact_jacobian_sq_norms(model, x)
    estimate = jacobian_sq_norms(model, x, n_projections=1, generator=torch.Generator().manual_seed(0))
    assert float(estimate.mean().sqrt()) == pytest.approx(float(exact.mean().sqrt()), rel=0.1)
    # as many orthonormal projections as logits recover the norm exactly
    full = jacobian_sq_norms(model, x[:20], n_projections=10)
    assert torch.allclose(full, exact[:20], rtol=1e-4)


def test_hessian_power_iteration_matches_top_eigenvalue(trained):
    model, x, y = trained
    # digits near the decision boundary, where the loss is curved
    with torch.no_grad():
        margin = model(x).softmax(1).max(1).values
    chosen = torch.argsort(margin)[:6]
    x, y = x[chosen], y[chosen]
    estimate = hessian_eigenvalues(model, x, y, iterations=300, tol=1e-7, generator=torch.Generator().manual_seed(0))
    for image, label, value in zip(x, y, estimate):
        def loss(inputs: torch.Tensor, label: torch.Tensor = label) -> torch.Tensor:
            return F.cross_entropy(model(inputs.view(1, 1, 8, 8)), label[None])
        hessian = torch.autograd.functional.hessian(loss, image.flatten())
        top = float(torch.linalg.eigvalsh(hessian.double()).max())
        assert top > 1e-3
        assert float(value) == pytest.approx(top, rel=0.03)


def test_measures_on_trained_and_random_networks(trained):
    model, x, y = trained
    result = evaluate_robustness(model, x, y, attacks=None, corruptions=None,
                                 measures={"batches": 2, "batch_size": 64}, progress=False)["measures"]
    assert result["batches"] == 2 and result["random_init"]["batches"] == 2
    for values in (result, result["random_init"]):
        assert values["jacobian_norm"] > 0 and values["hessian_max_eigenvalue"] >= 0
    again = measure(model, x, y, batches=2, batch_size=64, progress=False)
    assert again["jacobian_norm"] == result["jacobian_norm"]


# -- the suite -------------------------------------------------------------------------------------
class DigitsBenchmark:
    """Hands out the trained tiny CNN for any architecture."""

    name = "digits-stub"
    dataset = "digits"
    num_classes = 10

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model, self.x, self.y, self.loaded = model, x, y, []

    def load_model(self, arch) -> nn.Module:
        self.loaded.append(arch)
        return self.model

    def evaluation_data(self, split: str = "test", max_samples: int | None = None):
        return self.x[:max_samples], self.y[:max_samples]


class FinishedSearch:
    """The parts of an Oracle the suite reads: records, incumbents, space."""

    def __init__(self, archs: list[str], values: list[float]) -> None:
        self.space = NB201Space()
        self.records = [{"query": i + 1, "arch": a, "index": self.space.index(self.space.from_str(a)), "acc": v}
                        for i, (a, v) in enumerate(zip(archs, values))]
        self.values = values

    def incumbents(self) -> np.ndarray:
        return np.array([int(np.argmax(self.values[: i + 1])) for i in range(len(self.values))])


SMALL_SUITE = {
    "max_samples": 64, "batch_size": 32, "progress": False,
    "attacks": {"fgsm": {"epsilons": [1, 8]}, "pgd": {"epsilons": [8], "steps": 5},
                "aa_apgd-ce": {"epsilons": [8], "n_iter": 5}, "aa_square": {"epsilons": [8], "n_queries": 20}},
    "corruptions": {"names": ["gaussian_noise", "fog"], "severities": [1, 5]},
    "measures": {"batches": 1, "batch_size": 32},
}


def test_suite_writes_json_and_plots(trained, tmp_path):
    model, x, y = trained
    space = NB201Space()
    archs = [space.to_str(a) for a in space.sample(3, np.random.default_rng(0))]
    search = FinishedSearch(archs, [50.0, 70.0, 60.0])
    benchmark = DigitsBenchmark(model, x, y)
    summary = RobustnessSuite(**SMALL_SUITE)(search, benchmark, tmp_path)["robustness"]
    assert benchmark.loaded == [space.from_str(archs[1])]  # the best by the search metric
    assert summary["arch"] == archs[1] and summary["num_samples"] == 64
    assert set(summary["attacks"]) == set(ATTACKS) and set(summary["attacks"]["fgsm"]) == {"1", "8"}
    assert 0 <= summary["corruption_mean_accuracy"] <= 1
    assert {"jacobian_norm", "hessian_max_eigenvalue", "random_init"} <= set(summary["measures"])
    saved = json.loads((tmp_path / "robustness.json").read_text())
    assert saved["arch"] == archs[1] and saved["clean"]["accuracy"] == summary["clean_accuracy"]
    assert np.array(saved["attacks"]["pgd"]["confusion"][0]).shape == (10, 10)
    assert set(saved["corruptions"]["per_corruption"]) == {"gaussian_noise", "fog"}
    for plot in ("robustness_attacks.png", "robustness_corruptions.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_suite_summarises_on_the_console_and_plots_in_percent(trained, tmp_path, caplog, monkeypatch):
    from nasgen.evaluation import robustness
    from nasgen.reporting.console import format_value

    model, x, y = trained
    space = NB201Space()
    search = FinishedSearch([space.to_str(space.from_index(6111))], [90.0])
    figures = []
    monkeypatch.setattr(robustness, "save_figure", lambda fig, path: figures.append(fig))
    with caplog.at_level(logging.INFO):
        capped = {**SMALL_SUITE, "attacks": {**SMALL_SUITE["attacks"],
                                             "pgd": {"epsilons": [8], "steps": 5, "max_samples": 32}}}
        summary = RobustnessSuite(**capped)(search, DigitsBenchmark(model, x, y), tmp_path)["robustness"]
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("robustness on digits test"))
    assert list(summary["attack_subsets"]) == ["pgd"]
    percent = {"clean": format_value(100 * summary["clean_accuracy"]),
               "fgsm": format_value(100 * summary["attacks"]["fgsm"]["1"]),
               "corruptions": format_value(100 * summary["corruption_mean_accuracy"])}
    assert f"clean {percent['clean']} %" in line and f"fgsm {percent['fgsm']} %" in line
    assert "at eps=1/255" in line and "pgd" in line and "(eps=8/255" in line  # pgd ran at eps=8 only
    for name, subset in summary["attack_subsets"].items():  # attacks capped at fewer images say so
        assert f"{subset['num_samples']} images, clean {format_value(100 * subset['clean_accuracy'])} %" in line, name
    assert f"corruptions mean {percent['corruptions']} %" in line
    assert "jacobian norm" in line and "hessian max eigenvalue" in line
    assert not re.search(r"\d\.\d{5,}", line)  # no float noise
    assert len(figures) == 2
    for figure in figures:
        ax = figure.axes[0]
        assert ax.get_ylim()[1] > 99 and "%" in ax.get_ylabel() and "digits test" in ax.get_title()
        clean_line = next(line for line in ax.lines if line.get_label().startswith("clean"))
        assert clean_line.get_ydata()[0] == pytest.approx(100 * summary["clean_accuracy"])
        plt.close(figure)


def test_suite_skips_benchmarks_without_models(tmp_path, caplog):
    class Table:
        name = "lookup"

    space = NB201Space()
    search = FinishedSearch([space.to_str(space.from_index(0))], [1.0])
    with caplog.at_level(logging.INFO):
        assert RobustnessSuite(**SMALL_SUITE)(search, Table(), tmp_path) == {}
    assert "skipped" in caplog.text and not list(tmp_path.iterdir())


def test_config_builds_the_suite():
    path = Path(nasgen.__file__).parent / "configs" / "evaluation" / "robustness.yaml"
    suite = instantiate(OmegaConf.load(path).robustness)
    assert isinstance(suite, RobustnessSuite)
    assert type(suite.attacks) is dict and suite.attacks["fgsm"]["epsilons"] == list(FGSM_EPSILONS)
    assert suite.corruptions["names"] == list(CORRUPTIONS)
    for name, options in suite.attacks.items():
        attack_options(name, options)
    with pytest.raises(ConfigError, match="unknown corruption 'rain'"):
        RobustnessSuite(corruptions={"names": ["rain"]})  # at construction, before any search
    with pytest.raises(ConfigError, match="unknown corruptions setting"):
        evaluate_robustness(nn.Linear(1, 2), torch.zeros(1, 1), torch.zeros(1, dtype=torch.long),
                            attacks=None, corruptions={"severity": 1}, measures=None)


def test_a_network_whose_output_ignores_the_image_keeps_its_clean_accuracy(digits):
    """A cell with no path from input to output (every edge into the output node ``none``) gives
    constant logits: every attack leaves its accuracy at the clean one instead of failing on a
    missing gradient."""
    from nasgen.models.nb201_network import NB201Network

    x, y = digits
    space = NB201Space()
    cell = space.from_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|")
    torch.manual_seed(0)
    model = NB201Network(cell, num_classes=10, channels=8, cells_per_stage=1, in_channels=1).eval()
    x, y = x[:20], y[:20]
    attacks = {"fgsm": {"epsilons": [1, 8]}, "pgd": {"epsilons": [1], "steps": 2},
               "aa_apgd-ce": {"epsilons": [1], "n_iter": 2}, "aa_square": {"epsilons": [1], "n_queries": 5}}
    result = evaluate_attacks(model, x, y, attacks, progress=False)
    for name in attacks:
        assert result[name]["accuracy"] == [result[name]["clean_accuracy"]] * len(attacks[name]["epsilons"]), name
