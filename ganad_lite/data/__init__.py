"""Datasets and one-class protocols: MNIST, CIFAR-10, MVTec AD, shipped samples and synthetic MVTec-like data.

Every image tensor is uint8 (N, C, H, W); anomalies are label 1. One data root holds everything: the ``root``
argument, else ``$GANAD_DATA``, else ``~/.cache/ganad_lite``.
"""
from .arrays import CIFAR10_CLASSES, MNIST_CLASSES, ArrayDataset, load_cifar10, load_mnist, read_bundle
from .dispatch import DATASETS, load_split
from .download import download_mvtec
from .images import read_image
from .mvtec import (MVTEC_CATEGORIES, MVTEC_LICENSE, MVTEC_URL, MVTecSet, find_category, load_category,
                    load_mvtec, mvtec_categories)
from .protocols import Split, cifar10_protocol, mnist_protocol, mvtec_protocol
from .root import DataError, DataFallbackWarning, DataNotFoundError, cache_dir, data_root
from .synthetic import DEFECT_KINDS, make_synthetic_mvtec

__all__ = [
    "ArrayDataset", "CIFAR10_CLASSES", "DATASETS", "DEFECT_KINDS", "DataError", "DataFallbackWarning",
    "DataNotFoundError", "MNIST_CLASSES", "MVTEC_CATEGORIES", "MVTEC_LICENSE", "MVTEC_URL", "MVTecSet", "Split",
    "cache_dir", "cifar10_protocol", "data_root", "find_category", "load_category", "load_cifar10", "load_mnist",
    "load_mvtec", "load_split", "make_synthetic_mvtec", "mnist_protocol", "mvtec_categories", "mvtec_protocol",
    "read_bundle", "read_image",
]
