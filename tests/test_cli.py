import json

import numpy as np
import pytest

from ganad_lite import get_profile
from ganad_lite.cli import main
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
    split = load_split("mnist", 3, profile="smoke")
    run = run_one(split, "mnist", get_profile("smoke"), progress=False)  # the cached model, evaluated again
    assert res["metrics"]["residual"]["auroc"] == pytest.approx(run.metrics["residual"]["auroc"])
    assert res["pca_baseline"]["auroc"] == pytest.approx(run.baseline["auroc"])
    assert (ev / "reconstructions.png").stat().st_size > 1000
    assert "AUROC" in capsys.readouterr().out


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
    aurocs = [r["metrics"]["residual"]["auroc"] for r in saved["runs"]]  # one class: one run per seed
    assert by_seed["auroc"] == pytest.approx({"0": aurocs[0], "1": aurocs[1]})
    assert by_seed["sd"] == pytest.approx(np.std(aurocs, ddof=1))
    assert by_seed["mean"] == pytest.approx(saved["mean"]["auroc"])  # one class: mean of seeds = mean of runs
    assert "sd over 2 seeds" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["a", "0,0", "1,,2"])
def test_reproduce_rejects_bad_seeds(bad, capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--experiment", "mnist", "--seeds", bad])
    assert "--seeds" in capsys.readouterr().err
