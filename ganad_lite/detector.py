"""`GANAD`: the scikit-learn-like face of the package (fit, score, save, load), on the run cache of runcache.py."""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .defects import defect_validation_set
from .device import hardware_info
from .images import check_images
from .izif import fit_encoder_izif
from .metrics import auroc
from .models import build_encoder
from .profiles import Profile, get_profile
from .runcache import (check_cache_folder, check_cached_config, data_fingerprint, default_cache_dir, make_run_folder,
                       recorded_hardware, write_json)
from .scoring import Scores, Standardizer, score_images
from .training import Trainer


def validation_auroc(images, labels) -> Callable[[Trainer], dict]:
    """The per-epoch validation record for `Trainer.train(on_epoch_end=...)`: AUROC of each score term on
    labelled images (labels 1 = anomaly), scored with the encoder after every epoch."""
    images = check_images(images, name="validation images")

    def record(trainer: Trainer) -> dict:
        s = score_images(trainer.generator, trainer.encoder, images, device=trainer.device, keep_maps=False)
        return {"val_auroc_residual": auroc(labels, s.residual), "val_auroc_origin": auroc(labels, s.origin)}

    return record


def defect_selection(generator, critic, normal_images, seed: int = 0, kappa: float = 1.0
                     ) -> Callable[[nn.Module], float]:
    """The izif encoder's checkpoint choice without test labels: AUROC of f-AnoGAN's score on held-out normal
    images, half of them with planted synthetic defects (defects.defect_validation_set)."""
    images, labels, _ = defect_validation_set(normal_images, seed)
    labels = labels.cpu().numpy()

    def select(encoder: nn.Module) -> float:
        s = score_images(generator, encoder, images, keep_maps=False, critic=critic)
        return auroc(labels, s.izif_score(kappa))

    return select


class GANAD:
    """WGAN-GP generator and critic plus a jointly trained encoder, for one class of normal images.

    >>> det = GANAD(epochs=2).fit(train_images)          # uint8 (N, C, H, W) or float in [0, 1]
    >>> det.fit_standardizer(heldout_normal_images)     # statistics for the standardised score
    >>> s = det.score_terms(test_images)                       # Scores: residual, origin, maps, ...
    >>> s.anomaly_score(weight=0.05)                             # lambda * L_n + (1 - lambda) * L_o
    """

    def __init__(self, config: TrainConfig | None = None, *, device=None, cache_dir: str | Path | None | bool = None,
                 progress: bool = True, **overrides):
        self.config = (config or TrainConfig()).replace(**overrides) if overrides else (config or TrainConfig())
        self.device = device
        self.cache_dir = None if cache_dir is False else Path(cache_dir) if cache_dir else default_cache_dir()
        self.progress = progress
        self.trainer: Trainer | None = None
        self.standardizer: Standardizer | None = None
        self.run_dir: Path | None = None
        self.loaded_from_cache = False
        self.train_hardware: dict | None = None  # hardware_info() of what trained the GAN (from run.json when cached)
        self.profile: str | None = None
        self.encoders: dict[str, nn.Module] = {}  # encoder mode -> E: the joint one ("berg") and refined ones

    @classmethod
    def from_profile(cls, data, experiment: str, profile: str | Profile | None = None, seed: int = 0,
                     **kwargs) -> "GANAD":
        """A detector whose budget (width, epochs, batch, lr) comes from a profile's row for `experiment`.

        data: the Split it will be fitted on (its image shape, and its training-set size, which raises the
        epochs of a small set to the profile's floor in generator steps), or an image shape (C, H, W).
        """
        p = get_profile(profile)
        image_shape, n_train = (data.image_shape, len(data.train)) if hasattr(data, "train") else (data, None)
        config = TrainConfig(image_shape=tuple(image_shape), ngf=p.width, ndf=p.width,
                             epochs=p.epochs_for(experiment, n_train),
                             batch_size=p.batch_size, lr=p.lr, seed=seed, izif_steps=p.izif_steps)
        det = cls(config, **kwargs)
        det.profile = p.name
        return det

    # -- training ------------------------------------------------------------------------------------
    def fit(self, images, *, validation=None, normal=None) -> "GANAD":
        """Train on normal images (N, C, H, W), or load the cached run with the same config and data.

        validation: optional (images, labels) scored after each epoch for a validation-AUROC curve.
        normal: optional held-out normal images for the standardised score (see `fit_standardizer`).
        An interrupted fit resumes from its last checkpoint when called again. A cached run is used only if its
        checkpoint was trained with this config (CheckpointError otherwise). config.epochs must be >= 1.
        """
        if self.config.epochs < 1:
            raise ConfigError(f"GANAD.fit needs epochs >= 1, got epochs={self.config.epochs}: an untrained detector "
                              "would score with random weights; pass epochs=1 or more, or GANAD.load a trained one")
        images = check_images(images, name="training images")
        if tuple(images.shape[1:]) != self.config.image_shape:
            self.config = self.config.replace(image_shape=tuple(images.shape[1:]))
        ckpt = None
        if self.cache_dir is not None:
            check_cache_folder(self.cache_dir)
            self.run_dir = self.run_folder(images)
            ckpt = self.run_dir / "checkpoint.pt"
        if ckpt is not None and ckpt.exists():
            try:
                self.trainer = Trainer.from_checkpoint(ckpt, self.device, log_every=self.config.log_every)
            except CheckpointError as err:
                raise CheckpointError(f"{err} (cached run folder: {self.run_dir})") from err
            check_cached_config(self.trainer.config, self.config, self.run_dir)
        else:
            self.trainer = Trainer(self.config, self.device)
        self.loaded_from_cache = self.trainer.epoch >= self.config.epochs
        if self.loaded_from_cache:  # say what trained it, not what reads it
            self.train_hardware = recorded_hardware(self.run_dir)
        else:
            if self.run_dir is not None:
                make_run_folder(self.run_dir)
                write_json(self.run_dir / "config.json", self.config.to_dict())
            t0 = time.perf_counter()
            on_epoch_end = None if validation is None else validation_auroc(*validation)
            self.trainer.train(images, checkpoint_path=ckpt, on_epoch_end=on_epoch_end, progress=self.progress)
            self.train_hardware = hardware_info(self.trainer.device)
            if self.run_dir is not None:
                write_json(self.run_dir / "history.json", {"history": self.trainer.history, "epochs": self.trainer.epoch_log})
                write_json(self.run_dir / "run.json", {
                    "profile": self.profile, "hardware": self.train_hardware,
                    "seed": self.config.seed, "train_seconds": self.trainer.train_seconds,
                    "wall_seconds_this_call": time.perf_counter() - t0, "n_train": int(images.shape[0])})
        for m in self.trainer.models.values():
            m.eval()
        self.encoders = {"berg": self.trainer.encoder}
        if self.config.encoder_mode != "berg":
            self.refine_encoder(self.config.encoder_mode, images, normal)
        if normal is not None:
            self.fit_standardizer(normal)
        return self

    def run_folder(self, images: torch.Tensor) -> Path | None:
        """The run-cache folder of this config trained on `images` (checked, (N, C, H, W)); None without a cache."""
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{self.config.model_key()}-{data_fingerprint(images)}"

    def is_trained_in_cache(self, images) -> bool:
        """Whether the run cache holds a finished training of this config on `images` (its history is written
        when training ends), so that `fit` would load it instead of training."""
        images = check_images(images, name="training images")
        folder = self.run_folder(images) if tuple(images.shape[1:]) == self.config.image_shape else None
        return folder is not None and (folder / "history.json").exists() and (folder / "checkpoint.pt").exists()

    def refine_encoder(self, mode: str, images, normal=None) -> nn.Module:
        """An izif-trained encoder on the fitted GAN (cached in the run folder), kept in `encoders[mode]`.

        mode "izif" trains a fresh E, "berg+izif" fine-tunes a copy of the joint E, both on the real normal
        `images` with G and D frozen (izif.fit_encoder_izif, config.izif_steps steps). With held-out normal
        images `normal`, the checkpoint with the best AUROC on them plus planted synthetic defects is kept.
        """
        t = self._require_fitted()
        if mode == "berg":
            return t.encoder
        c = t.config.replace(encoder_mode=mode, izif_steps=self.config.izif_steps, izif_kappa=self.config.izif_kappa)
        if mode == "berg+izif":
            encoder = copy.deepcopy(t.encoder)
        else:
            torch.manual_seed(c.seed + 3)  # a fresh encoder's weights
            encoder = build_encoder(c.image_shape, c.latent_dim, c.ndf, c.init).to(t.device)
        tag = c.encoder_key() + ("" if normal is None else "-" + data_fingerprint(check_images(normal)))
        path = None if self.run_dir is None else self.run_dir / f"encoder-{mode}-{tag}.pt"
        if path is not None and path.exists():
            encoder.load_state_dict(load_checkpoint(path)["encoder"])
        else:
            select = None if normal is None else defect_selection(t.generator, t.critic, normal, c.seed, c.izif_kappa)
            rng = torch.Generator().manual_seed(c.seed + 3)
            history = fit_encoder_izif(t.generator, t.critic, encoder, images, steps=c.izif_steps,
                                       batch_size=min(64, len(images)), kappa=c.izif_kappa, rng=rng, select=select)
            if path is not None:
                save_checkpoint({"encoder": encoder.state_dict(), "history": history}, path)
        self.encoders[mode] = encoder.eval()
        return encoder

    def _require_fitted(self) -> Trainer:
        if self.trainer is None:
            raise RuntimeError("this detector is not trained: call fit(images) or GANAD.load(path) first")
        return self.trainer

    @property
    def generator(self):
        return self._require_fitted().generator

    @property
    def critic(self):
        return self._require_fitted().critic

    @property
    def encoder(self):
        """The encoder of config.encoder_mode (the joint one until a refined one exists)."""
        t = self._require_fitted()
        return self.encoders.get(self.config.encoder_mode, t.encoder)

    @property
    def history(self) -> list[dict]:
        """Loss records every `log_every` generator steps: epoch, step, critic_loss, wasserstein, penalty, ..."""
        return self._require_fitted().history

    @property
    def epoch_log(self) -> list[dict]:
        """One record per epoch: time and, when a validation set was given, validation AUROCs."""
        return self._require_fitted().epoch_log

    @property
    def train_seconds(self) -> float:
        return self._require_fitted().train_seconds

    # -- scoring -------------------------------------------------------------------------------------
    def score_terms(self, images, method: str = "encoder", encoder: str | None = None, **kwargs) -> Scores:
        """Score query images (N, C, H, W); see `scoring.score_images` for the methods and options.

        encoder: which encoder ("berg", "izif", "berg+izif"; default config.encoder_mode) maps Q to z_hat.
        The critic-feature residual is always computed; pass structural=True for the SSIM / gradient maps.
        """
        t = self._require_fitted()
        mode = encoder or self.config.encoder_mode
        if mode not in self.encoders and mode != "berg":
            raise ValueError(f"no {mode!r} encoder: fit with encoder_mode={mode!r} or call refine_encoder; "
                             f"available: {sorted(self.encoders) or ['berg']}")
        kwargs.setdefault("amp", self.config.amp)
        kwargs.setdefault("critic", t.critic)
        s = score_images(t.generator, self.encoders.get(mode, t.encoder), images, method=method, device=t.device,
                         **kwargs)
        s.standardizer = self.standardizer
        return s

    def fit_standardizer(self, normal_images, method: str = "encoder", **kwargs) -> Standardizer:
        """Fit the mean and std of L_n and L_o on held-out normal images (never test images)."""
        kwargs.setdefault("keep_maps", False)
        self.standardizer = Standardizer.fit(self.score_terms(normal_images, method=method, **kwargs))
        return self.standardizer

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the models, config, history and standardiser to one checkpoint file (atomically)."""
        state = self._require_fitted().state_dict()
        state["standardizer"] = None if self.standardizer is None else self.standardizer.as_dict()
        state["profile"] = self.profile
        state["encoders"] = {k: e.state_dict() for k, e in self.encoders.items() if k != "berg"}
        return save_checkpoint(state, path)

    @classmethod
    def load(cls, path: str | Path, device=None) -> "GANAD":
        """Load a detector saved with `save` (or a run folder's checkpoint.pt), with weights_only=True."""
        state = load_checkpoint(path)
        try:
            config = TrainConfig.from_dict(state["config"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} has no usable config ({err}); retrain") from err
        det = cls(config, device=device, cache_dir=False)
        det.trainer = Trainer(config, device).load_state_dict(state)
        for m in det.trainer.models.values():
            m.eval()
        det.encoders = {"berg": det.trainer.encoder}
        for mode, weights in (state.get("encoders") or {}).items():
            e = copy.deepcopy(det.trainer.encoder)
            try:
                e.load_state_dict(weights)
            except (RuntimeError, KeyError) as err:
                raise CheckpointError(f"checkpoint {path}: the {mode!r} encoder does not fit the model ({err})") from err
            det.encoders[mode] = e.eval()
        if state.get("standardizer"):
            try:
                det.standardizer = Standardizer.from_dict(state["standardizer"])
            except ValueError as err:
                raise CheckpointError(f"checkpoint {path}: unusable standardiser statistics ({err})") from err
        det.profile = state.get("profile")
        return det

    def __repr__(self) -> str:
        status = f"trained {self.trainer.epoch} epochs" if self.trainer else "not trained"
        return f"GANAD(image_shape={self.config.image_shape}, width={self.config.ngf}, {status})"

