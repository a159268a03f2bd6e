"""Untrained runs, trained and scored side by side in worker processes on a CPU.

`runs._run_all` (one experiment) and `prefill.prefill_book` (every run of the book) hand the runs the run cache
lacks to `train_in_workers`; each worker runs `runs.run_one`, whose models, izif encoders and scores land in the
cache, and the chapters read them back.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch

from ..device import pick_device
from ..distributed import spread_runs
from ..profiles import Profile


def run_workers(n_jobs: int, device, workers: int | None = None) -> int:
    """Worker processes for n_jobs independent runs: on a CPU one per torch thread (each worker then runs one
    thread: small convolutions use a second thread poorly, a second process fully), at most n_jobs; on a GPU 1.
    workers (or $GANAD_WORKERS) overrides; 1 runs everything in this process."""
    if workers is None:
        env = os.environ.get("GANAD_WORKERS", "").strip()
        if env and not env.isdigit():
            raise ValueError(f"GANAD_WORKERS={env!r}: set a whole number of worker processes (1: none)")
        workers = int(env) if env else (torch.get_num_threads() if pick_device(device).type == "cpu" else 1)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return max(1, min(workers, n_jobs))


def threads_per_worker(n_workers: int) -> int:
    """Torch threads of each of n_workers worker processes: this process's threads shared out, at least 1."""
    return max(1, torch.get_num_threads() // n_workers)


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment: its normal class (`key`: a digit, a CIFAR-10 class or (category, size)), its
    seed, and for the discussion chapter's study the share of training images replaced by other digits."""

    experiment: str
    key: object
    seed: int = 0
    contamination: float = 0.0

    def split(self, profile: Profile, root=None):
        """The split this run trains and is scored on."""
        from .runs import make_split  # runs imports this module
        from .studies import contaminated

        split = make_split(self.experiment, self.key, profile, self.seed, root)
        return contaminated(split, self.key, self.contamination, self.seed, root) if self.contamination else split


def _prefill(job: tuple, device: str) -> bool:
    """Worker: one run_one, for what it leaves in the run cache (models, izif encoders, scores)."""
    from .runs import run_one

    spec, profile, root, cache_dir = job
    run_one(spec.split(profile, root), spec.experiment, profile, spec.seed, progress=False, cache_dir=cache_dir,
            device=device)
    return True


def train_in_workers(label: str, pending: list[RunSpec], profile: Profile, root, cache_dir, device,
                     workers: int | None, progress: bool) -> int:
    """Train and score the pending runs in worker processes, in the order given (each worker takes the next
    when it is free), into the run cache that run_one then reads; returns the number of workers used (1: none,
    everything is left to this process)."""
    n_workers = run_workers(len(pending), device, workers) if cache_dir is not False else 1
    if n_workers < 2:
        return 1
    cache = str(cache_dir) if cache_dir else None  # the workers resolve the default folder themselves
    try:
        spread_runs(_prefill, [(spec, profile, root, cache) for spec in pending],
                    [str(device)] * n_workers, threads_per_worker=threads_per_worker(n_workers),
                    progress=f"{label}: training {len(pending)} runs in {n_workers} processes" if progress else None)
    except RuntimeError as err:  # the caller redoes what is missing in this process and raises the run's own error
        warnings.warn(f"{label}: a worker process stopped ({str(err).splitlines()[0]}); the runs it left "
                      "unfinished go on in this process", RuntimeWarning, stacklevel=3)
    return n_workers
