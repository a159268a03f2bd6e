"""Every hyper-parameter of a training run, in one dataclass, with the thesis defaults."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

INITS = ("he", "torch")  # weight initialisation schemes: He et al., or PyTorch's layer defaults


@dataclass
class TrainConfig:
    """WGAN-GP + encoder training settings (defaults: the thesis and Gulrajani et al. 2017).

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
    amp: bool = False               # bf16 autocast (CUDA, and CPUs with native bf16)
    channels_last: bool = False     # channels-last memory format (CUDA only)
    compile: bool = False           # torch.compile the forwards without double backward (Trainer.compile)
    log_every: int = 20             # generator steps between reads of the losses (the only host syncs)

    def __post_init__(self):
        self.image_shape = tuple(int(s) for s in self.image_shape)
        self.betas = tuple(float(b) for b in self.betas)
        for name in ("latent_dim", "ngf", "ndf", "epochs", "batch_size", "n_critic", "log_every"):
            if int(getattr(self, name)) < (0 if name == "epochs" else 1):
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.init not in INITS:
            raise ValueError(f"TrainConfig.init must be 'he' or 'torch', got {self.init!r}")
        if self.gp_weight < 0 or self.lr <= 0:
            raise ValueError(f"TrainConfig: gp_weight must be >= 0 and lr > 0 (got {self.gp_weight}, {self.lr})")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["image_shape"], d["betas"] = list(self.image_shape), list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}; known fields: {sorted(known)}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def model_key(self) -> str:
        """Short hash of every setting that shapes the trained weights (all but `log_every` and `compile`)."""
        d = self.to_dict()
        d.pop("log_every")
        d.pop("compile")
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
