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

    Two critic calls: one on the concatenated batch [real; fake] (2N images; the critic has no normalisation
    layers, so this equals two separate calls) and one on x_hat. x_hat gets its own call because the input
    gradient and its double backward then run over N rows only; folding x_hat into the batched call would run
    them over 3N rows, 2N of them zero (1.5x the arithmetic; benchmarks/bench_training.py measures all three).
    Returns the loss and its parts (all 0-dim tensors, still on the device).
    """
    n = real.shape[0]
    fake = fake.detach().to(real.dtype)  # a generator run under bf16 autocast returns bf16 images
    x_hat = interpolate(real, fake, eps).requires_grad_(True)
    scores = critic(torch.cat([real, fake])).float()
    d_real, d_fake = scores[:n], scores[n:]
    penalty, _ = gradient_penalty(critic, x_hat)
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


def autocast_penalty_check(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor,
                           gp_weight: float = 10.0, dtype: torch.dtype | None = torch.bfloat16) -> dict[str, float]:
    """The critic loss and its weight gradients under autocast(dtype) against fp32, on one fixed batch.

    Mixed precision touches the gradient penalty twice (the input gradient, then its double backward), so
    check it before training with `TrainConfig(amp=True)`. dtype=None runs autocast disabled (fp32 both times;
    differences are then exactly 0). Autocast uses the device of `real` (CUDA, or CPU for a CPU check).
    Returns relative differences |a - b| / |b| of loss, wasserstein and penalty, `penalty_abs` (the absolute
    penalty difference: the penalty itself may be near 0), and `grad` (relative L2 distance of the critic's
    weight gradients).
    """
    params = [p for p in critic.parameters() if p.requires_grad]

    def run(enabled: bool):
        with torch.autocast(real.device.type, dtype=dtype or torch.bfloat16, enabled=enabled):
            out = critic_loss(critic, real, fake, eps, gp_weight)
        grads = torch.autograd.grad(out["loss"], params)
        return {k: v.detach().float() for k, v in out.items()}, torch.cat([g.float().flatten() for g in grads])

    ref, g_ref = run(False)
    amp, g_amp = run(dtype is not None)
    rel = lambda a, b: float((a - b).abs() / b.abs().clamp_min(1e-12))  # noqa: E731
    out = {k: rel(amp[k], ref[k]) for k in ("loss", "wasserstein", "penalty")}
    out["penalty_abs"] = float((amp["penalty"] - ref["penalty"]).abs())
    out["grad"] = float((g_amp - g_ref).norm() / g_ref.norm().clamp_min(1e-12))
    return out
