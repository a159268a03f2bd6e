"""The data root, the decoded-data cache, and the errors and notices every loader shares.

One folder holds every dataset: the ``root`` argument, else ``$GANAD_DATA``, else ``~/.cache/ganad_lite``.
Decoded MVTec folders are cached in ``<root>/.ganad_cache``; when the root is read-only the cache moves to
``$GANAD_CACHE`` (if set, it always wins) or ``~/.cache/ganad_lite/.ganad_cache``.

Downloads (``download_policy``): a loader asked with ``download=None`` fetches a missing dataset when
``$GANAD_DOWNLOAD`` is 1, never when it is 0, and, when it is unset, only if the dataset's host answers
within a few seconds; a download that was not asked for and fails falls back like an offline machine.
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import warnings
from pathlib import Path

DEFAULT_ROOT = "~/.cache/ganad_lite"
CACHE_NAME = ".ganad_cache"


ONLINE_TIMEOUT = 3.0  # seconds a host may take to accept a connection before the machine counts as offline
_REACHABLE: dict[str, bool] = {}  # host -> answered, probed once per process


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


def download_policy(download: bool | None, host: str) -> str:
    """Whether a loader may fetch a missing dataset from ``host``: "asked", "auto" or "no".

    download=True / False: "asked" / "no". download=None: $GANAD_DOWNLOAD decides ("1", "true", "yes": asked;
    "0", "false", "no": no); unset or empty, "auto" if ``host`` accepts a connection, else "no".
    "asked" downloads that fail are errors; "auto" ones fall back to the offline stand-ins with a notice.
    """
    if download is not None:
        return "asked" if download else "no"
    env = os.environ.get("GANAD_DOWNLOAD", "").strip().lower()
    if env in ("1", "true", "yes"):
        return "asked"
    if env in ("0", "false", "no"):
        return "no"
    if env:
        raise DataError(f"GANAD_DOWNLOAD={env!r}: set it to 1 (always download missing data), 0 (never) "
                        "or leave it unset (download when online)")
    return "auto" if reachable(host) else "no"


def reachable(host: str, port: int = 443) -> bool:
    """True if ``host`` accepts a TCP connection within ONLINE_TIMEOUT seconds (asked once per process).

    The probe, name lookup included, runs in a daemon thread, so a machine without a network or DNS waits
    at most ONLINE_TIMEOUT seconds.
    """
    if host not in _REACHABLE:
        answered = threading.Event()

        def probe():
            try:
                socket.create_connection((host, port), timeout=ONLINE_TIMEOUT).close()
                answered.set()
            except OSError:
                pass

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(ONLINE_TIMEOUT)
        _REACHABLE[host] = answered.is_set()
    return _REACHABLE[host]
