"""MVTec AD (or any folder in its layout), decoded to uint8 tensors and cached on disk.

Layout, under the data root, in ``mvtec_ad/``, ``mvtec/``, ``mvtec_anomaly_detection/`` or directly::

    <category>/train/good/*.png
    <category>/test/good/*.png   <category>/test/<defect>/*.png
    <category>/ground_truth/<defect>/<name>_mask.png      (one mask per defective test image)

Any image size, RGB or greyscale, 8 or 16 bits, PNG/JPEG/BMP/TIFF, read as ``read_image`` reads them: the
centre square (side: the shorter side) resized to ``size`` (PIL bilinear, antialiased), masks on the same crop
with nearest neighbour, so they stay aligned; any nonzero mask pixel is defect (1).

Decoded splits are cached (see load_mvtec) under a key hashed from every file's bytes, so any change to a
file, even one that keeps its size and modification time, is decoded again.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import atomic_write
from .images import IMAGE_EXTS, check_size_channels, fit_mask, load_image, read_mask
from .root import DataError, DataNotFoundError, cache_dir, data_root

MVTEC_CATEGORIES = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut",
                    "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper")
MVTEC_URL = "https://www.mvtec.com/company/research/datasets/mvtec-ad"
MVTEC_LICENSE = "CC BY-NC-SA 4.0"
MVTEC_FOLDERS = ("mvtec_ad", "mvtec", "mvtec_anomaly_detection")
LAYOUT = ("<category>/train/good/*.png, <category>/test/<good|defect>/*.png, "
          "<category>/ground_truth/<defect>/<name>_mask.png")
GET_MVTEC = (f"MVTec AD ({MVTEC_LICENSE}, non-commercial) is at {MVTEC_URL}: extract it and set GANAD_DATA "
             "(or root=) to the folder holding the category folders or an mvtec_ad/ folder of them.")
_CACHE_VERSION = 3  # bump when decoding changes, so older cache files are never read
WORKERS = min(8, (os.cpu_count() or 1) + 1)  # threads that decode files (PIL frees the GIL)
CACHE_KEYS = ("images", "masks", "native_sizes", "labels", "defect_types", "paths")


@dataclass(repr=False)
class MVTecSet:
    """One split of one category.

    images: uint8 (N, C, size, size); labels: int64 (N,), 0 good / 1 defect; defect_types: N names
    ("good" for normal images); masks: uint8 (N, 1, size, size) in {0, 1}, zeros for good images;
    paths: N source file paths; native_sizes: N (height, width) of the files before resizing.
    """

    images: torch.Tensor
    labels: torch.Tensor
    defect_types: list[str]
    masks: torch.Tensor
    paths: list[str]
    native_sizes: list[tuple[int, int]]
    category: str = ""
    split: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (f"MVTecSet({self.category!r}, split={self.split!r}, images={tuple(self.images.shape)}, "
                f"defective={int(self.labels.sum())}, types={sorted(set(self.defect_types))})")


def _bases(root: Path) -> list[Path]:
    """Folders that may hold category folders: the known MVTec subfolders of the root, then the root."""
    subs = [root / name for name in MVTEC_FOLDERS if (root / name).is_dir()]
    return subs + [root]


def mvtec_categories(root: str | os.PathLike | None = None) -> list[str]:
    """Names of the categories (folders with train/good) found under the data root."""
    r = data_root(root)
    return sorted({d.name for b in _bases(r) if b.is_dir() for d in b.iterdir() if (d / "train" / "good").is_dir()})


def find_category(category: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of ``category`` under the data root; DataNotFoundError says where it looked."""
    r = data_root(root)
    if not isinstance(category, str) or not category or Path(category).name != category or category[0] == ".":
        raise DataError(f"bad category name {category!r}: give a folder name such as 'bottle'")
    for base in _bases(r):
        if (base / category).is_dir():
            return base / category
    found = mvtec_categories(r) if r.is_dir() else []
    where = (f"the data root {r} does not exist" if not r.is_dir() else
             "looked in " + ", ".join(str(b / category) for b in _bases(r)))
    if category not in MVTEC_CATEGORIES and category not in found:
        raise DataError(f"unknown MVTec AD category {category!r}: {where}. Valid categories: "
                        f"{', '.join(MVTEC_CATEGORIES)}; found under {r}: {', '.join(found) or 'none'}")
    raise DataNotFoundError(f"MVTec AD category {category!r} not found: {where} (categories found there: "
                            f"{', '.join(found) or 'none'}). Expected layout: {LAYOUT}. {GET_MVTEC} "
                            "Offline, mvtec_protocol(..., fallback='synthetic') uses a synthetic stand-in.")


def _images_in(folder: Path) -> list[Path]:
    """The image files of a folder, sorted; anything else (but hidden files) is an error, not skipped."""
    files = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if not p.is_file() or p.suffix.lower() not in IMAGE_EXTS:
            raise DataError(f"unexpected {'folder' if p.is_dir() else 'file'} {p} in {folder}: only images "
                            f"({', '.join(IMAGE_EXTS)}) belong there; move it out")
        files.append(p)
    return files


def _mask_for(cat_dir: Path, image: Path) -> Path:
    """``ground_truth/<defect>/<name>_mask.<ext>`` for a defective test image (png preferred)."""
    folder = cat_dir / "ground_truth" / image.parent.name
    for ext in IMAGE_EXTS:
        if (folder / f"{image.stem}_mask{ext}").is_file():
            return folder / f"{image.stem}_mask{ext}"
    raise DataError(f"defect image {image} has no mask: expected {folder / (image.stem + '_mask.png')}. "
                    "MVTec AD has one mask per defective test image in <category>/ground_truth/<defect>/")


def _listing(cat_dir: Path, split: str) -> list[tuple[Path, str, Path | None]]:
    """(image, defect type, mask or None) for every image of the split, in sorted order."""
    if split == "train":
        folder = cat_dir / "train" / "good"
        if not folder.is_dir():
            raise DataNotFoundError(f"{folder} does not exist. Expected layout: {LAYOUT}. {GET_MVTEC}")
        items = [(p, "good", None) for p in _images_in(folder)]
        if not items:
            raise DataError(f"the training folder {folder} is empty: it must hold the defect-free images")
        return items
    if split != "test":
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    folder = cat_dir / "test"
    if not folder.is_dir():
        raise DataNotFoundError(f"{folder} does not exist. Expected layout: {LAYOUT}. {GET_MVTEC}")
    items = []
    for sub in sorted(folder.iterdir()):
        if sub.name.startswith("."):
            continue
        if not sub.is_dir():
            raise DataError(f"unexpected file {sub} in {folder}: test images go in test/good/ or test/<defect>/")
        items += [(p, sub.name, None if sub.name == "good" else _mask_for(cat_dir, p)) for p in _images_in(sub)]
    if not items:
        raise DataError(f"the test folder {folder} holds no images (expected test/good/ and test/<defect>/)")
    return items


def _decode(item: tuple[Path, str, Path | None], size: int, channels: int | None):
    """One image (C, size, size), its mask (1, size, size) in {0, 1}, and the image's native (H, W)."""
    path, _, mask_path = item
    img, native = load_image(path, size, channels)
    if mask_path is None:
        return img, np.zeros((1, size, size), np.uint8), native
    full = read_mask(mask_path)  # (1, H, W) at the file's own size
    if full.shape[1:] != native:
        raise DataError(f"mask {mask_path} is {full.shape[2]}x{full.shape[1]} but its image {path} is "
                        f"{native[1]}x{native[0]}; a mask must match its image pixel for pixel")
    if not full.any():
        raise DataError(f"mask {mask_path} of the defective image {path} is empty (no nonzero pixel): "
                        "mark the defect in it, or move the image to test/good/ if it has none")
    return img, fit_mask(full, size), native


def _fingerprint(cat_dir: Path, split: str) -> str:
    """Hash of the bytes and relative name of every file under the split's folders (the decode cache key)."""
    tops = ["train"] if split == "train" else ["test", "ground_truth"]
    files = sorted(os.path.join(d, f) for top in tops for d, _, names in os.walk(cat_dir / top) for f in names)
    h = hashlib.sha256(f"{_CACHE_VERSION}".encode())
    for path in files:  # plain strings and one thread: cheaper than pathlib and a pool for small files
        with open(path, "rb") as f:
            h.update(f"{os.path.relpath(path, cat_dir)}\n".encode() + hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:20]


def _decode_all(cat_dir: Path, split: str, size: int, channels: int | None) -> dict[str, np.ndarray]:
    items = _listing(cat_dir, split)
    with ThreadPoolExecutor(WORKERS) as pool:
        decoded = list(pool.map(lambda it: _decode(it, size, channels), items))
    depth = max(d[0].shape[0] for d in decoded)  # channels=None: 3 if any image is in colour
    return {"images": np.stack([np.repeat(d[0], depth // d[0].shape[0], axis=0) for d in decoded]),
            "masks": np.stack([d[1] for d in decoded]),
            "native_sizes": np.array([d[2] for d in decoded], np.int64).reshape(-1, 2),
            "labels": np.array([t != "good" for _, t, _ in items], np.int64),
            "defect_types": np.array([t for _, t, _ in items]),
            "paths": np.array([str(p.relative_to(cat_dir)) for p, _, _ in items])}


def _images_file(target: Path) -> Path:
    """The cache's images, kept apart as a plain .npy file: one read, no zip member to copy through."""
    return target.with_suffix(".images.npy")


def _read_cache(target: Path, size: int) -> dict[str, np.ndarray] | None:
    """The arrays of a cache entry, or None if it is missing, damaged or of another layout (decode again)."""
    try:
        with np.load(target, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        images = arrays["images"] = np.load(_images_file(target), allow_pickle=False)
        if set(arrays) != set(CACHE_KEYS) or len(images) != len(arrays["labels"]) or images.shape[2:] != (size, size):
            return None
        arrays["masks"] = np.unpackbits(arrays["masks"], axis=-1, count=size)  # stored 8 pixels a byte
        return arrays
    except Exception:  # a missing or damaged cache file is simply decoded again
        return None


def load_category(cat_dir: str | os.PathLike, split: str = "train", size: int = 28, channels: int | None = None,
                  cache: bool = True, cache_root: str | os.PathLike | None = None) -> MVTecSet:
    """Load one split of the MVTec-layout folder ``cat_dir`` (see load_mvtec).

    The decoded arrays are cached under cache_dir(cache_root), cache_root defaulting to the folder's parent,
    keyed by a hash of the files' bytes, so any change to a file is decoded again.
    """
    cat_dir = Path(cat_dir)
    check_size_channels(size, channels)
    if size is None:
        raise DataError("size must be a positive integer: the images of a split are stacked at one size")
    arrays, target = None, None
    if cache:
        where = hashlib.sha1(str(cat_dir.resolve()).encode()).hexdigest()[:8]  # same name, other folder
        prefix = f"mvtec{_CACHE_VERSION}_{cat_dir.name}_{split}_{size}_{channels or 'native'}_{where}_"
        folder = cache_dir(cat_dir.parent if cache_root is None else cache_root)
        target = folder / f"{prefix}{_fingerprint(cat_dir, split)}.npz"
        arrays = _read_cache(target, size)
    if arrays is None:
        arrays = _decode_all(cat_dir, split, size, channels)
        if target is not None:
            _write_cache(target, arrays, prefix)
    return MVTecSet(images=torch.from_numpy(arrays["images"]), labels=torch.from_numpy(arrays["labels"]),
                    defect_types=[str(t) for t in arrays["defect_types"]], masks=torch.from_numpy(arrays["masks"]),
                    paths=[str(cat_dir / p) for p in arrays["paths"]],
                    native_sizes=[(int(h), int(w)) for h, w in arrays["native_sizes"]],
                    category=cat_dir.name, split=split)


def _write_cache(target: Path, arrays: dict, prefix: str) -> None:
    """Atomically write the cache entry (images first, the .npz that completes it last) and drop stale
    entries of the same category, split, size and channels."""
    try:
        for old in target.parent.glob(prefix + "*"):
            old.unlink()
        atomic_write(_images_file(target), lambda f: np.save(f, arrays["images"]))
        rest = {**arrays, "masks": np.packbits(arrays["masks"], axis=-1)}  # {0, 1}: 8 pixels a byte
        del rest["images"]
        atomic_write(target, lambda f: np.savez(f, **rest))
    except OSError as e:
        warnings.warn(f"could not write the MVTec cache {target} ({e}); the next load decodes again")


def load_mvtec(category: str, root: str | os.PathLike | None = None, split: str = "train", size: int = 28,
               channels: int | None = None, cache: bool = True) -> MVTecSet:
    """One split ("train" or "test") of an MVTec AD category as size x size images.

    channels: 1 or 3; None keeps the data's own count (3 if any image is in colour, else 1). Non-square
    images keep their aspect ratio (shorter side resized, centre cropped; see the module docstring).
    Returns an MVTecSet: images uint8 (N, C, size, size), labels int64 (0 good / 1 defect), defect_types,
    masks uint8 (N, 1, size, size) in {0, 1}, paths, native_sizes. Decoded arrays are cached in
    ``<root>/.ganad_cache`` (or $GANAD_CACHE, or ~/.cache/ganad_lite/.ganad_cache if the root is read-only),
    keyed by a hash of the files' bytes, so a changed file is decoded again.
    """
    return load_category(find_category(category, root), split, size, channels, cache, data_root(root))
