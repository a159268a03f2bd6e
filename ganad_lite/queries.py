"""Query images for `ganad-lite score`: a .npy / .npz array or a folder of image files, as one batch
(N, C, H, W) for the model, with a note for every conversion made on the way (none is made silently).

Folders are read with `data.read_image`, as the MVTec AD loader reads its files (16-bit files scaled by
their bit depth; a truncated or unreadable file is a DataError naming it). Images of another size than the
model's are an error unless resizing is asked for; greyscale and colour files are converted to the model's
channel count, and an alpha channel is dropped, each with a note.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import DataError, read_image
from .data.images import IMAGE_EXTS

NPY_MAGIC = b"\x93NUMPY"
OBJECT_HINT = ("save the images as one uint8 (0..255) or float (0..1) array, "
               "e.g. np.save(path, np.stack(images).astype(np.uint8))")


def load_queries(path: str | Path, image_shape: tuple[int, int, int], resize: bool = False
                 ) -> tuple[torch.Tensor, list[str] | None, list[str]]:
    """(images (N, C, H, W) as stored, file names (N,) for a folder else None, notes) from `path`.

    image_shape: the model's (C, H, W). resize: centre-crop and resize folder images of another size to H x W.
    Arrays are taken as they are: uint8 or float (N, C, H, W), (N, H, W) or channels-last (N, H, W, C).
    """
    p = Path(path)
    if p.is_dir():
        return _read_folder(p, image_shape, resize)
    if not p.is_file():
        raise DataError(f"no file or folder at {p}: pass a folder of images or a .npy / .npz array")
    if p.suffix.lower() not in (".npy", ".npz"):
        raise DataError(f"{p} is not a folder, .npy or .npz file of images")
    return torch.from_numpy(_channels_first(_read_array(p), p)), None, []


def _read_array(path: Path) -> np.ndarray:
    """The array of a .npy file, or of a .npz file's x_test (else its first) array; never unpickles."""
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if path.suffix.lower() == ".npy" and head != NPY_MAGIC:
        raise DataError(f"{path} is not a NumPy .npy file; write it with np.save")
    if path.suffix.lower() == ".npz" and not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a NumPy .npz file; write it with np.savez")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            if not z.files:
                raise DataError(f"{path} holds no arrays; save the query images in it, "
                                "e.g. np.savez(path, x_test=images)")
            return z["x_test" if "x_test" in z.files else z.files[0]]
    except ValueError as err:  # object arrays need pickle, which is never used on a file
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path} holds Python objects (an object array), which are not loaded: {OBJECT_HINT}") from err
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"cannot read {path} ({type(err).__name__}: {err}); "
                        "write it again with np.save / np.savez") from err


def _channels_first(arr: np.ndarray, path: Path) -> np.ndarray:
    """(N, H, W) -> (N, 1, H, W) and channels-last (N, H, W, C) -> (N, C, H, W); numbers only."""
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path} holds an array of dtype {arr.dtype}: {OBJECT_HINT}")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(arr)


def _has_alpha(path: Path) -> bool:
    """Whether an image file has an alpha channel or a transparent palette entry (header only)."""
    try:
        with Image.open(path) as im:
            return "A" in im.mode or "transparency" in im.info
    except Exception:  # an unreadable file: read_image names it
        return False


def _sizes_text(files: list[Path], images: list[np.ndarray]) -> str:
    """"a.png 64x64, b.png 32x32": the first file of each size found, at most three sizes."""
    first = {}
    for f, im in zip(files, images):
        first.setdefault(im.shape[1:], f.name)
    return ", ".join(f"{name} {h}x{w}" for (h, w), name in list(first.items())[:3])


def _read_folder(folder: Path, image_shape, resize: bool) -> tuple[torch.Tensor, list[str], list[str]]:
    files = sorted(f for f in folder.iterdir()
                   if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_EXTS)}) in {folder}: pass a folder of image files "
                        "or a .npy / .npz array")
    c, h, w = image_shape
    notes = []
    alpha = [f.name for f in files if _has_alpha(f)]
    if alpha:
        notes.append(f"dropped the alpha channel (transparency) of {_listed(alpha)}")
    images = [read_image(f) for f in files]  # native size and channels; DataError names a bad file
    wrong_size = [f.name for f, im in zip(files, images) if im.shape[1:] != (h, w)]
    if wrong_size and not resize:
        sizes = {im.shape[1:] for im in images}
        found = (f"images in {folder} have different sizes ({_sizes_text(files, images)})" if len(sizes) > 1 else
                 f"the images in {folder} are {images[0].shape[1]}x{images[0].shape[2]}")
        raise DataError(f"{found} but the model takes {h}x{w}: pass --resize to centre-crop and resize them "
                        f"to {h}x{w}")
    if wrong_size and h != w:
        raise DataError(f"the model takes {h}x{w} images, which a square centre crop cannot give: resize the "
                        f"images in {folder} to {h}x{w} yourself")
    converted = [f.name for f, im in zip(files, images) if im.shape[0] != c]
    if converted:
        notes.append(f"converted {_listed(converted)} to {'greyscale' if c == 1 else 'RGB'} for a {c}-channel model")
    if wrong_size:
        notes.append(f"resized {_listed(wrong_size)} to {h}x{w} (centre square crop, bilinear)")
    if converted or wrong_size:
        images = [read_image(f, size=h if wrong_size else None, channels=c) for f in files]
    return torch.from_numpy(np.stack(images)), [f.name for f in files], notes


def _listed(names: list[str]) -> str:
    """"a.png, b.png" or "12 images (a.png, b.png, ...)"."""
    return ", ".join(names) if len(names) <= 3 else f"{len(names)} images ({', '.join(names[:2])}, ...)"
