"""Two-dimensional toy GANs for the theory chapters.

Small MLP generators and critics on mixtures of Gaussians in the plane, trained with the four objectives the
book compares: the original minimax loss ("saturating"), the non-saturating loss, WGAN with weight clipping
("wgan_clip") and WGAN-GP ("wgan_gp"). The gradient penalty is the package's own
(`ganad_lite.losses.critic_loss` / `gradient_penalty`), so the toy exercises the same code as the image model.
Everything runs on the CPU in seconds and is deterministic for a given seed (and thread count).
Points are float32 tensors of shape (N, 2) in plane units; critics map (N, 2) -> (N, 1).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import losses
from .profiles import get_profile

LOSSES = ("saturating", "non_saturating", "wgan_clip", "wgan_gp")

# Default budgets per profile: generator steps of a toy GAN, and critic steps of a critic trained alone.
TOY_STEPS = {
    "smoke": {"gan": 150, "critic": 150},
    "cpu": {"gan": 2000, "critic": 2000},
    "full": {"gan": 4000, "critic": 4000},
}


def default_steps(kind: str = "gan", profile=None) -> int:
    """Toy training steps for the active profile (GANAD_PROFILE): kind "gan" (generator steps) or "critic"."""
    name = get_profile(profile).name
    try:
        return TOY_STEPS[name][kind]
    except KeyError:
        raise ValueError(f"kind must be 'gan' or 'critic', got {kind!r}") from None


# -- data ----------------------------------------------------------------------------------------------------
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


# -- networks and objectives ------------------------------------------------------------------------------
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


def _check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: choose one of {LOSSES}")
    return loss


def generator_loss(loss: str, d_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss from the critic's raw outputs on fakes (N, 1) (logits for the two GAN losses).

    saturating:      mean log(1 - sigmoid(d))  (minimised; the original minimax game)
    non_saturating:  mean -log sigmoid(d)
    wgan_*:          mean -d
    """
    _check_loss(loss)
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
    _check_loss(loss)
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


# -- training ---------------------------------------------------------------------------------------------
@dataclass
class ToyRun:
    """A trained toy GAN and what was recorded along the way.

    snapshot_steps: generator steps at which snapshots were taken (0 = before training).
    samples: one (n_samples, 2) array of G(z) per snapshot, always for the same fixed z.
    grad_norms: one (n_eval,) array per snapshot of ||grad D(x_hat)||_2 at interpolates x_hat between fixed
    real and fake points. history: per generator step, critic_loss and generator_loss (and wasserstein for
    WGAN losses). settings: every argument of the run.
    """

    loss: str
    generator: nn.Module
    critic: nn.Module
    snapshot_steps: list[int] = field(default_factory=list)
    samples: list[np.ndarray] = field(default_factory=list)
    grad_norms: list[np.ndarray] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    def sample(self, n: int = 1000, seed: int = 0) -> np.ndarray:
        """n fresh generator samples (n, 2)."""
        z = torch.randn(n, self.settings["latent_dim"], generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return self.generator(z).numpy()


def _defaults(loss: str, n_critic, lr, betas) -> tuple[int, float, tuple[float, float]]:
    """n_critic 5 and betas (0.5, 0.9) for WGAN losses, 1 and (0.5, 0.999) for GAN losses; lr 1e-3."""
    wgan = loss.startswith("wgan")
    if n_critic is None:
        n_critic = 5 if wgan else 1
    if betas is None:
        betas = (0.5, 0.9) if wgan else (0.5, 0.999)
    return int(n_critic), 1e-3 if lr is None else float(lr), tuple(betas)


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block: for these tiny MLPs more threads only add
    synchronisation (and are much slower when the cores are shared). The old setting is restored."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _progress(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, disable=not progress, leave=False, mininterval=0.5)


@one_thread()
def train_toy_gan(data: torch.Tensor, loss: str = "wgan_gp", steps: int | None = None, n_critic: int | None = None,
                  clip: float = 0.01, gp_weight: float = 10.0, lr: float | None = None, betas=None,
                  batch_size: int = 256, latent_dim: int = 2, hidden: int = 64, depth: int = 3,
                  critic_hidden: int | None = None, critic_depth: int | None = None, critic_lr: float | None = None,
                  seed: int = 0, snapshot_every: int | None = None, n_samples: int = 512, n_eval: int = 512,
                  progress: bool = False) -> ToyRun:
    """Train an MLP generator (latent_dim -> 2) against an MLP critic (2 -> 1) on points `data` (N, 2).

    steps: generator steps (default: `default_steps("gan")` for the active profile). Each generator step
    follows n_critic critic steps (default 1 for the GAN losses, 5 for WGAN), each on a fresh real batch
    and fresh z ~ N(0, I). Adam with lr (default 1e-3) and betas (default (0.5, 0.999) for GAN losses,
    (0.5, 0.9) for WGAN); clip is used by wgan_clip, gp_weight by wgan_gp. The generator has `depth` hidden
    layers of width `hidden`; the critic the same unless critic_hidden / critic_depth are given, and it
    learns at critic_lr (default: lr).
    snapshot_every: generator steps between snapshots (default: steps // 4).
    """
    _check_loss(loss)
    data = torch.as_tensor(data, dtype=torch.float32)
    if data.dim() != 2 or data.shape[1] != 2 or len(data) < 2:
        raise ValueError(f"data must be points of shape (N, 2) with N >= 2, got {tuple(data.shape)}")
    steps = default_steps("gan") if steps is None else int(steps)
    n_critic, lr, betas = _defaults(loss, n_critic, lr, betas)
    snapshot_every = max(1, steps // 4) if snapshot_every is None else int(snapshot_every)
    if steps < 1 or n_critic < 1 or clip <= 0:
        raise ValueError(f"need steps >= 1, n_critic >= 1 and clip > 0, got {steps}, {n_critic}, {clip}")
    critic_hidden = hidden if critic_hidden is None else critic_hidden
    critic_depth = depth if critic_depth is None else critic_depth
    critic_lr = lr if critic_lr is None else critic_lr
    settings = dict(loss=loss, steps=steps, n_critic=n_critic, clip=clip, gp_weight=gp_weight, lr=lr,
                    critic_lr=critic_lr, betas=tuple(betas), batch_size=batch_size, latent_dim=latent_dim,
                    hidden=hidden, depth=depth, critic_hidden=critic_hidden, critic_depth=critic_depth,
                    seed=seed, snapshot_every=snapshot_every, profile=get_profile().name)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator, critic = mlp(latent_dim, 2, hidden, depth), mlp(2, 1, critic_hidden, critic_depth)
    rng = torch.Generator().manual_seed(seed + 1)
    if loss == "wgan_clip":
        clip_weights(critic, clip)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=critic_lr, betas=betas)
    z_fixed = torch.randn(n_samples, latent_dim, generator=rng)                  # (n_samples, latent_dim)
    real_eval = data[torch.randint(len(data), (n_eval,), generator=rng)]         # (n_eval, 2)
    z_eval, eps_eval = torch.randn(n_eval, latent_dim, generator=rng), torch.rand(n_eval, generator=rng)
    run = ToyRun(loss, generator, critic, settings=settings,
                 history={"critic_loss": [], "generator_loss": [], "wasserstein": []})

    def snapshot(step: int) -> None:
        with torch.no_grad():
            run.samples.append(generator(z_fixed).numpy())
            fake = generator(z_eval)
        run.grad_norms.append(critic_gradient_norms(critic, losses.interpolate(real_eval, fake, eps_eval)))
        run.snapshot_steps.append(step)

    t0 = time.perf_counter()
    snapshot(0)
    bar = _progress(steps, f"toy {loss}", progress)
    for step in range(1, steps + 1):
        for _ in range(n_critic):
            real = data[torch.randint(len(data), (batch_size,), generator=rng)]
            z = torch.randn(batch_size, latent_dim, generator=rng)
            eps = torch.rand(batch_size, generator=rng)
            with torch.no_grad():
                fake = generator(z)
            out = critic_objective(loss, critic, real, fake, eps, gp_weight)
            opt_d.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt_d.step()
            if loss == "wgan_clip":
                clip_weights(critic, clip)
        critic.requires_grad_(False)
        g_loss = generator_loss(loss, critic(generator(torch.randn(batch_size, latent_dim, generator=rng))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        critic.requires_grad_(True)
        run.history["critic_loss"].append(float(out["loss"].detach()))
        run.history["generator_loss"].append(float(g_loss.detach()))
        run.history["wasserstein"].append(float(out["wasserstein"].detach()) if "wasserstein" in out else float("nan"))
        bar.update(1)
        if step % snapshot_every == 0 or step == steps:
            snapshot(step)
    bar.close()
    run.seconds = time.perf_counter() - t0
    return run


@dataclass
class ToyCriticRun:
    """A critic trained alone against fixed real and fake point sets (N, d).

    snapshot_steps: critic steps of the snapshots (0 = untrained). At each snapshot: critic_loss (on fixed
    evaluation points), grad_norms ((n_eval,) ||grad D|| at interpolates), and generator_grad: for each
    generator loss ("saturating", "non_saturating", "wasserstein" = -D), the mean over fake points of
    ||d loss_G / d x_fake||_2 -- how strong a push a generator would get from this critic.
    """

    loss: str
    critic: nn.Module
    snapshot_steps: list[int] = field(default_factory=list)
    critic_loss: list[float] = field(default_factory=list)
    grad_norms: list[np.ndarray] = field(default_factory=list)
    generator_grad: dict[str, list[float]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0


def generator_gradient_norm(loss: str, critic: nn.Module, fake: torch.Tensor) -> float:
    """Mean over fake points (N, d) of ||d ell_G(x) / d x||_2, ell_G the per-sample generator loss
    (`generator_loss`; "wasserstein" is accepted for the WGAN loss -D)."""
    loss = "wgan_gp" if loss == "wasserstein" else loss
    x = fake.detach().clone().requires_grad_(True)
    per_sample = generator_loss(loss, critic(x)) * len(x)   # undo the mean: one term per point
    (grad,) = torch.autograd.grad(per_sample, x)
    return float(grad.norm(dim=1).mean())


@one_thread()
def train_toy_critic(real: torch.Tensor, fake: torch.Tensor, loss: str = "wgan_gp", steps: int | None = None,
                     clip: float = 0.01, gp_weight: float = 10.0, lr: float = 2e-3, betas=(0.5, 0.9),
                     batch_size: int = 256, hidden: int = 64, depth: int = 3, seed: int = 0,
                     snapshot_every: int | None = None, n_eval: int = 512, progress: bool = False) -> ToyCriticRun:
    """Train a critic (d -> 1 MLP) to separate fixed real points (N, d) from fixed fake points (M, d).

    This is the inner maximisation of each game with the generator frozen: the critic's optimum is what
    the generator would learn from. loss picks the critic's objective (the two GAN losses share the
    cross-entropy discriminator). steps default: `default_steps("critic")` for the active profile.
    """
    _check_loss(loss)
    real, fake = torch.as_tensor(real, dtype=torch.float32), torch.as_tensor(fake, dtype=torch.float32)
    for name, pts in (("real", real), ("fake", fake)):
        if pts.dim() != 2 or pts.shape[1] != real.shape[1] or len(pts) < 1:
            raise ValueError(f"{name} must be points of shape (N, {real.shape[1]}), got {tuple(pts.shape)}")
    steps = default_steps("critic") if steps is None else int(steps)
    snapshot_every = max(1, steps // 10) if snapshot_every is None else int(snapshot_every)
    settings = dict(loss=loss, steps=steps, clip=clip, gp_weight=gp_weight, lr=lr, betas=tuple(betas),
                    batch_size=batch_size, hidden=hidden, depth=depth, seed=seed, profile=get_profile().name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = mlp(real.shape[1], 1, hidden, depth)
    rng = torch.Generator().manual_seed(seed + 1)
    if loss == "wgan_clip":
        clip_weights(critic, clip)
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
    real_eval = real[torch.randint(len(real), (n_eval,), generator=rng)]
    fake_eval = fake[torch.randint(len(fake), (n_eval,), generator=rng)]
    eps_eval = torch.rand(n_eval, generator=rng)
    x_hat_eval = losses.interpolate(real_eval, fake_eval, eps_eval)
    run = ToyCriticRun(loss, critic, settings=settings,
                       generator_grad={"saturating": [], "non_saturating": [], "wasserstein": []})

    def snapshot(step: int) -> None:
        eval_loss = critic_objective(loss, critic, real_eval, fake_eval, eps_eval, gp_weight)["loss"]
        run.critic_loss.append(float(eval_loss.detach()))
        run.grad_norms.append(critic_gradient_norms(critic, x_hat_eval))
        for name in run.generator_grad:
            run.generator_grad[name].append(
                generator_gradient_norm(name, critic, fake_eval))
        run.snapshot_steps.append(step)

    t0 = time.perf_counter()
    snapshot(0)
    bar = _progress(steps, f"critic {loss}", progress)
    for step in range(1, steps + 1):
        r = real[torch.randint(len(real), (batch_size,), generator=rng)]
        f = fake[torch.randint(len(fake), (batch_size,), generator=rng)]
        out = critic_objective(loss, critic, r, f, torch.rand(batch_size, generator=rng), gp_weight)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        if loss == "wgan_clip":
            clip_weights(critic, clip)
        bar.update(1)
        if step % snapshot_every == 0 or step == steps:
            snapshot(step)
    bar.close()
    run.seconds = time.perf_counter() - t0
    return run
