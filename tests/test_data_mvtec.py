"""ganad_lite.data: MVTec AD folders, the synthetic generator, the decode cache and the MVTec protocols."""
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganad_lite.data import (DataError, DataFallbackWarning, DataNotFoundError, cache_dir, load_category,
                             load_mvtec, make_synthetic_mvtec, mvtec_categories, mvtec_protocol)
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


def test_cache_is_fast_and_tracks_changes(tmp_path, monkeypatch):
    cat = make_synthetic_mvtec(tmp_path / "root", "disc", n_train=60, n_test_good=0, n_test_defect=0, size=128)
    t0 = time.perf_counter()
    first = load_category(cat, "train", size=64)
    t1 = time.perf_counter()
    second = load_category(cat, "train", size=64)
    t2 = time.perf_counter()
    assert torch.equal(first.images, second.images) and first.paths == second.paths
    assert (t1 - t0) > 3 * (t2 - t1), f"cached load not faster: {t1 - t0:.3f}s then {t2 - t1:.3f}s"
    assert len(list((tmp_path / "cache").glob("mvtec_disc_train_64_3_*.npz"))) == 1
    Image.open(cat / "train" / "good" / "000.png").save(cat / "train" / "good" / "999.png")
    assert len(load_category(cat, "train", size=64)) == 61  # a changed folder is decoded again
    assert len(list((tmp_path / "cache").glob("mvtec_disc_train_64_3_*.npz"))) == 1  # stale file replaced


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
    with pytest.raises(DataError, match="unknown MVTec AD category 'bottel'. Valid categories: bottle, cable"):
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
