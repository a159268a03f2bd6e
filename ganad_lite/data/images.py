"""Image and mask files to uint8 arrays: the one file reader of every loader, so all of them agree.

Pixel depth: 8-bit files are used as they are. 16-bit (and 32-bit integer) greyscale files are scaled to
0..255 by the file's bit depth, value * 255 / (2**bits - 1), where bits is the PNG's significant-bit count
(its sBIT chunk, e.g. 12 for 12-bit sensor data) when the file records one, else the bit depth of the
file itself (16 for a 16-bit PNG, BitsPerSample for a TIFF). The scale never depends on the pixels, so
intensities stay comparable between files. 16-bit colour PNGs come out of Pillow as 8-bit RGB already.
Floating-point images have no fixed range and are refused.

Size: ``size`` crops the centre square (its side the shorter side) and resizes it to ``size`` x ``size``
pixels, so the aspect ratio is kept; a square image is simply resized. Images use PIL bilinear
(antialiased), masks nearest neighbour on the same crop, so masks stay aligned with their images.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from .root import DataError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
LOSSY_EXTS = (".jpg", ".jpeg")
GREY_MODES = ("1", "L", "LA", "La")
INT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _open(path: Path) -> Image.Image:
    """The decoded Pillow image of a file (pixels read now, so a truncated file fails here)."""
    im = None
    try:
        im = Image.open(path)
        im.load()
        return im
    except Exception as e:  # OSError, SyntaxError, DecompressionBombError, ...: the file is unusable
        if im is not None:
            im.close()
        raise DataError(f"cannot read image {path} ({type(e).__name__}: {e}); replace or remove the file") from e


def _png_significant_bits(path: Path) -> int | None:
    """The greyscale significant-bit count of a PNG's sBIT chunk (it precedes the image data), or None."""
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            return None
        while len(head := f.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind == b"sBIT":
                data = f.read(length)
                return data[0] if len(data) == 1 and 1 <= data[0] <= 16 else None
            if kind in (b"IDAT", b"IEND"):
                return None
            f.seek(length + 4, os.SEEK_CUR)  # chunk data and CRC
    return None


def _bit_depth(im: Image.Image, path: Path) -> int:
    """Bits per sample of an integer greyscale image (see the module docstring)."""
    if im.format == "PNG":
        return _png_significant_bits(path) or 16
    if im.format == "TIFF" and hasattr(im, "tag_v2"):
        bits = im.tag_v2.get(258)  # BitsPerSample
        bits = bits[0] if isinstance(bits, tuple) else bits
        if isinstance(bits, int) and 8 < bits <= 32:
            return bits
    return 16 if im.mode.startswith("I;16") else 32


def _to_8bit(im: Image.Image, path: Path) -> Image.Image:
    """The image as 8-bit "L" (greyscale) or "RGB", deeper greyscale scaled by its bit depth."""
    if im.mode in GREY_MODES:
        return im.convert("L")
    if im.mode in INT_MODES:
        bits = _bit_depth(im, path)
        values = np.asarray(im).astype(np.float64)
        top = 2.0 ** bits - 1
        if values.size and (values.min() < 0 or values.max() > top):
            raise DataError(f"image {path} has pixel values {values.min():.0f}..{values.max():.0f} outside its "
                            f"{bits}-bit range 0..{top:.0f}; save it as unsigned 8- or 16-bit")
        return Image.fromarray(np.round(values * (255 / top)).astype(np.uint8), "L")
    if im.mode == "F":
        raise DataError(f"image {path} has floating-point pixels, which have no fixed range; "
                        "save it as 8- or 16-bit integers")
    try:
        return im.convert("RGB")
    except ValueError as e:  # a mode Pillow cannot convert (e.g. LAB)
        raise DataError(f"cannot convert image {path} of mode {im.mode} to RGB ({e}); save it as RGB") from e


def _fit(im: Image.Image, size: int | None, resample) -> Image.Image:
    """Crop the centre square (side: the shorter side) and resize it to size x size (see the module docstring)."""
    if size is None:
        return im
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return im.crop((left, top, left + side, top + side)).resize((int(size), int(size)), resample)


def check_size_channels(size, channels) -> None:
    """size: None or a positive int; channels: None, 1 or 3. DataError otherwise."""
    bad_size = size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1)
    if bad_size or channels not in (None, 1, 3) or isinstance(channels, bool):
        raise DataError(f"size must be None or a positive integer and channels None, 1 or 3 "
                        f"(got size={size!r}, channels={channels!r})")


def load_image(path: str | os.PathLike, size: int | None = None,
               channels: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """The image as uint8 (C, H, W) and the file's native (height, width); see read_image."""
    check_size_channels(size, channels)
    path = Path(path)
    im = _to_8bit(_open(path), path)
    native = (im.height, im.width)
    if channels is not None and channels != (1 if im.mode == "L" else 3):
        im = im.convert("L" if channels == 1 else "RGB")
    pixels = np.asarray(_fit(im, size, Image.BILINEAR))  # (H, W) or (H, W, 3)
    return (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)).copy(), native


def read_image(path: str | os.PathLike, size: int | None = None, channels: int | None = None) -> np.ndarray:
    """One image file (PNG, JPEG, BMP, TIFF) as uint8 (C, H, W).

    channels: 1 (greyscale, ITU-R 601 luma) or 3 (RGB); None keeps the file's own count (1 for greyscale,
    3 for anything in colour). size: None keeps the native H x W; an int gives size x size by resizing the
    shorter side and cropping the centre. 16-bit files are scaled to 8 bits by their bit depth (see the module
    docstring). An unreadable, truncated or floating-point file is a DataError naming it.
    """
    return load_image(path, size, channels)[0]


def read_mask(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """A defect mask file as uint8 (1, H, W) in {0, 1}; size as in read_image (nearest neighbour).

    Any nonzero pixel is foreground, so 0/255, 0/1 label-index and faint soft masks all work; in a JPEG mask
    (compression noise) a pixel is foreground above half the brightest value. Palette masks use the index.
    """
    check_size_channels(size, None)
    path = Path(path)
    im = _open(path)
    if im.mode in ("LA", "PA", "La"):
        im = im.getchannel(0)
    elif im.mode not in ("1", "L", "P", "F") + INT_MODES:
        im = im.convert("RGB")
    values = np.asarray(im)
    values = values.max(axis=2) if values.ndim == 3 else values  # (H, W): the strongest channel
    cut = values.max() / 2 if path.suffix.lower() in LOSSY_EXTS else 0
    return fit_mask((values > cut)[None].astype(np.uint8), size)


def fit_mask(mask: np.ndarray, size: int | None) -> np.ndarray:
    """A {0, 1} mask (1, H, W) resized like its image: shorter side to size, centre crop, nearest neighbour."""
    if size is None:
        return mask
    binary = Image.fromarray(mask[0] * np.uint8(255), "L")
    return (np.asarray(_fit(binary, size, Image.NEAREST)) > 0)[None].astype(np.uint8)
