"""data.load_split: the one way from a dataset name to a Split, shared by the CLI, the experiments and torchrun."""
import pytest
import torch
import torch.distributed as dist

import ganad_lite.data as gdata
from ganad_lite import cli, distributed
from ganad_lite import experiments as ex
from ganad_lite.data import DataError, DataNotFoundError, dispatch, load_split, make_synthetic_mvtec

pytestmark = pytest.mark.filterwarnings("ignore::ganad_lite.data.DataFallbackWarning")  # samples are expected here


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty data root (MNIST / CIFAR-10 fall back to the shipped samples) with one small MVTec-like
    category, "synthetic": 30 good training images, 8 good and 12 defective test images."""
    make_synthetic_mvtec(tmp_path, "synthetic", n_train=30, n_test_good=8, n_test_defect=12, size=32, seed=0)
    monkeypatch.setenv("GANAD_DATA", str(tmp_path))
    monkeypatch.setenv("GANAD_CACHE", str(tmp_path / "cache"))
    return tmp_path


class Stop(BaseException):
    """Raised by the spy once it has the split: nothing needs training to see what a caller asked for (not an
    Exception, so the command line does not turn it into an error line)."""


@pytest.fixture
def spy(monkeypatch):
    """Every split load_split returns, through ganad_lite.data.load_split (where the callers look it up)."""
    splits = []

    def recording(*args, **kwargs):
        splits.append(dispatch.load_split(*args, **kwargs))
        raise Stop

    monkeypatch.setattr(gdata, "load_split", recording)
    return splits


def assert_same_split(a, b):
    assert a.name == b.name and a.meta == b.meta
    for part in ("train", "val", "test", "test_labels"):
        assert torch.equal(getattr(a, part), getattr(b, part)), part
    assert a.test_types == b.test_types
    assert (a.test_masks is None) == (b.test_masks is None)
    if a.test_masks is not None:
        assert torch.equal(a.test_masks, b.test_masks)


@pytest.mark.parametrize("cli_args, key", [
    (["--dataset", "mnist", "--normal-class", "3"], 3),
    (["--dataset", "cifar10", "--normal-class", "1"], "automobile"),    # CIFAR-10 by index on the command line
    (["--dataset", "mvtec", "--normal-class", "synthetic"], ("synthetic", 28)),
    (["--dataset", "mvtec", "--normal-class", "synthetic", "--size", "32"], ("synthetic", 32)),
])
def test_cli_torchrun_and_experiments_get_the_same_split(root, spy, monkeypatch, cli_args, key):
    with pytest.raises(Stop):
        cli.main(["train", *cli_args, "--profile", "smoke", "--seed", "1", "--out", str(root / "model")])
    with pytest.raises(Stop):
        ex.make_split(cli_args[1], key, "smoke", seed=1)
    monkeypatch.setattr(distributed, "init_from_env", lambda: torch.device("cpu"))  # no process group needed
    monkeypatch.setattr(dist, "destroy_process_group", lambda: None)
    torchrun_args = ["--experiment", cli_args[1], "--normal", cli_args[3], *cli_args[4:]]
    with pytest.raises(Stop):
        distributed.main([*torchrun_args, "--profile", "smoke", "--seed", "1", "--out", str(root / "ddp.pt")])
    from_cli, from_experiments, from_torchrun = spy
    assert_same_split(from_cli, from_experiments)
    assert_same_split(from_cli, from_torchrun)
    assert from_cli.meta["subsample"]["seed"] == 1  # capped to the smoke profile with the run's seed


def test_cifar10_class_by_index_name_or_digit_text(root):
    by_name = load_split("cifar10", "automobile")
    assert by_name.name == "cifar10_automobile" and by_name.meta["normal_class"] == "automobile"
    assert_same_split(by_name, load_split("cifar10", 1))
    assert_same_split(by_name, load_split("cifar10", "1"))
    assert_same_split(by_name, load_split("cifar10"))  # automobile is the default


def test_mnist_digit_as_text_and_default(root):
    three = load_split("mnist", "3")
    assert three.name == "mnist_digit3" and three.meta["normal_class"] == 3
    assert load_split("mnist").name == "mnist_digit0"


def test_mvtec_mode_follows_the_size(root):
    thesis = load_split("mvtec", "synthetic")  # 30 good training images: 27 trained on, 3 held out
    assert thesis.name == "mvtec_synthetic_thesis_28" and thesis.image_shape == (3, 28, 28)
    assert (len(thesis.train), len(thesis.val), len(thesis.test)) == (27, 3, 20)
    full = load_split("mvtec", "synthetic", size=32)
    assert full.name == "mvtec_synthetic_full_32" and full.meta["mode"] == "full"
    assert load_split("mvtec", "synthetic", size=32, mode="thesis").name == "mvtec_synthetic_thesis_32"
    assert load_split("mvtec", "synthetic", channels=1).image_shape == (1, 28, 28)


def test_mvtec_fallback_and_channels_are_passed_on(root, monkeypatch):
    asked = []
    monkeypatch.setattr(dispatch, "mvtec_protocol", lambda *args, **kwargs: asked.append((args, kwargs)))
    load_split("mvtec", "bottle", size=64, seed=2, root=root, fallback="synthetic")
    load_split("mvtec", "bottle", channels=3, download=False)
    assert asked == [(("bottle", "full"), dict(size=64, channels=None, seed=2, root=root, fallback="synthetic",
                                               download=None)),
                     (("bottle", "thesis"), dict(size=28, channels=3, seed=0, root=None, fallback=None,
                                                 download=False))]


def test_missing_mvtec_category_is_an_error_by_default(root):
    with pytest.raises(DataNotFoundError, match=r"MVTec AD category 'bottle' not found: looked in .*bottle"):
        load_split("mvtec", "bottle")  # no stand-in unless fallback="synthetic" is asked for
    stand_in = load_split("mvtec", "bottle", fallback="synthetic")
    assert stand_in.meta["source"] == "synthetic" and "SYNTHETIC" in stand_in.meta["notice"]


def test_mvtec_channels_default_to_the_data_own(root):
    make_synthetic_mvtec(root, "grid", n_train=12, n_test_good=4, n_test_defect=4, size=32, grayscale=True)
    grey = load_split("mvtec", "grid")
    assert grey.image_shape == (1, 28, 28) and grey.meta["channels"] == 1  # no silent expansion to RGB
    assert load_split("mvtec", "grid", channels=3).image_shape == (3, 28, 28)
    assert load_split("mvtec", "synthetic").image_shape == (3, 28, 28)  # a colour category stays in colour


def test_profile_caps(root):
    whole = load_split("mnist", 3)  # the shipped sample: 360 + 40 training images of 3, 2,000 test images
    assert (len(whole.train), len(whole.val), len(whole.test)) == (360, 40, 2000)
    capped = load_split("mnist", 3, profile="smoke")  # caps: 300 train, max(20, 300 // 5) = 60 val, 300 test
    assert (len(capped.train), len(capped.val), len(capped.test)) == (300, 40, 300)  # 40 val: under its cap
    assert int(capped.test_labels.sum()) == 270  # stratified: the sample's 90% anomalies kept
    assert_same_split(whole, load_split("mnist", 3, profile="cpu"))  # the cpu profile has no caps


@pytest.mark.parametrize("kwargs, message", [
    (dict(dataset="svhn"), "unknown dataset 'svhn'"),
    (dict(dataset="mnist", size=64), "mnist images are 1 x 28 x 28"),
    (dict(dataset="cifar10", channels=1), "cifar10 images are 3 x 32 x 32"),
    (dict(dataset="cifar10", mode="full"), "MVTec AD only"),
    (dict(dataset="cifar10", normal_class="car"), "unknown cifar10 class 'car'"),
])
def test_bad_requests_name_the_problem(root, kwargs, message):
    with pytest.raises(DataError, match=message):
        load_split(**kwargs)
