"""Property tests of the loaders: any array, of any shape, dtype and values, either loads as documented or
raises the package's own DataError, never another exception."""
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from ganad_lite.data import MNIST_CLASSES, DataError, load_mnist, mnist_protocol, read_bundle, read_image

pytestmark = pytest.mark.filterwarnings("ignore::ganad_lite.data.DataFallbackWarning")
FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ANY_DTYPE = hnp.scalar_dtypes() | hnp.byte_string_dtypes() | hnp.unicode_string_dtypes()
ANY_ARRAY = hnp.arrays(ANY_DTYPE, hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
LABEL_DTYPES = st.sampled_from([np.int8, np.uint8, np.int64, np.uint64, np.bool_, np.float32])


def _saved(d: dict, folder: str, name: str = "b.npz") -> Path:
    np.savez(Path(folder) / name, **d)
    return Path(folder) / name


@st.composite
def image_arrays(draw):
    """uint8 image stacks close to valid ones: (N, H, W) or (N, H, W, C), small, some sides 0, C in 1..4."""
    shape = (draw(st.integers(0, 4)), draw(st.integers(0, 5)), draw(st.integers(0, 5)))
    if draw(st.booleans()):
        shape += (draw(st.integers(1, 4)),)
    return draw(hnp.arrays(np.uint8, shape))


@st.composite
def label_arrays(draw, n: int):
    """Label vectors of about n entries (sometimes one more or less), any small values, a few dtypes."""
    length = max(0, n + draw(st.sampled_from([0, 0, 0, -1, 1])))
    dtype = draw(LABEL_DTYPES)
    values = draw(hnp.arrays(np.int64, length, elements=st.integers(-2, 12)))
    return values.astype(dtype)


@st.composite
def valid_bundles(draw) -> dict:
    """Bundles that follow the documented layout: one (H, W) and channel layout, labels 0..2 of an int dtype."""
    h, w, c = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.sampled_from([None, 1, 3]))
    d = {}
    for part in ("train", "test"):
        n = draw(st.integers(1, 6))
        d[f"x_{part}"] = draw(hnp.arrays(np.uint8, (n, h, w) + ((c,) if c else ())))
        d[f"y_{part}"] = draw(hnp.arrays(draw(hnp.integer_dtypes() | hnp.unsigned_integer_dtypes()), n,
                                         elements=st.integers(0, 2)))
    return d


@st.composite
def near_bundles(draw) -> dict:
    """The four bundle arrays (and sometimes class_names): mostly near-valid, sometimes anything at all."""
    d = {}
    for part in ("train", "test"):
        x = draw(st.one_of(image_arrays(), image_arrays(), ANY_ARRAY))
        n = len(x) if x.ndim else 1
        d[f"x_{part}"], d[f"y_{part}"] = x, draw(st.one_of(label_arrays(n), label_arrays(n), ANY_ARRAY))
    if draw(st.booleans()):
        d["class_names"] = draw(st.one_of(ANY_ARRAY, hnp.arrays(hnp.unicode_string_dtypes(), st.integers(0, 12))))
    return d


def _break(d: dict, flaw: str, dtype) -> dict:
    """A documented bundle with one documented rule broken (see test_broken_bundles_are_data_errors)."""
    d = dict(d)
    x, n = d["x_test"], len(d["x_test"])
    if flaw == "other image size":
        d["x_test"] = np.zeros((n, x.shape[1] + 1) + x.shape[2:], np.uint8)
    elif flaw == "empty split":
        d["x_test"], d["y_test"] = x[:0], d["y_test"][:0]
    elif flaw == "zero-sized images":
        d["x_train"] = d["x_train"][:, :0]
    elif flaw == "label out of range":
        d["y_train"] = np.full(len(d["y_train"]), 10, np.int64)
    elif flaw == "negative label":
        d["y_test"] = np.full(n, -1, np.int8)
    elif flaw == "label dtype":
        d["y_test"] = d["y_test"].astype(dtype)
    elif flaw == "one label short":
        d["y_test"] = d["y_test"][:-1]
    elif flaw == "image dtype":
        d["x_train"] = d["x_train"].astype(dtype)
    elif flaw == "five dims":
        d["x_train"] = d["x_train"].reshape(d["x_train"].shape[:3] + (-1, 1))
    elif flaw == "two channels":
        d["x_test"] = np.zeros(x.shape[:3] + (2,), np.uint8)
    elif flaw == "missing key":
        del d["y_train"]
    elif flaw == "object array":
        d["x_train"] = np.array(list(d["x_train"]) + [None], dtype=object)
    else:  # class_names flaws
        d["class_names"] = {"names 0-d": np.array("digits"), "names 2-D": np.array([["a", "b"], ["c", "d"]]),
                            "names repeated": np.array(["a", "a", "b"]), "too few names": np.array(["a"]),
                            "names as floats": np.array([0.5, 1.5, 2.5])}[flaw]
        d["y_train"] = np.full(len(d["y_train"]), 1, np.int64)  # label 1: only "too few names" is out of range
    return d


FLAWS = ["other image size", "empty split", "zero-sized images", "label out of range", "negative label",
         "label dtype", "one label short", "image dtype", "five dims", "two channels", "missing key",
         "object array", "names 0-d", "names 2-D", "names repeated", "too few names", "names as floats"]
NOT_UINT8 = st.sampled_from([np.float32, np.float64, np.bool_, np.int16, np.uint16, np.int64, "U3", "M8[s]"])


@FAST
@given(valid_bundles(), st.sampled_from(FLAWS), NOT_UINT8)
def test_broken_bundles_are_data_errors(d, flaw, dtype):
    """One documented rule broken: always a DataError when read, never a bundle or another exception."""
    if flaw == "label dtype" and dtype not in (np.float32, np.float64, np.bool_, "U3", "M8[s]"):
        dtype = np.float32  # other integer dtypes are valid labels
    with tempfile.TemporaryDirectory() as folder:
        with pytest.raises(DataError):
            read_bundle(_saved(_break(d, flaw, dtype), folder), MNIST_CLASSES)


bundles = st.one_of(valid_bundles(), near_bundles())


def _expected_images(x: np.ndarray) -> np.ndarray:
    return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)


def _check_documented(out: dict, d: dict) -> None:
    """What read_bundle promises: uint8 (N, C, H, W) copies, C 1 or 3, one shape, labels in range."""
    n_classes = len(out["class_names"])
    for part in ("train", "test"):
        x, y = out[f"x_{part}"], out[f"y_{part}"]
        assert x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] in (1, 3) and min(x.shape) >= 1
        assert np.array_equal(x.numpy(), _expected_images(d[f"x_{part}"]))
        assert y.dtype == torch.int64 and y.tolist() == np.asarray(d[f"y_{part}"]).reshape(-1).tolist()
        assert 0 <= int(y.min()) and int(y.max()) < n_classes
    assert out["x_train"].shape[1:] == out["x_test"].shape[1:]


@FAST
@given(valid_bundles())
def test_documented_bundles_load(d):
    with tempfile.TemporaryDirectory() as folder:
        _check_documented(read_bundle(_saved(d, folder), MNIST_CLASSES), d)


@FAST
@given(near_bundles())
def test_read_bundle_loads_as_documented_or_raises_data_error(d):
    with tempfile.TemporaryDirectory() as folder:
        try:
            out = read_bundle(_saved(d, folder), MNIST_CLASSES)
        except DataError:
            event("DataError")
            return
    event("loaded")
    _check_documented(out, d)


@FAST
@given(bundles, st.integers(0, 2), st.sampled_from([0.0, 0.1, 0.5]))
def test_load_and_protocol_on_any_bundle(d, digit, val_fraction):
    with tempfile.TemporaryDirectory() as folder:
        _saved(d, folder, "mnist.npz")
        try:
            ds = load_mnist(folder)
            split = mnist_protocol(digit, root=folder, val_fraction=val_fraction)
        except DataError:
            event("DataError")
            return
        event("split made")
    assert ds.source == "full" and split.meta["source"] == "full"
    assert len(split.train) + len(split.val) == int((ds.y_train == digit).sum()) and len(split.train) >= 1
    assert torch.equal(split.test, ds.x_test) and torch.equal(split.test_labels, (ds.y_test != digit).long())


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes_as_a_bundle(data):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "mnist.npz").write_bytes(data)
        with pytest.raises(DataError):
            load_mnist(folder)


IMAGE_BANDS = {np.uint8: (None, 3, 4), np.uint16: (None,), np.int32: (None,), np.float32: (None,)}


@st.composite
def image_files(draw) -> tuple[bytes, np.ndarray, str]:
    """A PNG or TIFF of any small size in one of Pillow's modes, as bytes, with its pixels and mode."""
    dtype = draw(st.sampled_from(list(IMAGE_BANDS)))
    bands = draw(st.sampled_from(IMAGE_BANDS[dtype]))
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6))) + ((bands,) if bands else ())
    pixels = draw(hnp.arrays(dtype, shape))
    fmt = "TIFF" if dtype in (np.int32, np.float32) else draw(st.sampled_from(["PNG", "TIFF"]))
    image = Image.fromarray(pixels)  # L, RGB, RGBA, I;16, I or F
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue(), pixels, image.mode


@FAST
@given(image_files(), st.sampled_from([None, 1, 3]), st.sampled_from([None, 1, 4]), st.data())
def test_read_image_on_any_file(file, channels, size, data):
    raw, pixels, mode = file
    damaged = data.draw(st.booleans())
    if damaged:  # cut it short or flip one byte
        cut = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:cut] if data.draw(st.booleans()) else raw[:cut] + bytes([raw[cut] ^ 0xFF]) + raw[cut + 1:]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.img"
        path.write_bytes(raw)
        try:
            out = read_image(path, size=size, channels=channels)
        except DataError:
            event("DataError")
            return
        event("read")
    h, w = pixels.shape[:2] if size is None else (size, size)
    assert out.dtype == np.uint8 and out.shape[1:] == (h, w)
    assert out.shape[0] == channels if channels else out.shape[0] in (1, 3)
    assert damaged or mode != "F"  # floating-point files are always refused
    if not damaged and size is None and channels != 3 and mode in ("L", "I;16"):  # exact greyscale values
        expected = pixels if mode == "L" else np.round(pixels * (255 / 65535)).astype(np.uint8)
        assert np.array_equal(out[0], expected)
