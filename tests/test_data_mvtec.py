"""ganad_lite.data: MVTec AD folders, the synthetic generator, the decode cache and the MVTec protocols."""
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from ganad_lite.data import (DataError, DataFallbackWarning, DataNotFoundError, cache_dir, load_category,
                             load_mvtec, make_synthetic_mvtec, mvtec_categories, mvtec_protocol, read_image)
from ganad_lite.data import root as root_module

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
pytestmark = pytest.mark.filterwarnings("ignore::ganad_lite.data.DataFallbackWarning")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test sees the user's data root; caches go to tmp_path."""
    monkeypatch.delenv("GANAD_DATA", raising=False)
    monkeypatch.setenv("GANAD_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    """A synthetic category 'synthetic' (120 train, 40 good + 80 defect test images, 64x64) under a root."""
    root = tmp_path_factory.mktemp("mvtec_root")
    make_synthetic_mvtec(root / "mvtec_ad", "synthetic", size=64, seed=0)
    return root


@pytest.fixture
def shared():
    if not (SHARED / "mvtec_ad" / "bottle" / "train" / "good").is_dir():
        pytest.skip("../shared/datasets/mvtec_ad/bottle is not present")
    return SHARED


def _hashes(x: torch.Tensor) -> set:
    return {img.numpy().tobytes() for img in x}


def _box_category(root: Path, mode: str = "RGB", ext: str = "png", shape=(256, 256)) -> Path:
    """One category whose single defect is a dark box at rows 64:128, cols 96:160 of a 256x256 image."""
    cat = root / "boxes"
    for sub in ("train/good", "test/good", "test/box", "ground_truth/box"):
        (cat / sub).mkdir(parents=True, exist_ok=True)
    h, w = shape
    good = np.full((h, w, 3), 200, np.uint8)
    bad, mask = good.copy(), np.zeros((h, w), np.uint8)
    bad[64:128, 96:160], mask[64:128, 96:160] = 20, 255

    def save(a, path):
        Image.fromarray(a).convert(mode).save(path, **({"quality": 95} if ext == "jpg" else {}))
    for i in range(3):
        save(good, cat / "train" / "good" / f"{i:03d}.{ext}")
    save(good, cat / "test" / "good" / f"000.{ext}")
    save(bad, cat / "test" / "box" / f"000.{ext}")
    Image.fromarray(mask).save(cat / "ground_truth" / "box" / "000_mask.png")
    return cat


def test_thesis_protocol_on_synthetic(synth):
    s = mvtec_protocol("synthetic", root=synth, seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (100, 10, 100)
    assert int(s.test_labels.sum()) == 67  # stratified: 80 of 120 test images are defective
    assert s.train.shape[1:] == (3, 28, 28) and s.test_masks.shape == (100, 1, 28, 28)
    assert s.meta["source"] == "full" and s.meta["mode"] == "thesis" and s.meta["seed"] == 0
    test_pool = _hashes(load_mvtec("synthetic", synth, "test").images)
    assert not (_hashes(s.train) | _hashes(s.val)) & test_pool, "test images leaked into train/val"
    assert not _hashes(s.train) & _hashes(s.val)
    other = mvtec_protocol("synthetic", root=synth, seed=1)
    assert not torch.equal(other.train, s.train) and int(other.test_labels.sum()) == 67


def test_full_protocol_and_subsample(synth):
    s = mvtec_protocol("synthetic", mode="full", size=64, root=synth)
    assert (len(s.train) + len(s.val), len(s.val), len(s.test)) == (120, 12, 120)
    assert set(s.test_types) == {"good", "scratch", "spot", "hole", "stain"}
    has_defect = s.test_masks.flatten(1).amax(1) == 1
    assert torch.equal(has_defect.long(), s.test_labels)  # every defect has a non-empty mask, good ones none
    small = s.subsample(max_train=30, max_test=30, seed=0)
    assert (len(small.train), len(small.test), int(small.test_labels.sum())) == (30, 30, 20)
    assert torch.equal((small.test_masks.flatten(1).amax(1) == 1).long(), small.test_labels)
    assert all((t == "good") == (y == 0) for t, y in zip(small.test_types, small.test_labels.tolist()))
    assert small.meta["n_test"] == 30 and small.meta["subsample"]["max_test"] == 30


def test_explicit_counts_beyond_the_folder_are_errors(synth):
    with pytest.raises(DataError, match="n_train=200 plus 20 validation images .* has 120"):
        mvtec_protocol("synthetic", root=synth, n_train=200)
    with pytest.raises(DataError, match="n_test=500 .* has 120"):
        mvtec_protocol("synthetic", root=synth, n_test=500)
    with pytest.raises(DataError, match="mode must be 'thesis' or 'full'"):
        mvtec_protocol("synthetic", root=synth, mode="fast")


def test_mask_alignment_after_resize(tmp_path):
    cat = _box_category(tmp_path)
    t = load_category(cat, "test", size=64)
    assert t.labels.tolist() == [1, 0] and t.defect_types == ["box", "good"]
    m = t.masks[0, 0]
    expected = torch.zeros(64, 64, dtype=torch.uint8)
    expected[16:32, 24:40] = 1
    assert set(t.masks.unique().tolist()) <= {0, 1} and torch.equal(m, expected)
    img = t.images[0].float().mean(0)
    assert img[m == 1].max() < img[m == 0].min()  # the dark box sits exactly under the mask
    assert bool((img[17:31, 25:39] == 20).all()) and img[:12].min() == 200  # antialiasing blends only its rim
    assert t.masks[1].sum() == 0


def test_grayscale_rgb_jpeg_and_any_size(tmp_path):
    gray = _box_category(tmp_path / "g", mode="L")
    rgb = load_category(gray, "test", size=32, channels=3)
    assert rgb.images.shape == (2, 3, 32, 32) and torch.equal(rgb.images[:, 0], rgb.images[:, 2])
    one = load_category(_box_category(tmp_path / "c"), "train", size=32, channels=1)
    assert one.images.shape == (3, 1, 32, 32)
    jpg = load_category(_box_category(tmp_path / "j", ext="jpg", shape=(300, 200)), "test", size=30)
    assert jpg.images.shape == (2, 3, 30, 30) and jpg.masks[0].sum() > 0 and jpg.paths[0].endswith(".jpg")
    synth_jpg = make_synthetic_mvtec(tmp_path / "s", "wood", n_train=4, n_test_good=2, n_test_defect=4,
                                     size=32, grayscale=True, image_format="jpg")
    s = load_category(synth_jpg, "test", size=32, channels=1)
    assert s.images.shape == (6, 1, 32, 32) and int(s.labels.sum()) == 4


def _mask_category(root: Path, mask: np.ndarray, mode: str = "L") -> Path:
    """The box category with its mask replaced by `mask` (256x256) saved in PIL mode `mode`."""
    cat = _box_category(root)
    im = Image.fromarray(mask)
    if mode == "P":
        im = im.convert("P")  # palette indices = the label values
        im.putpalette([0, 0, 0] * 256)  # every index black: only the index can say foreground
    im.save(cat / "ground_truth" / "box" / "000_mask.png")
    return cat


@pytest.mark.parametrize("value, mode", [(1, "L"), (2, "L"), (60, "L"), (1, "P"), (255, "L")])
def test_any_nonzero_mask_pixel_is_foreground(tmp_path, value, mode):
    """Label-index masks ({0, 1, 2}), faint soft masks and palette masks all mark the defect."""
    mask = np.zeros((256, 256), np.uint8)
    mask[64:128, 96:160] = value
    mask[64:70, 96:100] = 1  # a second label: still foreground
    t = load_category(_mask_category(tmp_path, mask, mode), "test", size=64, cache=False)
    expected = torch.zeros(64, 64, dtype=torch.uint8)
    expected[16:32, 24:40] = 1
    assert torch.equal(t.masks[0, 0], expected)


def test_empty_mask_of_a_defective_image_is_an_error(tmp_path):
    cat = _mask_category(tmp_path, np.zeros((256, 256), np.uint8))
    with pytest.raises(DataError, match=r"mask .*ground_truth/box/000_mask.png of the defective image .*"
                                        r"test/box/000.png is empty"):
        load_category(cat, "test", size=64, cache=False)


def _sixteen_bit_category(root: Path, top: int, significant_bits: int | None) -> tuple[Path, np.ndarray]:
    """A category of 32x32 16-bit greyscale PNGs: a ramp 0..top (12-bit sensor data when top = 4095)."""
    cat = root / "sensor"
    for sub in ("train/good", "test/good"):
        (cat / sub).mkdir(parents=True)
    ramp = np.linspace(0, top, 32 * 32).round().astype(np.uint16).reshape(32, 32)
    info = PngImagePlugin.PngInfo()
    if significant_bits:
        info.add(b"sBIT", bytes([significant_bits]))
    for sub in ("train/good", "test/good"):
        Image.fromarray(ramp).save(cat / sub / "000.png", pnginfo=info)
    assert Image.open(cat / "train/good/000.png").mode == "I;16"
    return cat, ramp


@pytest.mark.parametrize("top, bits", [(4095, 12), (4095, None), (65535, None)])
def test_sixteen_bit_images_are_scaled_by_bit_depth(tmp_path, top, bits):
    """12-bit data in a 16-bit PNG: scaled by its sBIT depth when recorded, else by 16 bits; never clipped."""
    cat, ramp = _sixteen_bit_category(tmp_path, top, bits)
    t = load_category(cat, "train", size=32, cache=False)
    depth = bits or 16
    expected = np.round(ramp * (255 / (2 ** depth - 1))).astype(np.uint8)
    assert t.images.shape == (1, 1, 32, 32) and np.array_equal(t.images[0, 0].numpy(), expected)
    assert float((t.images == 255).float().mean()) < 0.01  # clipping made 91-99% of them 255
    assert np.array_equal(read_image(cat / "train/good/000.png", channels=1)[0], expected)  # one reader


def _wide_category(root: Path, mode: str = "RGB") -> Path:
    """400x200 images: a 200x200 centre of grey 100 between 100-px bands of 250; a defect at rows 40:80,
    cols 140:180 (centre-crop cols 40:80)."""
    cat = root / "wide"
    for sub in ("train/good", "test/good", "test/box", "ground_truth/box"):
        (cat / sub).mkdir(parents=True)
    img = np.full((200, 400, 3), 250, np.uint8)
    img[:, 100:300] = 100
    mask = np.zeros((200, 400), np.uint8)
    mask[40:80, 140:180] = 255
    for sub in ("train/good", "test/good", "test/box"):
        Image.fromarray(img).convert(mode).save(cat / sub / "000.png")
    Image.fromarray(mask).save(cat / "ground_truth/box/000_mask.png")
    return cat


def test_non_square_images_keep_their_aspect_ratio(tmp_path):
    """The shorter side is resized and the centre cropped (not squashed); the mask follows the same crop."""
    t = load_category(_wide_category(tmp_path), "test", size=50, cache=False)
    assert t.images.shape == (2, 3, 50, 50) and t.native_sizes == [(200, 400), (200, 400)]
    assert bool((t.images[:, :, :, 1:-1] == 100).all())  # only the centre band; squashing showed the 250 bands
    expected = torch.zeros(50, 50, dtype=torch.uint8)
    expected[10:20, 10:20] = 1
    assert t.labels.tolist() == [1, 0] and torch.equal(t.masks[0, 0], expected)
    s = mvtec_protocol("wide", "full", size=50, root=tmp_path, val_fraction=0.0)
    assert s.meta["native_sizes"] == [(200, 400)] and "centre 50x50 crop" in s.meta["resize"]


def test_channels_default_to_the_data_own_count(tmp_path):
    grey = load_category(_box_category(tmp_path / "g", mode="L"), "train", size=16, cache=False)
    rgb = load_category(_box_category(tmp_path / "c"), "train", size=16, cache=False)
    assert grey.images.shape[1] == 1 and rgb.images.shape[1] == 3
    s = mvtec_protocol("boxes", "full", size=16, root=tmp_path / "g", val_fraction=0.0)
    assert s.image_shape == (1, 16, 16) and s.meta["channels"] == 1
    assert mvtec_protocol("boxes", "full", size=16, channels=3, root=tmp_path / "g", val_fraction=0.0
                          ).image_shape == (3, 16, 16)
    mixed = _box_category(tmp_path / "m", mode="L")
    Image.new("RGB", (256, 256), (200, 10, 10)).save(mixed / "test" / "good" / "001.png")
    s = mvtec_protocol("boxes", "full", size=16, root=tmp_path / "m", val_fraction=0.0)
    assert s.image_shape == (3, 16, 16) and torch.equal(s.train[:, 0], s.train[:, 2])  # grey train, RGB test


def test_cache_is_fast_and_tracks_changes(tmp_path, monkeypatch):
    cat = make_synthetic_mvtec(tmp_path / "root", "disc", n_train=60, n_test_good=0, n_test_defect=0, size=128)
    t0 = time.perf_counter()
    first = load_category(cat, "train", size=64)
    t1 = time.perf_counter()
    second = load_category(cat, "train", size=64)
    t2 = time.perf_counter()
    assert torch.equal(first.images, second.images) and first.paths == second.paths
    assert (t1 - t0) > 3 * (t2 - t1), f"cached load not faster: {t1 - t0:.3f}s then {t2 - t1:.3f}s"
    assert len(list((tmp_path / "cache").glob("mvtec3_disc_train_64_native_*.npz"))) == 1
    Image.open(cat / "train" / "good" / "000.png").save(cat / "train" / "good" / "999.png")
    assert len(load_category(cat, "train", size=64)) == 61  # a changed folder is decoded again
    assert len(list((tmp_path / "cache").glob("mvtec3_disc_train_64_native_*.npz"))) == 1  # stale file replaced


def test_cache_is_keyed_by_content_not_mtime(tmp_path):
    """An image replaced by another of the same byte size, its mtime put back, is decoded again."""
    cat = _box_category(tmp_path, ext="bmp", shape=(32, 32))  # uncompressed: same pixels count, same size
    path = cat / "train" / "good" / "001.bmp"
    before = load_category(cat, "train", size=32)
    st = path.stat()
    Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    after = load_category(cat, "train", size=32)
    assert int(before.images[1].max()) == 200 and int(after.images[1].max()) == 7
    assert torch.equal(after.images[0], before.images[0])


def test_stale_cache_files_are_ignored(tmp_path):
    """A damaged cache entry, one of another layout, or half of one, is decoded again."""
    cat = _box_category(tmp_path)
    good = load_category(cat, "test", size=16)
    (cached,) = (tmp_path / "cache").glob("mvtec3_boxes_test_16_*.npz")
    (images,) = (tmp_path / "cache").glob("mvtec3_boxes_test_16_*.images.npy")
    np.savez(cached, images=np.zeros(1))  # readable, but not a decoded split
    assert torch.equal(load_category(cat, "test", size=16).masks, good.masks)
    cached.write_bytes(b"garbage")
    assert torch.equal(load_category(cat, "test", size=16).images, good.images)
    images.unlink()  # as if the writer was killed between the two files
    assert torch.equal(load_category(cat, "test", size=16).images, good.images) and images.is_file()
    np.save(images, good.images[:, :, :8].numpy())  # images of another size under the entry's name
    assert torch.equal(load_category(cat, "test", size=16).images, good.images)


def test_cache_dir_falls_back_when_root_is_read_only(tmp_path, monkeypatch):
    monkeypatch.delenv("GANAD_CACHE")
    monkeypatch.setattr(root_module, "DEFAULT_ROOT", str(tmp_path / "home_cache"))
    writable = root_module._writable
    monkeypatch.setattr(root_module, "_writable", lambda f: "ro" not in f.parts and writable(f))
    (tmp_path / "rw").mkdir()
    (tmp_path / "ro").mkdir()
    assert cache_dir(tmp_path / "rw") == tmp_path / "rw" / ".ganad_cache"
    assert cache_dir(tmp_path / "ro") == tmp_path / "home_cache" / ".ganad_cache"
    monkeypatch.setenv("GANAD_CACHE", str(tmp_path / "mine"))
    assert cache_dir(tmp_path / "rw") == tmp_path / "mine"


def test_synthetic_fallback(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    with pytest.raises(DataNotFoundError, match="fallback='synthetic'"):
        mvtec_protocol("bottle", root=empty)
    with pytest.warns(DataFallbackWarning, match="SYNTHETIC"):
        s = mvtec_protocol("bottle", root=empty, fallback="synthetic")
    assert s.meta["source"] == "synthetic" and "mvtec.com" in s.meta["notice"]
    assert (len(s.train), len(s.val), len(s.test)) == (100, 10, 100)
    assert (tmp_path / "cache" / "synthetic_mvtec" / "bottle" / "train" / "good").is_dir()
    assert not any(empty.iterdir())  # nothing written into the data root


def test_missing_category_is_an_error_unless_the_stand_in_is_asked_for(tmp_path):
    root = tmp_path / "data"
    (root / "mvtec_ad").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match=r"'bottle' not found: looked in .*data/mvtec_ad/bottle, .*data/bottle"):
        mvtec_protocol("bottle", root=root)  # the default never falls back
    with pytest.raises(DataError, match=r"unknown MVTec AD category 'synthetic': looked in .*data/mvtec_ad/synthetic"):
        mvtec_protocol("synthetic", root=root)
    with pytest.raises(DataError, match="unknown MVTec AD category 'bottel'"):
        mvtec_protocol("bottel", root=root, fallback="synthetic")  # a misspelt name is never replaced
    with pytest.raises(DataError, match="fallback must be None or 'synthetic'"):
        mvtec_protocol("bottle", root=root, fallback="sample")
    assert not (tmp_path / "cache").exists()  # no stand-in was generated


def test_data_root_that_is_a_file(tmp_path, monkeypatch):
    file_root = tmp_path / "datasets.zip"
    file_root.write_bytes(b"PK")
    monkeypatch.setenv("GANAD_DATA", str(file_root))
    for call in (lambda: load_mvtec("bottle"), lambda: mvtec_protocol("bottle", fallback="synthetic"),
                 mvtec_categories):
        with pytest.raises(DataError, match=r"GANAD_DATA points at a file, .*datasets.zip, not a folder"):
            call()
    with pytest.raises(DataError, match=r"the data root \(root=\) is a file"):
        load_mvtec("bottle", root=file_root)
    monkeypatch.setenv("GANAD_CACHE", str(file_root))
    with pytest.raises(DataError, match="GANAD_CACHE points at a file"):
        cache_dir(tmp_path)


def test_synthetic_is_deterministic_and_safe(tmp_path):
    a = make_synthetic_mvtec(tmp_path / "a", n_train=3, n_test_good=1, n_test_defect=4, size=32, seed=5)
    b = make_synthetic_mvtec(tmp_path / "b", n_train=3, n_test_good=1, n_test_defect=4, size=32, seed=5)
    for f in sorted(p.relative_to(a) for p in a.rglob("*.png")):
        assert np.array_equal(np.asarray(Image.open(a / f)), np.asarray(Image.open(b / f)))
    assert len(list((a / "ground_truth").rglob("*_mask.png"))) == 4
    assert make_synthetic_mvtec(tmp_path / "a", n_train=3, n_test_good=1, n_test_defect=4, size=32, seed=5) == a
    _box_category(tmp_path / "real")
    with pytest.raises(DataError, match="refusing to overwrite"):
        make_synthetic_mvtec(tmp_path / "real", "boxes")


def test_category_lookup_and_errors(synth, tmp_path):
    assert mvtec_categories(synth) == ["synthetic"]
    with pytest.raises(DataNotFoundError, match="does not exist") as e:
        load_mvtec("bottle", root=tmp_path / "nowhere")
    assert "CC BY-NC-SA 4.0" in str(e.value) and "mvtec.com/company/research/datasets/mvtec-ad" in str(e.value)
    with pytest.raises(DataNotFoundError, match="looked in .*mvtec_ad/bottle.*train/good"):
        load_mvtec("bottle", root=synth)
    with pytest.raises(DataError, match="unknown MVTec AD category 'bottel': looked in .*mvtec_ad/bottel, .*bottel."
                                        " Valid categories: bottle, cable"):
        load_mvtec("bottel", root=synth)
    with pytest.raises(DataError, match="split must be"):
        load_mvtec("synthetic", root=synth, split="val")


@pytest.mark.parametrize("damage, message", [
    ("unreadable", r"cannot read image .*train/good/001.png"),
    ("mask_size", r"mask .*000_mask.png is 128x128 but its image .*test/box/000.png is 256x256"),
    ("no_mask", r"defect image .*test/box/000.png has no mask: expected .*ground_truth/box/000_mask.png"),
    ("empty_train", r"training folder .*train/good is empty"),
    ("stray_file", r"unexpected file .*notes.txt"),
    ("no_test", r"test does not exist"),
])
def test_bad_folders(tmp_path, damage, message):
    cat = _box_category(tmp_path)
    mask = cat / "ground_truth" / "box" / "000_mask.png"
    if damage == "unreadable":
        (cat / "train" / "good" / "001.png").write_bytes(b"\x89PNG broken")
    elif damage == "mask_size":
        Image.open(mask).resize((128, 128)).save(mask)
    elif damage == "no_mask":
        mask.unlink()
    elif damage == "empty_train":
        for p in (cat / "train" / "good").iterdir():
            p.unlink()
    elif damage == "stray_file":
        (cat / "test" / "good" / "notes.txt").write_text("x")
    elif damage == "no_test":
        import shutil
        shutil.rmtree(cat / "test")
    split = "train" if damage in ("unreadable", "empty_train") else "test"
    with pytest.raises(DataError, match=message):
        load_mvtec("boxes", root=tmp_path, split=split, cache=False)


def test_shared_bottle(shared, monkeypatch):
    monkeypatch.setenv("GANAD_DATA", str(shared))  # read-only: the cache goes to $GANAD_CACHE
    before = sorted(p.relative_to(SHARED) for p in SHARED.rglob("*"))
    t = load_mvtec("bottle", split="test", size=64)
    assert (len(t), int(t.labels.sum())) == (83, 63) and t.images.shape == (83, 3, 64, 64)
    assert bool((t.masks[t.labels == 1].flatten(1).amax(1) == 1).all())
    with pytest.warns(DataFallbackWarning, match="only 83 images"):
        s = mvtec_protocol("bottle")
    assert (len(s.train), len(s.val), len(s.test), int(s.test_labels.sum())) == (100, 10, 83, 63)
    assert sorted(p.relative_to(SHARED) for p in SHARED.rglob("*")) == before  # nothing written into the data root
