"""The toy networks and objectives: MLP generators and critics, the four GAN losses, weight clipping, and the
gradients the chapters measure. Critics map points (N, d) -> (N, 1)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import losses

LOSSES = ("saturating", "non_saturating", "wgan_clip", "wgan_gp")


def mlp(in_dim: int, out_dim: int, hidden: int = 64, depth: int = 3) -> nn.Sequential:
    """`depth` hidden Linear + ReLU layers of width `hidden`, then a Linear to `out_dim`; no normalisation."""
    if depth < 0 or hidden < 1:
        raise ValueError(f"need depth >= 0 and hidden >= 1, got depth={depth}, hidden={hidden}")
    layers, width = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: choose one of {LOSSES}")
    return loss


def generator_loss(loss: str, d_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss from the critic's raw outputs on fakes (N, 1) (logits for the two GAN losses).

    saturating:      mean log(1 - sigmoid(d))  (minimised; the original minimax game)
    non_saturating:  mean -log sigmoid(d)
    wgan_*:          mean -d
    """
    check_loss(loss)
    if loss == "saturating":
        return -F.softplus(d_fake).mean()          # log(1 - sigmoid(d)) = -softplus(d)
    if loss == "non_saturating":
        return F.softplus(-d_fake).mean()          # -log sigmoid(d) = softplus(-d)
    return -d_fake.mean()


def critic_objective(loss: str, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor,
                     gp_weight: float = 10.0) -> dict[str, torch.Tensor]:
    """The critic's loss (to minimise) on a real batch (N, 2) and a fake batch (N, 2); eps (N,) in [0, 1]
    is only used by wgan_gp (interpolates for the penalty, via `ganad_lite.losses.critic_loss`).

    GAN losses: binary cross-entropy, real = 1, fake = 0 (the discriminator's side of the minimax game).
    WGAN losses: E[D(fake)] - E[D(real)], plus gp_weight * penalty for wgan_gp.
    Returns loss and, for WGAN losses, wasserstein (the estimate E[D(real)] - E[D(fake)]) and penalty.
    """
    check_loss(loss)
    if loss == "wgan_gp":
        return losses.critic_loss(critic, real, fake, eps, gp_weight)
    d_real, d_fake = critic(real), critic(fake)
    if loss == "wgan_clip":
        wasserstein = d_real.mean() - d_fake.mean()
        return {"loss": -wasserstein, "wasserstein": wasserstein, "penalty": torch.zeros(())}
    bce = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()  # -log D(x) - log(1 - D(G(z)))
    return {"loss": bce}


def clip_weights(module: nn.Module, clip: float) -> None:
    """Clamp every parameter of `module` to [-clip, clip] in place (WGAN's weight clipping)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-clip, clip)


def critic_gradient_norms(critic: nn.Module, points: torch.Tensor) -> np.ndarray:
    """||grad_x D(x)||_2 at each point (N, 2) -> (N,), computed by `ganad_lite.losses.gradient_penalty`."""
    x = points.detach().clone().requires_grad_(True)
    _, norms = losses.gradient_penalty(critic, x)
    return norms.detach().numpy()


def layer_gradient_norms(critic: nn.Sequential, points: torch.Tensor) -> np.ndarray:
    """Mean over points of ||d sum D / d h_l||_2, where h_l is the input of the l-th Linear layer: (L,).

    Layer 0 is the input itself; large values at low l and small at high l (or the reverse) are the
    exploding or vanishing gradients that weight clipping causes in deep critics.
    """
    h = points.detach().clone().requires_grad_(True)
    inputs = []
    for layer in critic:
        if isinstance(layer, nn.Linear):
            inputs.append(h)
        h = layer(h)
    grads = torch.autograd.grad(h.sum(), inputs)
    return np.array([float(g.norm(dim=1).mean()) for g in grads])


def critic_surface(critic: nn.Module, xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), n: int = 100):
    """Critic values on an n x n grid: xs (n,), ys (n,), values (n, n) with values[i, j] = D(xs[j], ys[i])."""
    xs = torch.linspace(float(xlim[0]), float(xlim[1]), n)
    ys = torch.linspace(float(ylim[0]), float(ylim[1]), n)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")          # (n, n): gx[i, j] = xs[j], gy[i, j] = ys[i]
    with torch.no_grad():
        values = critic(torch.stack([gx.flatten(), gy.flatten()], dim=1)).view(n, n)
    return xs.numpy(), ys.numpy(), values.numpy()


def generator_gradient_norm(loss: str, critic: nn.Module, fake: torch.Tensor) -> float:
    """Mean over fake points (N, d) of ||d ell_G(x) / d x||_2, ell_G the per-sample generator loss
    (`generator_loss`; "wasserstein" is accepted for the WGAN loss -D)."""
    loss = "wgan_gp" if loss == "wasserstein" else loss
    x = fake.detach().clone().requires_grad_(True)
    per_sample = generator_loss(loss, critic(x)) * len(x)   # undo the mean: one term per point
    (grad,) = torch.autograd.grad(per_sample, x)
    return float(grad.norm(dim=1).mean())
