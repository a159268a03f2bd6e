"""Atomic file writes (checkpoints, JSON records, caches); checkpoints are read back with `weights_only=True`."""
from __future__ import annotations

import glob
import json
import os
import pickle
import secrets
import zipfile
from pathlib import Path
from typing import IO, Any, Callable

import torch

FORMAT = "ganad_lite/1"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or belongs to another model."""


def _temp_name(path: Path) -> Path:
    """A temporary name beside path that no other writer picks: ``.<name>.<pid>.<random>.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files of earlier writes of `path` whose writer is gone (killed mid-write)."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write a file atomically: `write(f)` fills a uniquely named temporary file in the same folder, which is
    flushed, fsynced and renamed onto `path` (and the folder fsynced, so the rename survives a power cut).

    Readers see the old file or the new one, never a partial one. A writer killed mid-write leaves only its
    temporary file, which no reader opens and the next write of `path` deletes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    tmp = _temp_name(path)
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json_atomic(path: str | Path, obj, indent: int | None = 2, default: Callable | None = None) -> Path:
    """Write `obj` as JSON to `path` atomically (see atomic_write); `indent` and `default` go to json.dumps.

    The object is serialised before the file is touched, so an unserialisable value changes nothing.
    """
    text = json.dumps(obj, indent=indent, default=default).encode()
    return atomic_write(path, lambda f: f.write(text))


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write `state` (tensors and plain Python values) to `path` atomically (see atomic_write).

    A crash mid-write leaves the previous checkpoint untouched.
    """
    return atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


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
