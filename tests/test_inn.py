"""The INN generator of Chen 2023 (generator=inn): invertibility and size of the INN, the graph
VAE's shapes on real spaces, the labelled training (two steps, rank weights, partial mode,
determinism, checkpoints) on real NB201 labels, the GVAE pretraining with validation-based
early stopping, and the profile-dependent configuration."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from nasgen.benchmarks.nb201 import NB201Benchmark
from nasgen.errors import ConfigError
from nasgen.generators import (
    EncodingGenerator,
    INNGenerator,
    PerformanceConditionedGenerator,
    SelfTrainingGenerator,
    graph_targets,
)
from nasgen.generators.inn_training import (
    INNTrainer,
    LabelledSchedule,
    batch_rank_weights,
    joined,
    labelled_set,
)
from nasgen.generators.vae_training import held_out_reconstruction_loss
from nasgen.spaces import NB101Space
from nasgen.spaces.nb201 import NB201Space

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NB101, NB201 = NB101Space(), NB201Space()
SEARCH_METRIC = "cifar10/valid_acc@200"


def model(space=NB201, seed: int = 0, **settings) -> INNGenerator:
    torch.manual_seed(seed)
    return INNGenerator(space.graph, **settings)


@pytest.fixture(scope="module")
def labelled():
    """Real NB201 CIFAR-10 validation accuracies (bundled table) of 40 random cells, as fractions:
    20 to train on, 20 to validate on, each counted 5 times."""
    archs = NB201.sample(40, np.random.default_rng(0))
    y = NB201Benchmark("cifar10").query(archs, SEARCH_METRIC) * 0.01
    return labelled_set(NB201, archs[:20], y[:20], 5), labelled_set(NB201, archs[20:], y[20:], 5)


def test_the_inn_inverts_to_float_precision_and_has_the_thesis_size():
    inn_model = model()
    x = torch.randn(256, inn_model.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = inn_model.inn_forward(x)
        restored = inn_model.invert(out[:, -1], out[:, :-1])
    assert (restored - x).abs().max() < 1e-5
    assert not torch.allclose(out, x, atol=1e-2)  # the blocks do transform
    # note: 594,944 for the author's blocks at D = 128 (4 blocks, subnets 4 x 128)
    assert 590_000 < sum(p.numel() for p in inn_model.inn.parameters()) < 600_000


@pytest.mark.parametrize("space", [NB201, NB101], ids=["nb201", "nb101"])
def test_encode_decode_shapes_on_real_spaces(space):
    inn_model = model(space)
    types, edges = graph_targets(space, space.sample(6, np.random.default_rng(0)))
    draws = torch.Generator().manual_seed(0)
    graph = space.graph
    assert inn_model.latent_dim == graph.max_nodes * 16
    assert inn_model.encode(types, edges).shape == (6, inn_model.latent_dim)
    assert inn_model.predict(types, edges).shape == (6,)
    scores, loss = inn_model.training_loss(types, edges, draws)
    assert scores.node_logits.shape == (6, graph.max_nodes, graph.num_types)
    assert scores.edge_logits.shape == (6, graph.num_edges) and loss.shape == (6,) and (loss > 0).all()
    generated = inn_model.generate(1.0, 5, draws, noise_std=0.01)
    assert generated.node_logits.shape == (5, graph.max_nodes, graph.num_types)
    assert len(generated.decode(space, sample=False)) == 5


def test_it_is_a_performance_conditioned_self_training_encoding_generator():
    inn_model = model()
    for protocol in (PerformanceConditionedGenerator, EncodingGenerator, SelfTrainingGenerator):
        assert isinstance(inn_model, protocol)


def test_a_space_of_several_cell_types_and_an_unknown_mode_are_refused():
    from nasgen.spaces.darts import DartsSpace
    with pytest.raises(ConfigError, match="cell by cell"):
        INNGenerator(DartsSpace().graph)
    with pytest.raises(ConfigError, match="e2e or partial"):
        INNGenerator(NB201.graph, finetune={"mode": "frozen"})
    with pytest.raises(ConfigError, match="mode must be one of"):
        INNTrainer(model(), mode="frozen")


def test_rank_weights_follow_the_formula_within_the_batch():
    y = torch.tensor([0.5, 0.9, 0.7, 0.9])
    # k |B| = 0.25 * 4 = 1; ranks (items labelled strictly higher) 3, 0, 2, 0
    assert torch.allclose(batch_rank_weights(y, 0.25), torch.tensor([1 / 4, 1.0, 1 / 3, 1.0]))


def test_labelled_sets_repeat_by_index_and_join(labelled):
    train, valid = labelled
    both = joined(train, valid)
    assert len(both) == 40 and both.items().tolist()[:6] == [0] * 5 + [1]
    assert len(both.items()) == 200 and both.node_types.shape == (40, 8)


def test_fine_tuning_lowers_the_validation_loss_on_real_labels(labelled):
    train, valid = labelled
    trainer = INNTrainer(model(), "e2e")
    before = trainer.validation_loss(valid)
    stats = trainer.fit(train, valid, LabelledSchedule(epochs=4, batch_size=32, plateau_patience=25), None,
                        torch.Generator().manual_seed(0))
    assert stats["best_valid_loss"] < 0.5 * before
    assert trainer.validation_loss(valid) == pytest.approx(stats["best_valid_loss"])  # the best weights are kept


def test_partial_mode_trains_the_inn_only(labelled):
    train, valid = labelled
    inn_model = model()
    vae_before = {k: v.clone() for k, v in inn_model.state_dict().items() if not k.startswith("inn.")}
    inn_before = [p.clone() for p in inn_model.inn.parameters()]
    stats = INNTrainer(inn_model, "partial").fit(train, valid, LabelledSchedule(epochs=1, batch_size=32), 0.01,
                                                 torch.Generator().manual_seed(0))
    assert stats["steps"] == 4
    after = inn_model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in vae_before.items())  # BatchNorm statistics too
    assert any(not torch.equal(a, b) for a, b in zip(inn_model.inn.parameters(), inn_before))


def test_training_is_decided_by_the_generator_and_resumes_from_a_checkpoint(labelled):
    train, valid = labelled
    first = LabelledSchedule(epochs=2, batch_size=32, plateau_patience=1)
    retrain = LabelledSchedule(epochs=3, batch_size=32, early_stop=10, max_steps=5)

    def trained(seed: int, resumed: bool = False) -> dict:
        trainer = INNTrainer(model(), "e2e")
        trainer.fit(train, valid, first, None, torch.Generator().manual_seed(seed))
        if resumed:
            state = trainer.state_dict()
            trainer = INNTrainer(model(seed=7), "e2e")
            trainer.load_state_dict(state)
        stats = trainer.fit(train, valid, retrain, 0.01, torch.Generator().manual_seed(seed + 1))
        assert stats["steps"] == 5 and stats["stopped"] == "max_steps"
        return trainer.model.state_dict()

    reference, again, resumed, other = trained(0), trained(0), trained(0, resumed=True), trained(1)
    assert all(torch.equal(reference[k], again[k]) and torch.equal(reference[k], resumed[k]) for k in reference)
    assert any(not torch.equal(reference[k], other[k]) for k in reference)


def test_pretraining_stops_early_on_the_validation_cells_and_keeps_the_best_epoch(tmp_path):
    schedule = {"epochs": 3, "early_stop": 1, "plateau_patience": 1}
    train_archs = NB201.sample(96, np.random.default_rng(0))
    inn_model = model(pretrain=schedule)
    stats = inn_model.fit(NB201, 0, train_archs=train_archs, checkpoint=tmp_path / "gvae.pt")
    assert stats["epochs"] - stats["best_epoch"] <= 1 and len(stats["valid_curve"]) == stats["epochs"]
    assert stats["best_valid_loss"] == min(stats["valid_curve"])
    valid = graph_targets(NB201, inn_model.validation_archs(NB201, 0))
    assert stats["valid_size"] == 1562
    assert held_out_reconstruction_loss(inn_model, valid, 64, "cpu") == pytest.approx(stats["best_valid_loss"])
    # an interrupted training (1 epoch) resumed from its checkpoint ends where the whole one did
    interrupted = tmp_path / "interrupted.pt"
    model(pretrain=schedule | {"epochs": 1}).fit(NB201, 0, train_archs=train_archs, checkpoint=interrupted)
    resumed = model(pretrain=schedule)
    resumed.fit(NB201, 0, train_archs=train_archs, checkpoint=interrupted)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in inn_model.state_dict().items())


@pytest.mark.parametrize("profile, pretrain_epochs, finetune_epochs", [("paper", 500, 500), ("cpu", 60, 100)])
def test_the_profile_sets_the_schedules(profile: str, pretrain_epochs: int, finetune_epochs: int):
    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"):
        cfg = compose("config", ["generator=inn", f"profile={profile}"])
    inn_model = instantiate(cfg.generator)(NB201.graph)
    assert inn_model.schedule.epochs == pretrain_epochs
    assert inn_model.finetune.epochs == finetune_epochs and inn_model.finetune.early_stop == 50
    assert inn_model.encoder_settings.mlp_hidden == (128, 128, 128, 128) and inn_model.loss_settings.w_kl == 0.16
    assert cfg.profile.name == profile
