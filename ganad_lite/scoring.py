"""Anomaly scores: reconstruct a query through E and G, then mix a residual and an origin distance.

For a query Q in [0, 1]^(C x H x W) with latent estimate z_hat:
    w(X) = (X - min X) / (max X - min X)                      per image (0 for a flat image)
    L_n  = || w(Q) - w(G(z_hat)) ||_2 / N_x,   N_x = C H W     residual term
    L_o  = - || z_hat ||_2 / sqrt(N_z)                         origin term (anomalies sit nearer 0)
    a    = lambda L_n + (1 - lambda) L_o                       anomalous iff a > alpha
The residual map |w(Q) - w(G(z_hat))|, averaged over channels, localises the anomaly.
Beyond the thesis (structural.py): the critic-feature residual of f-AnoGAN and the SSIM and
gradient-magnitude dissimilarity maps of Q and G(z_hat), at image resolution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import torch
from torch import nn

from .images import as_float_images, check_images
from .metrics import decide
from .models import latent_dim_of
from .structural import feature_residual, gms_map, ssim_map, ssim_window

METHODS = ("encoder", "search", "hybrid")


def minmax_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-image min-max normalisation of (N, C, H, W) to [0, 1]; a flat image (max = min) maps to 0."""
    flat = x.flatten(1)
    lo, hi = torch.aminmax(flat, dim=1, keepdim=True)  # one pass for both
    span = hi - lo
    out = (flat - lo).div_(span.clamp_min(eps))
    out.masked_fill_(~(span > eps), 0.0)  # flat (or NaN) images -> 0; in place, no second full-size tensor
    return out.view_as(x)


def residual_terms(query: torch.Tensor, recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L_n (N,) and the residual map (N, H, W) of query and reconstruction, both (N, C, H, W) in [0, 1]."""
    diff = minmax_normalize(query) - minmax_normalize(recon)
    n_x = diff[0].numel()
    return diff.flatten(1).norm(2, dim=1) / n_x, diff.abs().mean(1)


def origin_term(z: torch.Tensor) -> torch.Tensor:
    """L_o = -||z||_2 / sqrt(N_z) for latents (N, N_z)."""
    return -z.norm(2, dim=1) / math.sqrt(z.shape[1])


class ScoringError(ValueError):
    """Query images, a score weight or term statistics the scores cannot use: the message names the fix."""


STAT_FIELDS = ("residual_mean", "residual_std", "origin_mean", "origin_std")
RELATIVE_NOISE = 1e-6  # a spread below this share of a term's mean is float rounding, not normal variation


def _spread_floor(mean: float) -> float:
    """The smallest standard deviation that is a real spread of a term with this mean (see Standardizer)."""
    return max(RELATIVE_NOISE * abs(mean), 1e-12)


@dataclass
class Standardizer:
    """Mean and standard deviation of L_n and L_o on held-out normal images.

    Every field is a finite number, and each std must exceed max(1e-6 |mean|, 1e-12), the spread that float
    rounding alone gives identical images. There is no clamped floor: a spread that small would turn the
    standardised score into numbers of order 1e10, so `fit` refuses fewer than 2 images or images whose terms
    do not vary (ScoringError: it needs at least 2 distinct held-out normal images).
    """

    residual_mean: float
    residual_std: float
    origin_mean: float
    origin_std: float

    def __post_init__(self):
        for name in STAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real) or not math.isfinite(value):
                raise ScoringError(f"Standardizer.{name} must be a finite number, got {value!r}")
            setattr(self, name, float(value))
        for term in ("residual", "origin"):
            mean, std = getattr(self, f"{term}_mean"), getattr(self, f"{term}_std")
            if std <= _spread_floor(mean):
                raise ScoringError(f"Standardizer.{term}_std = {std:.3g} is no spread for a mean of {mean:.3g}: "
                                   "fit it on at least 2 distinct held-out normal images")

    @classmethod
    def fit(cls, scores: "Scores") -> "Standardizer":
        """The term statistics of `scores` of held-out normal images (at least 2 distinct ones)."""
        terms = {"residual": np.asarray(scores.residual, dtype=np.float64),
                 "origin": np.asarray(scores.origin, dtype=np.float64)}
        n = len(terms["residual"])
        if n < 2:
            raise ScoringError(f"the standardised score needs at least 2 distinct held-out normal images, got {n}: "
                               "fit it on a held-out slice of normal training images (e.g. split.val)")
        for term, values in terms.items():
            if not np.isfinite(values).all():
                raise ScoringError(f"the {term} term of the held-out normal scores has NaN or infinite values")
            if np.std(values) <= _spread_floor(np.mean(values)):
                raise ScoringError(f"the {n} held-out normal images give one {term} value ({np.mean(values):.6g}) "
                                   "(identical images?): the standardised score needs at least 2 distinct "
                                   "held-out normal images")
        r, o = terms["residual"], terms["origin"]
        return cls(float(np.mean(r)), float(np.std(r)), float(np.mean(o)), float(np.std(o)))

    @classmethod
    def from_dict(cls, d) -> "Standardizer":
        """A Standardizer from its four fields (as `as_dict` writes them); other or missing keys are errors."""
        if not isinstance(d, dict) or set(d) != set(STAT_FIELDS):
            keys = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ScoringError(f"standardiser statistics must have exactly the keys {list(STAT_FIELDS)}, got {keys}; "
                               "refit them with GANAD.fit_standardizer(heldout_normal_images)")
        return cls(**d)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in STAT_FIELDS}


def _score_weight(weight) -> float:
    """The score weight lambda as a float in [0, 1]; anything else is a ScoringError."""
    ok = not isinstance(weight, (bool, np.bool_)) and isinstance(weight, Real) and 0.0 <= weight <= 1.0
    if not ok:
        raise ScoringError(f"score weight (lambda) must be a number in [0, 1], got {weight!r}")
    return float(weight)


@dataclass
class Scores:
    """Every term of the anomaly score for N query images, as NumPy arrays.

    residual: L_n (N,); origin: L_o (N,); z: latents (N, N_z); maps: residual maps (N, H, W) or None;
    recon: reconstructions (N, C, H, W) in [0, 1] or None; standardizer: term statistics of held-out
    normals (set by `GANAD.score` once the detector has seen them) for `standardized=True`.
    """

    residual: np.ndarray
    origin: np.ndarray
    z: np.ndarray
    maps: np.ndarray | None = None
    recon: np.ndarray | None = None
    method: str = "encoder"
    standardizer: Standardizer | None = field(default=None, repr=False)
    feature: np.ndarray | None = None      # critic-feature residual (N,), when the critic was given
    structural: dict[str, np.ndarray] | None = field(default=None, repr=False)  # "ssim", "gms" maps (N, H, W)
    pixel_error: np.ndarray | None = None   # mean squared error ||Q - G(z_hat)||^2 / N_x (N,), f-AnoGAN's image term

    def __len__(self) -> int:
        return len(self.residual)

    def anomaly_score(self, weight: float = 0.05, standardized: bool = False) -> np.ndarray:
        """The anomaly score a = weight * L_n + (1 - weight) * L_o, per image (N,).

        weight is the reader's lambda in [0, 1] (Berg et al. use 0.05). With standardized=True each term
        is first z-scored with the held-out normal statistics, so that lambda weighs terms of equal scale.
        """
        weight = _score_weight(weight)
        r, o = self.residual, self.origin
        if standardized:
            s = self.standardizer
            if s is None:
                raise ScoringError("standardized scores need held-out normal statistics: call "
                                 "detector.fit_standardizer(normal_images) or pass `normal=` to score_images")
            r, o = (r - s.residual_mean) / s.residual_std, (o - s.origin_mean) / s.origin_std
        return weight * r + (1.0 - weight) * o

    def decide(self, threshold: float, weight: float = 0.05, standardized: bool = False) -> np.ndarray:
        """Boolean decisions (N,): anomalous iff score > threshold (the reader's alpha)."""
        return decide(self.anomaly_score(weight, standardized), threshold)

    def subset(self, index) -> "Scores":
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        structural = None if self.structural is None else {k: v[index] for k, v in self.structural.items()}
        return Scores(self.residual[index], self.origin[index], self.z[index], pick(self.maps), pick(self.recon),
                      self.method, self.standardizer, pick(self.feature), structural, pick(self.pixel_error))

    def izif_score(self, kappa: float = 1.0) -> np.ndarray:
        """f-AnoGAN's anomaly score (N,): ||Q - G(E(Q))||^2 / N_x + kappa * feature residual."""
        if self.feature is None:
            raise ValueError("the izif score needs the critic-feature residual: score with the critic "
                             "(score_images(..., critic=critic) or GANAD.score_terms)")
        return self.pixel_error + kappa * self.feature

    def map(self, name: str) -> np.ndarray:
        """A residual map by name (N, H, W): "residual" (the min-max residual of L_n), "ssim" or "gms"."""
        maps = self.maps if name == "residual" else (self.structural or {}).get(name)
        if maps is None:
            raise ValueError(f"no {name!r} maps in these scores: score with keep_maps=True"
                             + ("" if name == "residual" else " and structural=True"))
        return maps


def latent_search(generator: nn.Module, query: torch.Tensor, *, steps: int = 100, restarts: int = 4,
                  lr: float = 0.05, init: torch.Tensor | None = None, generator_rng: torch.Generator | None = None
                  ) -> torch.Tensor:
    """Find z minimising ||Q - G(z)||^2 by Adam over z, batched over images and restarts (AnoGAN / ADGAN).

    query: (N, C, H, W) float in [0, 1]. init: (N, N_z) starting points (the hybrid method passes E(Q));
    otherwise `restarts` starts per image are drawn from N(0, I) and the best final fit is kept.
    Returns z_hat (N, N_z). The generator's weights are not changed.
    """
    n, latent_dim = query.shape[0], latent_dim_of(generator)
    if init is None:
        z = torch.randn(n * restarts, latent_dim, device=query.device, generator=generator_rng)
    else:
        restarts, z = 1, init.detach().clone()
    target = query.repeat_interleave(restarts, 0)
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    params = [p.requires_grad for p in generator.parameters()]
    generator.requires_grad_(False)
    try:
        with torch.enable_grad():
            for _ in range(steps):
                per_image = (generator(z) - target).pow(2).flatten(1).mean(1)
                opt.zero_grad(set_to_none=True)
                per_image.sum().backward()
                opt.step()
            with torch.no_grad():
                final = (generator(z) - target).pow(2).flatten(1).mean(1)
    finally:
        for p, flag in zip(generator.parameters(), params):
            p.requires_grad_(flag)
    best = final.view(n, restarts).argmin(1)
    return z.detach().view(n, restarts, latent_dim)[torch.arange(n, device=z.device), best]


def _query_images(images, image_shape) -> torch.Tensor:
    """Checked query images (images.check_images); arrays of strings, objects or dates are refused as a dtype,
    big-endian or reversed-stride arrays are copied to the layout torch reads."""
    if isinstance(images, np.ndarray):
        if images.dtype.kind not in "biufc":
            raise ScoringError(f"query images must be uint8 (0..255) or float (0..1), got an array of dtype "
                               f"{images.dtype}")
        images = images.astype(images.dtype.newbyteorder("="), copy=False)
        images = images if images.flags.c_contiguous else np.ascontiguousarray(images)
    return check_images(images, image_shape, "query images")


@torch.no_grad()
def score_images(generator: nn.Module, encoder: nn.Module, images, *, method: str = "encoder",
                 batch_size: int = 1000, keep_maps: bool = True, keep_recon: bool = False, device=None,
                 search_steps: int = 100, search_restarts: int = 4, hybrid_steps: int = 20, seed: int = 0,
                 amp: bool = False, critic: nn.Module | None = None, structural: bool = False) -> Scores:
    """Score images (N, C, H, W) (uint8 or float in [0, 1]) in batches, without gradients for the weights.

    method: "encoder" (z_hat = E(Q), the default), "search" (latent search from random starts) or
    "hybrid" (start at E(Q), then `hybrid_steps` search steps). critic: also compute f-AnoGAN's critic-feature
    residual. structural: also keep the SSIM and gradient-magnitude dissimilarity maps (N, H, W).
    Images that break a rule (shape, dtype, range, NaN) are a ValueError naming it; every returned L_n and L_o
    is finite (a model that gives NaN, e.g. after a diverged run, is a ScoringError).
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ScoringError(f"unknown scoring method {method!r}: choose one of {METHODS}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ScoringError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = device or next(generator.parameters()).device
    image_shape = None
    if isinstance(generator[-1], nn.Sigmoid):  # the output shape is known from one cheap forward
        image_shape = tuple(generator(torch.zeros(1, latent_dim_of(generator), device=device)).shape[1:])
    images = _query_images(images, image_shape)
    was_training = generator.training, encoder.training
    generator.eval()
    encoder.eval()
    rng = torch.Generator(device=device).manual_seed(seed)
    parts = {k: [] for k in ("residual", "origin", "z", "maps", "recon", "feature", "ssim", "gms", "pixel_error")}
    use_amp = amp and torch.device(device).type == "cuda"
    for start in range(0, images.shape[0], batch_size):
        q = as_float_images(images[start:start + batch_size].to(device, non_blocking=True))
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            if method == "encoder":
                z = encoder(q).float()
            elif method == "search":
                z = latent_search(generator, q, steps=search_steps, restarts=search_restarts, generator_rng=rng)
            else:
                z = latent_search(generator, q, steps=hybrid_steps, init=encoder(q).float())
            recon = generator(z).float()
        l_n, maps = residual_terms(q, recon)
        parts["residual"].append(l_n)
        parts["origin"].append(origin_term(z))
        parts["z"].append(z)
        parts["pixel_error"].append((q - recon).pow(2).flatten(1).mean(1))
        if critic is not None:
            parts["feature"].append(feature_residual(critic, q, recon))
        if structural:
            parts["ssim"].append(ssim_map(q, recon, window_size=ssim_window(q.shape[-1])))
            parts["gms"].append(gms_map(q, recon, scales=(1, 2, 4)))
        if keep_maps:
            parts["maps"].append(maps)
        if keep_recon:
            parts["recon"].append(recon)
    generator.train(was_training[0])
    encoder.train(was_training[1])
    out = {k: torch.cat(v).cpu().numpy() if v else None for k, v in parts.items()}  # one copy back at the end
    bad = ~(np.isfinite(out["residual"]) & np.isfinite(out["origin"]))
    if bad.any():
        raise ScoringError(f"the model gives NaN or infinite scores for {int(bad.sum())} of {len(bad)} query images: "
                           "its weights are not finite (a diverged run?); retrain or load another checkpoint")
    maps = {k: out[k] for k in ("ssim", "gms")} if structural else None
    return Scores(out["residual"], out["origin"], out["z"], out["maps"], out["recon"], method,
                  feature=out["feature"], structural=maps, pixel_error=out["pixel_error"])
