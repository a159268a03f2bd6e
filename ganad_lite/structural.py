"""Structural score terms beside L_n: SSIM and gradient-magnitude dissimilarity maps, and the critic's feature residual.

For a query q and its reconstruction r, both (N, C, H, W) float in [0, 1]:
    ssim_map  1 - SSIM(q, r) per pixel (Wang et al. 2004), averaged over channels     (N, H, W) in [0, 2]
    gms_map   1 - GMS(q, r) per pixel, GMS = (2 g_q g_r + c) / (g_q^2 + g_r^2 + c)    (N, H, W) in [0, 1]
              with g the gradient magnitude of the luminance (GMSD, Xue et al. 2014); with several scales
              the maps of 2x, 4x average-pooled images are upsampled back and averaged (MSGMS, Zavrtanik et al. 2021)
    feature_residual  ||f_D(q) - f_D(r)||^2 / N_f with f_D the critic's last feature layer (f-AnoGAN)     (N,)
Both maps come from kornia rather than piq because kornia exposes the per-pixel SSIM map
(`kornia.metrics.ssim`) and the gradient magnitude (`kornia.filters.sobel`) publicly, while piq's `ssim` and
`gmsd` only return per-image values.
"""
from __future__ import annotations

from collections.abc import Sequence

import kornia
import torch
import torch.nn.functional as F
from torch import nn

REDUCTIONS = ("mean", "topk", "smooth_max")
# GMSD's constant T = 170 / 255^2 is set for Prewitt / 3 gradients, which are twice kornia's normalised Sobel
# gradients on a ramp; GMS(2a, 2b; T) = GMS(a, b; T / 4)
GMS_CONSTANT = 170.0 / 255.0 ** 2 / 4.0


def _check_pair(q: torch.Tensor, r: torch.Tensor) -> None:
    if q.dim() != 4 or q.shape != r.shape:
        raise ValueError(f"query and reconstruction must both be (N, C, H, W) of one shape, got "
                         f"{tuple(q.shape)} and {tuple(r.shape)}")
    if not (q.is_floating_point() and r.is_floating_point()):
        raise ValueError(f"query and reconstruction must be float in [0, 1], got {q.dtype} and {r.dtype}; "
                         "convert uint8 images with as_float_images first")


def ssim_map(q: torch.Tensor, r: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """1 - SSIM per pixel (N, H, W), from an 11x11 Gaussian window (sigma 1.5), reflect-padded at the border."""
    _check_pair(q, r)
    if min(q.shape[-2:]) < window_size or window_size % 2 == 0:
        raise ValueError(f"window_size must be odd and at most the image size {tuple(q.shape[-2:])}, "
                         f"got {window_size}")
    # eps=0: the constants C1, C2 > 0 already keep the denominator positive, and identical images give exactly 1
    similarity = kornia.metrics.ssim(q, r, window_size, max_val=1.0, eps=0.0)
    return 1.0 - similarity.mean(1)


def ssim_window(size: int) -> int:
    """The SSIM window for images of side `size`: 7 px up to 64 px (an 11 px window spans too much of a 28 px
    digit), 11 px (the SSIM paper's) above."""
    return 7 if size <= 64 else 11


def smoothing_width(size: int) -> int:
    """Odd box width of about size / 12 px (3 at 28 px, 5 at 64 px, 21 at 256 px) for `smooth_max`."""
    return 2 * (size // 24) + 1


def _luminance(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) grey values: RGB through kornia's luma weights, one channel as it is."""
    return kornia.color.rgb_to_grayscale(x) if x.shape[1] == 3 else x


def _gms_dissimilarity(q: torch.Tensor, r: torch.Tensor, constant: float) -> torch.Tensor:
    """1 - GMS for (N, 1, h, w) luminance images -> (N, 1, h, w)."""
    g_q, g_r = kornia.filters.sobel(q), kornia.filters.sobel(r)
    return 1.0 - (2.0 * g_q * g_r + constant) / (g_q.square() + g_r.square() + constant)


def gms_map(q: torch.Tensor, r: torch.Tensor, scales: Sequence[int] = (1,),
            constant: float = GMS_CONSTANT) -> torch.Tensor:
    """1 - gradient-magnitude similarity per pixel (N, H, W), averaged over `scales`.

    scales: average-pooling factors; (1,) is single-scale GMS, (1, 2, 4) the multi-scale map at 1, 1/2 and
    1/4 of the resolution, each upsampled back bilinearly. constant: the stabiliser c for Sobel magnitudes
    of [0, 1] images.
    """
    _check_pair(q, r)
    if not scales or any(int(s) != s or s < 1 or s > min(q.shape[-2:]) for s in scales):
        raise ValueError(f"scales must be pooling factors between 1 and the image size, got {tuple(scales)}")
    q, r = _luminance(q), _luminance(r)
    total = torch.zeros_like(q)
    for s in scales:
        if s == 1:
            total += _gms_dissimilarity(q, r, constant)
        else:
            m = _gms_dissimilarity(F.avg_pool2d(q, s), F.avg_pool2d(r, s), constant)
            total += F.interpolate(m, size=q.shape[-2:], mode="bilinear", align_corners=False)
    return total[:, 0] / len(scales)


def reduce_map(maps: torch.Tensor, how: str = "mean", k: int = 1) -> torch.Tensor:
    """Image scores (N,) from dissimilarity maps (N, H, W), in the maps' units.

    how="mean": the mean over all pixels (diffuse differences count); how="topk": the mean of the k largest
    pixels of each image (k=1 is the maximum: a small defect is not diluted by the rest of the image);
    how="smooth_max": the maximum of the map after a box filter of `smoothing_width(W)` px (a compact
    defect, not a single noisy pixel).
    """
    if maps.dim() != 3:
        raise ValueError(f"maps must be (N, H, W), got shape {tuple(maps.shape)}")
    if how == "smooth_max":
        width = smoothing_width(maps.shape[-1])
        smooth = F.avg_pool2d(maps[:, None], width, stride=1, padding=width // 2, count_include_pad=False)
        return smooth.flatten(1).amax(1)
    flat = maps.flatten(1)
    if how == "mean":
        return flat.mean(1)
    if how != "topk":
        raise ValueError(f"unknown reduction {how!r}: choose one of {REDUCTIONS}")
    if not 1 <= k <= flat.shape[1]:
        raise ValueError(f"k must count pixels between 1 and H * W = {flat.shape[1]}, got {k}")
    return flat.topk(k, dim=1).values.mean(1)


def critic_features(critic: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """f_D(x) (N, N_f): the critic's output before its final Linear (see models.build_critic)."""
    if not isinstance(critic, nn.Sequential) or not isinstance(critic[-1], nn.Linear):
        raise ValueError("the critic must be an nn.Sequential ending in its scoring nn.Linear "
                         "(as models.build_critic builds it)")
    return critic[:-1](x).flatten(1)


def feature_residual(critic: nn.Sequential, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """||f_D(q) - f_D(r)||^2 / N_f per image (N,), f-AnoGAN's critic-feature residual; differentiable."""
    _check_pair(q, r)
    n = q.shape[0]
    features = critic_features(critic, torch.cat([q, r]))  # one call: the critic has no normalisation layers
    return (features[:n] - features[n:]).square().mean(1)
