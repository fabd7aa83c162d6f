"""Datasets (real digits; IDX and CIFAR readers on tiny files in the official formats) and the
benchmark that really trains NB201 networks."""
from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from nasgen.benchmarks.base import Benchmark
from nasgen.benchmarks.training import TrainingBenchmark
from nasgen.data import datasets
from nasgen.data.datasets import INFO, augment, load_dataset, read_cifar_batch, read_idx
from nasgen.errors import ConfigError, DataError
from nasgen.spaces.nb201 import NB201Space

SPACE = NB201Space()
GOOD = SPACE.from_index(6111)  # best NB201 cell on CIFAR-10
OTHER = SPACE.from_index(284)
# A tiny but real setting: about a second per architecture on one CPU thread.
TINY = {"dataset": "digits", "epochs": 4, "channels": 8, "cells_per_stage": 1, "batch_size": 64, "seed": 0}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Trainings here are tiny: more threads only contend with other jobs on the machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- digits ----------------------------------------------------------------------------------
def test_digits_split_is_fixed_stratified_and_in_unit_range():
    data = load_dataset("digits")
    assert [len(data.train), len(data.valid), len(data.test)] == [1077, 360, 360]
    for split in (data.train, data.valid, data.test):
        assert split.images.shape[1:] == (1, 8, 8) and split.labels.dtype == torch.int64
        assert 0.0 <= split.pixels().min() and split.pixels().max() == 1.0
        counts = torch.bincount(split.labels, minlength=10)
        assert counts.max() - counts.min() <= 5  # stratified
    again = load_dataset("digits")
    assert torch.equal(again.valid.images, data.valid.images) and torch.equal(again.test.labels, data.test.labels)
    # no image is in two splits
    rows = {tuple(x.flatten().tolist()) for x in data.test.images}
    assert not any(tuple(x.flatten().tolist()) in rows for x in data.valid.images[:50])


# -- IDX files ---------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file as in the MNIST distribution: magic 0x0000 08 <ndim>, big-endian dims."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist_folder(folder: Path, n_train: int, n_test: int, gz: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    folder.mkdir(parents=True)
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_plain_and_gzip(tmp_path: Path, suffix: str):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    write_idx(tmp_path / f"images{suffix}", images)
    assert np.array_equal(read_idx(tmp_path / f"images{suffix}"), images)


def test_read_idx_rejects_bad_files(tmp_path: Path):
    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "good", np.zeros((4, 2)))
    (tmp_path / "cut").write_bytes((tmp_path / "good").read_bytes()[:-1])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "cut")


def test_fashion_mnist_from_data_root(tmp_path: Path):
    arrays = write_mnist_folder(tmp_path / "fashion-mnist", n_train=30, n_test=7, gz=True)
    data = load_dataset("fashion_mnist", tmp_path, valid_size=6)
    assert [len(data.train), len(data.valid), len(data.test)] == [24, 6, 7]
    assert data.train.images.dtype == torch.uint8 and data.train.images.shape[1:] == (1, 28, 28)
    assert np.array_equal(data.test.images[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    held = torch.cat([data.train.labels, data.valid.labels]).sort().values
    assert torch.equal(held, torch.from_numpy(arrays["train-labels-idx1-ubyte"]).sort().values)
    assert not INFO["fashion_mnist"].flip and INFO["fashion_mnist"].crop_padding > 0


def test_mnist_plain_files(tmp_path: Path):
    write_mnist_folder(tmp_path / "mnist", n_train=12, n_test=3, gz=False)
    data = load_dataset("mnist", tmp_path, valid_size=2)
    assert [len(data.train), len(data.valid), len(data.test)] == [10, 2, 3]


def test_missing_idx_files_name_the_file_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DataError) as error:
        load_dataset("fashion_mnist", tmp_path)
    assert "train-images-idx3-ubyte" in str(error.value) and "apt-get install dataset-fashion-mnist" in str(error.value)
    with pytest.raises(DataError, match="mnist"):
        load_dataset("mnist", tmp_path)


# -- CIFAR python batches ----------------------------------------------------------------------
def write_cifar_batch(path: Path, data: np.ndarray, labels: list[int], label_key: bytes) -> None:
    """A batch laid out like the official (Python 2) files: bytes keys, data (N, 3072) uint8
    with the R, G and B planes of each image in row-major order."""
    batch = {b"batch_label": b"testing batch", label_key: labels, b"data": data,
             b"filenames": [b"img%d.png" % i for i in range(len(labels))]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def test_read_cifar_batch_layout(tmp_path: Path):
    data = np.zeros((2, 3072), dtype=np.uint8)
    data[1, 1024 + 32 * 5 + 7] = 200  # image 1, green plane, row 5, column 7
    write_cifar_batch(tmp_path / "b", data, [3, 9], b"labels")
    images, labels = read_cifar_batch(tmp_path / "b")
    assert images.shape == (2, 3, 32, 32) and images[1, 1, 5, 7] == 200 and images.sum() == 200
    assert labels.tolist() == [3, 9]


def test_cifar_reader_refuses_code_in_pickles(tmp_path: Path):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="unexpected object"):
        read_cifar_batch(tmp_path / "evil")


def test_cifar10_and_cifar100_loaders(tmp_path: Path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    for i in range(1, 6):
        write_cifar_batch(folder / f"data_batch_{i}", rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                          [i, i, i, i], b"labels")
    test = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    write_cifar_batch(folder / "test_batch", test, [0, 1, 2], b"labels")
    data = load_dataset("cifar10", tmp_path, valid_size=5)
    assert [len(data.train), len(data.valid), len(data.test)] == [15, 5, 3]
    assert torch.equal(data.test.images, torch.from_numpy(test.reshape(3, 3, 32, 32)))
    assert sorted(torch.cat([data.train.labels, data.valid.labels]).tolist()) == sorted([1, 2, 3, 4, 5] * 4)

    folder = tmp_path / "cifar-100-python"
    write_cifar_batch(folder / "train", rng.integers(0, 256, (6, 3072), dtype=np.uint8), [99] * 6, b"fine_labels")
    write_cifar_batch(folder / "test", rng.integers(0, 256, (2, 3072), dtype=np.uint8), [5, 42], b"fine_labels")
    data = load_dataset("cifar100", tmp_path, valid_size=1)
    assert [len(data.train), len(data.valid), len(data.test)] == [5, 1, 2]
    assert data.test.labels.tolist() == [5, 42] and data.info.num_classes == 100 and data.info.flip


def test_missing_cifar_names_the_file_and_the_download(tmp_path: Path):
    with pytest.raises(DataError) as error:
        load_dataset("cifar10", tmp_path)
    message = str(error.value)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message
    with pytest.raises(DataError, match="data_root"):
        load_dataset("cifar100", None)


def test_bad_dataset_and_valid_size():
    with pytest.raises(ConfigError, match="digits"):
        load_dataset("svhn")
    with pytest.raises(ConfigError, match="valid_size"):
        load_dataset("digits", valid_size=5000)


def test_augment_crops_and_flips():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(16, 2, 5, 5)
    cropped = augment(x, replace(INFO["digits"], crop_padding=1), generator)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for img, out in zip(padded, cropped):
        assert any(torch.equal(out, img[:, dy:dy + 5, dx:dx + 5]) for dy in range(3) for dx in range(3))
    flipped = augment(x, replace(INFO["cifar10"], crop_padding=0), generator)
    same = [torch.equal(a, b) for a, b in zip(flipped, x)]
    assert all(s or torch.equal(f, a.flip(2)) for s, f, a in zip(same, flipped, x)) and 0 < sum(same) < 16


# -- training benchmark ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainingBenchmark:
    benchmark = TrainingBenchmark(**TINY, checkpoint_dir=tmp_path_factory.mktemp("ckpt"))
    benchmark.query([GOOD], "digits/valid_acc@4")
    return benchmark


def test_metrics_and_protocol(trained: TrainingBenchmark):
    assert isinstance(trained, Benchmark)
    assert trained.metrics == ("digits/valid_acc@4", "digits/test_acc@4", "digits/train_seconds@4",
                               "digits/params_M")
    assert trained.optimum("digits/valid_acc@4") is None
    assert trained.num_classes == 10 and trained.input_shape == (1, 8, 8)
    with pytest.raises(ConfigError, match="valid_acc@4"):
        trained.query([GOOD], "digits/valid_acc@200")


def test_short_training_is_clearly_above_chance(trained: TrainingBenchmark):
    results = trained.results(GOOD)
    assert results["digits/valid_acc@4"] > 60 and results["digits/test_acc@4"] > 60  # chance is 10%
    assert results["digits/train_seconds@4"] > 0 and 0 < results["digits/params_M"] < 1


def test_each_arch_is_trained_once_and_checkpoints_are_reused(trained: TrainingBenchmark):
    before = trained.trainings
    trained.query([GOOD, GOOD], "digits/test_acc@4")
    assert trained.trainings == before == 1
    path = trained.checkpoint_path(GOOD)
    assert path == trained.checkpoint_dir / "6111.pt" and path.is_file()

    resumed = TrainingBenchmark(**TINY, checkpoint_dir=trained.checkpoint_dir)
    assert resumed.query([GOOD], "digits/valid_acc@4") == trained.query([GOOD], "digits/valid_acc@4")
    assert resumed.trainings == 0


def test_loaded_model_takes_pixels_and_reproduces_the_test_accuracy(trained: TrainingBenchmark):
    model = TrainingBenchmark(**TINY, checkpoint_dir=trained.checkpoint_dir).load_model(GOOD)
    assert not model.training
    x, y = trained.evaluation_data("test")
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    with torch.no_grad():
        accuracy = 100.0 * int((model(x).argmax(1) == y).sum()) / len(y)
    assert accuracy == pytest.approx(trained.results(GOOD)["digits/test_acc@4"], abs=1e-6)
    assert len(trained.evaluation_data("valid", max_samples=10)[0]) == 10


def test_checkpoint_of_other_settings_is_refused(trained: TrainingBenchmark):
    other = TrainingBenchmark(**{**TINY, "seed": 1}, checkpoint_dir=trained.checkpoint_dir)
    with pytest.raises(DataError, match="seed"):
        other.query([GOOD], "digits/valid_acc@4")


def test_training_is_deterministic_and_independent_of_query_order():
    settings = {**TINY, "epochs": 2}
    first = TrainingBenchmark(**settings)
    first.query([GOOD, OTHER], "digits/valid_acc@2")
    second = TrainingBenchmark(**settings)
    second.query([OTHER], "digits/valid_acc@2")
    assert first.results(OTHER) | {"digits/train_seconds@2": 0} == second.results(OTHER) | {"digits/train_seconds@2": 0}
    state_1, state_2 = first.load_model(OTHER).state_dict(), second.load_model(OTHER).state_dict()
    assert all(torch.equal(state_1[k], state_2[k]) for k in state_1)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="epochs"):
        TrainingBenchmark(epochs=0)
    with pytest.raises(ConfigError, match="dataset"):
        TrainingBenchmark(dataset="imagenet")


def test_search_with_real_training_through_the_cli(tmp_path: Path):
    env = {**os.environ, "NASGEN_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "nasgen.cli", "run", "experiment=none", "search=random", "benchmark=train", "budget=2",
         "benchmark.epochs=1", "benchmark.channels=4", "objective.search_metric=digits/valid_acc@1",
         "objective.report_metric=digits/test_acc@1", "evaluation.summary.report_at=[2]",
         "evaluation.summary.plot=false", "hydra.run.dir=run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((tmp_path / "run" / "checkpoints").glob("*.pt"))) == 2
