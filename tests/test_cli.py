import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganad_lite import GANAD, TrainConfig, get_profile
from ganad_lite.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ganad_lite.cli import main
from ganad_lite.config import ConfigError
from ganad_lite.training import TrainingDiverged
from ganad_lite.data import load_split
from ganad_lite.experiments import run_one


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("GANAD_DATA", str(tmp_path / "no-data"))  # empty root: the shipped samples are used
    monkeypatch.setenv("GANAD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GANAD_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_train_score_evaluate(offline, capsys):
    out = offline / "model"
    assert main(["train", "--dataset", "mnist", "--normal-class", "3", "--profile", "smoke", "--out", str(out),
                 "--quiet"]) == 0
    record = json.loads((out / "train.json").read_text())
    assert record["profile"] == "smoke" and record["seed"] == 0 and "summary" in record["hardware"]
    assert record["data_source"] == "sample" and "shipped with ganad_lite" in record["data_notice"]
    assert record["wall_seconds"] > 0

    images = (np.random.default_rng(0).random((5, 28, 28)) * 255).astype(np.uint8)
    np.save(offline / "q.npy", images)
    assert main(["score", "--model", str(out / "model.pt"), "--images", str(offline / "q.npy"),
                 "--threshold", "-0.5", "--out", str(offline / "s.json")]) == 0
    scores = json.loads((offline / "s.json").read_text())
    mix = 0.05 * np.array(scores["residual"]) + 0.95 * np.array(scores["origin"])  # the default lambda, 0.05
    assert len(scores["score"]) == 5 and scores["score"] == pytest.approx(mix.tolist())
    assert scores["anomalous"] == [score > -0.5 for score in scores["score"]]

    ev = offline / "eval"
    assert main(["evaluate", "--dataset", "mnist", "--normal-class", "3", "--profile", "smoke", "--out", str(ev),
                 "--quiet"]) == 0
    res = json.loads((ev / "results.json").read_text())
    assert res["profile"] == "smoke" and res["loaded_from_cache"]  # same config and data as `train`
    assert res["data_source"] == res["meta"]["source"] == "sample"
    split = load_split("mnist", 3, profile="smoke")
    run = run_one(split, "mnist", get_profile("smoke"), progress=False)  # the cached model, evaluated again
    assert res["metrics"]["residual"]["auroc"] == pytest.approx(run.metrics["residual"]["auroc"])
    assert res["pca_baseline"]["auroc"] == pytest.approx(run.baseline["auroc"])
    assert (ev / "reconstructions.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "data: mnist_digit3 from the shipped SAMPLE, not the full dataset" in printed
    assert "saved" in printed and "data: sample;" in printed  # the train line
    assert "mnist_digit3 [data: sample, smoke" in printed and "AUROC" in printed  # the evaluate line


def test_bad_arguments(offline, capsys):
    assert main(["train", "--dataset", "mnist", "--profile", "fast", "--out", str(offline / "x")]) == 2
    assert "unknown profile" in capsys.readouterr().err
    assert main(["score", "--model", str(offline / "missing.pt"), "--images", str(offline)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "imagenet"])


def test_reproduce_with_chosen_seeds(offline, capsys):
    assert main(["reproduce", "--experiment", "cifar10", "--profile", "smoke", "--seeds", "0,1",
                 "--out", str(offline / "results"), "--quiet"]) == 0
    saved = json.loads((offline / "results" / "smoke" / "cifar10" / "results.json").read_text())
    assert saved["seeds"] == [0, 1] and saved["command"].endswith("--profile smoke --seeds 0,1")
    by_seed = saved["headline_by_seed"]
    aurocs = [r["metrics"][saved["primary_score"]]["auroc"] for r in saved["runs"]]  # one class: one run per seed
    assert by_seed["auroc"] == pytest.approx({"0": aurocs[0], "1": aurocs[1]})
    assert by_seed["sd"] == pytest.approx(np.std(aurocs, ddof=1))
    assert by_seed["mean"] == pytest.approx(saved["mean"]["auroc"])  # one class: mean of seeds = mean of runs
    out = capsys.readouterr().out
    assert "sd over 2 seeds" in out and "cifar10 [data: sample, smoke" in out


@pytest.mark.parametrize("bad", ["a", "0,0", "1,,2"])
def test_reproduce_rejects_bad_seeds(bad, capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--experiment", "mnist", "--seeds", bad])
    assert "--seeds" in capsys.readouterr().err


# -- one clear line per error, checked before any training ---------------------------------------------------
class Stop(BaseException):
    """Raised by the fit spy: what the command asked for is known, nothing needs training."""


@pytest.fixture
def fit_spy(monkeypatch):
    """GANAD.fit records the training images' shape and stops the command."""
    shapes = []

    def fit(self, images, **kwargs):
        shapes.append(tuple(images.shape[1:]))
        raise Stop

    monkeypatch.setattr(GANAD, "fit", fit)
    return shapes


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def mnist_bundle(root: Path, test_digits, test_size: int = 28) -> None:
    """A small MNIST bundle: 60 training images of 3 and 7, test images of `test_digits`."""
    rng = np.random.default_rng(0)
    y_train = np.r_[np.full(30, 3), np.full(30, 7)]
    y_test = np.asarray(test_digits, dtype=np.int64)
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "mnist.npz", x_train=rng.integers(0, 256, (60, 28, 28), dtype=np.uint8), y_train=y_train,
             x_test=rng.integers(0, 256, (len(y_test), test_size, test_size), dtype=np.uint8), y_test=y_test)


@pytest.mark.parametrize("args, message", [
    (["score", "--model", "m.pt", "--images", "q.npy", "--threshold", "nan"],
     "argument --threshold: a finite number is needed, got 'nan'"),
    (["score", "--model", "m.pt", "--images", "q.npy", "--weight", "1.5"],
     r"argument --weight: the score weight lambda lies in \[0, 1\], got '1.5'"),
    (["train", "--dataset", "mnist", "--seed", "-1"],
     r"argument --seed: the seed must be an integer in \[0, 2\*\*32 - 1\], got '-1'"),
    (["train", "--dataset", "mvtec", "--size", "0"], "argument --size: a positive whole number"),
    (["train", "--dataset", "mvtec", "--channels", "2"],
     r"argument --channels: invalid choice: 2 \(choose from 1, 3\)"),
])
def test_bad_flags_are_one_line_naming_the_flag(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert re.search(message, error_line(capsys))


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist", "--normal-class", "abc"], "unknown mnist class 'abc'; valid classes: 0 0, 1 1"),
    (["--dataset", "mvtec", "--normal-class", "abc"], "unknown MVTec AD category 'abc'.*Valid categories: bottle"),
    (["--dataset", "mvtec", "--normal-class", "bottle"],
     r"MVTec AD category 'bottle' not found: the data root .*no-data does not exist.*--synthetic for generated"),
    (["--dataset", "mvtec", "--normal-class", "bottle", "--data", "OFFLINE"],  # a root without bottle
     r"MVTec AD category 'bottle' not found: looked in .*/bottle.*--synthetic for generated stand-in data"),
])
def test_unknown_or_missing_classes_are_one_line(offline, fit_spy, capsys, args, message):
    args = [str(offline) if a == "OFFLINE" else a for a in args]
    assert main(["train", *args, "--profile", "smoke", "--out", str(offline / "m")]) == 2
    assert re.search(message, error_line(capsys)) and fit_spy == []  # no training on stand-in data


def test_cifar10_class_by_index(offline, fit_spy, capsys):
    with pytest.raises(Stop):
        main(["train", "--dataset", "cifar10", "--normal-class", "1", "--profile", "smoke",
              "--out", str(offline / "m")])
    assert "data: cifar10_automobile from the shipped SAMPLE, not the full dataset" in capsys.readouterr().out


def test_synthetic_stand_in_only_when_asked_and_named(offline, fit_spy, capsys):
    with pytest.raises(Stop):
        main(["train", "--dataset", "mvtec", "--normal-class", "bottle", "--synthetic", "--profile", "smoke",
              "--out", str(offline / "m")])
    out = capsys.readouterr().out
    assert "data: mvtec_bottle_thesis_28 from the SYNTHETIC stand-in, not real MVTec AD" in out
    assert "note: MVTec AD category 'bottle' not found" in out and fit_spy == [(3, 28, 28)]
    assert main(["train", "--dataset", "mnist", "--synthetic", "--out", str(offline / "m")]) == 2
    assert "--synthetic applies to --dataset mvtec only" in error_line(capsys)


def write_category(root: Path, name: str, size: tuple[int, int], mode: str) -> None:
    """An MVTec-layout category of noise images of `size` (width, height) and PIL `mode`: 12 good training
    images, 2 good and 2 defective test images with masks."""
    rng = np.random.default_rng(0)
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
    folders = {"train/good": 12, "test/good": 2, "test/crack": 2}
    for folder, n in folders.items():
        (root / name / folder).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / name / folder / f"{i:03}.png")
    (root / name / "ground_truth/crack").mkdir(parents=True)
    for i in range(2):
        mask = np.zeros((size[1], size[0]), np.uint8)
        mask[4:9, 4:9] = 255
        Image.fromarray(mask, "L").save(root / name / f"ground_truth/crack/{i:03}_mask.png")


def test_channels_default_to_the_data_and_non_square_crops_are_said(offline, fit_spy, capsys):
    data = offline / "mvtec"
    write_category(data, "grey", (40, 32), "L")
    common = ["train", "--dataset", "mvtec", "--normal-class", "grey", "--data", str(data), "--profile", "smoke",
              "--out", str(offline / "m")]
    with pytest.raises(Stop):
        main(common)
    out = capsys.readouterr().out
    assert "images (1, 28, 28)" in out  # a greyscale category stays greyscale
    assert "note: non-square images (H x W: 32x40) were centre-cropped to a square before resizing to 28x28" in out
    with pytest.raises(Stop):
        main([*common, "--channels", "3"])
    assert fit_spy == [(1, 28, 28), (3, 28, 28)]


def test_outputs_and_run_cache_are_checked_before_training(offline, fit_spy, capsys, monkeypatch):
    (offline / "file").write_text("x")
    args = ["train", "--dataset", "mnist", "--profile", "smoke", "--out"]
    assert main([*args, str(offline / "file")]) == 2
    assert f"--out {offline / 'file'} is a file, not a folder" in error_line(capsys)
    assert main([*args, str(offline / "file" / "model")]) == 2
    under_a_file = f"--out {offline / 'file' / 'model'} lies under {offline / 'file'}, a file, not a folder"
    assert under_a_file in error_line(capsys)
    monkeypatch.setenv("GANAD_RUNS", str(offline / "file"))
    assert main([*args, str(offline / "model")]) == 2
    assert "the run cache" in error_line(capsys) and fit_spy == []
    assert not (offline / "model").exists()  # no empty output folder left behind by a failed command


@pytest.mark.parametrize("test_digits, test_size, message", [
    ([], 28, "x_test has shape (0, 1, 28, 28)"),
    ([3, 7], 32, "x_test images are (1, 32, 32) but x_train images are (1, 28, 28)"),
])
def test_broken_bundles_are_one_line(offline, capsys, test_digits, test_size, message):
    mnist_bundle(offline / "no-data", test_digits, test_size)
    assert main(["train", "--dataset", "mnist", "--profile", "smoke", "--out", str(offline / "m")]) == 2
    assert message in error_line(capsys)


def test_evaluate_refuses_a_test_set_without_anomalies(offline, capsys):
    mnist_bundle(offline / "no-data", test_digits=[3] * 20)
    assert main(["evaluate", "--dataset", "mnist", "--normal-class", "3", "--profile", "smoke", "--quiet",
                 "--out", str(offline / "eval")]) == 2
    assert "the test set holds only normal images (20): AUROC" in error_line(capsys)
    assert not (offline / "eval" / "results.json").exists()


@pytest.mark.parametrize("error, code, message", [
    (TrainingDiverged("non-finite critic_loss at generator step 3; lower lr"), 1, "error: non-finite critic_loss"),
    (CheckpointError("checkpoint x.pt is corrupt"), 2, "error: checkpoint x.pt is corrupt"),
    (ConfigError("TrainConfig.lr must be a number"), 2, "error: TrainConfig.lr must be a number"),
    (PermissionError(13, "Permission denied"), 2, "error: [Errno 13] Permission denied"),
    (ZeroDivisionError("division by zero"), 1,
     "error: ZeroDivisionError: division by zero (an internal fault: rerun with --debug for the traceback)"),
])
def test_every_error_is_one_line_with_its_exit_code(offline, monkeypatch, capsys, error, code, message):
    def fail(self, images, **kwargs):
        raise error

    monkeypatch.setattr(GANAD, "fit", fail)
    args = ["train", "--dataset", "mnist", "--profile", "smoke", "--out", str(offline / "m")]
    assert main(args) == code
    assert error_line(capsys) == message if message.endswith(")") else error_line(capsys).startswith(message)
    with pytest.raises(type(error)):
        main([*args, "--debug"])


def test_ctrl_c_is_one_line_with_exit_130(offline, monkeypatch, capsys):
    def interrupted(self, images, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(GANAD, "fit", interrupted)
    assert main(["train", "--dataset", "mnist", "--profile", "smoke", "--out", str(offline / "m")]) == 130
    assert "resumes from its last checkpoint" in error_line(capsys)


# -- score: query files --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny grey 28 x 28 detector with standardiser statistics, saved once for the score tests."""
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(64, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    config = TrainConfig(latent_dim=16, ngf=8, ndf=8, batch_size=16, n_critic=2, epochs=1)
    det = GANAD(config, cache_dir=False, progress=False).fit(images[:48], normal=images[48:])
    return det, det.save(tmp_path_factory.mktemp("model") / "model.pt")


def score(model_path, images, tmp_path, *extra) -> dict:
    assert main(["score", "--model", str(model_path), "--images", str(images), "--out", str(tmp_path / "s.json"),
                 *extra]) == 0
    return json.loads((tmp_path / "s.json").read_text())


def test_score_folder_reads_16_bit_pngs_like_the_loaders(model, tmp_path):
    det, path = model
    values = np.random.default_rng(1).integers(0, 65536, (3, 28, 28), dtype=np.uint16)
    (tmp_path / "q").mkdir()
    for i, v in enumerate(values):
        Image.fromarray(v).save(tmp_path / "q" / f"{i}.png")  # 16-bit greyscale
    out = score(path, tmp_path / "q", tmp_path)
    expected = np.round(values * (255 / 65535)).astype(np.uint8)[:, None]  # scaled by the bit depth
    assert out["files"] == ["0.png", "1.png", "2.png"]
    np.testing.assert_allclose(out["residual"], det.score_terms(torch.from_numpy(expected)).residual, rtol=1e-6)


def test_score_folder_sizes_alpha_and_damaged_files(model, tmp_path, capsys):
    det, path = model
    rng = np.random.default_rng(2)
    q = tmp_path / "q"
    q.mkdir()
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(q / "a.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA").save(q / "b.png")
    assert main(["score", "--model", str(path), "--images", str(q)]) == 2
    assert error_line(capsys) == (f"error: images in {q} have different sizes (a.png 28x28, b.png 32x32) but the "
                                  "model takes 28x28: pass --resize to centre-crop and resize them to 28x28")
    out = score(path, q, tmp_path, "--resize")
    notes = ["dropped the alpha channel (transparency) of b.png",
             "converted b.png to greyscale for a 1-channel model",
             "resized b.png to 28x28 (centre square crop, bilinear)"]
    assert out["notes"] == notes and capsys.readouterr().err.splitlines() == [f"note: {n}" for n in notes]
    b = Image.open(q / "b.png").convert("RGB").convert("L").resize((28, 28), Image.BILINEAR)
    a = np.asarray(Image.open(q / "a.png"))
    expected = det.score_terms(torch.from_numpy(np.stack([a, np.asarray(b)])[:, None]))
    np.testing.assert_allclose(out["origin"], expected.origin, rtol=1e-6)
    (q / "c.png").write_bytes((q / "a.png").read_bytes()[:100])  # truncated
    assert main(["score", "--model", str(path), "--images", str(q), "--resize"]) == 2
    assert f"cannot read image {q / 'c.png'}" in error_line(capsys)


def test_score_arrays_that_cannot_be_images(model, tmp_path, capsys):
    _, path = model
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "empty.npz")
    (tmp_path / "text.npy").write_text("not numpy")
    for name, message in (("objects.npy", "holds Python objects (an object array), which are not loaded: save"),
                          ("empty.npz", "holds no arrays"), ("text.npy", "is not a NumPy .npy file")):
        assert main(["score", "--model", str(path), "--images", str(tmp_path / name)]) == 2
        assert message in error_line(capsys)


def test_score_with_unusable_standardizer_is_one_line(model, tmp_path, capsys):
    _, path = model
    state = load_checkpoint(path)
    state["standardizer"]["extra"] = 1.0
    save_checkpoint(state, tmp_path / "extra.pt")
    np.save(tmp_path / "q.npy", np.zeros((2, 28, 28), np.uint8))
    assert main(["score", "--model", str(tmp_path / "extra.pt"), "--images", str(tmp_path / "q.npy")]) == 2
    assert "unusable standardiser statistics (standardiser statistics must have exactly the keys" in error_line(capsys)


def test_sizes_are_positive_whole_pixels():
    import argparse
    from ganad_lite import cli_types
    assert cli_types.size_list("28,64") == (28, 64)
    for bad in ("", "28,", "0,64", "28,6.5", "a"):
        with pytest.raises(argparse.ArgumentTypeError, match="--sizes takes comma-separated positive sizes"):
            cli_types.size_list(bad)
