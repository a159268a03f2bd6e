"""ganad_lite.data: the data root, MNIST / CIFAR-10 loaders and their one-class protocols."""
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ganad_lite.data import (DataError, DataFallbackWarning, DataNotFoundError, cifar10_protocol, data_root,
                             load_cifar10, load_mnist, mnist_protocol)
from ganad_lite.data import arrays
from ganad_lite.data.root import reachable as REAL_REACHABLE  # the conftest replaces it during each test

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
pytestmark = pytest.mark.filterwarnings("ignore::ganad_lite.data.DataFallbackWarning")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test sees the user's data root or downloads; caches go to tmp_path."""
    for var in ("GANAD_DATA", "GANAD_DOWNLOAD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GANAD_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def shared():
    """The full datasets beside the repository (../shared/datasets), read-only; skip where absent."""
    if not (SHARED / "mnist.npz").is_file():
        pytest.skip("../shared/datasets is not present")
    return SHARED


@pytest.fixture
def empty(tmp_path):
    root = tmp_path / "empty_root"
    root.mkdir()
    return root


def _hashes(x: torch.Tensor) -> set:
    return {bytes(img.numpy().tobytes()) for img in x}


def test_data_root_precedence(monkeypatch, tmp_path):
    assert data_root() == Path("~/.cache/ganad_lite").expanduser()
    monkeypatch.setenv("GANAD_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root(tmp_path / "x") == tmp_path / "x"


def test_data_root_that_is_a_file(monkeypatch, tmp_path):
    """No quiet fallback to the shipped sample when the data root is a file."""
    file_root = tmp_path / "mnist.npz"
    _bundle(file_root, rgb=False)
    monkeypatch.setenv("GANAD_DATA", str(file_root))
    for call in (load_mnist, lambda: mnist_protocol(0), data_root):
        with pytest.raises(DataError, match=r"GANAD_DATA points at a file, .*mnist.npz, not a folder: set it to the "
                                            "folder that holds the datasets"):
            call()
    with pytest.raises(DataError, match=r"the data root \(root=\) is a file"):
        cifar10_protocol(root=file_root)


def test_mnist_sample_protocol(empty):
    with pytest.warns(DataFallbackWarning, match="sample"):
        s = mnist_protocol(3, root=empty, seed=1)
    assert s.meta["source"] == "sample" and "GANAD_DATA" in s.meta["notice"] and "download=True" in s.meta["notice"]
    ds = load_mnist(empty)
    assert len(s.train) + len(s.val) == int((ds.y_train == 3).sum()) == 400
    assert len(s.val) == 40 and len(s.test) == len(ds.x_test) == 2000
    assert s.train.dtype == torch.uint8 and s.train.shape[1:] == (1, 28, 28)
    assert torch.equal(s.test_labels, (ds.y_test != 3).long()) and int(s.test_labels.sum()) == 1800
    assert not _hashes(s.train) & _hashes(s.val)
    again = mnist_protocol(3, root=empty, seed=1)
    assert torch.equal(again.val, s.val) and not torch.equal(mnist_protocol(3, root=empty, seed=2).val, s.val)


def test_cifar_sample_protocol(empty):
    with pytest.warns(DataFallbackWarning, match="JPEG"):
        s = cifar10_protocol(root=empty)
    assert s.meta["source"] == "sample" and "scaled" in s.meta["notice"]
    assert len(s.train) + len(s.val) == 500 and s.train.shape[1:] == (3, 32, 32)
    assert len(s.test) == 160 and int(s.test_labels.sum()) == 80
    assert set(s.test_types[i] for i in range(160) if s.test_labels[i] == 0) == {"automobile"}


def test_cifar_bundle_lacking_class(empty):
    with pytest.raises(DataError, match="no training images of class 'cat'") as e:
        cifar10_protocol("cat", root=empty)
    assert "automobile" in str(e.value) and "download=True" in str(e.value)


def test_unknown_class(empty):
    with pytest.raises(DataError, match="valid classes: 0 airplane, 1 automobile"):
        cifar10_protocol("car", root=empty)
    with pytest.raises(DataError, match="unknown mnist class 10"):
        mnist_protocol(10, root=empty)
    with pytest.raises(DataError, match="val_fraction"):
        mnist_protocol(1, root=empty, val_fraction=1.0)


def _bundle(path: Path, n_train=(6, 0), n_test=4, rgb=True, **override):
    """A tiny bundle: n_train[0] images of class 1 and n_train[1] of class 0, n_test per class (10 classes)."""
    rng = np.random.default_rng(0)
    shape = (32, 32, 3) if rgb else (28, 28)
    y_train = np.array([1] * n_train[0] + [0] * n_train[1], np.uint8)
    y_test = np.repeat(np.arange(10, dtype=np.uint8), n_test)
    d = dict(x_train=rng.integers(0, 256, (len(y_train), *shape), dtype=np.uint8), y_train=y_train,
             x_test=rng.integers(0, 256, (len(y_test), *shape), dtype=np.uint8), y_test=y_test)
    d.update(override)
    np.savez_compressed(path, **d)
    return d


def test_bundle_in_root(tmp_path):
    d = _bundle(tmp_path / "cifar10_tiny.npz", n_train=(20, 10), n_test=5)
    ds = load_cifar10(tmp_path)
    assert ds.source == "full" and ds.x_train.shape == (30, 3, 32, 32) and ds.y_train.dtype == torch.int64
    assert torch.equal(ds.x_test[7], torch.from_numpy(d["x_test"][7]).permute(2, 0, 1))
    s = cifar10_protocol("automobile", n_other=12, root=tmp_path, seed=3)
    assert (len(s.train), len(s.val), len(s.test), int(s.test_labels.sum())) == (18, 2, 17, 12)
    assert s.meta["source"] == "full" and s.subsample(max_train=4).meta["source"] == "full"
    with pytest.raises(DataError, match="n_other=1000 .* has only 45"):
        cifar10_protocol(root=tmp_path)
    _bundle(tmp_path / "mnist.npz", n_train=(7, 3), rgb=False)
    s = mnist_protocol(0, root=tmp_path, val_fraction=0.0)
    assert (len(s.train), len(s.val), len(s.test)) == (3, 0, 40) and s.val.shape[1:] == (1, 28, 28)
    assert s.meta["source"] == "full" and s.meta["path"].endswith("mnist.npz")


def test_bad_bundles(tmp_path):
    _bundle(tmp_path / "mnist.npz", rgb=False, x_train=np.zeros((6, 28, 28), np.float32))
    with pytest.raises(DataError, match="x_train has dtype float32; images must be uint8"):
        load_mnist(tmp_path)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2, np.uint8))
    with pytest.raises(DataError, match=r"lacks \['x_test', 'y_test'\]"):
        load_mnist(tmp_path)
    (tmp_path / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read the array bundle .*mnist.npz"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("override, message", [
    (dict(x_train=np.array([np.zeros((28, 28), np.uint8)] * 6, dtype=object)),
     r"cannot read x_train of the array bundle .*mnist.npz .*store plain arrays"),
    (dict(class_names=np.array(list("abcdefghij"), dtype=object)), r"cannot read class_names .*dtype=str"),
    (dict(x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.int64)),
     r"x_test has shape \(0, 1, 28, 28\) .*at least one image in each split"),
    (dict(x_test=np.zeros((40, 32, 32), np.uint8)),
     r"x_test images are \(1, 32, 32\) but x_train images are \(1, 28, 28\)"),
    (dict(class_names=np.array("digits")), r"class_names must be a non-empty 1-D array"),
    (dict(class_names=np.array(["a", "a"] + list("cdefghij"))), r"class_names has repeated names"),
])
def test_bundles_refused_at_load_time(tmp_path, override, message):
    """Problems that used to surface only after training are DataErrors when the bundle is read."""
    _bundle(tmp_path / "mnist.npz", rgb=False, **override)
    with pytest.raises(DataError, match=message):
        load_mnist(tmp_path)


def test_a_rewritten_bundle_is_read_again(tmp_path):
    """Bundles are cached by content: a rewrite of the same size within one mtime tick is not served stale."""
    path = tmp_path / "mnist.npz"
    d = _bundle(path, rgb=False)
    np.savez(path, **d)  # uncompressed: the same size whatever the pixels
    st = path.stat()
    first = load_mnist(tmp_path)
    np.savez(path, **{**d, "x_train": np.full((6, 28, 28), 9, np.uint8)})
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert int(load_mnist(tmp_path).x_train.max()) == 9 and int(first.x_train.max()) > 9


def test_torchvision_mnist_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):  # the IDX format: big-endian header, then raw bytes
        x, y = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            np.array([2051, n, 28, 28], ">i4").tobytes() + x.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([2049, n], ">i4").tobytes() + y.tobytes())
    ds = load_mnist(tmp_path)
    assert ds.source == "full" and ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    assert ds.y_train.tolist() == [i % 10 for i in range(12)] and torch.equal(ds.x_test[:, 0], torch.from_numpy(x))


def test_torchvision_cifar_layout(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [0, 1, 2, 3]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile"]}, f)
    ds = load_cifar10(tmp_path)
    assert ds.source == "full" and ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert torch.equal(ds.x_test[0].flatten(), torch.from_numpy(data[0]))  # CHW order as in the pickles


def test_download_policy(empty, monkeypatch):
    from ganad_lite.data import root
    calls, probes, online = [], [], [False]

    def fake(cls_name, folder, download):
        calls.append((cls_name, download))
        raise RuntimeError("no route to host")

    def probe(host, port=443):
        probes.append(host)
        return online[0]
    monkeypatch.setattr(arrays, "_from_torchvision", fake)
    monkeypatch.setattr(root, "reachable", probe)
    with pytest.warns(DataFallbackWarning):
        load_mnist(empty)  # download=None, GANAD_DOWNLOAD unset, offline: the sample
    assert calls == [] and probes == ["ossci-datasets.s3.amazonaws.com"]
    online[0] = True  # online and unset: it tries, and a failed try falls back with the reason
    with pytest.warns(DataFallbackWarning, match="download into .* failed: no route to host"):
        ds = load_cifar10(empty)
    assert ds.source == "sample" and calls == [("CIFAR10", True)]
    monkeypatch.setenv("GANAD_DOWNLOAD", "0")  # never: not even a probe
    with pytest.warns(DataFallbackWarning):
        load_mnist(empty)
    assert len(calls) == 1 and len(probes) == 2
    with pytest.raises(DataError, match="downloading mnist .* failed .*Offline"):
        load_mnist(empty, download=True)  # asked: a failure is an error
    monkeypatch.setenv("GANAD_DOWNLOAD", "1")
    with pytest.raises(DataError, match="downloading cifar10"):
        load_cifar10(empty)
    monkeypatch.setenv("GANAD_DOWNLOAD", "maybe")
    with pytest.raises(DataError, match="GANAD_DOWNLOAD='maybe'.*1 .*0 "):
        load_mnist(empty)
    assert calls == [("CIFAR10", True), ("MNIST", True), ("CIFAR10", True)]


def test_reachable_gives_up_within_its_timeout(monkeypatch):
    import socket
    import time
    from ganad_lite.data import root

    def hang(*args, **kwargs):
        time.sleep(30)
    monkeypatch.setattr(socket, "create_connection", hang)
    monkeypatch.setattr(root, "ONLINE_TIMEOUT", 0.2)
    monkeypatch.setattr(root, "_REACHABLE", {})
    t0 = time.perf_counter()
    assert not REAL_REACHABLE("example.invalid")
    assert time.perf_counter() - t0 < 2


def test_missing_sample_says_where_it_looked(empty, monkeypatch):
    monkeypatch.setattr(arrays, "SAMPLES_DIR", empty / "nowhere")
    with pytest.raises(DataNotFoundError, match="looked for .*MNIST/raw.*mnist.npz"):
        load_mnist(empty)


def test_full_mnist_protocol(shared, monkeypatch):
    monkeypatch.setenv("GANAD_DATA", str(shared))
    ds = load_mnist()
    assert ds.source == "full" and ds.x_train.shape == (60000, 1, 28, 28) and ds.notice == ""
    for k in (0, 8):
        s = mnist_protocol(k)
        assert len(s.train) + len(s.val) == int((ds.y_train == k).sum())
        assert len(s.test) == 10000 and int(s.test_labels.sum()) == 10000 - int((ds.y_test == k).sum())
        assert len(s.val) == round(0.1 * int((ds.y_train == k).sum()))


def test_full_cifar_protocol(shared, monkeypatch):
    monkeypatch.setenv("GANAD_DATA", str(shared))
    s = cifar10_protocol()
    assert s.meta["source"] == "full" and (len(s.train), len(s.val)) == (4500, 500)
    assert len(s.test) == 2000 and int(s.test_labels.sum()) == 1000
    others = [t for t in s.test_types if t != "automobile"]
    assert len(others) == 1000 and len(set(others)) == 9
    assert torch.equal(cifar10_protocol(seed=0).test, s.test)
    assert not torch.equal(cifar10_protocol(seed=1).test, s.test)
    with pytest.raises(DataError, match="no training images of class 'cat'"):
        cifar10_protocol("cat")
