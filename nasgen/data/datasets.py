"""Image classification datasets for really training NB201 networks.

Every dataset comes as train / valid / test :class:`Split` s of images ``(N, C, H, W)`` with
values in [0, 1] (stored as uint8 0..255 where the source is 8-bit, to keep CIFAR small)
and int64 labels. Normalisation is left to the model (:class:`nasgen.models.nb201_network.
Normalize`) so that adversarial attacks can work in pixel space.

Sources:
- ``digits``: scikit-learn's bundled 8x8 digits (no set-up), stratified 60/20/20 split.
- ``fashion_mnist`` / ``mnist``: MNIST-format IDX files (plain or ``.gz``).
- ``cifar10`` / ``cifar100``: the official python-format archives, extracted.

The valid split is held out of the official training set with a fixed seed, so every
architecture and every run sees the same split. Splits are stored in shuffled order,
so their first ``n`` images are a random subset.
"""
from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nasgen.errors import ConfigError, DataError, choose
from nasgen.paths import data_root

DATASETS = ("digits", "fashion_mnist", "mnist", "cifar10", "cifar100")
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset: shape, classes, normalisation and augmentation."""

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int  # random crop of the original size after zero-padding by this much
    flip: bool         # random horizontal flips (natural images only: digits are not mirror-symmetric)


INFO = {
    # digits: statistics of all 1,797 images scaled to [0, 1].
    "digits": DatasetInfo("digits", 10, (1, 8, 8), (0.3053,), (0.3760,), 1, False),
    "fashion_mnist": DatasetInfo("fashion_mnist", 10, (1, 28, 28), (0.2860,), (0.3530,), 2, False),
    "mnist": DatasetInfo("mnist", 10, (1, 28, 28), (0.1307,), (0.3081,), 2, False),
    # CIFAR statistics as used by NAS-Bench-201's training code.
    "cifar10": DatasetInfo("cifar10", 10, (3, 32, 32), (125.3 / 255, 123.0 / 255, 113.9 / 255),
                           (63.0 / 255, 62.1 / 255, 66.7 / 255), 4, True),
    "cifar100": DatasetInfo("cifar100", 100, (3, 32, 32), (129.3 / 255, 124.1 / 255, 112.4 / 255),
                            (68.2 / 255, 65.4 / 255, 70.4 / 255), 4, True),
}
DIGITS_TEST_SIZE = 360  # 20% of the 1,797 digits
DEFAULT_VALID_SIZE = {"digits": 360, "fashion_mnist": 5000, "mnist": 5000, "cifar10": 5000, "cifar100": 5000}


@dataclass(frozen=True)
class Split:
    """Images ``(N, C, H, W)`` (uint8 0..255 or float in [0, 1]) and int64 labels ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: "int | None") -> "Split":
        """The first ``n`` examples (all if ``n`` is None)."""
        return self if n is None else Split(self.images[:n], self.labels[:n])

    def pixels(self) -> torch.Tensor:
        """The images as float32 in [0, 1]."""
        return to_unit(self.images)


@dataclass(frozen=True)
class ImageDataset:
    info: DatasetInfo
    train: Split
    valid: Split
    test: Split

    def split(self, name: str) -> Split:
        choose("split", name, SPLITS)
        return getattr(self, name)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to float32 in [0, 1]; float images are returned as float32."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images.float()


# -- file formats ----------------------------------------------------------------------------
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: "str | Path") -> np.ndarray:
    """An array from an IDX file (the MNIST format), plain or gzip-compressed (``.gz``)."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4")) if len(raw) >= header else ()
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    if len(shape) != ndim or len(raw) - header != int(np.prod(shape)) * dtype.itemsize:
        raise DataError(f"{path} is truncated or corrupt: header says shape {shape}, "
                        f"file holds {len(raw) - header} data bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR batches are pickles of dicts of numpy arrays, lists and strings; refusing every
    other global keeps a tampered download from running code."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),  # bytes in protocol-2 pickles
                *((f"numpy.{core}.multiarray", "_reconstruct") for core in ("core", "_core")),
                *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core"))}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch")
        return super().find_class(module, name)


def read_cifar_batch(path: "str | Path", label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels of one python-format CIFAR batch file.

    ``label_key`` is ``labels`` for CIFAR-10 and ``fine_labels`` for CIFAR-100. The official
    files are Python 2 pickles whose keys load as bytes; re-pickled copies with str keys work too."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"cannot read CIFAR batch {path} ({type(exc).__name__}: {exc}); "
                        f"re-extract the python version from {CIFAR_URL}") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path} is not a python-format CIFAR batch: data {data.shape}, {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


# -- loaders ---------------------------------------------------------------------------------
def _require(path: Path, what: str, hint: str) -> Path:
    if not path.is_file():
        raise DataError(f"{what} not found: {path}\n  how to get it: {hint}")
    return path


def _hold_out(images: np.ndarray, labels: np.ndarray, valid_size: int, seed: int,
              what: str) -> tuple[Split, Split]:
    """(train, valid): a fixed random ``valid_size`` examples of the training set become valid."""
    if not 0 < valid_size < len(labels):
        raise ConfigError(f"valid_size for {what} must be in 1..{len(labels) - 1}, got {valid_size}")
    order = np.random.default_rng(seed).permutation(len(labels))
    valid, train = order[:valid_size], order[valid_size:]
    return (Split(torch.from_numpy(images[train]), torch.from_numpy(labels[train])),
            Split(torch.from_numpy(images[valid]), torch.from_numpy(labels[valid])))


def _load_digits(valid_size: int, seed: int) -> tuple[Split, Split, Split]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # pixel values are 0..16
    labels = digits.target.astype(np.int64)
    if not 0 < valid_size < len(labels) - DIGITS_TEST_SIZE:
        raise ConfigError(f"valid_size for digits must be in 1..{len(labels) - DIGITS_TEST_SIZE - 1}, "
                          f"got {valid_size}")
    x_rest, x_test, y_rest, y_test = train_test_split(images, labels, test_size=DIGITS_TEST_SIZE,
                                                      stratify=labels, random_state=seed)
    x_train, x_valid, y_train, y_valid = train_test_split(x_rest, y_rest, test_size=valid_size,
                                                          stratify=y_rest, random_state=seed)
    return tuple(Split(torch.from_numpy(x), torch.from_numpy(y))  # type: ignore[return-value]
                 for x, y in ((x_train, y_train), (x_valid, y_valid), (x_test, y_test)))


def _idx_folder(name: str, root: Path | None) -> tuple[Path, str]:
    """The folder to read ``name``'s IDX files from, and how to get them."""
    if name == "fashion_mnist":
        hint = ("sudo apt-get install dataset-fashion-mnist (installs /usr/share/datasets/fashion-mnist), "
                "or put the IDX files from github.com/zalandoresearch/fashion-mnist in <data_root>/fashion-mnist")
        user = root / "fashion-mnist" if root else None
        if user is not None and user.is_dir():
            return user, hint
        return FASHION_MNIST_SYSTEM_DIR, hint
    hint = "put the four MNIST IDX files (yann.lecun.com/exdb/mnist, plain or .gz) in <data_root>/mnist"
    if root is None:
        raise DataError(f"mnist needs data_root ($NASGEN_DATA) to find <data_root>/mnist\n  how to get it: {hint}")
    return root / "mnist", hint


def _idx_file(folder: Path, stem: str, hint: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"IDX file not found: {folder / stem} (or {stem}.gz)\n  how to get it: {hint}")


def _load_idx_dataset(name: str, root: Path | None, valid_size: int, seed: int) -> tuple[Split, Split, Split]:
    folder, hint = _idx_folder(name, root)
    arrays = {stem: read_idx(_idx_file(folder, stem, hint)) for stem in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    for part in ("train", "t10k"):
        images, labels = arrays[f"{part}-images-idx3-ubyte"], arrays[f"{part}-labels-idx1-ubyte"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {part} images {images.shape} and labels {labels.shape} do not match")
    train, valid = _hold_out(arrays["train-images-idx3-ubyte"][:, None], arrays["train-labels-idx1-ubyte"]
                             .astype(np.int64), valid_size, seed, name)
    test = Split(torch.from_numpy(arrays["t10k-images-idx3-ubyte"][:, None]),
                 torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))
    return train, valid, test


def _load_cifar(name: str, root: Path | None, valid_size: int, seed: int) -> tuple[Split, Split, Split]:
    folder_name = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[name]
    hint = f"download the CIFAR python version from {CIFAR_URL} and extract it under your data root " \
           f"($NASGEN_DATA / data_root), giving <data_root>/{folder_name}/"
    if root is None:
        raise DataError(f"{name} needs data_root ($NASGEN_DATA) to find <data_root>/{folder_name}\n"
                        f"  how to get it: {hint}")
    folder = root / folder_name
    if name == "cifar10":
        train_files, test_file, label_key = [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels"
    else:
        train_files, test_file, label_key = ["train"], "test", "fine_labels"
    paths = [_require(folder / f, f"{name} batch file", hint) for f in [*train_files, test_file]]
    batches = [read_cifar_batch(p, label_key) for p in paths]
    train, valid = _hold_out(np.concatenate([b[0] for b in batches[:-1]]),
                             np.concatenate([b[1] for b in batches[:-1]]), valid_size, seed, name)
    test = Split(torch.from_numpy(batches[-1][0]), torch.from_numpy(batches[-1][1]))
    return train, valid, test


def load_dataset(name: str, data_root_dir: "str | Path | None" = None, valid_size: int | None = None,
                 split_seed: int = 0) -> ImageDataset:
    """Load dataset ``name`` (one of :data:`DATASETS`) with a fixed train/valid/test split.

    ``valid_size`` images are held out of the official training set (default
    :data:`DEFAULT_VALID_SIZE`; NAS-Bench-201's cifar10-valid uses 25,000)."""
    choose("dataset", name, DATASETS)
    valid_size = DEFAULT_VALID_SIZE[name] if valid_size is None else int(valid_size)
    root = data_root(data_root_dir)
    if name == "digits":
        splits = _load_digits(valid_size, split_seed)
    elif name in ("fashion_mnist", "mnist"):
        splits = _load_idx_dataset(name, root, valid_size, split_seed)
    else:
        splits = _load_cifar(name, root, valid_size, split_seed)
    return ImageDataset(INFO[name], *splits)


def augment(images: torch.Tensor, info: DatasetInfo, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding (and random horizontal flip where ``info.flip``) of a
    batch of [0, 1] images; the random draws come from ``generator`` (on the CPU)."""
    n, _, h, w = images.shape
    pad = info.crop_padding
    if pad:
        padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator).to(images.device)
        dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator).to(images.device)
        rows = (dy + torch.arange(h, device=images.device))[:, None, :, None]
        cols = (dx + torch.arange(w, device=images.device))[:, None, None, :]
        batch = torch.arange(n, device=images.device)[:, None, None, None]
        channel = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        images = padded[batch, channel, rows, cols]
    if info.flip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
    return images


def cutout(images: torch.Tensor, size: int, info: DatasetInfo, generator: torch.Generator) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017, part of DARTS' training recipe): per image, a ``size`` x
    ``size`` square centred on a random pixel (clipped at the borders) is set to the dataset mean,
    which is zero after normalisation, as in DARTS where cutout follows the normalisation."""
    n, channels, h, w = images.shape
    cy = torch.randint(0, h, (n, 1), generator=generator).to(images.device)
    cx = torch.randint(0, w, (n, 1), generator=generator).to(images.device)
    # offsets of each row / column from the square's first one: inside when 0 <= offset < size
    rows = torch.arange(h, device=images.device) - cy + size // 2  # (n, h)
    cols = torch.arange(w, device=images.device) - cx + size // 2  # (n, w)
    rows, cols = (rows >= 0) & (rows < size), (cols >= 0) & (cols < size)
    hole = (rows[:, :, None] & cols[:, None, :])[:, None]
    mean = torch.tensor(info.mean, dtype=images.dtype, device=images.device).view(1, channels, 1, 1)
    return torch.where(hole, mean, images)
