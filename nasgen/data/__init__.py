"""Image datasets for real training (digits, MNIST-like IDX files, CIFAR)."""
from nasgen.data.datasets import DATASETS, INFO, DatasetInfo, ImageDataset, Split, augment, load_dataset

__all__ = ["DATASETS", "INFO", "DatasetInfo", "ImageDataset", "Split", "augment", "load_dataset"]
