"""f-AnoGAN's izi_f encoder training (Schlegl et al. 2019): fit E on real normal images with G and D frozen.

For real images x (N, C, H, W) in [0, 1] and their reconstruction G(E(x)):
    L_izif = ||x - G(E(x))||^2 / N_x  +  kappa ||f_D(x) - f_D(G(E(x)))||^2 / N_f
(both terms averaged over the batch; f_D is the critic's last feature layer, see structural.critic_features).
The image term pulls G(E(x)) towards x pixel by pixel; the feature term asks that the critic see the two
alike, which keeps E from settling on blurry reconstructions of normal images.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from .images import as_float_images, check_images
from .structural import feature_residual


def izif_loss(generator: nn.Module, critic: nn.Sequential, encoder: nn.Module, x: torch.Tensor,
              kappa: float = 1.0) -> dict[str, torch.Tensor]:
    """The izi_f loss of a float batch x (N, C, H, W) in [0, 1], with its parts (0-dim tensors).

    Returns {"loss": image + kappa * features, "image": mean squared pixel residual,
    "features": mean squared critic-feature residual}.
    """
    recon = generator(encoder(x))
    image = (x - recon).square().mean()
    features = feature_residual(critic, x, recon).mean()
    return {"loss": image + kappa * features, "image": image, "features": features}


def _batches(n: int, batch_size: int, rng: torch.Generator | None) -> Iterator[torch.Tensor]:
    """Index batches (batch_size,) forever, one fresh permutation of range(n) per epoch."""
    while True:
        order = torch.randperm(n, generator=rng)
        for start in range(0, n - batch_size + 1, batch_size):  # full batches only
            yield order[start:start + batch_size]


class _Frozen:
    """Context: the given modules' parameters take no gradient (flags restored on exit) and run in eval mode."""

    def __init__(self, *modules: nn.Module):
        self.modules = modules

    def __enter__(self):
        self.flags = [[p.requires_grad for p in m.parameters()] for m in self.modules]
        self.training = [m.training for m in self.modules]
        for m in self.modules:
            m.requires_grad_(False).eval()

    def __exit__(self, *exc):
        for m, flags, training in zip(self.modules, self.flags, self.training):
            for p, flag in zip(m.parameters(), flags):
                p.requires_grad_(flag)
            m.train(training)


def fit_encoder_izif(generator: nn.Module, critic: nn.Sequential, encoder: nn.Module, images, *,
                     steps: int, batch_size: int = 64, lr: float = 5e-5, kappa: float = 1.0,
                     rng: torch.Generator | None = None, select: Callable[[nn.Module], float] | None = None,
                     select_every: int = 100) -> list[dict]:
    """Train only E for `steps` RMSprop steps on the izi_f loss; G and D are frozen and left unchanged.

    images: real normal images (N, C, H, W), uint8 or float in [0, 1], N >= batch_size (batches are drawn
    without replacement by `rng`, on the CPU). lr 5e-5 and RMSprop (smoothing 0.9) follow the reference
    implementation. select: an optional score of the encoder (higher is better), computed on held-out normal
    images with synthetic defects (defects.defect_validation_set), never on test data; it is called every
    `select_every` steps and after the last step, in eval mode without gradients, and E ends with the
    weights of the best call (the first of equal ones) instead of the last.
    Returns one dict per `select_every` steps (and the last step): "step", the interval's mean "loss",
    "image" and "features", and "select" where it was computed.
    """
    images = check_images(images, name="encoder training images")
    if steps < 1 or select_every < 1:
        raise ValueError(f"steps and select_every must be positive, got {steps} and {select_every}")
    if not 1 <= batch_size <= images.shape[0]:
        raise ValueError(f"batch_size must lie between 1 and the {images.shape[0]} training images, "
                         f"got {batch_size}")
    device = next(encoder.parameters()).device
    opt = torch.optim.RMSprop(encoder.parameters(), lr=lr, alpha=0.9)
    batches = _batches(images.shape[0], batch_size, rng)
    history, running, best = [], [], None
    was_training = encoder.training
    with _Frozen(generator, critic):
        encoder.train()
        for step in range(1, steps + 1):
            x = as_float_images(images[next(batches)].to(device, non_blocking=True))
            parts = izif_loss(generator, critic, encoder, x, kappa)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            opt.step()
            running.append({k: v.detach() for k, v in parts.items()})  # no host sync per step
            if step % select_every and step != steps:
                continue
            entry = {"step": step, **{k: float(torch.stack([r[k] for r in running]).mean()) for k in parts}}
            running = []
            if select is not None:
                entry["select"] = _evaluate(select, encoder)
                if best is None or entry["select"] > best[0]:
                    best = (entry["select"], copy.deepcopy(encoder.state_dict()))
            history.append(entry)
    if best is not None:
        encoder.load_state_dict(best[1])
    encoder.train(was_training)
    return history


def _evaluate(select: Callable[[nn.Module], float], encoder: nn.Module) -> float:
    """select(encoder) as a float, in eval mode and without gradients; training mode is restored."""
    encoder.eval()
    with torch.no_grad():
        value = float(select(encoder))
    encoder.train()
    if not math.isfinite(value):
        raise ValueError(f"select returned {value}; it must score the encoder with a finite number")
    return value
