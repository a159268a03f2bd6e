"""ganad_lite.data.images: the one image-file reader (bit depth, channels, aspect-keeping resize, masks)."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganad_lite.data import DataError, read_image
from ganad_lite.data.images import read_mask


def _ramp(path: Path, dtype, top: int, shape=(8, 16)) -> np.ndarray:
    values = np.linspace(0, top, shape[0] * shape[1]).round().astype(dtype).reshape(shape)
    Image.fromarray(values).save(path)
    return values


def test_eight_bit_files_as_they_are(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert np.array_equal(read_image(tmp_path / "c.png"), rgb.transpose(2, 0, 1))  # native size and channels
    grey = read_image(tmp_path / "c.png", channels=1)
    assert grey.shape == (1, 6, 10) and np.array_equal(grey[0], np.asarray(Image.fromarray(rgb).convert("L")))
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.bmp")
    three = read_image(tmp_path / "g.bmp", channels=3)
    assert three.shape == (3, 6, 10) and (three == rgb[None, ..., 0]).all()
    assert read_image(tmp_path / "g.bmp").shape == (1, 6, 10) and read_image(tmp_path / "c.png").dtype == np.uint8


def test_sixteen_bit_tiff_scaled_by_its_depth(tmp_path):
    values = _ramp(tmp_path / "s.tif", np.uint16, 65535)
    assert Image.open(tmp_path / "s.tif").mode == "I;16"
    out = read_image(tmp_path / "s.tif")
    assert out.shape == (1, 8, 16) and np.array_equal(out[0], np.round(values / 257).astype(np.uint8))


def test_bad_pixel_formats_are_refused(tmp_path):
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(DataError, match=r"f.tif has floating-point pixels"):
        read_image(tmp_path / "f.tif")
    Image.fromarray(np.full((4, 4), -5, np.int32)).save(tmp_path / "neg.tif")
    with pytest.raises(DataError, match=r"neg.tif has pixel values -5..-5 outside its 32-bit range"):
        read_image(tmp_path / "neg.tif")


@pytest.mark.parametrize("cut", [0, 8, 40, 0.6])
def test_truncated_or_corrupt_files_name_the_file(tmp_path, cut):
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    bad = tmp_path / "bad.png"
    bad.write_bytes(data[: int(cut * len(data)) if isinstance(cut, float) else cut])
    with pytest.raises(DataError, match=r"cannot read image .*bad.png .*replace or remove the file"):
        read_image(bad)
    with pytest.raises(DataError, match=r"cannot read image .*bad.png"):
        read_mask(bad)


def test_resize_keeps_the_aspect_ratio(tmp_path):
    tall = np.zeros((120, 40), np.uint8)
    tall[40:80] = 255  # the centre square of a 40 x 120 (w x h) image
    Image.fromarray(tall).save(tmp_path / "t.png")
    out = read_image(tmp_path / "t.png", size=10)
    assert out.shape == (1, 10, 10) and (out == 255).all()  # squashing would have shown the black ends
    assert read_image(tmp_path / "t.png").shape == (1, 120, 40)  # size=None: native
    with pytest.raises(DataError, match="size must be None or a positive integer"):
        read_image(tmp_path / "t.png", size=0)
    with pytest.raises(DataError, match="channels None, 1 or 3"):
        read_image(tmp_path / "t.png", channels=2)


def test_masks_any_nonzero_pixel_and_jpeg_noise(tmp_path):
    labels = np.zeros((8, 8), np.uint8)
    labels[2:4, 2:6], labels[6, 6] = 2, 1
    Image.fromarray(labels).save(tmp_path / "m.png")
    assert np.array_equal(read_mask(tmp_path / "m.png")[0], (labels > 0).astype(np.uint8))
    Image.fromarray(np.stack([labels * 0, labels * 0, labels], -1)).save(tmp_path / "rgb.png")
    assert np.array_equal(read_mask(tmp_path / "rgb.png")[0], (labels > 0).astype(np.uint8))
    soft = np.zeros((64, 64), np.uint8)
    soft[13:45, 19:43] = 120  # edges off JPEG's 8 x 8 blocks: ringing around them
    Image.fromarray(soft).save(tmp_path / "m.jpg", quality=75)
    assert np.asarray(Image.open(tmp_path / "m.jpg"))[soft == 0].max() > 0  # JPEG noise in the background
    assert np.array_equal(read_mask(tmp_path / "m.jpg")[0], (soft > 0).astype(np.uint8))
    assert read_mask(tmp_path / "m.jpg", size=16).shape == (1, 16, 16)
