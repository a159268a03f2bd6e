"""Training the toys: a generator against a critic (`train_toy_gan`) and a critic alone against fixed point
sets (`train_toy_critic`), with snapshots of what the chapters plot. On one CPU thread, seeded, deterministic."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import losses
from ..profiles import get_profile
from .cache import load_toy_run, save_toy_run, toy_run_path
from .nets import (check_loss, clip_weights, critic_gradient_norms, critic_objective, generator_gradient_norm,
                   generator_loss, mlp)

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


@dataclass
class ToyRun:
    """A trained toy GAN and what was recorded along the way.

    snapshot_steps: generator steps at which snapshots were taken (0 = before training).
    samples: one (n_samples, 2) array of G(z) per snapshot, always for the same fixed z.
    grad_norms: one (n_eval,) array per snapshot of ||grad D(x_hat)||_2 at interpolates x_hat between fixed
    real and fake points. history: per generator step, critic_loss and generator_loss (and wasserstein for
    WGAN losses). settings: every argument of the run. seconds: the training's wall time (measured when it
    trained, also for a run read back from the cache).
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


def _run_steps(steps: int, snapshot_every: int, step: Callable[[], None], snapshot: Callable[[int], None],
               desc: str, progress: bool) -> float:
    """snapshot(0), then `steps` calls of step() with snapshot(k) after every `snapshot_every`-th and after the
    last; returns the seconds taken."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    snapshot(0)
    with tqdm(total=steps, desc=desc, disable=not progress, leave=False, mininterval=0.5) as bar:
        for k in range(1, steps + 1):
            step()
            bar.update(1)
            if k % snapshot_every == 0 or k == steps:
                snapshot(k)
    return time.perf_counter() - t0


@one_thread()
def train_toy_gan(data: torch.Tensor, loss: str = "wgan_gp", steps: int | None = None, n_critic: int | None = None,
                  clip: float = 0.01, gp_weight: float = 10.0, lr: float | None = None, betas=None,
                  batch_size: int = 256, latent_dim: int = 2, hidden: int = 64, depth: int = 3,
                  critic_hidden: int | None = None, critic_depth: int | None = None, critic_lr: float | None = None,
                  seed: int = 0, snapshot_every: int | None = None, n_samples: int = 512, n_eval: int = 512,
                  progress: bool = False, cache: bool = True) -> ToyRun:
    """Train an MLP generator (latent_dim -> 2) against an MLP critic (2 -> 1) on points `data` (N, 2).

    steps: generator steps (default: `default_steps("gan")` for the active profile). Each generator step
    follows n_critic critic steps (default 1 for the GAN losses, 5 for WGAN), each on a fresh real batch
    and fresh z ~ N(0, I). Adam with lr (default 1e-3) and betas (default (0.5, 0.999) for GAN losses,
    (0.5, 0.9) for WGAN); clip is used by wgan_clip, gp_weight by wgan_gp. The generator has `depth` hidden
    layers of width `hidden`; the critic the same unless critic_hidden / critic_depth are given, and it
    learns at critic_lr (default: lr).
    snapshot_every: generator steps between snapshots (default: steps // 4).
    cache: read the run from the run cache (GANAD_RUNS, under toy/) when these settings and points were
    trained before, and keep it there if not; False trains every time.
    """
    check_loss(loss)
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
    path = toy_run_path("gan", {**settings, "n_samples": n_samples, "n_eval": n_eval}, data) if cache else None
    if path is not None and path.is_file() and (kept := load_toy_run(path, ToyRun)) is not None:
        return kept

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

    def step() -> None:  # n_critic critic steps, then one generator step
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

    run.seconds = _run_steps(steps, snapshot_every, step, snapshot, f"toy {loss}", progress)
    if path is not None:
        save_toy_run(path, run)
    return run


@dataclass
class ToyCriticRun:
    """A critic trained alone against fixed real and fake point sets (N, d).

    snapshot_steps: critic steps of the snapshots (0 = untrained). At each snapshot: critic_loss (on fixed
    evaluation points), grad_norms ((n_eval,) ||grad D|| at interpolates), and generator_grad: for each
    generator loss ("saturating", "non_saturating", "wasserstein" = -D), the mean over fake points of
    ||d loss_G / d x_fake||_2 -- how strong a push a generator would get from this critic. seconds: as in
    ToyRun.
    """

    loss: str
    critic: nn.Module
    snapshot_steps: list[int] = field(default_factory=list)
    critic_loss: list[float] = field(default_factory=list)
    grad_norms: list[np.ndarray] = field(default_factory=list)
    generator_grad: dict[str, list[float]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0


@one_thread()
def train_toy_critic(real: torch.Tensor, fake: torch.Tensor, loss: str = "wgan_gp", steps: int | None = None,
                     clip: float = 0.01, gp_weight: float = 10.0, lr: float = 2e-3, betas=(0.5, 0.9),
                     batch_size: int = 256, hidden: int = 64, depth: int = 3, seed: int = 0,
                     snapshot_every: int | None = None, n_eval: int = 512, progress: bool = False,
                     cache: bool = True) -> ToyCriticRun:
    """Train a critic (d -> 1 MLP) to separate fixed real points (N, d) from fixed fake points (M, d).

    This is the inner maximisation of each game with the generator frozen: the critic's optimum is what
    the generator would learn from. loss picks the critic's objective (the two GAN losses share the
    cross-entropy discriminator). steps default: `default_steps("critic")` for the active profile.
    cache: as in `train_toy_gan`.
    """
    check_loss(loss)
    real, fake = torch.as_tensor(real, dtype=torch.float32), torch.as_tensor(fake, dtype=torch.float32)
    for name, pts in (("real", real), ("fake", fake)):
        if pts.dim() != 2 or pts.shape[1] != real.shape[1] or len(pts) < 1:
            raise ValueError(f"{name} must be points of shape (N, {real.shape[1]}), got {tuple(pts.shape)}")
    steps = default_steps("critic") if steps is None else int(steps)
    snapshot_every = max(1, steps // 10) if snapshot_every is None else int(snapshot_every)
    settings = dict(loss=loss, steps=steps, clip=clip, gp_weight=gp_weight, lr=lr, betas=tuple(betas),
                    batch_size=batch_size, hidden=hidden, depth=depth, seed=seed, profile=get_profile().name)
    path = toy_run_path("critic", {**settings, "snapshot_every": snapshot_every, "n_eval": n_eval}, real, fake
                        ) if cache else None
    if path is not None and path.is_file() and (kept := load_toy_run(path, ToyCriticRun)) is not None:
        return kept
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

    def step() -> None:
        r = real[torch.randint(len(real), (batch_size,), generator=rng)]
        f = fake[torch.randint(len(fake), (batch_size,), generator=rng)]
        out = critic_objective(loss, critic, r, f, torch.rand(batch_size, generator=rng), gp_weight)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        if loss == "wgan_clip":
            clip_weights(critic, clip)

    run.seconds = _run_steps(steps, snapshot_every, step, snapshot, f"critic {loss}", progress)
    if path is not None:
        save_toy_run(path, run)
    return run
