"""The run cache's bookkeeping: where runs live, the hashes that key them, and the checks on a run folder.

A run folder is named by `TrainConfig.model_key()` and `data_fingerprint(images)`; caches of scores and toy
GANs add `source_hash` of the code that makes them. run.json records what trained a run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
from pathlib import Path

import torch

from .checkpoint import CheckpointError, write_json_atomic
from .config import TrainConfig


def default_cache_dir() -> Path:
    """Where trained runs are cached: $GANAD_RUNS, else ~/.cache/ganad_lite/runs."""
    return Path(os.environ.get("GANAD_RUNS") or Path.home() / ".cache" / "ganad_lite" / "runs")


def data_fingerprint(images: torch.Tensor) -> str:
    """Short hash of the training images' shape, dtype and bytes: the run cache's data identity."""
    x = images.detach().cpu().contiguous()
    h = hashlib.sha1(f"{tuple(x.shape)}{x.dtype}".encode())
    h.update(x.numpy().tobytes() if x.dtype != torch.bfloat16 else x.float().numpy().tobytes())
    return h.hexdigest()[:12]


def source_hash(modules, libraries=(torch,)) -> str:
    """Short hash of the source of `modules` and the versions of `libraries`: a cache's code identity."""
    text = "".join(inspect.getsource(m) for m in modules) + "".join(lib.__version__ for lib in libraries)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def write_json(path: Path, obj) -> None:
    write_json_atomic(path, obj, indent=2, default=float)


def recorded_hardware(run_dir: Path) -> dict | None:
    """The hardware that run.json says trained a cached run (None if the file is missing or unreadable)."""
    try:
        hardware = json.loads((run_dir / "run.json").read_text()).get("hardware")
    except (OSError, ValueError, AttributeError):
        return None
    return hardware if isinstance(hardware, dict) and "summary" in hardware else None


def check_cache_folder(cache_dir: Path) -> None:
    """A run cache that is a file (a mistyped GANAD_RUNS) is an error before any training starts."""
    if cache_dir.exists() and not cache_dir.is_dir():
        raise NotADirectoryError(f"the run cache {cache_dir} is a file, not a folder: point GANAD_RUNS (or "
                                 "cache_dir=) at a folder, or pass cache_dir=False to train without a cache")


def make_run_folder(run_dir: Path) -> None:
    """Create the run's folder now, so that a cache that cannot hold it fails before training, not after."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise type(err)(f"cannot create the run folder {run_dir} ({err.strerror or err}): point GANAD_RUNS (or "
                        "cache_dir=) at a writable folder, or pass cache_dir=False") from err


def check_cached_config(stored: TrainConfig, wanted: TrainConfig, run_dir: Path) -> None:
    """A cached run must have been trained with the settings asked for: every field of the model key.

    CheckpointError names the fields that differ and the run folder (a copied or stale checkpoint).
    """
    if stored.model_key() == wanted.model_key():
        return
    names = [f.name for f in dataclasses.fields(TrainConfig) if getattr(stored, f.name) != getattr(wanted, f.name)]
    keyed = [n for n in names if stored.replace(**{n: getattr(wanted, n)}).model_key() != stored.model_key()]
    shown = "; ".join(f"{n}: {getattr(stored, n)!r} in the checkpoint, {getattr(wanted, n)!r} asked for"
                      for n in keyed or names)
    raise CheckpointError(f"the cached run in {run_dir} holds a checkpoint trained with other settings ({shown}); "
                          "delete that folder to train again, or point GANAD_RUNS at another folder")
