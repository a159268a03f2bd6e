"""WGAN-GP losses (Gulrajani et al. 2017, Algorithm 1) and the image-space encoder loss (Berg et al. 2020)."""
from __future__ import annotations

import torch
from torch import nn


def interpolate(real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_hat = eps * real + (1 - eps) * fake, with one eps in [0, 1] per sample: eps (N,) or (N, 1, 1, 1)."""
    return torch.lerp(fake, real, eps.view(-1, *([1] * (real.dim() - 1))))


def gradient_penalty(critic: nn.Module, x_hat: torch.Tensor, scores: torch.Tensor | None = None):
    """Mean of (||grad_x D(x_hat)||_2 - 1)^2 over the batch, and the per-sample gradient norms (N,).

    `x_hat` must require grad. Pass `scores = critic(x_hat)` if it was already computed (for example as
    part of one batched critic call on real, fake and interpolates); the graph is kept (create_graph=True)
    so that the penalty itself can be back-propagated into the critic's weights.
    """
    if scores is None:
        scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    grad = grad.flatten(1)
    norms = (grad.float() if grad.dtype in (torch.float16, torch.bfloat16) else grad).norm(2, dim=1)
    return ((norms - 1.0) ** 2).mean(), norms


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor,
                gp_weight: float = 10.0) -> dict[str, torch.Tensor]:
    """L_D = E[D(fake)] - E[D(real)] + gp_weight * E[(||grad D(x_hat)||_2 - 1)^2].

    One critic call on the concatenated batch [real; fake; x_hat] (3N images): the critic has no
    normalisation layers, so this equals three separate calls and costs one launch sequence instead of three.
    Returns the loss and its parts (all 0-dim tensors, still on the device).
    """
    n = real.shape[0]
    x_hat = interpolate(real, fake.detach(), eps).requires_grad_(True)
    scores = critic(torch.cat([real, fake.detach(), x_hat])).float()
    d_real, d_fake, d_hat = scores[:n], scores[n:2 * n], scores[2 * n:]
    penalty, _ = gradient_penalty(critic, x_hat, d_hat)
    wasserstein = d_real.mean() - d_fake.mean()
    return {"loss": -wasserstein + gp_weight * penalty, "wasserstein": wasserstein, "penalty": penalty}


def encoder_loss(generator: nn.Module, encoder: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """Image-space encoder loss: mean over pixels of |G(z) - G(E(G(z)))|, with fake = G(z)."""
    return (fake - generator(encoder(fake))).abs().mean()


def generator_losses(generator: nn.Module, critic: nn.Module, encoder: nn.Module, z: torch.Tensor):
    """Joint G+E objective L_G = -E[D(G(z))] + |G(z) - G(E(G(z)))|_1, reusing one G(z) for both terms."""
    fake = generator(z)
    adversarial = -critic(fake).float().mean()
    reconstruction = encoder_loss(generator, encoder, fake).float()
    return {"loss": adversarial + reconstruction, "adversarial": adversarial, "encoder": reconstruction}
