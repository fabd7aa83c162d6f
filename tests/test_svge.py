"""SVGe (thesis chapter 4): the two-sided encoder's invariance, the teacher-forced training, the
decoder's validity and reconstruction after short training, caching and resuming its training,
and its studies through the command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nasgen.errors import ConfigError
from nasgen.generators import AGNetGenerator, EncodingGenerator, SelfTrainingGenerator, SVGeGenerator, graph_targets
from nasgen.generators.pretrain import CHECKPOINT_SUFFIX, PretrainConfig, pretrain
from nasgen.generators.svge import cell_lengths, reverse_graphs
from nasgen.generators.vae_training import train_vae
from nasgen.predictors.svge import SVGePredictor
from nasgen.spaces import NB101Space
from nasgen.spaces.nb201 import OPS as NB201_OPS
from nasgen.spaces.nb201 import NB201Space
from nasgen.studies.generator_abilities import isomorphic_relabellings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NB101, NB201 = NB101Space(), NB201Space()
SMALL = {"latent_dim": 8, "node_dim": 16}  # a model small enough to learn in a few hundred steps


def small_svge(space, seed: int = 0, **settings) -> SVGeGenerator:
    torch.manual_seed(seed)
    return SVGeGenerator(space.graph, **(SMALL | settings))


def seven_node_cells(n: int) -> list:
    return [c for c in NB101.sample(4 * n, np.random.default_rng(0)) if len(c.types) == 7][:n]


def fit_steps(model: SVGeGenerator, space, archs, steps: int, lr: float = 1e-2) -> list[float]:
    types, edges = graph_targets(space, archs)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    noise = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        loss = model.training_loss(types, edges, noise)[1].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_svge_is_an_encoding_generator_that_trains_itself():
    model = SVGeGenerator(NB201.graph)
    assert isinstance(model, EncodingGenerator) and isinstance(model, SelfTrainingGenerator)


def test_isomorphic_cells_have_one_embedding_and_others_do_not():
    model = small_svge(NB101).eval()
    cells = seven_node_cells(20)
    types, edges = graph_targets(NB101, cells)
    rows, cols = np.triu_indices(7, k=1)
    pairs = 0
    for t, e in zip(types.numpy(), edges.numpy()):
        adjacency = np.zeros((7, 7), dtype=np.float32)
        adjacency[rows, cols] = e
        variants = isomorphic_relabellings(t, adjacency, 7, 1)
        if not variants:
            continue
        pairs += len(variants)
        graph_types = torch.as_tensor(np.stack([t] + [v for v, _ in variants]))
        graph_edges = torch.as_tensor(np.stack([e] + [a[rows, cols] for _, a in variants]))
        with torch.no_grad():
            means = model.encode(graph_types, graph_edges)
        assert (means - means[0]).abs().max() < 1e-5
    assert pairs > 20
    with torch.no_grad():
        means = model.encode(types, edges)
    assert torch.cdist(means, means).add(torch.eye(len(means))).min() > 1e-3  # distinct cells, distinct means


def test_padding_nodes_do_not_change_the_embedding():
    """A smaller NB101 cell encodes the same whatever its padding nodes say (only real nodes count)."""
    model = small_svge(NB101).eval()
    small = [c for c in NB101.sample(3000, np.random.default_rng(1)) if len(c.types) <= 5][:5]
    types, edges = graph_targets(NB101, small)
    other = types.clone()
    other[:, 5:] = 2  # not a padding type, after the output: still no part of the cell
    with torch.no_grad():
        assert torch.equal(model.encode(types, edges), model.encode(other, edges))


def test_backward_order_reverses_the_real_nodes_and_is_its_own_inverse():
    cell = [c for c in NB101.sample(3000, np.random.default_rng(2)) if len(c.types) == 5][0]
    types, edges = graph_targets(NB101, [cell])
    adjacency = torch.as_tensor(NB101.to_graph(cell)[1], dtype=torch.float32)[None]
    lengths = cell_lengths(types, NB101.graph)
    backward_types, backward_adjacency = reverse_graphs(types, adjacency, lengths)
    assert backward_types[0, :5].tolist() == list(reversed(cell.types))
    assert torch.equal(backward_adjacency.triu(1), backward_adjacency)
    assert backward_adjacency.sum() == adjacency.sum()
    again = reverse_graphs(backward_types, backward_adjacency, lengths)
    assert torch.equal(again[0], types) and torch.equal(again[1], adjacency)


@pytest.fixture(scope="module")
def trained():
    """Per space, a full-size SVGe after 120 teacher-forced steps on 24 cells (NB101: of all
    sizes), its loss curve and those cells; and what an untrained one decodes from prior samples."""
    torch.set_num_threads(1)
    models = {}
    for space in (NB201, NB101):
        archs = space.sample(24, np.random.default_rng(0))
        torch.manual_seed(0)
        model = SVGeGenerator(space.graph)
        untrained = prior_validity(model, space)
        losses = fit_steps(model.train(), space, archs, 120, lr=3e-3)
        models[space.name] = (model.eval(), losses, archs, untrained)
    return models


def prior_validity(model: SVGeGenerator, space) -> float:
    z = torch.randn(200, model.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return float(np.mean([a is not None for a in model.eval()(z).decode(space, sample=False)]))


def test_teacher_forced_loss_falls_and_the_decoder_learns_valid_nb201_cells(trained):
    model, losses, _, untrained = trained["nb201"]
    assert np.mean(losses[-5:]) < 0.1 * np.mean(losses[:5])
    assert untrained < 0.2 and prior_validity(model, NB201) > 0.9


@pytest.mark.parametrize("name", ["nb201", "nb101"])
def test_training_graphs_are_reconstructed_after_short_training(trained, name: str):
    model, _, archs, _ = trained[name]
    space = NB201 if name == "nb201" else NB101
    types, edges = graph_targets(space, archs)
    with torch.no_grad():
        decoded = model(model.encode(types, edges)).decode(space, sample=False)
    assert np.mean([d == a for d, a in zip(decoded, archs)]) >= 0.75


def test_training_resumes_from_its_checkpoint_with_the_same_result(tmp_path: Path):
    archs = NB201.sample(40, np.random.default_rng(0))
    settings = SMALL | {"batch_size": 16}
    uninterrupted = small_svge(NB201, epochs=2, **settings)
    stats = train_vae(uninterrupted, NB201, archs, seed=3)
    checkpoint = tmp_path / "svge.checkpoint.pt"
    train_vae(small_svge(NB201, epochs=1, **settings), NB201, archs, seed=3, checkpoint=checkpoint)  # killed here
    resumed = small_svge(NB201, epochs=2, **settings)
    resumed_stats = train_vae(resumed, NB201, archs, seed=3, checkpoint=checkpoint)
    assert resumed_stats["loss_curve"] == stats["loss_curve"] and resumed_stats["epochs"] == 2
    for name, value in uninterrupted.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_pretrain_trains_svge_by_its_own_schedule_once_and_caches_it(isolated_cache: Path):
    def factory(graph):
        return SVGeGenerator(graph, epochs=1, batch_size=64, train_fraction=0.005, **SMALL)

    first, record = pretrain(factory, NB201, PretrainConfig(seed=1))
    assert record["source"] == "trained" and record["epochs"] == 1 and record["train_size"] == 78
    assert record["settings"]["epochs"] == 1 and "ticks" not in record["settings"]
    assert not list((isolated_cache / "generators").glob(f"*{CHECKPOINT_SUFFIX}"))
    again, cached = pretrain(factory, NB201, PretrainConfig(seed=1))
    assert cached["source"] == "cache" and cached["sha256"] == record["sha256"]
    assert cached["loss_curve"] == record["loss_curve"]
    assert first.training_split(NB201, 1)[0] == again.training_split(NB201, 1)[0]


def nasgen(*args: str, cwd: Path, data: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NASGEN_DATA": str(data), "NASGEN_CACHE": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-m", "nasgen.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


TINY = ["generator.epochs=1", "generator.node_dim=16", "generator.latent_dim=8"]


@pytest.mark.slow
def test_abilities_and_isomorphism_studies_run_from_the_command_line(shared_benchmarks: Path, tmp_path: Path):
    abilities = nasgen("run", "experiment=svge_abilities_nb201", *TINY, "generator.train_fraction=0.02",
                       "study.seeds=[0]", "study.held_out=40", "study.prior_samples=100", "study.encodings=2",
                       "hydra.run.dir=abilities", cwd=tmp_path, data=shared_benchmarks)
    assert abilities.returncode == 0, abilities.stderr[-3000:]
    run = tmp_path / "abilities"
    results = json.loads((run / "results.json").read_text())
    assert {Path(p).name for p in results["outputs"]} == {"vae_abilities.csv", "vae_abilities.md",
                                                          "vae_abilities.png"}
    assert "thesis SVGe | 99.99 | 100.00 | 8.28 | 10.24" in (run / "vae_abilities.md").read_text()
    iso = nasgen("run", "experiment=svge_iso_nb101", *TINY, "generator.train_pool=300", "study.pairs=500",
                 "hydra.run.dir=iso", cwd=tmp_path, data=shared_benchmarks)
    assert iso.returncode == 0, iso.stderr[-3000:]
    found = json.loads((tmp_path / "iso" / "results.json").read_text())["isomorphism"]
    assert found["nodes"] == 7 and found["pairs"] == 500 and found["cells"] > 10 and found["share"] == 1.0


def test_svge_predictor_learns_a_graph_property_through_the_pretrained_vae(isolated_cache: Path):
    """The joint VAE + MLP regressor ranks unseen cells by their number of 3x3 convolutions
    (a property of the graph alone: this checks the plumbing, not benchmark accuracy)."""
    def vae(graph):
        return SVGeGenerator(graph, epochs=1, batch_size=64, train_fraction=0.005, **SMALL)

    archs = NB201.sample(160, np.random.default_rng(5))
    convs = np.array([sum(op == NB201_OPS.index("nor_conv_3x3") for op in a) for a in archs], dtype=float)
    predictor = SVGePredictor(NB201.graph, space=NB201, vae=vae, epochs=25, lr=3e-3)
    predictor.fit(NB201.encode(archs[:96]), convs[:96], generator=torch.Generator().manual_seed(0))
    assert predictor.vae_record["source"] == "trained"
    predicted = predictor.predict(NB201.encode(archs[96:]))
    assert spearmanr(predicted, convs[96:])[0] > 0.5


def test_svge_predictor_refuses_a_generator_without_encoder():
    with pytest.raises(ConfigError, match="needs a VAE generator"):
        SVGePredictor(NB201.graph, space=NB201, vae=AGNetGenerator)
