"""The WGAN-GP training loop with a jointly trained encoder (Gulrajani et al. 2017, Algorithm 1; Berg et al. 2020).

One generator step = `n_critic` critic steps, each on a fresh real batch and fresh z, then one joint
generator + encoder step on fresh z (steps.py). One epoch = one pass of the training images through the critic.
The images live on the device as one uint8 tensor and batches are taken by indexing; losses stay on
the device and are read back every `log_every` generator steps (the only host synchronisation).

`Trainer.train` is the one epoch loop, built from public hooks that the other trainers reuse:
  draws       `epoch_batches` (the epoch's batch indices), `sample_z`, `sample_eps`;
  steps       `train_step` and the hooks under it (steps.GanSteps: `prepare`, `critic_augment`, `critic_loss`,
              `generator_loss`, `critic_step`, `generator_step`);
  bookkeeping `record_step` (history), `end_epoch` (epoch_log), `reduce_losses`, `writes_checkpoints`.
parallel.py trains K trainers in lockstep with these hooks; distributed.py overrides the draws and the losses.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig, generator_steps_per_epoch
from .device import pick_device
from .augment import DiffAugment
from .images import check_images
from .models import build_critic, build_encoder, build_generator
from .steps import GanSteps


STOP_SIGNALS = ("SIGINT", "SIGTERM")  # Ctrl-C, and what `kill` and job schedulers send


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@contextlib.contextmanager
def stop_at_step_end(trainer: "Trainer") -> Iterator[None]:
    """While `trainer` trains: SIGINT and SIGTERM raise KeyboardInterrupt once the generator step in progress
    is done (a second signal at once), so the checkpoint written on the way out holds whole steps only.

    Main thread only (Python sets signal handlers nowhere else); the previous handlers come back afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        name = signal.Signals(signum).name
        if trainer._in_step and trainer._stop_signal is None:
            trainer._stop_signal = name  # honoured at the end of the step
            return
        raise KeyboardInterrupt(name)

    previous = {sig: signal.signal(sig, handler) for sig in (getattr(signal, n) for n in STOP_SIGNALS)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)


class Trainer(GanSteps):
    """Holds G, D, E, their optimisers, the random stream and the history of one training run."""

    def __init__(self, config: TrainConfig, device=None):
        device = pick_device(device)
        torch.manual_seed(config.seed)  # weight initialisation
        c = config
        super().__init__(config, device, build_generator(c.image_shape, c.latent_dim, c.ngf, c.init,
                                                         c.generator_activation, c.latent_norm).to(device),
                         build_critic(c.image_shape, c.ndf, c.init).to(device),
                         build_encoder(c.image_shape, c.latent_dim, c.ndf, c.init).to(device))
        self.rng = torch.Generator(device=self.device).manual_seed(c.seed + 1)  # batches, z and eps
        if c.augment:  # DiffAugment of every critic input, drawn from the run's stream (so resume stays exact)
            augment = DiffAugment(c.augment)
            self.critic_augment = lambda x: augment(x, generator=self.rng)
        self.epoch = 0            # completed epochs
        self.step = 0             # completed generator steps
        self.history: list[dict] = []
        self.epoch_log: list[dict] = []
        self.train_seconds = 0.0
        self._perm: torch.Tensor | None = None  # batch indices of the epoch in progress, see epoch_batches
        self._pos = 0                            # generator steps done in that epoch
        self._loss_sum, self._n_summed = None, 0  # losses of the steps since the last history entry
        self._saved_epoch = 0                    # epoch of the last checkpoint written
        self._checkpoint_path: str | Path | None = None  # where the running train() writes checkpoints
        self._in_step = False                    # inside a generator step: the state is not a whole step
        self._stop_signal: str | None = None     # a SIGINT / SIGTERM waiting for the step to end
        if c.compile:
            self.compile()

    # -- draws from the run's one random stream -------------------------------------------------------------
    def sample_z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=self.rng)

    def sample_eps(self, n: int) -> torch.Tensor:
        return torch.rand(n, device=self.device, generator=self.rng)

    def steps_per_epoch(self, n_images: int) -> int:
        """Generator steps per epoch: one pass of n_images through the critic, at least one step."""
        return generator_steps_per_epoch(n_images, self.config.batch_size, self.config.n_critic)

    def epoch_batches(self, n_images: int) -> torch.Tensor:
        """The batch indices (steps, n_critic, batch) of the epoch in progress: shuffled passes over the n_images,
        concatenated as needed. Drawn at the epoch's first call, then kept (and checkpointed) until `end_epoch`."""
        if self._perm is None:
            c = self.config
            steps = self.steps_per_epoch(n_images)
            need = steps * c.n_critic * c.batch_size
            perms = [torch.randperm(n_images, device=self.device, generator=self.rng)
                     for _ in range(math.ceil(need / n_images))]
            self._perm, self._pos = torch.cat(perms)[:need].view(steps, c.n_critic, c.batch_size), 0
        return self._perm

    @property
    def epoch_step(self) -> int:
        """Generator steps done in the epoch in progress (0 between epochs)."""
        return self._pos

    def training_data(self, images, name: str = "training images") -> torch.Tensor:
        """Checked training images on the device: uint8 stays uint8 (1 byte per pixel), floats become float32."""
        images = check_images(images, self.config.image_shape, name)
        if images.shape[0] < 2:
            raise ValueError(f"{name}: training needs at least 2 images, got {images.shape[0]}")
        data = images.to(self.device)
        return data if data.dtype == torch.uint8 else data.float()

    # -- bookkeeping ----------------------------------------------------------------------------------------
    def reduce_losses(self, means: torch.Tensor) -> torch.Tensor:
        """The mean losses to log, from this process's (hook: DistributedTrainer averages over processes)."""
        return means

    def record_step(self, losses: torch.Tensor) -> dict | None:
        """Count one generator step of the epoch planned by `epoch_batches`, with its losses (loss_names order).

        Every `log_every` steps and at the epoch's last step the mean losses go to `history` (a host sync);
        returns that entry, or None. Raises TrainingDiverged if a logged loss is not finite.
        """
        self._loss_sum = torch.zeros_like(losses) if self._n_summed == 0 else self._loss_sum
        self._loss_sum += losses
        self._n_summed += 1
        self._pos += 1
        self.step += 1
        steps = self._perm.shape[0]
        if self._n_summed < self.config.log_every and self._pos < steps:
            return None
        values = self.reduce_losses(self._loss_sum / self._n_summed).tolist()
        self._n_summed = 0
        if not all(math.isfinite(v) for v in values):
            bad = [k for k, v in zip(self.loss_names, values) if not math.isfinite(v)]
            kept = f"the last good checkpoint {self._checkpoint_path} (epoch {self._saved_epoch}) is kept" \
                if self._checkpoint_path else "no checkpoint was being written"
            raise TrainingDiverged(
                f"non-finite {', '.join(bad)} at generator step {self.step} (epoch {self.epoch + 1}, seed "
                f"{self.config.seed}); {kept}. Lower lr, check the inputs lie in [0, 1], or keep gp_weight at 10.")
        entry = {"epoch": round(self.epoch + self._pos / steps, 4), "step": self.step,
                 **{k: round(v, 6) for k, v in zip(self.loss_names, values)}}
        self.history.append(entry)
        return entry

    def end_epoch(self) -> dict:
        """Close the epoch whose steps are all recorded: count it and append its record to `epoch_log`
        (epoch, step, seconds; the caller may add to the returned record, e.g. validation AUROCs)."""
        self.epoch += 1
        self._perm, self._pos = None, 0
        self.epoch_log.append({"epoch": self.epoch, "step": self.step, "seconds": round(self.train_seconds, 3)})
        return self.epoch_log[-1]

    # -- the epoch loop -------------------------------------------------------------------------------------
    def train(self, images, epochs: int | None = None, *, checkpoint_path: str | Path | None = None,
              on_epoch_end: Callable[["Trainer"], dict] | None = None, progress: bool = True,
              checkpoint_every_s: float = 300.0) -> "Trainer":
        """Train until `epochs` epochs are complete (default: config.epochs), resuming where the state stands.

        images: uint8 (N, C, H, W) or float in [0, 1], normal images only. on_epoch_end(trainer) runs after
        every epoch and returns entries for that epoch's record (e.g. a validation AUROC; it must leave the
        weights and the random stream alone). A checkpoint is written atomically after every epoch and every
        `checkpoint_every_s` seconds. Ctrl-C (SIGINT) or SIGTERM stops training once the generator step in
        progress is done, writes a checkpoint and raises KeyboardInterrupt, so the run resumes exactly where it
        stopped (a KeyboardInterrupt raised inside a step leaves the last checkpoint as it was).
        """
        from tqdm.auto import tqdm

        epochs = self.config.epochs if epochs is None else epochs
        data = self.training_data(images)
        self._checkpoint_path = checkpoint_path
        self._in_step, self._stop_signal = False, None
        for m in self.models.values():
            m.train()
        last_save = time.monotonic()
        bar = None
        try:
            with stop_at_step_end(self):
                while self.epoch < epochs:
                    batches = self.epoch_batches(data.shape[0])  # (steps, n_critic, batch)
                    steps = batches.shape[0]
                    bar = tqdm(total=steps, initial=self.epoch_step, desc=f"epoch {self.epoch + 1}/{epochs}",
                               disable=not progress, leave=False, unit="G-step")
                    while self.epoch_step < steps:
                        t0 = time.perf_counter()
                        self._in_step = True
                        reals = (self.prepare(data[i]) for i in batches[self.epoch_step])  # n_critic batches
                        entry = self.record_step(self.train_step(reals))
                        self._in_step = False
                        self.train_seconds += time.perf_counter() - t0
                        bar.update(1)
                        if self._stop_signal:
                            raise KeyboardInterrupt(self._stop_signal)
                        if entry is not None:
                            bar.set_postfix(W=f"{entry['wasserstein']:.3f}", gp=f"{entry['penalty']:.3f}",
                                            enc=f"{entry['encoder_loss']:.4f}")
                            if checkpoint_path and time.monotonic() - last_save > checkpoint_every_s and \
                                    self.epoch_step < steps:
                                self.save(checkpoint_path)
                                last_save = time.monotonic()
                    bar.close()
                    bar = None
                    record = self.end_epoch()
                    if on_epoch_end is not None:
                        record.update(on_epoch_end(self))
                        for m in self.models.values():
                            m.train()
                    if checkpoint_path:
                        self.save(checkpoint_path)
                        last_save = time.monotonic()
        except KeyboardInterrupt:
            if checkpoint_path and not self._in_step:
                self.save(checkpoint_path)  # whole steps only, so the run resumes exactly here
            raise
        finally:
            if bar is not None:
                bar.close()
        for m in self.models.values():
            m.eval()
        return self

    # -- checkpoints ----------------------------------------------------------------------------------------
    @property
    def writes_checkpoints(self) -> bool:
        """Whether `save` writes files (DistributedTrainer: rank 0 only)."""
        return True

    def state_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "models": {k: m.state_dict() for k, m in self.models.items()},
            "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(),
            "rng": self.rng.get_state(), "rng_device": self.device.type,
            "epoch": self.epoch, "step": self.step, "train_seconds": self.train_seconds,
            "history": self.history, "epoch_log": self.epoch_log,
            "perm": None if self._perm is None else self._perm.cpu(), "pos": self._pos,
            # losses of the steps since the last history entry (nonzero only in a checkpoint written on a stop)
            "loss_sum": None if self._n_summed == 0 else self._loss_sum.cpu(), "n_summed": self._n_summed,
        }

    def save(self, path: str | Path) -> Path:
        self._saved_epoch = self.epoch
        return save_checkpoint(self.state_dict(), path) if self.writes_checkpoints else Path(path)

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
        loss_sum = state.get("loss_sum")
        self._loss_sum = None if loss_sum is None else loss_sum.to(self.device)
        self._n_summed = 0 if loss_sum is None else int(state.get("n_summed", 0))
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
