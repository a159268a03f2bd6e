"""MVTec AD (or any folder in its layout), decoded to uint8 tensors and cached on disk.

Layout, under the data root, in ``mvtec_ad/``, ``mvtec/``, ``mvtec_anomaly_detection/`` or directly::

    <category>/train/good/*.png
    <category>/test/good/*.png   <category>/test/<defect>/*.png
    <category>/ground_truth/<defect>/<name>_mask.png      (one mask per defective test image)

Any image size, RGB or grayscale, PNG/JPEG/BMP/TIFF. Images are resized with PIL bilinear (antialiased);
masks with nearest neighbour, so they stay aligned, then binarised to {0, 1}.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .root import DataError, DataNotFoundError, cache_dir, data_root

MVTEC_CATEGORIES = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut",
                    "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper")
MVTEC_URL = "https://www.mvtec.com/company/research/datasets/mvtec-ad"
MVTEC_LICENSE = "CC BY-NC-SA 4.0"
MVTEC_FOLDERS = ("mvtec_ad", "mvtec", "mvtec_anomaly_detection")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
LAYOUT = ("<category>/train/good/*.png, <category>/test/<good|defect>/*.png, "
          "<category>/ground_truth/<defect>/<name>_mask.png")
GET_MVTEC = (f"MVTec AD ({MVTEC_LICENSE}, non-commercial) is at {MVTEC_URL}: extract it and set GANAD_DATA "
             "(or root=) to the folder holding the category folders or an mvtec_ad/ folder of them.")
_CACHE_VERSION = 1


@dataclass(repr=False)
class MVTecSet:
    """One split of one category.

    images: uint8 (N, C, size, size); labels: int64 (N,), 0 good / 1 defect; defect_types: N names
    ("good" for normal images); masks: uint8 (N, 1, size, size) in {0, 1}, zeros for good images;
    paths: N source file paths.
    """

    images: torch.Tensor
    labels: torch.Tensor
    defect_types: list[str]
    masks: torch.Tensor
    paths: list[str]
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
    if not category or Path(category).name != category or category.startswith("."):
        raise DataError(f"bad category name {category!r}: give a folder name such as 'bottle'")
    for base in _bases(r):
        if (base / category).is_dir():
            return base / category
    found = mvtec_categories(r) if r.is_dir() else []
    if category not in MVTEC_CATEGORIES and category not in found:
        raise DataError(f"unknown MVTec AD category {category!r}. Valid categories: {', '.join(MVTEC_CATEGORIES)}"
                        f"; found under {r}: {', '.join(found) or 'none'}")
    where = (f"the data root {r} does not exist" if not r.is_dir() else
             "looked in " + ", ".join(str(b / category) for b in _bases(r)))
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


def _decode(item: tuple[Path, str, Path | None], size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (channels, size, size) and its mask (1, size, size), both uint8; mask in {0, 1}."""
    path, _, mask_path = item
    try:
        with Image.open(path) as im:
            native = im.size
            im = im.convert("RGB" if channels == 3 else "L").resize((size, size), Image.BILINEAR)
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {path}: {e}; replace or remove the file") from e
    img = np.asarray(im).reshape(size, size, channels).transpose(2, 0, 1)
    mask = np.zeros((1, size, size), np.uint8)
    if mask_path is not None:
        try:
            with Image.open(mask_path) as m:
                mask_size = m.size
                m = np.asarray(m.convert("L").resize((size, size), Image.NEAREST))
        except (OSError, ValueError, SyntaxError) as e:
            raise DataError(f"cannot read mask {mask_path}: {e}; replace the file") from e
        if mask_size != native:
            raise DataError(f"mask {mask_path} is {mask_size[0]}x{mask_size[1]} but its image {path} is "
                            f"{native[0]}x{native[1]}; a mask must match its image pixel for pixel")
        mask[0] = m > (0 if m.max() <= 1 else 127)
    return img, mask


def _fingerprint(cat_dir: Path, split: str) -> str:
    """Hash of the folder's absolute path and each file's relative name, size and mtime under the split."""
    h = hashlib.sha1(f"{_CACHE_VERSION}|{cat_dir.resolve()}".encode())
    for top in (["train"] if split == "train" else ["test", "ground_truth"]):
        for dirpath, dirs, files in sorted(os.walk(cat_dir / top)):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                st = os.stat(path)
                h.update(f"{os.path.relpath(path, cat_dir)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _decode_all(cat_dir: Path, split: str, size: int, channels: int) -> dict[str, np.ndarray]:
    items = _listing(cat_dir, split)
    workers = min(8, (os.cpu_count() or 1) + 1)
    with ThreadPoolExecutor(workers) as pool:
        decoded = list(pool.map(lambda it: _decode(it, size, channels), items))
    return {"images": np.stack([d[0] for d in decoded]), "masks": np.stack([d[1] for d in decoded]),
            "labels": np.array([t != "good" for _, t, _ in items], np.int64),
            "defect_types": np.array([t for _, t, _ in items]),
            "paths": np.array([str(p.relative_to(cat_dir)) for p, _, _ in items])}


def load_category(cat_dir: str | os.PathLike, split: str = "train", size: int = 28, channels: int = 3,
                  cache: bool = True, cache_root: str | os.PathLike | None = None) -> MVTecSet:
    """Load one split of the MVTec-layout folder ``cat_dir`` (see load_mvtec).

    The decoded arrays are cached under cache_dir(cache_root), cache_root defaulting to the folder's parent.
    """
    cat_dir = Path(cat_dir)
    if channels not in (1, 3) or int(size) != size or size < 1:
        raise DataError(f"channels must be 1 or 3 and size a positive integer (got channels={channels}, size={size})")
    arrays, target = None, None
    if cache:
        where = hashlib.sha1(str(cat_dir.resolve()).encode()).hexdigest()[:8]  # same name, other folder
        prefix = f"mvtec_{cat_dir.name}_{split}_{size}_{channels}_{where}_"
        folder = cache_dir(cat_dir.parent if cache_root is None else cache_root)
        target = folder / f"{prefix}{_fingerprint(cat_dir, split)}.npz"
        if target.is_file():
            try:
                with np.load(target, allow_pickle=False) as f:
                    arrays = {k: f[k] for k in f.files}
            except Exception:  # a damaged cache file is simply decoded again
                arrays = None
    if arrays is None:
        arrays = _decode_all(cat_dir, split, size, channels)
        if target is not None:
            _write_cache(target, arrays, prefix)
    return MVTecSet(images=torch.from_numpy(arrays["images"]), labels=torch.from_numpy(arrays["labels"]),
                    defect_types=[str(t) for t in arrays["defect_types"]], masks=torch.from_numpy(arrays["masks"]),
                    paths=[str(cat_dir / p) for p in arrays["paths"]], category=cat_dir.name, split=split)


def _write_cache(target: Path, arrays: dict, prefix: str) -> None:
    """Atomically write the cache file and drop stale ones of the same category, split, size and channels."""
    try:
        for old in target.parent.glob(prefix + "*.npz"):
            old.unlink()
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as f:
            np.savez(f, **arrays)
        os.replace(f.name, target)
    except OSError as e:
        warnings.warn(f"could not write the MVTec cache {target} ({e}); the next load decodes again")


def load_mvtec(category: str, root: str | os.PathLike | None = None, split: str = "train", size: int = 28,
               channels: int = 3, cache: bool = True) -> MVTecSet:
    """One split ("train" or "test") of an MVTec AD category, resized to size x size with `channels` (1 or 3).

    Returns an MVTecSet: images uint8 (N, channels, size, size), labels int64 (0 good / 1 defect),
    defect_types, masks uint8 (N, 1, size, size) in {0, 1}, paths. Decoded arrays are cached in
    ``<root>/.ganad_cache`` (or $GANAD_CACHE, or ~/.cache/ganad_lite/.ganad_cache if the root is read-only),
    keyed by a fingerprint of the files, so a changed folder is decoded again.
    """
    return load_category(find_category(category, root), split, size, channels, cache, data_root(root))
