"""One way from a dataset name to a Split: the command line, the experiments and torchrun all call `load_split`."""
from __future__ import annotations

import os

from ..profiles import Profile, get_profile
from .protocols import Split, cifar10_protocol, mnist_protocol, mvtec_protocol
from .root import DataError

DATASETS = ("mnist", "cifar10", "mvtec")
DEFAULT_NORMAL = {"mnist": 0, "cifar10": "automobile", "mvtec": "bottle"}
NATIVE_SHAPE = {"mnist": (1, 28), "cifar10": (3, 32)}  # (channels, size) of the array datasets
THESIS_SIZE = 28  # MVTec AD at 28 x 28 is the thesis protocol; other sizes use every image


def load_split(dataset: str, normal_class: int | str | None = None, *, mode: str | None = None,
               size: int | None = None, channels: int | None = None, root: str | os.PathLike | None = None,
               seed: int = 0, fallback: str | None = None, profile: Profile | str | None = None,
               download: bool | None = None) -> Split:
    """The one-class split of `dataset` with `normal_class` as the normal class.

    normal_class: an MNIST digit, a CIFAR-10 class by index or name, or an MVTec AD category; digits given as
    text ("3") count as indices. None: digit 0, automobile or bottle.
    mode, size, channels: MVTec AD only. mode "thesis" or "full" (None: thesis at size 28, full otherwise);
    size in pixels (None: 28); channels 1 or 3 (None: the category's own, 1 for greyscale categories).
    For MNIST and CIFAR-10 only their own image shape may be asked for.
    fallback: None (the default) makes an MVTec AD category that is not under the data root a
    DataNotFoundError saying where it was looked for; "synthetic" replaces it by generated stand-in data
    (meta["source"] == "synthetic", with a notice). MNIST and CIFAR-10 fall back to the shipped samples on
    their own (meta["source"] == "sample").
    profile: shrink the split to that profile's caps on training and test images (None: no caps).
    download: fetch a dataset missing from the data root (True / False; None: ``data.root.download_policy``
    decides: $GANAD_DOWNLOAD, else only when its host answers). Fallbacks apply when nothing is fetched.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}: choose one of {', '.join(DATASETS)}")
    key = DEFAULT_NORMAL[dataset] if normal_class is None else _class_key(normal_class)
    if dataset == "mvtec":
        size = THESIS_SIZE if size is None else size
        mode = mode or ("thesis" if size == THESIS_SIZE else "full")
        split = mvtec_protocol(key, mode, size=size, channels=channels, seed=seed, root=root, fallback=fallback,
                               download=download)
    else:
        _check_native_shape(dataset, mode, size, channels)
        protocol = mnist_protocol if dataset == "mnist" else cifar10_protocol
        split = protocol(key, root=root, seed=seed, download=download)
    return split if profile is None else cap_to_profile(split, get_profile(profile), seed)


def cap_to_profile(split: Split, profile: Profile, seed: int = 0) -> Split:
    """`split` with at most the profile's max_train training and max_test test images (stratified), and a
    held-out slice of at most max(20, max_train // 5) images; the split itself when the profile has no caps."""
    if profile.max_train is None and profile.max_test is None:
        return split
    max_val = None if profile.max_train is None else max(20, profile.max_train // 5)
    return split.subsample(max_train=profile.max_train, max_test=profile.max_test, seed=seed, max_val=max_val)


def _class_key(normal_class: int | str) -> int | str:
    """An index stays an index, digits in text ("3") become one; anything else is a class or category name."""
    if isinstance(normal_class, str) and normal_class.strip().isdigit():
        return int(normal_class)
    return normal_class


def _check_native_shape(dataset: str, mode, size, channels) -> None:
    """MNIST and CIFAR-10 come in one image shape and one protocol: asking for another is an error."""
    native_channels, native_size = NATIVE_SHAPE[dataset]
    if mode is not None:
        raise DataError(f"mode={mode!r} applies to MVTec AD only; {dataset} has one protocol: leave mode unset")
    if size not in (None, native_size) or channels not in (None, native_channels):
        raise DataError(f"{dataset} images are {native_channels} x {native_size} x {native_size}; size and "
                        "channels apply to MVTec AD only: leave them unset")
