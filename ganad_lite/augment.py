"""Differentiable augmentation of the critic's inputs (DiffAugment, Zhao et al. 2020).

With few training images the critic memorises them and its gradients stop guiding G. DiffAugment shows the
critic every image, real and generated alike, through the same random differentiable transform, so that G
is still trained through the critic's view of the augmented images. Policies:
    translation  shift by up to `translation` of the height / width, the uncovered border filled with 0
    color        brightness x + U - 0.5; saturation m_c + 2U (x - m_c), m_c the pixel's channel mean;
                 contrast m + (U + 0.5) (x - m), m the image mean (U ~ U(0, 1), one draw per factor and image)
    cutout       zero a square of side `cutout` of the image size at a random centre (off by default: a critic
                 that sees holes in real images lets G draw holes)
Outputs may leave [0, 1] (the critic is unbounded); shapes are kept: (N, C, H, W) in, (N, C, H, W) out.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

POLICIES = ("translation", "color", "cutout")


@dataclass
class AugmentParams:
    """Per-sample transform parameters for N images (None where the policy is off).

    shift: (N, 2) integer (rows, cols) offsets in pixels; brightness, saturation, contrast: (N,) factors
    drawn as in DiffAugment; cutout: (N, 2) integer (row, col) centres of the zeroed square.
    """

    shift: torch.Tensor | None = None
    brightness: torch.Tensor | None = None
    saturation: torch.Tensor | None = None
    contrast: torch.Tensor | None = None
    cutout: torch.Tensor | None = None


class DiffAugment:
    """Random differentiable transform of image batches, e.g. `DiffAugment(("translation", "color"))(x)`.

    policy: a subset of POLICIES, applied in the order translation, color, cutout (policy=() is the
    identity). translation: largest shift as a fraction of H and W, in [0, 0.5]. cutout: side of the
    zeroed square as a fraction of H and W, in (0, 1].
    """

    def __init__(self, policy=("translation", "color"), translation: float = 0.125, cutout: float = 0.5):
        policy = (policy,) if isinstance(policy, str) else tuple(policy)
        unknown = [p for p in policy if p not in POLICIES]
        if unknown:
            raise ValueError(f"unknown augmentation policy {unknown}: choose from {POLICIES}")
        if not 0.0 <= translation <= 0.5:
            raise ValueError(f"translation is a fraction of the image size in [0, 0.5], got {translation}")
        if not 0.0 < cutout <= 1.0:
            raise ValueError(f"cutout is a fraction of the image size in (0, 1], got {cutout}")
        self.policy, self.translation, self.cutout = policy, translation, cutout

    def __repr__(self) -> str:
        return f"DiffAugment(policy={self.policy}, translation={self.translation}, cutout={self.cutout})"

    def sample(self, n: int, height: int, width: int, device="cpu",
               generator: torch.Generator | None = None) -> AugmentParams:
        """Draw the parameters of n transforms for (height, width) images, on `device`."""
        gen_device = generator.device if generator is not None else device
        rand = lambda *shape: torch.rand(*shape, generator=generator, device=gen_device).to(device)  # noqa: E731
        params = AugmentParams()
        if "translation" in self.policy:
            limit = torch.tensor([int(height * self.translation), int(width * self.translation)], device=device)
            params.shift = (rand(n, 2) * (2 * limit + 1)).floor().long() - limit  # integers in [-limit, limit]
        if "color" in self.policy:
            params.brightness, params.saturation, params.contrast = rand(n) - 0.5, 2 * rand(n), rand(n) + 0.5
        if "cutout" in self.policy:
            size = torch.tensor([height, width], device=device)
            params.cutout = (rand(n, 2) * size).floor().long()
        return params

    def apply(self, x: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Transform x (N, C, H, W) float with the parameters of `sample(N, H, W)`; differentiable in x."""
        if params.shift is not None:
            x = translate(x, params.shift)
        if params.brightness is not None:
            x = adjust_color(x, params.brightness, params.saturation, params.contrast)
        if params.cutout is not None:
            x = cut_out(x, params.cutout, self.cutout)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment one batch (N, C, H, W) float, with fresh parameters per sample."""
        _check_batch(x, "x")
        if not self.policy:
            return x
        return self.apply(x, self.sample(x.shape[0], x.shape[2], x.shape[3], x.device, generator))

    def augment_pair(self, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment real[i] and fake[i] with the same transform (drawn once per i); shapes (N, C, H, W).

        Equal inputs give equal outputs, so the augmentation alone tells the critic nothing about which
        half an image came from.
        """
        _check_batch(real, "real")
        if fake.shape != real.shape:
            raise ValueError(f"real and fake batches must have the same shape, got {tuple(real.shape)} "
                             f"and {tuple(fake.shape)}; draw as many generated images as real ones")
        if not self.policy:
            return real, fake
        params = self.sample(real.shape[0], real.shape[2], real.shape[3], real.device, generator)
        return self.apply(real, params), self.apply(fake, params)


def _check_batch(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"{name} must be a float batch (N, C, H, W), got {x.dtype} of shape {tuple(x.shape)}; "
                         "convert uint8 images with as_float_images first")


def translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift image i by shift[i] = (dy, dx) pixels: out[y, x] = in[y - dy, x - dx], 0 where that is outside."""
    n, _, h, w = x.shape
    pad = int(shift.abs().max()) if shift.numel() else 0
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = torch.arange(h, device=x.device) + pad - shift[:, :1]  # (N, H) source rows in the padded image
    cols = torch.arange(w, device=x.device) + pad - shift[:, 1:]  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # advanced indices around a slice put their dims first: (N, H, W, C)
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def adjust_color(x: torch.Tensor, brightness: torch.Tensor, saturation: torch.Tensor,
                 contrast: torch.Tensor) -> torch.Tensor:
    """DiffAugment's colour jitter with per-sample factors (N,): brightness, then saturation, then contrast."""
    factor = lambda v: v.to(x.dtype).view(-1, 1, 1, 1)  # noqa: E731
    x = x + factor(brightness)
    grey = x.mean(1, keepdim=True)  # saturation scales the distance from the pixel's channel mean
    x = (x - grey) * factor(saturation) + grey
    mean = x.mean((1, 2, 3), keepdim=True)  # contrast scales the distance from the image mean
    return (x - mean) * factor(contrast) + mean


def cut_out(x: torch.Tensor, centres: torch.Tensor, fraction: float) -> torch.Tensor:
    """Zero a square of side fraction * (H, W) centred at centres[i] = (row, col) in image i (clipped at the border)."""
    _, _, h, w = x.shape
    side = torch.tensor([max(1, int(h * fraction)), max(1, int(w * fraction))], device=x.device)
    lo = centres - side // 2  # (N, 2) first zeroed row and column
    hi = lo + side
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    inside_r = (rows >= lo[:, :1]) & (rows < hi[:, :1])  # (N, H)
    inside_c = (cols >= lo[:, 1:]) & (cols < hi[:, 1:])  # (N, W)
    keep = ~(inside_r[:, :, None] & inside_c[:, None, :])
    return x * keep[:, None].to(x.dtype)
