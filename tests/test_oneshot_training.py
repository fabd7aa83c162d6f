"""The NB201 supernet, the relaxations and the first-order bilevel trainer (issue 20)."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from nasgen.errors import ConfigError
from nasgen.models.nb201_supernet import AvgPool3x3, NB201Supernets
from nasgen.oneshot.base import Decisions
from nasgen.oneshot.relaxations import Dirichlet, Softmax, Uniform
from nasgen.oneshot.training import BilevelTrainer, OneShotModel, SearchData, SupernetSchedule, search_data
from nasgen.spaces.nb201 import OP_SETS, OPS, NB201Space


@pytest.fixture(scope="module")
def full_digits() -> SearchData:
    return search_data("digits", None, 0.5)


@pytest.fixture(scope="module")
def digits(full_digits) -> SearchData:
    """128 + 128 images: 2 steps per epoch (the mechanics, not the learning, under test)."""
    return SearchData(full_digits.info, full_digits.weights.head(128), full_digits.alpha.head(128))


def _trainer(data, relaxation=None, op_set="full", epochs=4, seed=0, channels=4) -> BilevelTrainer:
    torch.manual_seed(seed)
    net = NB201Supernets(op_set, channels, 1).build(op_set, data.info.num_classes, data.info.input_shape)
    model = OneShotModel(net, relaxation or Softmax())
    return BilevelTrainer(model, data, SupernetSchedule(epochs=epochs), "cpu", seed)


def test_search_data_halves_the_train_split(full_digits):
    data = full_digits
    assert (len(data.weights), len(data.alpha)) == (538, 539)  # digits' 1,077 training images
    assert data.weights.images.dtype == torch.float32 and data.weights.images.max() <= 1
    again = search_data("digits", None, 0.5)
    assert torch.equal(again.alpha.labels, data.alpha.labels)
    with pytest.raises(ConfigError, match="train_portion"):
        search_data("digits", None, 0.0001)


def test_supernet_shapes_and_parameter_count():
    builder = NB201Supernets()
    assert builder.op_sets() == ("full", "s2", "s3", "s10", "s4")
    # the paper's search network (C=16, N=5) on 3x32x32: 1,686,106 weights, as the note measured
    net = builder.build("full", 10, (3, 32, 32))
    assert sum(p.numel() for p in net.parameters()) == 1_686_106
    assert net.choices[0].edge_ops == (OPS,) * 6
    small = NB201Supernets("s3", 4, 1).build("s3", 10, (1, 8, 8))
    out = small(torch.randn(5, 1, 8, 8), [torch.full((6, 3), 1 / 3)])
    assert out.shape == (5, 10)


def test_supernet_refusals():
    with pytest.raises(ConfigError, match="op set"):
        NB201Supernets("s5")
    with pytest.raises(ConfigError, match="1x14x14"):
        NB201Supernets().build("full", 10, (1, 14, 14))
    with pytest.raises(ConfigError, match="channels"):
        NB201Supernets(channels=0)


def test_genotype_maps_op_sets_to_nb201_cells():
    space = NB201Space()
    s2 = NB201Supernets("s2", 4, 1).build("s2", 10, (1, 8, 8))
    assert s2.genotype([[0] * 6]) == space.from_str(
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
    assert space.index(s2.genotype([[0] * 6])) == 1835  # DARTS' collapse: the all-skip cell
    s4 = NB201Supernets("s4", 4, 1).build("s4", 10, (1, 8, 8))
    assert s4.genotype([[1] * 6]) == (OPS.index("nor_conv_3x3"),) * 6
    assert s4.genotype([[1, 1, 0, 1, 1, 1]]) is None  # a noise edge: no NB201 cell
    assert set(OP_SETS["s3"]) <= set(OPS) and "noise" not in OPS


def test_avg_pool_equals_torch_pool():
    x = torch.randn(3, 5, 6, 4)
    expected = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x)
    assert torch.allclose(AvgPool3x3()(x), expected, atol=1e-6)


def test_schedule_refusals():
    assert SupernetSchedule(arch_betas=[0.5, 0.999]).arch_betas == (0.5, 0.999)
    for bad, key in (({"lr": 0}, "lr"), ({"train_portion": 1.0}, "train_portion"), ({"epochs": 0}, "epochs"),
                     ({"arch_betas": [0.5]}, "arch_betas"), ({"lr_min": 0.1}, "lr_min"),
                     ({"batch_size": True}, "batch_size")):
        with pytest.raises(ConfigError, match=f"supernet.schedule.{key}"):
            SupernetSchedule(**bad)


def test_mixing_applies_decisions_and_masks(digits):
    trainer = _trainer(digits)
    model = trainer.model
    with torch.no_grad():
        model.alpha[0].copy_(torch.arange(30, dtype=torch.float32).view(6, 5) / 10)
    soft = torch.softmax(model.alpha[0], -1)
    assert torch.allclose(model.mixing(False)[0], soft)
    model.decisions = Decisions([{2: 3}], [{5}])
    mixed = model.mixing(False, mask=(0, 0, 1))[0]
    assert torch.equal(mixed[2], torch.tensor([0.0, 0, 0, 1, 0]))
    assert torch.equal(mixed[5], torch.zeros(5))
    assert mixed[0, 1] == 0 and torch.allclose(mixed[0, [0, 2, 3, 4]], soft[0, [0, 2, 3, 4]])  # not renormalised
    assert torch.allclose(mixed[1], soft[1])
    assert np.allclose(model.strengths()[0], soft.detach().numpy())  # strengths ignore decisions


def test_relaxations():
    alpha = torch.tensor([[0.0, 1.0, 2.0, -3.0], [0.5, 0.5, 0.5, 0.5]], requires_grad=True)
    torch.manual_seed(0)
    sample = Dirichlet().training_weights(alpha)
    assert sample.shape == alpha.shape and (sample >= 0).all() and torch.allclose(sample.sum(-1), torch.ones(2))
    sample[0, 1].backward()  # pathwise gradient reaches alpha
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
    strengths = Dirichlet().strengths(alpha.detach())
    assert torch.equal(strengths[0].argsort(), alpha[0].argsort())  # monotone in alpha
    assert torch.allclose(strengths.sum(-1), torch.ones(2))
    assert torch.equal(Uniform().training_weights(alpha), torch.full((2, 4), 0.25))
    assert Uniform().learns_alpha is False and Softmax().learns_alpha and Dirichlet().learns_alpha


def test_uniform_never_moves_alpha_softmax_does(digits):
    fixed, learned = _trainer(digits, Uniform()), _trainer(digits, Softmax())
    before = fixed.model.alpha[0].detach().clone()
    assert torch.equal(before, learned.model.alpha[0].detach())  # same seed, same init
    fixed.search_epoch()
    learned.search_epoch()
    assert torch.equal(fixed.model.alpha[0].detach(), before)
    assert not torch.equal(learned.model.alpha[0].detach(), before)


def test_masking_none_changes_nothing(digits):
    trainer = _trainer(digits)
    trainer.search_epoch()
    model = trainer.model
    base = trainer.evaluate(model.mixing(False))
    assert trainer.evaluate(model.mixing(False, mask=(0, 3, OPS.index("none")))) == base
    assert trainer.evaluate(model.mixing(False, mask=(0, 3, OPS.index("nor_conv_3x3")))) != base


def test_evaluate_has_no_side_effects(digits):
    trainer = _trainer(digits, op_set="s4")  # the noise op draws from the global RNG
    trainer.search_epoch()
    buffers = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    rng = torch.get_rng_state()
    first = trainer.evaluate(trainer.model.mixing(False))
    assert trainer.evaluate(trainer.model.mixing(False)) == first  # the same noise for every call
    assert torch.equal(torch.get_rng_state(), rng)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, buffers[key]), key


def _snapshot(trainer: BilevelTrainer) -> dict:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def _roundtrip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("relaxation,op_set", [(Softmax, "full"), (Dirichlet, "s4")])
def test_resume_is_bit_identical(digits, relaxation, op_set):
    """Dirichlet samples and the s4 noise op draw from the global RNG, which the state holds too."""
    def finish(trainer: BilevelTrainer, search: int, tune: int) -> None:
        for _ in range(search):
            trainer.search_epoch()
        if tune and trainer.tuning is None:
            trainer.start_tuning(3, 0.1, "cosine")
        for _ in range(tune):
            trainer.tune_epoch(update_alpha=True)

    straight = _trainer(digits, relaxation(), op_set)
    finish(straight, 2, 0)
    after_search = _roundtrip(straight.state_dict())
    finish(straight, 1, 1)
    mid_tuning = _roundtrip(straight.state_dict())
    finish(straight, 0, 1)
    expected = _snapshot(straight)
    for state, search, tune in ((after_search, 1, 2), (mid_tuning, 0, 1)):
        resumed = _trainer(digits, relaxation(), op_set, seed=1)  # another init and batch order
        resumed.load_state_dict(state)
        finish(resumed, search, tune)
        assert (resumed.epoch, resumed.tune_epoch_count) == (3, 2)
        assert resumed.tuning == {"epochs": 3, "lr_factor": 0.1, "schedule": "cosine"}
        for key, value in _snapshot(resumed).items():
            assert torch.equal(value, expected[key]), key


def test_state_dict_is_a_snapshot(digits):
    trainer = _trainer(digits)
    trainer.search_epoch()
    state = trainer.state_dict()
    trainer.search_epoch()
    first = _snapshot(trainer)
    for _ in range(2):  # loading the same in-memory state twice gives the same continuation
        trainer.load_state_dict(state)
        assert trainer.epoch == 1
        trainer.search_epoch()
        for key, value in _snapshot(trainer).items():
            assert torch.equal(value, first[key]), key


def test_resume_refuses_another_schedule(digits):
    state = _trainer(digits).state_dict()
    with pytest.raises(ConfigError, match="schedule"):
        _trainer(digits, epochs=5).load_state_dict(state)


def test_tuning_resets_the_weight_optimiser(digits):
    trainer = _trainer(digits)
    trainer.search_epoch()
    trainer.start_tuning(5, 0.1, "constant")
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0025)
    assert not trainer.optimizer.state  # fresh momentum
    rows = [trainer.tune_epoch(update_alpha=False) for _ in range(2)]
    assert [r["lr"] for r in rows] == pytest.approx([0.0025, 0.0025])
    with pytest.raises(RuntimeError):
        trainer.search_epoch()
    with pytest.raises(ConfigError, match="tune_lr_schedule"):
        trainer.start_tuning(5, 0.1, "linear")


def test_search_learns_digits(full_digits):
    trainer = _trainer(full_digits, epochs=5)
    before, _ = trainer.evaluate(trainer.model.mixing(False))
    rows = [trainer.search_epoch() for _ in range(5)]
    after, _ = trainer.evaluate(trainer.model.mixing(False))
    assert [r["epoch"] for r in rows] == list(range(1, 6))
    assert rows[-1]["lr"] < rows[0]["lr"] == 0.025  # cosine
    assert after > 30 > before + 10  # chance is 10 %
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
