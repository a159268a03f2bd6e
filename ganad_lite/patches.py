"""Patch-based training and scoring for high-resolution images (as Bergmann et al. 2019's SSIM autoencoder).

A few hundred 256x256 training images are few samples for a GAN but many patches: `random_crops` draws
thousands of size x size training crops from them. At test time `stitched_maps` slides a window over each
image with a given stride (the last window in each direction is aligned to the edge, so every pixel is
covered), reconstructs every window, computes a map per window and averages the overlapping maps back into
one full-resolution map per image.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .images import as_float_images, check_images


def _check_size(images: torch.Tensor, size: int) -> None:
    h, w = images.shape[-2:]
    if not 1 <= size <= min(h, w):
        raise ValueError(f"patch size must lie between 1 and the image size {h}x{w}, got {size}")


def random_crops(images, size: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n crops (n, C, size, size) at uniformly random images and positions, in the images' dtype and device.

    images: (N, C, H, W) uint8 or float in [0, 1] (uint8 crops stay uint8, as training data is kept).
    generator: a torch.Generator for reproducible draws (the draws run on its device, else on the CPU).
    """
    images = check_images(images, name="images to crop")
    _check_size(images, size)
    if n < 1:
        raise ValueError(f"n (the number of crops) must be positive, got {n}")
    count, _, h, w = images.shape
    draw_on = generator.device if generator is not None else "cpu"
    draw = lambda high: torch.randint(high, (n,), generator=generator, device=draw_on).to(images.device)  # noqa: E731
    which, top, left = draw(count), draw(h - size + 1), draw(w - size + 1)
    offsets = torch.arange(size, device=images.device)
    rows, cols = top[:, None] + offsets, left[:, None] + offsets  # (n, size) each
    # advanced indices around a slice put their dims first: (n, size, size, C)
    crops = images[which[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return crops.permute(0, 3, 1, 2).contiguous()


def window_starts(length: int, size: int, stride: int) -> list[int]:
    """Start offsets of windows of `size` every `stride` pixels along `length`, plus one aligned to the end.

    window_starts(21, 8, 5) == [0, 5, 10, 13]: the windows cover 0..20 with no gap when stride <= size.
    """
    if not 1 <= size <= length or not 1 <= stride <= size:
        raise ValueError(f"need 1 <= size <= length and 1 <= stride <= size (no gaps between windows), "
                         f"got length {length}, size {size}, stride {stride}")
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


@torch.no_grad()
def stitched_maps(reconstruct: Callable[[torch.Tensor], torch.Tensor], images, size: int, stride: int,
                  map_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batch_size: int = 256
                  ) -> torch.Tensor:
    """Full-resolution maps (N, H, W) float32: per-window maps averaged where windows overlap.

    images: (N, C, H, W) uint8 or float in [0, 1]. reconstruct(patches) gets float32 patches
    (M, C, size, size) in [0, 1], at most `batch_size` at a time, and returns their reconstructions;
    map_fn(q, r) returns one map (M, size, size) per window (e.g. structural.ssim_map), or K maps
    (M, K, size, size) from the one reconstruction, and the result is then (N, K, H, W). Each pixel's value
    is the mean over the windows that contain it. Runs without gradients.
    """
    images = check_images(images, name="images to score")
    _check_size(images, size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n, _, h, w = images.shape
    corners = [(y, x) for y in window_starts(h, size, stride) for x in window_starts(w, size, stride)]
    windows = [(i, y, x) for i in range(n) for y, x in corners]
    total = None  # (N, [K,] H, W), allocated once the first maps show whether there are K of them
    count = torch.zeros(h, w, device=images.device)
    for y, x in corners:
        count[y:y + size, x:x + size] += 1
    for start in range(0, len(windows), batch_size):
        chunk = windows[start:start + batch_size]
        q = as_float_images(torch.stack([images[i, :, y:y + size, x:x + size] for i, y, x in chunk]))
        maps = map_fn(q, reconstruct(q))
        if maps.dim() not in (3, 4) or maps.shape[0] != len(chunk) or tuple(maps.shape[-2:]) != (size, size):
            raise ValueError(f"map_fn must return one map per window, shape {(len(chunk), size, size)} or "
                             f"(M, K, {size}, {size}), got {tuple(maps.shape)}; average over channels, e.g. .mean(1)")
        if total is None:
            total = torch.zeros(n, *maps.shape[1:-2], h, w, device=images.device)
        for (i, y, x), m in zip(chunk, maps):
            total[i, ..., y:y + size, x:x + size] += m
    return total / count
