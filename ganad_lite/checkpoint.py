"""Atomic checkpoint files, read back with `weights_only=True`."""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

FORMAT = "ganad_lite/1"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or belongs to another model."""


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write `state` to `path` atomically: a temporary file in the same folder, fsync, then rename.

    A crash mid-write leaves the previous checkpoint untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint` (tensors and plain Python values only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train a model first (GANAD.fit or `ganad-lite train`)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a ganad_lite checkpoint ({type(err).__name__}: {err}). "
            "Delete it and train again; an interrupted run keeps its previous checkpoint, so no more is lost."
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint (found {found!r}); "
                              "it was written by another program or version; retrain or pass the right file")
    return state
