"""Download MVTec AD from its official host, check the archive's SHA-256 and unpack one category.

MVTec publishes one SHA-256 for the whole archive (``mvtec_anomaly_detection.tar.xz``, about 4.9 GB; the
same hash anomalib checks), none for the per-category archives, so the whole archive is fetched, verified
and only the requested category is unpacked, into ``<root>/mvtec_ad/<category>/`` (the layout
``ganad_lite.data.mvtec`` reads). ``keep_archive=True`` keeps the verified archive in the data root, so the
next category unpacks from it without a download.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .mvtec import MVTEC_CATEGORIES, MVTEC_LICENSE, MVTEC_URL
from .root import DataError, data_root

MVTEC_ARCHIVE_URL = ("https://www.mydrive.ch/shares/38536/3830184030e49fe74747669442f0f282/"
                     "download/420938113-1629952094/mvtec_anomaly_detection.tar.xz")
MVTEC_HOST = "www.mydrive.ch"  # probed before an unasked download (data.root.download_policy)
MVTEC_ARCHIVE_SHA256 = "cf4313b13603bec67abb49ca959488f7eedce2a9f7795ec54446c649ac98cd3d"
MVTEC_ARCHIVE_NAME = "mvtec_anomaly_detection.tar.xz"
LICENSE_NOTICE = (f"MVTec AD (c) MVTec Software GmbH, licensed {MVTEC_LICENSE}: attribution, non-commercial "
                  "use only, share alike (https://creativecommons.org/licenses/by-nc-sa/4.0/). Cite Bergmann "
                  f"et al., CVPR 2019 and IJCV 2021. Dataset page: {MVTEC_URL}")
CHUNK = 1 << 20  # bytes read and hashed at a time

Fetch = Callable[[str, Path, bool], None]  # fetch(url, destination file, progress)


def urllib_fetch(url: str, dest: Path, progress: bool = True) -> None:
    """Stream ``url`` (http(s):// or file://) into the file ``dest``, with a tqdm bar if ``progress``."""
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name, disable=not progress) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _inner_path(member: tarfile.TarInfo, category: str) -> PurePosixPath | None:
    """The path of an archive file inside the category folder, or None if it belongs elsewhere.

    The official archive has the category folders at its top level; a copy that wraps them in one more
    folder (e.g. ``mvtec_anomaly_detection/bottle/...``) works too.
    """
    parts = PurePosixPath(member.name).parts
    at = 0 if parts[:1] == (category,) else 1 if parts[1:2] == (category,) else None
    if at is None or not member.isfile() or len(parts) <= at + 1:
        return None
    return PurePosixPath(*parts[at + 1:])


def _unpack(archive: Path, category: str, target: Path) -> None:
    """Unpack ``category`` from the archive into ``target`` (via a partial folder, renamed when complete)."""
    partial = Path(tempfile.mkdtemp(prefix=f".{category}.partial-", dir=target.parent))
    try:
        with tarfile.open(archive, mode="r|*") as tar:  # one streaming pass: xz cannot seek cheaply
            for member in tar:
                inner = _inner_path(member, category)
                if inner is not None:
                    member.name = str(inner)
                    tar.extract(member, partial, filter="data")  # "data": no links out, no absolute paths
        if not (partial / "train" / "good").is_dir():
            raise DataError(f"the archive {archive} holds no {category}/train/good/ folder; is it MVTec AD?")
        partial.rename(target)
    except tarfile.TarError as e:  # damaged archive, or a member that would land outside the folder
        shutil.rmtree(partial, ignore_errors=True)
        raise DataError(f"cannot unpack {category!r} from {archive}: {e}") from e
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _fetch_verified(url: str, sha256: str, dest: Path, fetch: Fetch, progress: bool) -> None:
    """Download ``url`` to ``dest`` and check its SHA-256; nothing is left behind on any failure."""
    partial = dest.with_name(dest.name + ".partial")
    try:
        fetch(url, partial, progress)
        actual = sha256_of(partial)
        if actual != sha256.lower():
            raise DataError(f"checksum mismatch for {url}: expected SHA-256 {sha256.lower()}, got {actual}. "
                            "The download is damaged or the file changed; the partial file was removed, "
                            "try again (or pass url= and sha256= of another copy)")
        partial.rename(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def download_mvtec(category: str, root: str | os.PathLike | None = None, *, url: str | None = None,
                   sha256: str | None = None, fetch: Fetch | None = None, progress: bool = True,
                   keep_archive: bool = False) -> Path:
    """Download MVTec AD, verify it and unpack ``category`` into ``<root>/mvtec_ad/<category>``.

    root: the data root (default ``$GANAD_DATA``, else ``~/.cache/ganad_lite``). url and sha256: another
    copy of the archive (a mirror, a file:// path) and its hash; by default the official archive and
    its published hash. fetch(url, dest, progress) writes the archive to the file ``dest`` (default:
    urllib with a tqdm bar). A category already unpacked is not downloaded again. Returns its folder.
    Raises DataError on a checksum mismatch or an archive without the category.
    """
    if category not in MVTEC_CATEGORIES:
        raise DataError(f"unknown MVTec AD category {category!r}: choose one of {', '.join(MVTEC_CATEGORIES)}")
    if (url is None) != (sha256 is None):
        raise DataError("give url= and sha256= together (another copy and its hash), or neither")
    url, sha256 = url or MVTEC_ARCHIVE_URL, sha256 or MVTEC_ARCHIVE_SHA256
    base = data_root(root) / "mvtec_ad"
    target = base / category
    if (target / "train" / "good").is_dir():
        print(f"MVTec AD {category!r} is already in {target}")
        return target
    if target.exists():
        raise DataError(f"{target} exists but has no train/good/ folder: remove it and call download_mvtec again")
    print(LICENSE_NOTICE)
    archive = data_root(root) / MVTEC_ARCHIVE_NAME
    kept = archive.is_file() and sha256_of(archive) == sha256.lower()
    if not kept:
        archive.parent.mkdir(parents=True, exist_ok=True)
        _fetch_verified(url, sha256, archive, fetch or urllib_fetch, progress)
    try:
        base.mkdir(exist_ok=True)
        _unpack(archive, category, target)
    finally:
        if not (keep_archive or kept):  # an archive kept by an earlier call stays
            archive.unlink(missing_ok=True)
    print(f"MVTec AD {category!r} unpacked into {target}")
    return target
