"""MNIST and CIFAR-10 as whole uint8 tensors, from disk, torchvision's downloaders, or the shipped sample.

Where each loader looks, in order, inside the data root (see ``data_root``):

1. torchvision's folder layout: ``MNIST/raw/`` (the four IDX files) or ``cifar-10-batches-py/``;
2. an array bundle ``mnist.npz`` / ``cifar10*.npz`` (``cifar10.npz`` first): keys ``x_train``, ``y_train``,
   ``x_test``, ``y_test``; images uint8 of shape (N, H, W) or (N, H, W, 3), one (H, W) for both splits;
   optional ``class_names``;
3. torchvision's download (``download=True``; with ``download=None``: ``GANAD_DOWNLOAD=1``, or online with
   ``GANAD_DOWNLOAD`` unset, see ``download_policy``), with a progress bar;
4. the small real sample shipped in ``ganad_lite/data/samples/``, with a DataFallbackWarning that says so.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .root import DataError, DataNotFoundError, data_root, download_policy, notify

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
MNIST_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
BUNDLE_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(repr=False)
class ArrayDataset:
    """A whole small dataset in memory.

    x_train: uint8 (N, C, H, W); y_train: int64 (N,); x_test: uint8 (T, C, H, W); y_test: int64 (T,).
    source is "full" or "sample"; notice says which fallback is used and how to get the full data ("" if none).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]
    source: str
    notice: str = ""
    name: str = ""
    path: str = ""

    def __repr__(self) -> str:
        return (f"ArrayDataset({self.name!r}, source={self.source!r}, train={tuple(self.x_train.shape)}, "
                f"test={tuple(self.x_test.shape)}, classes={len(self.class_names)}, path={self.path!r})")


HOSTS = {"mnist": "ossci-datasets.s3.amazonaws.com", "cifar10": "www.cs.toronto.edu"}  # torchvision's first source
LICENSES = {"mnist": "MNIST (LeCun, Cortes and Burges; CC BY-SA 3.0)",
            "cifar10": "CIFAR-10 (Krizhevsky 2009; cite 'Learning Multiple Layers of Features from Tiny Images')"}


def _nchw(x: np.ndarray, key: str, path: Path) -> torch.Tensor:
    """(N, H, W) or (N, H, W, C) uint8 array, N, H, W >= 1 and C 1 or 3 -> a fresh uint8 tensor (N, C, H, W)."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise DataError(f"{path}: {key} has dtype {x.dtype}; images must be uint8 0..255 "
                        "(store them with x.astype(np.uint8))")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{path}: {key} has shape {x.shape}; expected (N, H, W) or (N, H, W, 3)")
    if min(x.shape) == 0:
        raise DataError(f"{path}: {key} has shape {x.shape} as (N, C, H, W): a bundle needs at least one "
                        "image in each split, each of at least 1x1 pixels")
    return torch.from_numpy(np.array(x, copy=True))


_BUNDLES: dict[str, dict[str, np.ndarray]] = {}  # content hash -> arrays of the last few bundles read
_BUNDLES_KEPT = 4


def _parse_npz(data: bytes, path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz file's bytes; DataError naming the file (and the key) when one cannot be read."""
    try:
        f = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as e:  # zipfile, OSError, ValueError: all mean the file is unusable
        raise DataError(f"cannot read the array bundle {path}: {e}; replace the file") from e
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array, not an .npz bundle of x_train, y_train, x_test, y_test")
    arrays = {}
    with f:
        for key in f.files:
            try:
                arrays[key] = f[key]
            except Exception as e:  # object (pickled) arrays, or a damaged member
                raise DataError(f"cannot read {key} of the array bundle {path} ({e}); store plain arrays: images "
                                "uint8, labels integers, class_names as np.array(names, dtype=str)") from e
    return arrays


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one .npz file, parsed once per process per content (keyed by a hash of its bytes)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataNotFoundError(f"cannot read the array bundle {path} ({e}); check the path") from e
    key = hashlib.blake2b(data, digest_size=16).hexdigest()
    if key not in _BUNDLES:
        _BUNDLES[key] = _parse_npz(data, path)
        while len(_BUNDLES) > _BUNDLES_KEPT:
            del _BUNDLES[next(iter(_BUNDLES))]  # the oldest
    return _BUNDLES[key]


def _class_names(arrays: dict, default: list[str], path: Path) -> list[str]:
    """The bundle's class_names (a 1-D array of distinct strings or integers), else the default list."""
    if "class_names" not in arrays:
        return list(default)
    names = arrays["class_names"]
    if names.ndim != 1 or len(names) == 0 or names.dtype.kind not in "USiu":
        raise DataError(f"{path}: class_names must be a non-empty 1-D array of names (got dtype {names.dtype}, "
                        f"shape {names.shape}); store np.array(names, dtype=str)")
    out = [c.decode(errors="replace") if isinstance(c, bytes) else str(c) for c in names.tolist()]
    if len(set(out)) != len(out):
        raise DataError(f"{path}: class_names has repeated names {out}; each class needs its own name")
    return out


def read_bundle(path: str | os.PathLike, class_names: list[str]) -> dict:
    """Read and check an array bundle; returns x_train, y_train, x_test, y_test tensors and class_names.

    class_names is the default list, used when the bundle has no ``class_names`` key. Every image of both
    splits must have the same (C, H, W); DataError names the problem otherwise.
    """
    path = Path(path)
    arrays = _read_npz(path)
    missing = [k for k in BUNDLE_KEYS if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks {missing}; an array bundle needs x_train, y_train, x_test, y_test "
                        f"(found {sorted(arrays)})")
    names = _class_names(arrays, class_names, path)
    out = {"class_names": names}
    for part in ("train", "test"):
        x = _nchw(arrays[f"x_{part}"], f"x_{part}", path)
        y = np.asarray(arrays[f"y_{part}"]).reshape(-1)
        if len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: y_{part} must hold one integer label per image "
                            f"({len(x)} images, {len(y)} labels of dtype {y.dtype})")
        if y.min() < 0 or y.max() >= len(names):
            raise DataError(f"{path}: y_{part} has labels outside 0..{len(names) - 1} ({names})")
        out[f"x_{part}"], out[f"y_{part}"] = x, torch.from_numpy(y.astype(np.int64))
    if out["x_test"].shape[1:] != out["x_train"].shape[1:]:
        raise DataError(f"{path}: x_test images are {tuple(out['x_test'].shape[1:])} but x_train images are "
                        f"{tuple(out['x_train'].shape[1:])} (C, H, W); both splits need one image size")
    return out


def _from_torchvision(cls_name: str, root: Path, download: bool) -> dict:
    """Both splits of a torchvision dataset ("MNIST" or "CIFAR10") as uint8 NCHW tensors."""
    import torchvision.datasets  # imported only here: it is slow to import and rarely needed

    cls, out = getattr(torchvision.datasets, cls_name), {}
    for part, train in (("train", True), ("test", False)):
        ds = cls(str(root), train=train, download=download and train)
        x = ds.data.numpy() if torch.is_tensor(ds.data) else np.asarray(ds.data)
        out[f"x_{part}"] = _nchw(x, f"{cls_name} {part}", root)
        out[f"y_{part}"] = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return out


def _load(name: str, root, download, tv_folder: str, bundles: list[str], classes: list[str],
          tv_class: str, sample: str, get_full: str, sample_note: str = "") -> ArrayDataset:
    """Shared search order of load_mnist and load_cifar10 (see the module docstring)."""
    r = data_root(root)
    tv_dir = r / tv_folder
    if tv_dir.is_dir():
        try:
            parts = _from_torchvision(tv_class, r, bool(download))  # download=True fills in missing files
        except (RuntimeError, OSError) as e:
            raise DataError(f"{tv_dir} exists but torchvision cannot read it ({e}). Fix: delete it and call "
                            f"load_{name}(download=True) with internet, or use an array bundle. {get_full}") from e
        return ArrayDataset(**parts, class_names=list(classes), source="full", name=name, path=str(tv_dir))
    for b in bundles:
        found = sorted(r.glob(b)) if r.is_dir() else []
        if found:
            return ArrayDataset(**read_bundle(found[0], classes), source="full", name=name, path=str(found[0]))
    policy, failed = download_policy(download, HOSTS[name]), ""
    if policy != "no":
        print(f"{name}: not found under {r}; downloading it there with torchvision. {LICENSES[name]}")
        try:
            parts = _from_torchvision(tv_class, r, True)
            return ArrayDataset(**parts, class_names=list(classes), source="full", name=name, path=str(tv_dir))
        except Exception as e:  # URLError, RuntimeError, OSError: the download failed
            if policy == "asked":
                raise DataError(f"downloading {name} into {r} failed ({e}). Offline? {get_full}") from e
            failed = f" (the download into {r} failed: {e})"
    path = SAMPLES_DIR / sample
    if not path.is_file():
        raise DataNotFoundError(f"no {name} data: looked for {tv_dir}/ and {' or '.join(str(r / b) for b in bundles)}, "
                                f"and the shipped sample {path} is missing too. {get_full}")
    parts = read_bundle(path, classes)
    notice = (f"{name}: using the small sample shipped with ganad_lite ({len(parts['x_train'])} train / "
              f"{len(parts['x_test'])} test images{sample_note}), not the full dataset: nothing found under {r}"
              f"{failed}. "
              f"{get_full}")
    notify(notice)
    return ArrayDataset(**parts, source="sample", notice=notice, name=name, path=str(path))


def load_mnist(root: str | os.PathLike | None = None, download: bool | None = None) -> ArrayDataset:
    """MNIST: x_train uint8 (60000, 1, 28, 28), x_test (10000, 1, 28, 28); labels int64 0..9.

    Falls back to the shipped sample (400 train / 200 test images per digit) with a notice.
    """
    get_full = ("To get the full data: set GANAD_DATA (or root=) to a folder holding mnist.npz "
                "(x_train, y_train, x_test, y_test, uint8) or torchvision's MNIST/raw/, or call "
                "load_mnist(download=True) with internet (GANAD_DOWNLOAD=1 always downloads, 0 never).")
    return _load("mnist", root, download, "MNIST/raw", ["mnist.npz"], MNIST_CLASSES, "MNIST",
                 "mnist_sample.npz", get_full)


def load_cifar10(root: str | os.PathLike | None = None, download: bool | None = None) -> ArrayDataset:
    """CIFAR-10: x_train uint8 (N, 3, 32, 32), x_test (T, 3, 32, 32); labels int64 0..9 (CIFAR10_CLASSES).

    A bundle may hold only some classes' training images; protocols check. Falls back to the shipped
    sample (500 automobile train images, 80 test images per class; JPEG-decoded) with a notice.
    """
    get_full = ("To get the full data: set GANAD_DATA (or root=) to a folder holding torchvision's "
                "cifar-10-batches-py/ or a cifar10*.npz bundle (x_train, y_train, x_test, y_test, uint8), or call "
                "load_cifar10(download=True) with internet (GANAD_DOWNLOAD=1 always downloads, 0 never).")
    return _load("cifar10", root, download, "cifar-10-batches-py", ["cifar10.npz", "cifar10*.npz"],
                 CIFAR10_CLASSES, "CIFAR10", "cifar10_sample.npz", get_full,
                 sample_note="; JPEG-decoded copies, not bit-exact CIFAR-10")
