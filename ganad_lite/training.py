"""The WGAN-GP training loop with a jointly trained encoder (Gulrajani et al. 2017, Algorithm 1; Berg et al. 2020).

One generator step = `n_critic` critic steps, each on a fresh real batch and fresh z, then one joint
generator + encoder step on fresh z. One epoch = one pass of the training images through the critic.
The images live on the device as one uint8 tensor and batches are taken by indexing; losses stay on
the device and are read back every `log_every` generator steps (the only host synchronisation).
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .device import pick_device
from .losses import critic_loss, generator_losses
from .models import build_critic, build_encoder, build_generator

LOSS_NAMES = ("critic_loss", "wasserstein", "penalty", "generator_loss", "encoder_loss")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 0..1; float images must already lie in [0, 1]. Shape is kept."""
    if images.dtype == torch.uint8:
        return images.float().div_(255)
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 (0..255) or float (0..1), got dtype {images.dtype}")
    return images.float()


def check_images(images, image_shape=None, name: str = "images") -> torch.Tensor:
    """Validate a batch of images (N, C, H, W): uint8 0..255 or float in [0, 1], finite, the expected shape."""
    if not isinstance(images, torch.Tensor):
        try:
            images = torch.as_tensor(images)
        except Exception as err:  # noqa: BLE001
            raise TypeError(f"{name} must be a tensor or array of shape (N, C, H, W), got {type(images).__name__}") from err
    if images.dim() == 3 and image_shape is not None and image_shape[0] == 1:
        raise ValueError(f"{name} has shape {tuple(images.shape)}: add the channel axis, e.g. images[:, None] -> (N, 1, H, W)")
    if images.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(images.shape)}")
    if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
        raise ValueError(f"{name} has shape {tuple(images.shape)}, which looks channels-last (N, H, W, C); "
                         "use images.permute(0, 3, 1, 2)")
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{name} have shape (C, H, W) = {tuple(images.shape[1:])} but the model expects "
                         f"{tuple(image_shape)}; resize or convert them (the data loaders take size and channels)")
    if images.shape[0] == 0:
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


def cpu_has_bf16() -> bool:
    """True if oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX); emulated bf16 would be slower."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class Trainer:
    """Holds G, D, E, their optimisers, the random stream and the history of one training run."""

    def __init__(self, config: TrainConfig, device=None):
        self.config = config
        self.device = pick_device(device)
        torch.manual_seed(config.seed)  # weight initialisation
        c = config
        self.generator = build_generator(c.image_shape, c.latent_dim, c.ngf, c.init).to(self.device)
        self.critic = build_critic(c.image_shape, c.ndf, c.init).to(self.device)
        self.encoder = build_encoder(c.image_shape, c.latent_dim, c.ndf, c.init).to(self.device)
        if self._channels_last:
            for m in self.models.values():
                m.to(memory_format=torch.channels_last)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=c.lr, betas=c.betas)
        self.opt_g = torch.optim.Adam([*self.generator.parameters(), *self.encoder.parameters()], lr=c.lr, betas=c.betas)
        self.rng = torch.Generator(device=self.device).manual_seed(c.seed + 1)  # batches, z and eps
        self.epoch = 0            # completed epochs
        self.step = 0             # completed generator steps
        self.history: list[dict] = []
        self.epoch_log: list[dict] = []
        self.train_seconds = 0.0
        self._perm: torch.Tensor | None = None  # batch indices of the epoch in progress
        self._pos = 0                            # generator steps done in that epoch
        self._saved_epoch = 0                    # epoch of the last checkpoint written
        self._compiled: dict[str, nn.Module] = {}  # torch.compile'd forwards, see compile()
        self.critic_loss_fn = critic_loss          # (critic, real, fake, eps, gp_weight) -> dict; benchmarks swap it
        if c.compile:
            self.compile()

    @property
    def models(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "critic": self.critic, "encoder": self.encoder}

    @property
    def _channels_last(self) -> bool:
        """Channels-last memory format: where asked for, on CUDA only (on CPU, benchmarks/bench_training.py found
        no consistent gain from it)."""
        return self.config.channels_last and self.device.type == "cuda"

    def compile(self, **compile_kwargs) -> "Trainer":
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

    # -- one step each -------------------------------------------------------------------------------
    def _autocast(self):
        """bf16 autocast where config.amp asks for it: on CUDA, and on CPUs with native bf16 (AVX512-BF16 / AMX),
        where benchmarks/bench_training.py measured 1.3x to 1.7x faster steps at width 64; elsewhere fp32."""
        if self.config.amp and (self.device.type == "cuda" or (self.device.type == "cpu" and cpu_has_bf16())):
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=self.rng)

    def critic_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One critic update on a real batch (float, on the device). Returns detached losses."""
        n = real.shape[0]
        z = self._z(n)
        eps = torch.rand(n, device=self.device, generator=self.rng)
        with self._autocast():
            with torch.no_grad():
                fake = self._forward("generator")(z)
            out = self.critic_loss_fn(self.critic, real, fake, eps, self.config.gp_weight)
        self.opt_d.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.opt_d.step()
        return {k: v.detach() for k, v in out.items()}

    def generator_step(self, n: int) -> dict[str, torch.Tensor]:
        """One joint generator + encoder update on fresh z. The critic's weights get no gradients."""
        self.critic.requires_grad_(False)
        try:
            with self._autocast():
                out = generator_losses(self._forward("generator"), self._forward("critic"), self._forward("encoder"),
                                       self._z(n))
                loss = out["adversarial"] + self.config.encoder_weight * out["encoder"]
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            self.critic.requires_grad_(True)
        return {"loss": loss.detach(), "adversarial": out["adversarial"].detach(), "encoder": out["encoder"].detach()}

    # -- epochs --------------------------------------------------------------------------------------
    def steps_per_epoch(self, n_images: int) -> int:
        """Generator steps per epoch: one pass of n_images through the critic, at least one step."""
        return max(1, round(n_images / (self.config.batch_size * self.config.n_critic)))

    def _epoch_indices(self, n_images: int) -> torch.Tensor:
        """(steps, n_critic, batch) indices: shuffled passes over the data, concatenated as needed."""
        c = self.config
        steps = self.steps_per_epoch(n_images)
        need = steps * c.n_critic * c.batch_size
        perms = [torch.randperm(n_images, device=self.device, generator=self.rng) for _ in range(math.ceil(need / n_images))]
        return torch.cat(perms)[:need].view(steps, c.n_critic, c.batch_size)

    def train(self, images: torch.Tensor, epochs: int | None = None, *, checkpoint_path: str | Path | None = None,
              validation: tuple[torch.Tensor, torch.Tensor] | None = None, progress: bool = True,
              checkpoint_every_s: float = 300.0) -> "Trainer":
        """Train until `epochs` epochs are complete (default: config.epochs), resuming where the state stands.

        images: uint8 (N, C, H, W) or float in [0, 1], normal images only. validation: (images, labels with
        1 = anomaly) scored with the encoder after every epoch to log a validation AUROC.
        A checkpoint is written atomically after every epoch, every `checkpoint_every_s` seconds and on
        Ctrl-C, so an interrupted run resumes with nothing lost.
        """
        from tqdm.auto import tqdm

        c = self.config
        epochs = c.epochs if epochs is None else epochs
        images = check_images(images, c.image_shape, "training images")
        if images.shape[0] < 2:
            raise ValueError(f"training needs at least 2 images, got {images.shape[0]}")
        data = images.to(self.device)  # uint8 on the device: 1 byte per pixel
        if data.dtype != torch.uint8:
            data = data.float()
        for m in self.models.values():
            m.train()
        last_save = time.monotonic()
        steps = self.steps_per_epoch(data.shape[0])
        bar = None
        try:
            while self.epoch < epochs:
                if self._perm is None:
                    self._perm, self._pos = self._epoch_indices(data.shape[0]), 0
                bar = tqdm(total=steps, initial=self._pos, desc=f"epoch {self.epoch + 1}/{epochs}",
                           disable=not progress, leave=False, unit="G-step")
                acc, n_acc, t0 = torch.zeros(len(LOSS_NAMES), device=self.device), 0, time.perf_counter()
                while self._pos < steps:
                    for idx in self._perm[self._pos]:
                        d = self.critic_step(self._prepare(data[idx]))
                    g = self.generator_step(c.batch_size)
                    acc += torch.stack([d["loss"], d["wasserstein"], d["penalty"], g["adversarial"], g["encoder"]]).float()
                    n_acc += 1
                    self._pos += 1
                    self.step += 1
                    bar.update(1)
                    if n_acc == c.log_every or self._pos == steps:
                        self._log(acc / n_acc, bar, checkpoint_path, steps)  # the one host sync
                        acc.zero_()
                        n_acc = 0
                        if checkpoint_path and time.monotonic() - last_save > checkpoint_every_s and self._pos < steps:
                            self.train_seconds += time.perf_counter() - t0
                            t0 = time.perf_counter()
                            self.save(checkpoint_path)
                            last_save = time.monotonic()
                bar.close()
                bar = None
                self.train_seconds += time.perf_counter() - t0
                self.epoch += 1
                self._perm, self._pos = None, 0
                entry = {"epoch": self.epoch, "step": self.step, "seconds": round(self.train_seconds, 3)}
                if validation is not None:
                    entry.update(self._validate(*validation))
                self.epoch_log.append(entry)
                if checkpoint_path:
                    self.save(checkpoint_path)
                    last_save = time.monotonic()
        finally:  # on Ctrl-C or an error the last checkpoint (epoch end or periodic) stands
            if bar is not None:
                bar.close()
        for m in self.models.values():
            m.eval()
        return self

    def _log(self, means: torch.Tensor, bar, checkpoint_path, steps: int) -> None:
        values = means.tolist()
        if not all(math.isfinite(v) for v in values):
            bad = [k for k, v in zip(LOSS_NAMES, values) if not math.isfinite(v)]
            kept = f"the last good checkpoint {checkpoint_path} (epoch {self._saved_epoch}) is kept" if checkpoint_path \
                else "no checkpoint was being written"
            raise TrainingDiverged(
                f"non-finite {', '.join(bad)} at generator step {self.step} (epoch {self.epoch + 1}); {kept}. "
                "Lower lr, check the inputs lie in [0, 1], or keep gp_weight at 10.")
        entry = {"epoch": round(self.epoch + self._pos / steps, 4), "step": self.step,
                 **{k: round(v, 6) for k, v in zip(LOSS_NAMES, values)}}
        self.history.append(entry)
        bar.set_postfix(W=f"{entry['wasserstein']:.3f}", gp=f"{entry['penalty']:.3f}", enc=f"{entry['encoder_loss']:.4f}")

    def _validate(self, images: torch.Tensor, labels) -> dict:
        from .metrics import auroc
        from .scoring import score_images

        s = score_images(self.generator, self.encoder, images, device=self.device, keep_maps=False)
        for m in self.models.values():
            m.train()
        return {"val_auroc_residual": auroc(labels, s.residual), "val_auroc_origin": auroc(labels, s.origin)}

    # -- checkpoints ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "models": {k: m.state_dict() for k, m in self.models.items()},
            "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(),
            "rng": self.rng.get_state(), "rng_device": self.device.type,
            "epoch": self.epoch, "step": self.step, "train_seconds": self.train_seconds,
            "history": self.history, "epoch_log": self.epoch_log,
            "perm": None if self._perm is None else self._perm.cpu(), "pos": self._pos,
        }

    def save(self, path: str | Path) -> Path:
        self._saved_epoch = self.epoch
        return save_checkpoint(self.state_dict(), path)

    def load_state_dict(self, state: dict) -> "Trainer":
        try:
            for k, m in self.models.items():
                m.load_state_dict(state["models"][k])
            if "opt_d" in state:
                self.opt_d.load_state_dict(state["opt_d"])
                self.opt_g.load_state_dict(state["opt_g"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"checkpoint does not fit this model ({type(err).__name__}: {err}); "
                                  "it was trained with another image_shape, width or latent size") from err
        if "rng" in state and state.get("rng_device") == self.device.type:
            self.rng.set_state(state["rng"])
        self.epoch, self.step = int(state.get("epoch", 0)), int(state.get("step", 0))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.history, self.epoch_log = list(state.get("history", [])), list(state.get("epoch_log", []))
        perm = state.get("perm")
        self._perm = None if perm is None else perm.to(self.device)
        self._pos = int(state.get("pos", 0))
        self._saved_epoch = self.epoch
        return self

    @classmethod
    def from_checkpoint(cls, path: str | Path, device=None, **overrides) -> "Trainer":
        """Rebuild a trainer from a checkpoint; `overrides` may change e.g. epochs (to train further) or log_every."""
        state = load_checkpoint(path, map_location="cpu")
        try:
            config = TrainConfig.from_dict({**state["config"], **overrides})
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} has no usable config ({err}); retrain") from err
        return cls(config, device).load_state_dict(state)
