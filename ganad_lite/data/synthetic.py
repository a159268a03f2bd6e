"""A synthetic MVTec-AD-like category, written in the real folder layout (for tests and offline fallbacks).

Normal images are a texture (stripes, smooth noise, a grid) or a simple object (a shaded disc on a dark
background, like a bottle seen from above), each drawn with small random jitter. Defective images carry one
planted defect with its exact mask: a scratch line, a dark spot, a hole (missing piece), or a colour stain.
Everything is deterministic given the seed.

    <root>/<category>/train/good/000.png ...
    <root>/<category>/test/good/000.png ...  test/<defect>/000.png ...
    <root>/<category>/ground_truth/<defect>/000_mask.png ...   (0 = normal, 255 = defect)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from .root import DataError

DEFECT_KINDS = ("scratch", "spot", "hole", "stain")
PATTERNS = ("stripes", "noise", "grid", "disc")
_PATTERN_OF = {"carpet": "noise", "leather": "noise", "wood": "stripes", "grid": "grid", "tile": "grid",
               "stripes": "stripes", "noise": "noise", "disc": "disc"}
MARKER = ".synthetic.json"


def _palette(pattern: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two RGB colours in [0, 1] for the category: background/dark and foreground/light."""
    rng = np.random.default_rng([seed, 99])
    dark = rng.uniform(0.05, 0.3, 3) if pattern == "disc" else rng.uniform(0.2, 0.45, 3)
    light = rng.uniform(0.6, 0.9, 3)
    return dark, light


def _normal(pattern: str, size: int, colours, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One defect-free image, float (size, size, 3) in [0, 1], and the bool region where defects may go."""
    dark, light = colours
    yy, xx = np.mgrid[0:size, 0:size] / size
    support = np.zeros((size, size), bool)
    support[size // 8: size - size // 8, size // 8: size - size // 8] = True
    if pattern == "stripes":
        theta, freq = 0.5 + rng.normal(0, 0.04), 6.0 * (1 + rng.normal(0, 0.02))
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 2 * np.pi))
    elif pattern == "noise":
        coarse = Image.fromarray(rng.random((8, 8)).astype(np.float32))  # mode "F"
        t = np.asarray(coarse.resize((size, size), Image.BICUBIC)).clip(0, 1)
    elif pattern == "grid":
        period, width = size / 6, max(1.0, size / 32)
        ox, oy = rng.uniform(0, period, 2)
        t = (((xx * size + ox) % period < width) | ((yy * size + oy) % period < width)).astype(float)
    elif pattern == "disc":
        cy, cx = 0.5 + rng.normal(0, 0.015, 2)
        r = 0.34 * (1 + rng.normal(0, 0.02))
        d = np.hypot(yy - cy, xx - cx) / r
        support = d < 0.85
        inside = d < 1
        t = np.where(inside, 1 - 0.45 * d ** 2, 0.0) * np.where((d > 0.5) & (d < 0.6), 0.6, 1.0)
    else:
        raise DataError(f"unknown pattern {pattern!r}; choose one of {PATTERNS}")
    img = dark + (light - dark) * t[..., None]
    img = img + rng.normal(0, 0.015, img.shape)
    return img.clip(0, 1), support


def _ellipse(size: int, centre, radii, angle: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    dy, dx = yy - centre[0], xx - centre[1]
    u, v = dx * np.cos(angle) + dy * np.sin(angle), -dx * np.sin(angle) + dy * np.cos(angle)
    return (u / radii[0]) ** 2 + (v / radii[1]) ** 2 <= 1


def _plant(img: np.ndarray, support: np.ndarray, kind: str, colours, rng) -> tuple[np.ndarray, np.ndarray]:
    """Plant one defect of `kind` inside `support`; returns the new image and its bool mask (size, size)."""
    size = img.shape[0]
    ys, xs = np.nonzero(support)
    k = rng.integers(len(ys))
    centre = (ys[k] + 0.5, xs[k] + 0.5)
    angle = rng.uniform(0, np.pi)
    img = img.copy()
    if kind == "scratch":
        half = rng.uniform(0.15, 0.25) * size
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        ay, ax = centre[0] - half * np.sin(angle), centre[1] - half * np.cos(angle)
        by, bx = centre[0] + half * np.sin(angle), centre[1] + half * np.cos(angle)
        t = (((yy - ay) * (by - ay) + (xx - ax) * (bx - ax)) / (2 * half) ** 2).clip(0, 1)
        dist = np.hypot(yy - (ay + t * (by - ay)), xx - (ax + t * (bx - ax)))
        mask = dist <= max(1.0, size / 48)
        img[mask] = 0.97 if img[mask].mean() < 0.5 else 0.03
    elif kind == "spot":
        mask = _ellipse(size, centre, rng.uniform(0.05, 0.09, 2) * size, angle)
        img[mask] = img[mask] * 0.2 + np.array([0.08, 0.05, 0.02])
    elif kind == "hole":
        mask = _ellipse(size, centre, rng.uniform(0.07, 0.11, 2) * size, angle)
        img[mask] = colours[0]  # the background shows through
    elif kind == "stain":
        mask = _ellipse(size, centre, rng.uniform(0.08, 0.13, 2) * size, angle)
        img[mask] = 0.35 * img[mask] + 0.65 * np.array([0.85, 0.25, 0.1])
    else:
        raise DataError(f"unknown defect kind {kind!r}; choose from {DEFECT_KINDS}")
    return img, mask


def _save(img: np.ndarray, path: Path, grayscale: bool) -> None:
    im = Image.fromarray(np.round(img * 255).astype(np.uint8))  # RGB
    if grayscale:
        im = im.convert("L")
    im.save(path, quality=95) if path.suffix == ".jpg" else im.save(path)


def make_synthetic_mvtec(root: str | os.PathLike, category: str = "synthetic", n_train: int = 120,
                         n_test_good: int = 40, n_test_defect: int = 80, size: int = 64, seed: int = 0, *,
                         pattern: str | None = None, defects: tuple[str, ...] = DEFECT_KINDS,
                         grayscale: bool = False, image_format: str = "png") -> Path:
    """Write a synthetic MVTec-like category to ``<root>/<category>`` and return that folder.

    size is the side in pixels of the square images; n_test_defect images are spread round-robin over
    ``defects``. pattern (stripes | noise | grid | disc) defaults by category name (textures as in MVTec,
    anything else a disc). A folder already generated with the same arguments is reused; one we did not
    generate is never overwritten.
    """
    pattern = pattern or _PATTERN_OF.get(category, "disc")
    if pattern not in PATTERNS or any(k not in DEFECT_KINDS for k in defects) or not defects:
        raise DataError(f"pattern must be one of {PATTERNS} and defects a non-empty subset of {DEFECT_KINDS}")
    if image_format not in ("png", "jpg") or min(n_train, n_test_good, n_test_defect) < 0 or size < 8:
        raise DataError("image_format must be 'png' or 'jpg', counts >= 0 and size >= 8")
    params = dict(category=category, n_train=n_train, n_test_good=n_test_good, n_test_defect=n_test_defect,
                  size=size, seed=seed, pattern=pattern, defects=list(defects), grayscale=grayscale,
                  image_format=image_format, version=1)
    out = Path(root).expanduser() / category
    if out.exists():
        marker = out / MARKER
        if not marker.is_file():
            raise DataError(f"{out} exists and was not generated by make_synthetic_mvtec; refusing to overwrite "
                            "it: choose another root or category")
        if json.loads(marker.read_text()) == params:
            return out
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{category}-"))
    colours = _palette(pattern, seed)
    ext = "." + image_format
    jobs = [("train", "good", i) for i in range(n_train)] + [("test", "good", i) for i in range(n_test_good)]
    jobs += [("test", defects[i % len(defects)], i // len(defects)) for i in range(n_test_defect)]
    try:
        for split, kind, i in jobs:
            rng = np.random.default_rng([seed, split == "test", (("good",) + DEFECT_KINDS).index(kind), i])
            img, support = _normal(pattern, size, colours, rng)
            (tmp / split / kind).mkdir(parents=True, exist_ok=True)
            if kind != "good":
                img, mask = _plant(img, support, kind, colours, rng)
                (tmp / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
                mask_img = Image.fromarray(mask.astype(np.uint8) * 255)  # mode L, 0 / 255
                mask_img.save(tmp / "ground_truth" / kind / f"{i:03d}_mask.png")
            _save(img, tmp / split / kind / f"{i:03d}{ext}", grayscale)
        (tmp / "readme.txt").write_text("Synthetic MVTec-AD-like data written by ganad_lite.data.make_synthetic_mvtec;"
                                        f" not real data. Parameters: {json.dumps(params)}\n")
        (tmp / MARKER).write_text(json.dumps(params))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.rename(out)
    return out
