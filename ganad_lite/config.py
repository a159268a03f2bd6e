"""Every hyper-parameter of a training run, in one dataclass, with the thesis defaults."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

INITS = ("he", "torch")  # weight initialisation schemes: He et al., or PyTorch's layer defaults
ENCODER_MODES = ("berg", "izif", "berg+izif")  # how E is trained: see TrainConfig.encoder_mode
ACTIVATIONS = ("relu", "leaky_relu")  # the generator's hidden nonlinearity: see TrainConfig.generator_activation
LATENT_NORMS = ("none", "pixel")      # what the generator does to z first: see TrainConfig.latent_norm
AUGMENTS = ("translation", "color", "cutout")   # DiffAugment operations for the critic's inputs
ENCODER_FIELDS = ("izif_steps", "izif_kappa")   # shape only the izif encoder, not the GAN


class ConfigError(ValueError):
    """A TrainConfig field has a bad type or value: the message names the field and the fix."""


def _integer(name: str, value, low: int, high: int | None = None) -> int:
    """value as a Python int in [low, high]; bools and non-integral numbers (2.5, 2.0, "2") are refused."""
    if isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"TrainConfig.{name} must be an integer, got {value!r}: pass a number, not True/False")
    if not isinstance(value, Integral):
        hint = f"e.g. {round(value)}" if isinstance(value, Real) and math.isfinite(value) else "an int"
        raise ConfigError(f"TrainConfig.{name} must be an integer, got {value!r} ({type(value).__name__}); "
                          f"pass a whole number ({hint})")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"TrainConfig.{name} must be an integer {bound}, got {value}")
    return int(value)


def _real(name: str, value, rule: str, low: float, open_low: bool = False, high: float | None = None) -> float:
    """value as a finite Python float in [low, high) (or (low, high) when open_low); bools are refused."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, Real) and math.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and (high is None or value < high)
    if not ok:
        raise ConfigError(f"TrainConfig.{name} must be a number, {rule}; got {value!r}")
    return float(value)


def _betas(value) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ConfigError(f"TrainConfig.betas must be two numbers (beta1, beta2), e.g. (0.0, 0.9); got {value!r}")
    return tuple(_real(f"betas[{i}]", b, "in [0, 1) (WGAN-GP uses (0.0, 0.9))", low=0.0, high=1.0)
                 for i, b in enumerate(value))


def _augment(value) -> tuple[str, ...]:
    """A tuple or list of DiffAugment operations, or one comma-separated string of them."""
    ops = tuple(a for a in value.split(",") if a) if isinstance(value, str) else value
    if not isinstance(ops, (tuple, list)) or not all(isinstance(a, str) and a in AUGMENTS for a in ops):
        raise ConfigError(f"TrainConfig.augment takes operations from {AUGMENTS}, as a tuple or one "
                          f"comma-separated string, e.g. ('translation', 'color'); got {value!r}")
    return tuple(ops)


def _image_shape(value) -> tuple[int, int, int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise ConfigError(f"TrainConfig.image_shape must be (C, H, W), e.g. (1, 28, 28); got {value!r}")
    c, h, w = (_integer(f"image_shape[{i}]", s, low=1) for i, s in enumerate(value))
    if c not in (1, 3):
        raise ConfigError(f"TrainConfig.image_shape {value!r}: C must be 1 (grey) or 3 (RGB); "
                          "convert the images (the data loaders take a channels argument)")
    return c, h, w


def generator_steps_per_epoch(n_images: int, batch_size: int, n_critic: int) -> int:
    """Generator steps in one epoch (one pass of n_images through the critic, n_critic batches a step), >= 1."""
    return max(1, round(n_images / (batch_size * n_critic)))


@dataclass
class TrainConfig:
    """WGAN-GP + encoder training settings (defaults: the thesis and Gulrajani et al. 2017).

    Every field is checked when the config is made (ConfigError, a ValueError, names the field and the fix):
    sizes are integers (not bools or floats), rates finite, betas in [0, 1), flags True or False.

    The source text uses lambda and alpha twice each; here the training ones are `gp_weight` and `lr`,
    and the scoring ones (`score_weight`, `threshold`) live with the scores, not here.
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W) of the training images
    latent_dim: int = 128           # N_z
    ngf: int = 64                   # generator width
    ndf: int = 64                   # critic and encoder width
    epochs: int = 32                # one epoch = one pass of the training images through the critic
    batch_size: int = 50            # m
    n_critic: int = 5               # critic updates per generator update
    gp_weight: float = 10.0         # gradient-penalty weight (the thesis's lambda = 10)
    lr: float = 1e-4                # Adam learning rate (the thesis's alpha = 1e-4)
    betas: tuple[float, float] = (0.0, 0.9)  # Adam (beta1, beta2) of WGAN-GP
    encoder_weight: float = 1.0     # weight of |G(z) - G(E(G(z)))|_1 in the joint G+E loss
    seed: int = 0                   # weights, batches, z and eps all follow from it
    init: str = "he"                # weight initialisation: "he" (He et al.) or "torch" (PyTorch's defaults)
    generator_activation: str = "relu"  # "relu" (the thesis) or "leaky_relu" (slope 0.2: no unit can die)
    latent_norm: str = "none"       # "none" (the thesis) or "pixel": G first scales z to unit RMS (ProGAN's pixel norm)
    amp: bool = False               # bf16 autocast (CUDA, and CPUs with native bf16)
    channels_last: bool = False     # channels-last memory format (CUDA only)
    compile: bool = False           # torch.compile the forwards without double backward (Trainer.compile)
    log_every: int = 20             # generator steps between reads of the losses (the only host syncs)
    encoder_mode: str = "berg"      # "berg": E joint with G on generated images (the thesis); "izif": E trained
                                    # on real images after the GAN, G and D frozen (f-AnoGAN); "berg+izif": both
    izif_steps: int = 500           # encoder steps on real images in the izif modes
    izif_kappa: float = 1.0         # weight of the critic-feature term of the izif loss
    augment: tuple[str, ...] = ()   # DiffAugment operations on every critic input, e.g. ("translation", "color")

    def __post_init__(self):
        self.image_shape = _image_shape(self.image_shape)
        for name in ("latent_dim", "ngf", "ndf", "batch_size", "n_critic", "log_every"):
            setattr(self, name, _integer(name, getattr(self, name), low=1))
        self.epochs = _integer("epochs", self.epochs, low=0)
        self.seed = _integer("seed", self.seed, low=0, high=2 ** 32 - 1)  # what every seeded generator accepts
        self.gp_weight = _real("gp_weight", self.gp_weight, "finite and >= 0 (the thesis uses 10)", low=0.0)
        self.lr = _real("lr", self.lr, "finite and > 0 (the thesis uses 1e-4)", low=0.0, open_low=True)
        self.encoder_weight = _real("encoder_weight", self.encoder_weight, "finite and >= 0 (default 1)", low=0.0)
        self.betas = _betas(self.betas)
        if not isinstance(self.init, str) or self.init not in INITS:
            raise ConfigError(f"TrainConfig.init must be 'he' or 'torch', got {self.init!r}")
        if not isinstance(self.generator_activation, str) or self.generator_activation not in ACTIVATIONS:
            raise ConfigError(f"TrainConfig.generator_activation must be one of {ACTIVATIONS}, "
                              f"got {self.generator_activation!r}")
        if not isinstance(self.latent_norm, str) or self.latent_norm not in LATENT_NORMS:
            raise ConfigError(f"TrainConfig.latent_norm must be one of {LATENT_NORMS}, got {self.latent_norm!r}")
        if self.encoder_mode not in ENCODER_MODES:
            raise ConfigError(f"TrainConfig.encoder_mode must be one of {ENCODER_MODES}, got {self.encoder_mode!r}")
        self.izif_steps = _integer("izif_steps", self.izif_steps, low=1)
        self.izif_kappa = _real("izif_kappa", self.izif_kappa, "finite and >= 0 (f-AnoGAN uses 1)", low=0.0)
        self.augment = _augment(self.augment)
        for name in ("amp", "channels_last", "compile"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"TrainConfig.{name} must be True or False, got {getattr(self, name)!r}")
            setattr(self, name, bool(getattr(self, name)))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["image_shape"], d["betas"], d["augment"] = list(self.image_shape), list(self.betas), list(self.augment)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"TrainConfig.from_dict needs a dict of fields, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown TrainConfig fields {sorted(unknown)}; known fields: {sorted(known)}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def model_key(self) -> str:
        """Short hash of every setting that shapes the GAN's weights (all but `log_every`, `compile` and the izif
        encoder's own settings; berg and berg+izif share one GAN). Settings at their defaults that older runs did
        not have are left out, so those runs keep their keys."""
        d = self.to_dict()
        for name in ("log_every", "compile", *ENCODER_FIELDS):
            d.pop(name)
        if d["encoder_mode"] != "izif":  # only izif drops the joint encoder term from the GAN's training
            d.pop("encoder_mode")
        if not d["augment"]:
            d.pop("augment")
        if d["generator_activation"] == "relu":
            d.pop("generator_activation")
        if d["latent_norm"] == "none":
            d.pop("latent_norm")
        return _hash(d)

    def encoder_key(self) -> str:
        """Short hash of the GAN and the izif encoder settings: the identity of a refined encoder."""
        return _hash({"gan": self.model_key(), "mode": self.encoder_mode,
                      **{name: getattr(self, name) for name in ENCODER_FIELDS}})


def _hash(d: dict) -> str:
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
