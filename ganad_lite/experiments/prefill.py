"""Every run the book's chapters read, trained before the chapters execute: one pool of workers, costliest first.

Each chapter trains its own runs, so a chapter with fewer untrained runs than workers leaves cores idle (on two
cores, the 64x64 MVTec run trains alone for minutes while the 28x28 one has long finished). `prefill_book`
hands the runs of all chapters to one pool, the costliest first, so every worker stays busy to the end; the
chapters then read models, izif encoders and scores from the run cache. `make book` calls it first
(`python -m ganad_lite prefill`); without it every chapter still trains what it needs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..detector import GANAD
from ..device import pick_device
from ..profiles import Profile, get_profile
from .protocol import EXPERIMENTS
from .runs import experiment_keys, run_one
from .studies import GAN_FRACTIONS
from .workers import RunSpec, train_in_workers

CONTAMINATED_DIGIT = 0  # the discussion chapter's contamination study trains on digit 0


@dataclass
class PrefillReport:
    """What `prefill_book` found and did."""

    runs: int        # runs the chapters read
    trained: int     # of which were not in the run cache, trained and scored now
    workers: int     # worker processes (1: all in this process)
    seconds: float   # wall time


def book_runs(profile=None, root=None, seeds=None) -> list[RunSpec]:
    """The runs the chapters train: every experiment's normal classes for each of the profile's seeds (the
    model and scoring chapters use MNIST digit 0, seed 0, among them), and chapter 09's contaminated digit.
    seeds: other seeds instead of the profile's (e.g. (0, 1, 2): every run of the three `reproduce` calls)."""
    p = get_profile(profile)
    seeds = p.seeds if seeds is None else seeds
    runs = [RunSpec(e, key, seed) for e in EXPERIMENTS for key in experiment_keys(e, p, root) for seed in seeds]
    return runs + [RunSpec("mnist", CONTAMINATED_DIGIT, 0, share) for share in GAN_FRACTIONS if share]


def estimated_cost(split, experiment: str, profile: Profile) -> float:
    """A run's relative cost, for ordering only: pixels (H x W) times the images the GAN trains on over all
    epochs plus four times the images scored (izif, every score variant and latent search weigh on those)."""
    pixels = split.train.shape[-1] * split.train.shape[-2]
    trained = profile.epochs_for(experiment, len(split.train)) * len(split.train)
    return float(pixels * (trained + 4 * (len(split.test) + len(split.val))))


def prefill_book(profile=None, root=None, cache_dir=None, device=None, workers: int | None = None,
                 progress: bool = True, seeds=None) -> PrefillReport:
    """Train and score, into the run cache, every run of `book_runs` it does not hold yet: in worker processes
    on a CPU (see `workers.run_workers`), the costliest run first; in this process on a GPU or with workers=1.
    seeds: as in `book_runs` (default: the profile's)."""
    if cache_dir is False:
        raise ValueError("prefill_book fills the run cache for the chapters: cache_dir=False would train runs that "
                         "nothing reads; pass a folder, or None for $GANAD_RUNS")
    t0 = time.perf_counter()
    p, device = get_profile(profile), pick_device(device)
    splits = {spec: spec.split(p, root) for spec in book_runs(p, root, seeds)}

    def untrained(specs):
        return [spec for spec in specs if not GANAD.from_profile(
            splits[spec], spec.experiment, p, seed=spec.seed, cache_dir=cache_dir).is_trained_in_cache(
            splits[spec].train)]

    pending = sorted(untrained(splits), key=lambda spec: estimated_cost(splits[spec], spec.experiment, p),
                     reverse=True)
    n_workers = train_in_workers("book", pending, p, root, cache_dir, device, workers, progress) if pending else 1
    for spec in untrained(pending):  # one worker: all of them; else what a stopped worker left
        run_one(splits[spec], spec.experiment, p, spec.seed, progress=progress, cache_dir=cache_dir, device=device)
    return PrefillReport(len(splits), len(pending), n_workers, round(time.perf_counter() - t0, 1))
