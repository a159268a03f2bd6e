"""Checks of image batches and maps, shared by every entry point: training, scoring, figures, baselines, CLI.

Images are (N, C, H, W) with C = 1 (grey) or 3 (RGB), either uint8 0..255 or float in [0, 1], as torch
tensors or anything `np.asarray` takes. Maps (residual maps, masks) are (N, H, W) or (N, 1, H, W).
A batch that breaks a rule gets a ValueError (TypeError for a non-array) that names the rule and the fix.
"""
from __future__ import annotations

import numpy as np
import torch


def _as_tensor(x, name: str, shape_hint: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a tensor or array of shape {shape_hint}, got {type(x).__name__}") from err


def check_images(images, image_shape=None, name: str = "images") -> torch.Tensor:
    """Validate a batch of images (N, C, H, W) and return it as a tensor (dtype and device kept).

    image_shape: the (C, H, W) a model expects, or None to accept any C in {1, 3} and any H, W.
    Float images must be finite and lie in [0, 1]; uint8 images are taken as 0..255.
    """
    images = _as_tensor(images, name, "(N, C, H, W)")
    shape = tuple(images.shape)
    if images.dim() == 3:
        raise ValueError(f"{name} has shape {shape}; images need (N, C, H, W): add the channel axis, "
                         "e.g. images[:, None] -> (N, 1, H, W)")
    if images.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {shape}")
    if shape[1] not in (1, 3):
        hint = "; it looks channels-last (N, H, W, C): use images.permute(0, 3, 1, 2)" if shape[-1] in (1, 3) else ""
        raise ValueError(f"{name} must have shape (N, C, H, W) with C = 1 or 3, got {shape}{hint}")
    if image_shape is not None and shape[1:] != tuple(image_shape):
        raise ValueError(f"{name} have shape (C, H, W) = {shape[1:]} but the model expects {tuple(image_shape)}; "
                         "resize or convert them (the data loaders take size and channels)")
    if shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise ValueError(f"{name} must be uint8 (0..255) or float (0..1), got dtype {images.dtype}")
        if not bool(torch.isfinite(images).all()):
            raise ValueError(f"{name} contain NaN or infinite values")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"float {name} must lie in [0, 1], found values in [{lo:.3g}, {hi:.3g}]; "
                             "divide 0..255 images by 255 or pass them as uint8")
    return images


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 0..1; float images (already checked to lie in [0, 1]) -> float32. Shape is kept."""
    if images.dtype == torch.uint8:
        return images.float().div_(255)
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 (0..255) or float (0..1), got dtype {images.dtype}")
    return images.float()


def as_image_tensor(images, name: str = "images") -> torch.Tensor:
    """Checked images (N, C, H, W), tensor or array -> float32 tensor in [0, 1] on the CPU (for figures)."""
    return as_float_images(check_images(images, name=name).detach().cpu())


def as_map_tensor(maps, name: str = "maps") -> torch.Tensor:
    """Maps (N, H, W) or (N, 1, H, W), tensor or array -> float32 tensor (N, H, W) on the CPU."""
    m = _as_tensor(maps, name, "(N, H, W)").detach().cpu().float()
    if m.dim() == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.dim() != 3:
        raise ValueError(f"{name} must have shape (N, H, W) or (N, 1, H, W), got {tuple(m.shape)}")
    return m
