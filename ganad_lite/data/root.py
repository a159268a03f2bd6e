"""The data root, the decoded-data cache, and the errors and notices every loader shares.

One folder holds every dataset: the ``root`` argument, else ``$GANAD_DATA``, else ``~/.cache/ganad_lite``.
Decoded MVTec folders are cached in ``<root>/.ganad_cache``; when the root is read-only the cache moves to
``$GANAD_CACHE`` (if set, it always wins) or ``~/.cache/ganad_lite/.ganad_cache``.
"""
from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

DEFAULT_ROOT = "~/.cache/ganad_lite"
CACHE_NAME = ".ganad_cache"


class DataError(ValueError):
    """Bad or inconsistent data: the message names the problem and the fix."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data root, dataset, category or file is missing: the message says where we looked."""


class DataFallbackWarning(UserWarning):
    """A loader used a stand-in (the shipped sample or synthetic data) instead of the full dataset."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GANAD_DATA``, else ``~/.cache/ganad_lite``.

    The folder need not exist (loaders say so when they look in it); a file there is a DataError.
    """
    from_env = root is None and bool(os.environ.get("GANAD_DATA"))
    path = Path(root if root is not None else (os.environ.get("GANAD_DATA") or DEFAULT_ROOT)).expanduser()
    if path.exists() and not path.is_dir():
        name = "GANAD_DATA points at" if from_env else "the data root (root=) is"
        raise DataError(f"{name} a file, {path}, not a folder: set it to the folder that holds the datasets "
                        "(mnist.npz, cifar10*.npz, mvtec_ad/ ...), or leave it unset for ~/.cache/ganad_lite")
    return path


def _writable(folder: Path) -> bool:
    """True if ``folder`` exists or can be created and a file can be written in it.

    A folder (or its nearest existing parent) without any write permission bit counts as read-only even
    for root, who could write there anyway: a dataset folder marked read-only is never written into.
    """
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not probe.stat().st_mode & 0o222 or not os.access(probe, os.W_OK):
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe"):
            pass
        return True
    except OSError:
        return False


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """A writable folder for decoded data: ``$GANAD_CACHE``, else ``<root>/.ganad_cache``, else a home cache.

    Raises DataError if none of them can be written.
    """
    env = os.environ.get("GANAD_CACHE")
    if env and Path(env).expanduser().is_file():
        raise DataError(f"GANAD_CACHE points at a file, {Path(env).expanduser()}, not a folder: "
                        "set it to a writable folder (it is created if missing)")
    if env:
        candidates = [Path(env).expanduser()]
    else:  # never create a missing data root just to cache into it
        base = data_root(root)
        candidates = ([base / CACHE_NAME] if base.is_dir() else []) + [Path(DEFAULT_ROOT).expanduser() / CACHE_NAME]
    for folder in candidates:
        if _writable(folder):
            return folder
    raise DataError(f"no writable cache folder among {[str(c) for c in candidates]}; "
                    "set GANAD_CACHE to a writable folder")


def notify(notice: str) -> None:
    """Show a fallback notice (a DataFallbackWarning, visible in notebooks and logs), attributed to the
    first caller outside this package."""
    here, frame, level = str(Path(__file__).parent), sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(here):
        frame, level = frame.f_back, level + 1
    warnings.warn(notice, DataFallbackWarning, stacklevel=level)
