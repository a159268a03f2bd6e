"""One generator step of WGAN-GP + encoder training on a set of G, D, E (Gulrajani et al. 2017, Algorithm 1).

`GanSteps` holds the three models and their two Adam optimizers and takes the two updates: a critic step
(losses.critic_loss, with the gradient penalty) and a joint generator + encoder step (losses.generator_losses).
`train_step` is one generator step: n_critic critic steps, then the generator step. Every piece is a public
hook: where z and eps come from (`sample_z`, `sample_eps`), how a real batch enters (`prepare`,
`critic_augment`) and how the losses are run (`critic_loss`, `generator_loss`). `training.Trainer` draws
from one seeded stream; parallel.py's stack of K models draws from each model's trainer and takes every
loss per model (`groups`); distributed.py runs the two losses inside DistributedDataParallel.
"""
from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .config import TrainConfig
from .device import cpu_has_bf16
from .losses import critic_loss, generator_losses, identity


class GanSteps(abc.ABC):
    """G, D, E, their two Adam optimizers and the two updates of a generator step (critic, generator + encoder).

    Subclasses say where the random draws come from (`sample_z`, `sample_eps`): `Trainer` from its own
    seeded stream, the lockstep stack in parallel.py from each stacked model's trainer.
    """

    groups: int | None = None  # K models stacked along the channel axis (parallel.py); None: one model
    loss_names = ("critic_loss", "wasserstein", "penalty", "generator_loss", "encoder_loss")  # train_step's

    def __init__(self, config: TrainConfig, device: torch.device, generator: nn.Module, critic: nn.Module,
                 encoder: nn.Module):
        self.config, self.device = config, device
        self.generator, self.critic, self.encoder = generator, critic, encoder
        if self.channels_last:
            for m in self.models.values():
                m.to(memory_format=torch.channels_last)
        c = config
        self.opt_d = torch.optim.Adam(critic.parameters(), lr=c.lr, betas=c.betas)
        self.opt_g = torch.optim.Adam([*generator.parameters(), *encoder.parameters()], lr=c.lr, betas=c.betas)
        self.critic_augment: Callable[[torch.Tensor], torch.Tensor] = identity  # applied to real and fake alike
        self._compiled: dict[str, nn.Module] = {}  # torch.compile'd forwards, see compile()

    @property
    def models(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "critic": self.critic, "encoder": self.encoder}

    @property
    def channels_last(self) -> bool:
        """Channels-last memory format: where config.channels_last asks for it, on CUDA only (on CPU it brought no
        consistent gain; benchmarks/bench_training.py measures both)."""
        return self.config.channels_last and self.device.type == "cuda"

    def compile(self, **compile_kwargs) -> "GanSteps":
        """torch.compile the forwards that need no double backward (off unless called): G and E everywhere, and
        the critic in the generator step, where its weights are frozen. The critic step's critic stays eager:
        compiled (AOTAutograd) graphs do not support the gradient penalty's double backward. The compiled
        modules share weights with the eager ones, so optimizers and checkpoints are unchanged.
        compile_kwargs go to torch.compile (e.g. mode="max-autotune-no-cudagraphs", backend="aot_eager")."""
        self._compiled = {name: torch.compile(m, **compile_kwargs) for name, m in self.models.items()}
        return self

    def _forward(self, name: str) -> nn.Module:
        compiled = self._compiled.get(name)
        return compiled if compiled is not None else self.models[name]

    def autocast(self):
        """bf16 autocast where config.amp asks for it and the hardware runs bf16 natively (CUDA, and CPUs with
        AVX512-BF16 or AMX; emulated bf16 would be slower than fp32); elsewhere a no-op context."""
        if self.config.amp and (self.device.type == "cuda" or (self.device.type == "cpu" and cpu_has_bf16())):
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of training images as the critic takes them: uint8 -> float in [0, 1], channels-last if used."""
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @abc.abstractmethod
    def sample_z(self, n: int) -> torch.Tensor:
        """n latent codes z ~ N(0, I), (n, latent_dim) (K models: (n, K * latent_dim))."""

    @abc.abstractmethod
    def sample_eps(self, n: int) -> torch.Tensor:
        """n interpolation weights eps ~ U[0, 1), (n,) (K models: (n, K))."""

    # -- the two losses and the two updates -----------------------------------------------------------------
    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """losses.critic_loss of this critic (hook: DistributedTrainer runs it inside DistributedDataParallel)."""
        return critic_loss(self.critic, real, fake, eps, self.config.gp_weight, self.groups, self.critic_augment)

    def generator_loss(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """losses.generator_losses of these models on latents z (hook, like critic_loss)."""
        weight = 0.0 if self.config.encoder_mode == "izif" else self.config.encoder_weight  # f-AnoGAN: a plain GAN
        return generator_losses(self._forward("generator"), self._forward("critic"), self._forward("encoder"), z,
                                weight, self.groups, self.critic_augment)

    def critic_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One critic update on a real batch (float, on the device), with fresh z and eps. Returns detached losses."""
        n = real.shape[0]
        z, eps = self.sample_z(n), self.sample_eps(n)
        with self.autocast():
            with torch.no_grad():
                fake = self._forward("generator")(z)
            out = self.critic_loss(real, fake, eps)
        self.opt_d.zero_grad(set_to_none=True)
        out["loss"].sum().backward()  # a sum over stacked models: model k's weights see only model k's loss
        self.opt_d.step()
        return {k: v.detach() for k, v in out.items()}

    def generator_step(self, n: int) -> dict[str, torch.Tensor]:
        """One joint generator + encoder update on n fresh z. The critic's weights get no gradients."""
        z = self.sample_z(n)
        self.critic.requires_grad_(False)
        try:
            with self.autocast():
                out = self.generator_loss(z)
            self.opt_g.zero_grad(set_to_none=True)
            out["loss"].sum().backward()
            self.opt_g.step()
        finally:
            self.critic.requires_grad_(True)
        return {k: v.detach() for k, v in out.items()}

    def train_step(self, reals: Iterable[torch.Tensor]) -> torch.Tensor:
        """One generator step: a critic step on each real batch (n_critic of them), then a generator step.

        Returns the losses in the order of `loss_names`: (5,), or (K, 5) for K stacked models.
        """
        for real in reals:
            d = self.critic_step(real)
        g = self.generator_step(self.config.batch_size)
        return torch.stack([d["loss"], d["wasserstein"], d["penalty"], g["adversarial"], g["encoder"]], -1).float()
