"""WGAN-GP losses (Gulrajani et al. 2017, Algorithm 1) and the image-space encoder loss (Berg et al. 2020).

`critic_loss` and `generator_losses` are the one definition of a training step's objectives: `Trainer`, the
lockstep trainer (parallel.py) and the DDP trainer (distributed.py) all call them.

K models side by side: parallel.py stacks K same-shaped models along the channel axis, so that a stacked
critic maps (N, K * C, H, W) to scores (N, K), model k's inputs in channel group k. With `groups=K` every
loss is taken per model (means over the batch per score column, gradient norms per channel group) and
each loss and part is a (K,) tensor; with the default groups=None (one model) they are 0-dim.
"""
from __future__ import annotations

import torch
from torch import nn


def identity(x: torch.Tensor) -> torch.Tensor:
    """The default critic augmentation: none (see `critic_loss`)."""
    return x


def interpolate(real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_hat = eps * real + (1 - eps) * fake, one eps in [0, 1] per sample and model.

    real, fake: (N, K * C, ...) for K models stacked along dim 1, (N, C, ...) for one; eps: (N,) or (N, K).
    """
    n = real.shape[0]
    k = eps.numel() // n
    weight = eps.reshape(n, k, *([1] * (real.dim() - 1)))  # model k's eps over model k's channel group
    return torch.lerp(fake.unflatten(1, (k, -1)), real.unflatten(1, (k, -1)), weight).flatten(1, 2)


def gradient_penalty(critic: nn.Module, x_hat: torch.Tensor, scores: torch.Tensor | None = None,
                     groups: int | None = None):
    """Mean over the batch of (||grad_x D(x_hat)||_2 - 1)^2, and the per-sample gradient norms.

    One model: penalty () and norms (N,). groups=K stacked models: each model's norm over its own channel
    group, penalty (K,) and norms (N, K). `x_hat` must require grad. Pass `scores = critic(x_hat)` if it was
    already computed; the graph is kept (create_graph=True) so that the penalty itself can be
    back-propagated into the critic's weights.
    """
    if scores is None:
        scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    grad = grad.unflatten(1, (groups or 1, -1)).flatten(2)  # (N, K, features of one model)
    norms = (grad.float() if grad.dtype in (torch.float16, torch.bfloat16) else grad).norm(2, dim=2)  # (N, K)
    penalty = ((norms - 1.0) ** 2).mean(0)  # (K,)
    return (penalty, norms) if groups else (penalty[0], norms[:, 0])


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor,
                gp_weight: float = 10.0, groups: int | None = None, augment=identity) -> dict[str, torch.Tensor]:
    """L_D = E[D(fake)] - E[D(real)] + gp_weight * E[(||grad D(x_hat)||_2 - 1)^2], x_hat = interpolate(real, fake, eps).

    The critic sees augment(real) and augment(fake) (a differentiable augmentation of its inputs, identity
    by default), and x_hat lies between them. Two critic calls: one on the concatenated batch [real; fake]
    (2N images; the critic has no normalisation layers, so this equals two separate calls) and one on x_hat.
    x_hat gets its own call because the input gradient and its double backward then run over N rows only;
    folded into the batched call they would run over 3N rows, 2N of them zero (benchmarks/bench_training.py
    times the variants). Returns the loss and its parts, still on the device: 0-dim, or (K,) per model for
    groups=K.
    """
    n = real.shape[0]
    fake = fake.detach().to(real.dtype)  # a generator run under bf16 autocast returns bf16 images
    real, fake = augment(real), augment(fake)
    x_hat = interpolate(real, fake, eps).requires_grad_(True)
    scores = critic(torch.cat([real, fake])).float().reshape(2 * n, -1)  # (2N, K)
    penalty, _ = gradient_penalty(critic, x_hat, groups=groups)
    wasserstein = scores[:n].mean(0) - scores[n:].mean(0)  # (K,)
    if not groups:
        wasserstein = wasserstein[0]
    return {"loss": -wasserstein + gp_weight * penalty, "wasserstein": wasserstein, "penalty": penalty}


def encoder_loss(generator: nn.Module, encoder: nn.Module, fake: torch.Tensor, groups: int | None = None
                 ) -> torch.Tensor:
    """Image-space encoder loss: mean over pixels of |G(z) - G(E(G(z)))|, with fake = G(z); () or (K,)."""
    diff = (fake - generator(encoder(fake))).abs()
    per_model = diff.unflatten(1, (groups or 1, -1)).flatten(2).mean((0, 2))  # (K,)
    return per_model if groups else per_model[0]


def generator_losses(generator: nn.Module, critic: nn.Module, encoder: nn.Module, z: torch.Tensor,
                     encoder_weight: float = 1.0, groups: int | None = None, augment=identity):
    """Joint G+E objective L_G = -E[D(augment(G(z)))] + encoder_weight * |G(z) - G(E(G(z)))|_1.

    One G(z) serves both terms. The critic's weights get gradients here too: freeze them (requires_grad)
    when only G and E are to be updated. Returns loss, adversarial and encoder: 0-dim, or (K,) for groups=K.
    """
    fake = generator(z)
    adversarial = -critic(augment(fake)).float().reshape(len(z), -1).mean(0)  # (K,)
    if not groups:
        adversarial = adversarial[0]
    reconstruction = encoder_loss(generator, encoder, fake, groups).float()
    return {"loss": adversarial + encoder_weight * reconstruction, "adversarial": adversarial,
            "encoder": reconstruction}


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
