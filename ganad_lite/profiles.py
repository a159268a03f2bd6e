"""Compute budgets: `smoke` (CI), `cpu` (a laptop) and `full` (the thesis protocol, on a GPU).

The same code runs in all three; only budgets, subsets and, for `smoke` and `cpu`, network widths shrink.
`cpu` also halves the batch (25) and raises the learning rate (4e-4): with n_critic = 5 a generator step costs
five critic batches, so at a fixed number of epochs a smaller batch buys more generator steps (twice as many
at batch 25), and those, not images seen, are what a short WGAN-GP run lacks most. The thesis settings (batch
50, lr 1e-4) stay in `full`.
Budgets are epochs with a floor in generator steps (`min_steps`): on a small or sampled training set (the
samples shipped for offline machines hold 400 images a digit) the epochs rise until the run makes at least
that many generator steps; on the full datasets the floor is below what the epochs give, so it changes nothing.
Choose one by argument or the GANAD_PROFILE environment variable; the default is `full` when CUDA is
present and `cpu` otherwise. Every run records the profile it used.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

import torch

from .config import TrainConfig, generator_steps_per_epoch


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    width: int                        # ngf = ndf
    batch_size: int
    lr: float
    epochs: dict = field(default_factory=dict)      # per experiment: mnist, cifar10, mvtec
    min_steps: dict = field(default_factory=dict)   # per experiment: generator steps a run makes at least
    max_train: int | None = None      # cap on normal training images (None: all)
    max_test: int | None = None       # cap on test images, stratified (None: all)
    seeds: tuple[int, ...] = (0,)     # seeds for the headline numbers
    mvtec_sizes: tuple[int, ...] = (28, 64)
    search_steps: int = 100           # latent-search Adam steps
    search_restarts: int = 4
    izif_steps: int = 500             # izif encoder steps on real images (TrainConfig.izif_steps)

    def epochs_for(self, experiment: str, n_train: int | None = None) -> int:
        """Epochs of a run of `experiment` on n_train training images: the profile's epochs, raised until the
        run makes min_steps generator steps (n_train None: the profile's epochs)."""
        epochs, floor = self.epochs[experiment], self.min_steps.get(experiment, 0)
        if n_train is None or not floor:
            return epochs
        per_epoch = generator_steps_per_epoch(n_train, self.batch_size, TrainConfig.n_critic)
        return max(epochs, math.ceil(floor / per_epoch))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke", "CI: seconds per model; proves the code path, its numbers mean nothing",
        width=8, batch_size=50, lr=1e-4, epochs={"mnist": 1, "cifar10": 1, "mvtec": 2},
        max_train=300, max_test=300, mvtec_sizes=(28, 32), search_steps=5, search_restarts=2,
        izif_steps=20),
    "cpu": Profile(
        "cpu", "a 2-core laptop: real but reduced experiments, 10-20 min of training a chapter",
        width=16, batch_size=25, lr=4e-4, epochs={"mnist": 12, "cifar10": 40, "mvtec": 300},
        min_steps={"mnist": 450, "cifar10": 1400, "mvtec": 300},
        max_train=None, max_test=None, mvtec_sizes=(28, 64), search_steps=50, search_restarts=4,
        izif_steps=300),
    "full": Profile(
        "full", "the thesis protocol (ngf = ndf = 64, thesis epochs, all data): a GPU",
        width=64, batch_size=50, lr=1e-4, epochs={"mnist": 32, "cifar10": 50, "mvtec": 64},
        min_steps={"mnist": 600, "cifar10": 850, "mvtec": 64},
        seeds=(0, 1, 2), mvtec_sizes=(28, 64, 128), search_steps=200, search_restarts=8,
        izif_steps=2000),
}


def get_profile(name: str | Profile | None = None) -> Profile:
    """The profile asked for, else $GANAD_PROFILE, else `full` with CUDA and `cpu` without."""
    if isinstance(name, Profile):
        return name
    name = name or os.environ.get("GANAD_PROFILE") or ("full" if torch.cuda.is_available() else "cpu")
    try:
        return PROFILES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: choose one of {sorted(PROFILES)} "
                         "(argument `profile=` or the GANAD_PROFILE environment variable)") from None


def profile_table() -> str:
    """The budgets as a Markdown table (the README shows the same table)."""
    head = ("| profile | width (ngf = ndf) | batch | lr | epochs MNIST / CIFAR-10 / MVTec | "
            "at least (generator steps) | train cap | test cap | MVTec sizes | for |")
    rows = [head, "|" + "---|" * 10]
    for p in PROFILES.values():
        e, m = p.epochs, p.min_steps
        floor = " / ".join(str(m.get(k, "-")) for k in ("mnist", "cifar10", "mvtec")) if m else "-"
        rows.append(f"| `{p.name}` | {p.width} | {p.batch_size} | {p.lr:g} | {e['mnist']} / {e['cifar10']} / {e['mvtec']} | "
                    f"{floor} | {p.max_train or 'all'} | {p.max_test or 'all'} | {', '.join(map(str, p.mvtec_sizes))} | "
                    f"{p.description} |")
    return "\n".join(rows)
