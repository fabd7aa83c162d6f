"""The fixed batch the proxies score every network on.

``source="data"``: the first ``batch_size`` training images of one of the ``train`` benchmark's
datasets (their splits are stored shuffled with a fixed seed, so these are a fixed random
sample), resized to the target benchmark's input shape (bilinear; grey images repeated over the
channels) and normalised with the dataset's statistics: NB201's CIFAR rows take ``(3, 32, 32)``.
``source="gaussian"``: standard normal inputs of that shape and uniformly random labels, for
measures that allow any input (or when no image data is wanted).
``crop=k`` (data only): ``batch_size`` random ``k x k`` crops of one random channel each, taken
from those images in turn (all training images when there are fewer): the tiny inputs on which
TE-NAS counts linear regions (:func:`random_crops`), shared by the proxy benchmark and
``study=tenas``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from nasgen.data.datasets import INFO, load_dataset
from nasgen.errors import ConfigError, choose
from nasgen.proxies.base import ProxyBatch

SOURCES = ("data", "gaussian")


def proxy_batch(source: str = "data", dataset: str = "digits", batch_size: int = 64,
                input_shape: Sequence[int] = (3, 32, 32), num_classes: int | None = None, seed: int = 0,
                data_root_dir: "str | None" = None, crop: int | None = None) -> ProxyBatch:
    """The batch described in the module docstring (the same for the same arguments)."""
    choose("benchmark.input", source, SOURCES)
    if not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"benchmark.batch_size must be an integer >= 2, got {batch_size!r}")
    if crop is not None and source != "data":
        raise ConfigError(f"benchmark.input.crop needs image data (source=data), got source={source}")
    channels, height, width = (int(v) for v in input_shape)
    generator = torch.Generator().manual_seed(int(seed))
    if source == "gaussian":
        classes = int(num_classes or 10)
        inputs = torch.randn(batch_size, channels, height, width, generator=generator)
        targets = torch.randint(classes, (batch_size,), generator=generator)
        return ProxyBatch(inputs, targets, classes, "gaussian")
    data = load_dataset(dataset, data_root_dir)
    info = INFO[dataset]
    split = data.train.head(batch_size if crop is None else min(batch_size, len(data.train)))
    if len(split) < batch_size and crop is None:
        raise ConfigError(f"benchmark.batch_size={batch_size} exceeds the {len(split)} training images of {dataset}")
    images = split.pixels()
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    images = (images - mean) / std
    if images.shape[-2:] != (height, width):
        images = F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)
    if images.shape[1] != channels:
        if images.shape[1] != 1:
            raise ConfigError(f"{dataset} has {images.shape[1]} channels; the benchmark's networks take {channels}")
        images = images.expand(-1, channels, -1, -1).contiguous()
    batch = ProxyBatch(images, split.labels.clone(), info.num_classes if num_classes is None else int(num_classes),
                       dataset)
    return batch if crop is None else random_crops(batch, batch_size, crop, seed)


def random_crops(images: ProxyBatch, samples: int, size: int, seed: int) -> ProxyBatch:
    """``samples`` random ``size x size`` crops of one random channel each (TE-NAS's RandomCrop
    and RandChannel), sample i from image ``i mod len(images)``."""
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"the crop size must be a positive integer, got {size!r}")
    generator = torch.Generator().manual_seed(int(seed))
    inputs = images.inputs
    count, channels, height, width = inputs.shape
    if size > min(height, width):
        raise ConfigError(f"a crop of {size}x{size} exceeds the {height}x{width} images")
    source = torch.arange(samples) % count
    channel = torch.randint(channels, (samples,), generator=generator)
    top = torch.randint(height - size + 1, (samples,), generator=generator)
    left = torch.randint(width - size + 1, (samples,), generator=generator)
    rows = (top[:, None] + torch.arange(size))[:, :, None]
    cols = (left[:, None] + torch.arange(size))[:, None, :]
    patches = inputs[source[:, None, None], channel[:, None, None], rows, cols].unsqueeze(1)
    return ProxyBatch(patches.contiguous(), images.targets[source], images.num_classes, images.source)
