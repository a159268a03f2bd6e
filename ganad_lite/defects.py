"""Synthetic defects planted into held-out normal images, for the choices that need anomalies to compare.

Choosing a checkpoint, a score weight or a map reduction needs anomalous images, and the test set must not
be used for it. These defects stand in for them (cut-paste as in Li et al. 2021, CutPaste):
    cutpaste  a rectangle from another image of the set, pasted at a random place
    scratch   a thin straight line of one colour that contrasts with what it covers
    noise     an elliptic region replaced by uniform noise
Each defect covers about 1-10% of the image (up to pixel rounding; a scratch also ends inside the image).
All randomness comes from one NumPy generator seeded by `seed`, so a seed gives the same defects everywhere.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .images import check_images

DEFECT_KINDS = ("cutpaste", "scratch", "noise")
AREA = (0.01, 0.10)  # range of the fraction of the image one defect covers
SMALL_AREA = (0.002, 0.02)  # the harder set's range: a tenth to a fifth of that
CANDIDATES = 8  # cut-paste draws this many patches and keeps the one that differs most from what it covers


def _area(rng: np.random.Generator, h: int, w: int, area: tuple[float, float]) -> float:
    """A defect's area in pixels, uniform in `area` (fractions) of the image."""
    return rng.uniform(*area) * h * w


def _aspect(rng: np.random.Generator) -> float:
    """Height / width ratio, log-uniform in [1/2, 2]."""
    return math.exp(rng.uniform(-math.log(2), math.log(2)))


def _cut_paste(images: torch.Tensor, i: int, rng: np.random.Generator, area_range: tuple[float, float]
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a rectangle of another image (of image i itself when the set has one image) into image i."""
    n, _, h, w = images.shape
    area, aspect = _area(rng, h, w, area_range), _aspect(rng)
    ph = int(np.clip(round(math.sqrt(area * aspect)), 1, h - 1))
    pw = int(np.clip(round(math.sqrt(area / aspect)), 1, w - 1))
    ty, tx = int(rng.integers(h - ph + 1)), int(rng.integers(w - pw + 1))
    covered = images[i, :, ty:ty + ph, tx:tx + pw]
    best_diff, best = -1.0, covered
    for _ in range(CANDIDATES):  # the most different patch, so that the defect shows on plain backgrounds
        j = (i + 1 + int(rng.integers(n - 1))) % n if n > 1 else i  # any image but i
        sy, sx = int(rng.integers(h - ph + 1)), int(rng.integers(w - pw + 1))
        patch = images[j, :, sy:sy + ph, sx:sx + pw]
        diff = float((patch - covered).abs().mean())
        if diff > best_diff:
            best_diff, best = diff, patch
    out, mask = images[i].clone(), torch.zeros(h, w, dtype=torch.bool)
    out[:, ty:ty + ph, tx:tx + pw] = best
    mask[ty:ty + ph, tx:tx + pw] = True
    return out, mask


def _pixel_grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column coordinates of the pixel centres, (H, W) each, float64."""
    return torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                          indexing="ij")


def _scratch(images: torch.Tensor, i: int, rng: np.random.Generator, area_range: tuple[float, float]
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a straight line of width max(1, H / 64) pixels, centred on a pixel, in a contrasting colour."""
    _, c, h, w = images.shape
    width = max(1.0, h / 64)
    length = min(_area(rng, h, w, area_range) / width, min(h, w) - 2.0)
    angle = rng.uniform(0.0, math.pi)
    dy, dx = math.sin(angle) * length / 2, math.cos(angle) * length / 2
    cy = int(rng.integers(math.ceil(abs(dy)), h - math.ceil(abs(dy))))  # both ends inside the image
    cx = int(rng.integers(math.ceil(abs(dx)), w - math.ceil(abs(dx))))
    rows, cols = _pixel_grid(h, w)
    # distance of each pixel centre to the segment from (cy - dy, cx - dx) to (cy + dy, cx + dx)
    t = (((rows - cy + dy) * 2 * dy + (cols - cx + dx) * 2 * dx) / max(length ** 2, 1e-12)).clamp(0, 1)
    dist = torch.hypot(rows - (cy - dy + t * 2 * dy), cols - (cx - dx + t * 2 * dx))
    mask = dist <= width / 2
    covered = images[i][:, mask].mean(1)  # (C,) mean colour under the line
    dark, bright = rng.uniform(0.0, 0.3, c), rng.uniform(0.7, 1.0, c)
    colour = torch.from_numpy(np.where(covered.double().numpy() > 0.5, dark, bright)).to(images.dtype)
    out = images[i].clone()
    out[:, mask] = colour[:, None]
    return out, mask


def _noise_blob(images: torch.Tensor, i: int, rng: np.random.Generator, area_range: tuple[float, float]
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a rotated ellipse, centred on a pixel, by uniform noise in [0, 1] per pixel and channel."""
    _, c, h, w = images.shape
    area, aspect = _area(rng, h, w, area_range), _aspect(rng)
    a, b = math.sqrt(area * aspect / math.pi), math.sqrt(area / (aspect * math.pi))  # semi-axes
    reach = math.ceil(max(a, b))
    cy, cx = int(rng.integers(reach, h - reach)), int(rng.integers(reach, w - reach))
    angle = rng.uniform(0.0, math.pi)
    rows, cols = _pixel_grid(h, w)
    u = (rows - cy) * math.cos(angle) + (cols - cx) * math.sin(angle)
    v = -(rows - cy) * math.sin(angle) + (cols - cx) * math.cos(angle)
    mask = (u / a) ** 2 + (v / b) ** 2 <= 1
    noise = torch.from_numpy(rng.random((c, h, w))).to(images.dtype)
    return torch.where(mask, noise, images[i]), mask


PLANTERS = {"cutpaste": _cut_paste, "scratch": _scratch, "noise": _noise_blob}


def _check_kinds(kinds) -> tuple[str, ...]:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds or any(k not in DEFECT_KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty subset of {DEFECT_KINDS}, got {kinds}")
    return kinds


def plant_defects(images, seed: int, kinds=DEFECT_KINDS, area: tuple[float, float] = AREA
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One defect per image, of a kind drawn from `kinds`; deterministic for a seed.

    images: (N, C, H, W) uint8 or float in [0, 1], square with H = W >= 8. area: (low, high) fractions of the
    image a defect covers. Returns the defective images (same dtype and shape; pixels outside the masks
    unchanged) and masks (N, H, W) uint8 in {0, 1}, 1 where the defect was planted.
    """
    images = check_images(images, name="images to plant defects into")
    kinds = _check_kinds(kinds)
    if not 0 < area[0] <= area[1] < 1:
        raise ValueError(f"area must be (low, high) fractions with 0 < low <= high < 1, got {area}")
    h, w = images.shape[-2:]
    if h != w or h < 8:
        raise ValueError(f"defects are drawn in square images of at least 8x8 pixels, got {h}x{w}; "
                         "resize the images first (the data loaders take a size argument)")
    source = (images.float() / 255 if images.dtype == torch.uint8 else images).detach().cpu()
    out, masks = source.clone(), torch.zeros(source.shape[0], *source.shape[-2:], dtype=torch.uint8)
    rng = np.random.default_rng(seed)
    for i in range(source.shape[0]):
        kind = kinds[int(rng.integers(len(kinds)))]
        out[i], mask = PLANTERS[kind](source, i, rng, area)  # cut-paste patches come from the untouched images
        masks[i] = mask.to(torch.uint8)
    if images.dtype == torch.uint8:
        out = (out * 255).round_().clamp_(0, 255).to(torch.uint8)
    return out.to(images.device), masks.to(images.device)


def defect_validation_set(normal_images, seed: int, kinds=DEFECT_KINDS
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A labelled validation set from held-out normal images: half untouched, half with a planted defect.

    The N normals are shuffled by `seed`; the first N // 2 stay as they are (label 0), the next N // 2 get
    one defect each (label 1), so no defective image is a copy of an untouched one (an odd last image is
    left out). Returns images (2 (N // 2), C, H, W) in the input dtype, labels (2 (N // 2),) int64, and
    masks (2 (N // 2), H, W) uint8 (all 0 for the untouched half).
    """
    images = check_images(normal_images, name="normal images")
    if images.shape[0] < 2:
        raise ValueError(f"a defect validation set needs at least 2 normal images, got {images.shape[0]}")
    rng = np.random.default_rng(seed)
    half = images.shape[0] // 2
    order = torch.from_numpy(rng.permutation(images.shape[0])).to(images.device)
    clean, defective = images[order[:half]], images[order[half:2 * half]]
    defective, masks = plant_defects(defective, int(rng.integers(2 ** 32)), kinds)
    labels = torch.cat([torch.zeros(half, dtype=torch.int64), torch.ones(half, dtype=torch.int64)])
    masks = torch.cat([torch.zeros_like(masks), masks])
    return torch.cat([clean, defective]), labels.to(images.device), masks


def small_defect_validation_set(normal_images, seed: int, copies: int = 3, kinds=DEFECT_KINDS,
                                area: tuple[float, float] = SMALL_AREA
                                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A harder labelled validation set for few held-out normals: all N untouched (label 0), and `copies`
    copies of each with one small defect (area, default 0.2-2% of the image; label 1).

    With ten held-out images the half-and-half set of `defect_validation_set` has 25 normal-defect pairs and
    large defects, so candidate scores often tie at AUROC 1; here there are N * N * copies pairs and each
    defect sits on an image whose untouched twin is among the normals. Returns images (N (1 + copies), C, H,
    W), labels and masks (N (1 + copies), H, W) uint8, as defect_validation_set does.
    """
    images = check_images(normal_images, name="normal images")
    if images.shape[0] < 2 or copies < 1:
        raise ValueError(f"need at least 2 normal images and copies >= 1, got {images.shape[0]} and {copies}")
    rng = np.random.default_rng([seed, 5])
    defective, masks = plant_defects(images.repeat(copies, 1, 1, 1), int(rng.integers(2 ** 32)), kinds, area)
    n = images.shape[0]
    labels = torch.cat([torch.zeros(n, dtype=torch.int64), torch.ones(n * copies, dtype=torch.int64)])
    masks = torch.cat([torch.zeros(n, *masks.shape[1:], dtype=masks.dtype, device=masks.device), masks])
    return torch.cat([images, defective]), labels.to(images.device), masks
