"""The toy data: points in the plane from mixtures of Gaussians (rings and grids), how many of a mixture's
modes a sample reaches, and the optimal discriminator between two densities. Points are float32 (N, 2)."""
from __future__ import annotations

import math

import numpy as np
import torch


def ring_centers(modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Centres of `modes` Gaussians spaced evenly on a circle of `radius`: (modes, 2)."""
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centers(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres of a side x side grid of Gaussians, centred on the origin: (side**2, 2)."""
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


def gaussian_mixture(n: int, centers: torch.Tensor, std: float = 0.05, seed: int = 0) -> torch.Tensor:
    """n points (n, 2) from an equal-weight mixture of isotropic Gaussians with the given centres (K, 2)."""
    if n < 1 or std < 0:
        raise ValueError(f"need n >= 1 and std >= 0, got n={n}, std={std}")
    rng = torch.Generator().manual_seed(seed)
    which = torch.randint(len(centers), (n,), generator=rng)
    return centers[which] + std * torch.randn(n, centers.shape[1], generator=rng)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05, seed: int = 0) -> torch.Tensor:
    """n points (n, 2) from `modes` Gaussians of standard deviation `std` on a circle of `radius`."""
    return gaussian_mixture(n, ring_centers(modes, radius), std, seed)


def grid_of_gaussians(n: int, side: int = 5, spacing: float = 2.0, std: float = 0.05, seed: int = 0) -> torch.Tensor:
    """n points (n, 2) from a side x side grid of Gaussians `spacing` apart."""
    return gaussian_mixture(n, grid_centers(side, spacing), std, seed)


def mode_coverage(samples, centers, std: float = 0.05, n_std: float = 3.0) -> dict:
    """How many mixture modes a set of samples (N, 2) reaches (the usual toy-GAN bookkeeping).

    A sample is "good" if it lies within n_std * std of its nearest centre (K, 2); a mode is covered if at
    least max(1, 0.01 N) good samples fall on it. Returns covered (int), quality (fraction of good samples),
    spread (mean per-axis standard deviation of the samples, plane units) and counts ((K,) good samples per mode).
    """
    x = torch.as_tensor(samples, dtype=torch.float32)
    c = torch.as_tensor(centers, dtype=torch.float32)
    dist = torch.cdist(x, c)                        # (N, K)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= n_std * std
    counts = torch.bincount(nearest[good], minlength=len(c))
    return {"covered": int((counts >= max(1, 0.01 * len(x))).sum()), "quality": float(good.float().mean()),
            "spread": float(x.std(dim=0).mean()), "counts": counts.numpy()}


def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) from two density arrays of equal shape (1/2 where both are 0)."""
    p_data, p_g = np.asarray(p_data, dtype=float), np.asarray(p_g, dtype=float)
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)
