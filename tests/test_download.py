"""ganad_lite.data.download: MVTec AD archive download, SHA-256 check and unpacking, all offline."""
import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganad_lite.data import DataError, download_mvtec, load_mvtec
from ganad_lite.data import download as dl


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _mask() -> bytes:
    buf = io.BytesIO()
    m = np.zeros((8, 8), np.uint8)
    m[2:5, 2:5] = 255
    Image.fromarray(m).save(buf, format="PNG")
    return buf.getvalue()


def _make_archive(path: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> str:
    """A tiny MVTec-layout tar.xz (bottle: 3 train, 1 good + 1 broken test; cable: 1 train); its SHA-256."""
    files = {"license.txt": b"CC BY-NC-SA 4.0\n",
             **{f"bottle/train/good/{i:03d}.png": _png(100 + i) for i in range(3)},
             "bottle/test/good/000.png": _png(120),
             "bottle/test/broken_large/000.png": _png(30),
             "bottle/ground_truth/broken_large/000_mask.png": _mask(),
             "cable/train/good/000.png": _png(200), **(extra or {})}
    with tarfile.open(path, "w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "served" / "mvtec_anomaly_detection.tar.xz"
    path.parent.mkdir()
    return path, _make_archive(path)


def _copying_fetch(source: Path, calls: list):
    def fetch(url, dest, progress):
        calls.append(url)
        shutil.copyfile(source, dest)
    return fetch


def test_file_url_unpacks_one_category_in_the_official_layout(archive, tmp_path, capsys):
    path, sha = archive
    root = tmp_path / "data"
    folder = download_mvtec("bottle", root, url=path.as_uri(), sha256=sha, progress=False)
    assert folder == root / "mvtec_ad" / "bottle"
    assert sorted(p.name for p in (folder / "train" / "good").iterdir()) == ["000.png", "001.png", "002.png"]
    assert (folder / "ground_truth" / "broken_large" / "000_mask.png").is_file()
    assert sorted(p.name for p in (root / "mvtec_ad").iterdir()) == ["bottle"]  # no cable, no partial folder
    assert sorted(p.name for p in root.iterdir()) == ["mvtec_ad"]                # the archive is removed
    assert "CC BY-NC-SA 4.0" in capsys.readouterr().out
    test = load_mvtec("bottle", root, split="test", size=8, cache=False)
    assert test.labels.tolist() == [1, 0] and int(test.masks[0].sum()) == 9      # broken_large first (sorted)


def test_injected_fetch_gets_the_official_url_and_a_mismatch_names_both_hashes(archive, tmp_path):
    path, sha = archive
    calls, root = [], tmp_path / "data"
    with pytest.raises(DataError) as err:
        download_mvtec("bottle", root, fetch=_copying_fetch(path, calls), progress=False)
    assert calls == [dl.MVTEC_ARCHIVE_URL]
    assert dl.MVTEC_ARCHIVE_SHA256 in str(err.value) and sha in str(err.value)
    assert list(root.iterdir()) == []  # neither the archive nor its partial download is left


def test_wrong_hash_for_a_mirror_is_rejected(archive, tmp_path):
    path, sha = archive
    root = tmp_path / "data"
    with pytest.raises(DataError, match=f"expected SHA-256 {'0' * 64}, got {sha}"):
        download_mvtec("bottle", root, url=path.as_uri(), sha256="0" * 64, progress=False)
    assert list(root.iterdir()) == []


def test_failed_fetch_leaves_no_partial_file(tmp_path):
    def broken(url, dest, progress):
        dest.write_bytes(b"half an archive")
        raise OSError("connection reset")

    root = tmp_path / "data"
    with pytest.raises(OSError, match="connection reset"):
        download_mvtec("bottle", root, url="https://example.invalid/a.tar.xz", sha256="0" * 64, fetch=broken)
    assert list(root.iterdir()) == []


def test_wrapped_archive_and_kept_archive_serve_a_second_category(tmp_path):
    path = tmp_path / "wrapped.tar.xz"
    sha = _make_archive(path, prefix="mvtec_anomaly_detection/")
    calls, root = [], tmp_path / "data"
    fetch = _copying_fetch(path, calls)
    download_mvtec("bottle", root, url="mirror://a", sha256=sha, fetch=fetch, keep_archive=True, progress=False)
    assert (root / dl.MVTEC_ARCHIVE_NAME).is_file()
    cable = download_mvtec("cable", root, url="mirror://a", sha256=sha, fetch=fetch, progress=False)
    assert calls == ["mirror://a"]                       # the kept, verified archive was reused
    assert (cable / "train" / "good" / "000.png").is_file()
    download_mvtec("bottle", root, url="mirror://a", sha256=sha, fetch=fetch, progress=False)
    assert calls == ["mirror://a"]                       # already unpacked: nothing fetched


def test_archive_without_the_category_or_with_an_escaping_member(tmp_path):
    root = tmp_path / "data"
    path = tmp_path / "a.tar.xz"
    sha = _make_archive(path)
    with pytest.raises(DataError, match="no grid/train/good"):
        download_mvtec("grid", root, url=path.as_uri(), sha256=sha, progress=False)
    evil = tmp_path / "evil.tar.xz"
    sha = _make_archive(evil, extra={"bottle/../../escaped.txt": b"x"})
    with pytest.raises(DataError, match="cannot unpack"):
        download_mvtec("bottle", root, url=evil.as_uri(), sha256=sha, progress=False)
    assert list((root / "mvtec_ad").iterdir()) == [] and not (tmp_path / "escaped.txt").exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="unknown MVTec AD category 'bottles'"):
        download_mvtec("bottles", tmp_path)
    with pytest.raises(DataError, match="together"):
        download_mvtec("bottle", tmp_path, url="file:///x.tar.xz")
    (tmp_path / "mvtec_ad" / "bottle").mkdir(parents=True)
    with pytest.raises(DataError, match="has no train/good"):
        download_mvtec("bottle", tmp_path, url="file:///x.tar.xz", sha256="0" * 64)


def test_a_split_fetches_a_missing_category_when_online_and_falls_back_when_that_fails(archive, tmp_path,
                                                                                        monkeypatch):
    from ganad_lite.data import DataFallbackWarning, mvtec_protocol
    from ganad_lite.data import root as data_root_module
    path, sha = archive
    calls = []
    monkeypatch.delenv("GANAD_DOWNLOAD", raising=False)
    monkeypatch.setenv("GANAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_root_module, "reachable", lambda host, port=443: host == dl.MVTEC_HOST)
    monkeypatch.setattr(dl, "urllib_fetch", _copying_fetch(path, calls))
    monkeypatch.setattr(dl, "MVTEC_ARCHIVE_SHA256", sha)
    split = mvtec_protocol("bottle", "full", size=8, root=tmp_path / "data")
    assert split.meta["source"] == "full" and calls == [dl.MVTEC_ARCHIVE_URL]
    assert (tmp_path / "data" / dl.MVTEC_ARCHIVE_NAME).is_file()  # kept for the next category
    monkeypatch.setattr(dl, "MVTEC_ARCHIVE_SHA256", "0" * 64)  # a damaged copy: the stand-in, saying why
    (tmp_path / "data" / dl.MVTEC_ARCHIVE_NAME).unlink()
    with pytest.warns(DataFallbackWarning, match="downloading it failed: checksum mismatch"):
        split = mvtec_protocol("cable", "full", size=8, root=tmp_path / "data", fallback="synthetic")
    assert split.meta["source"] == "synthetic"
    with pytest.raises(DataError, match="checksum mismatch"):  # asked for: the failure is the error
        mvtec_protocol("cable", "full", size=8, root=tmp_path / "data", download=True)
    monkeypatch.setenv("GANAD_DOWNLOAD", "0")
    with pytest.raises(DataError, match="not found"):
        mvtec_protocol("cable", "full", size=8, root=tmp_path / "data")
    assert len(calls) == 3
