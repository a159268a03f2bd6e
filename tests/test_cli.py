import json

import numpy as np
import pytest

from ganad_lite.cli import main


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
    assert len(scores["score"]) == 5 and len(scores["anomalous"]) == 5

    ev = offline / "eval"
    assert main(["evaluate", "--dataset", "mnist", "--normal-class", "3", "--profile", "smoke", "--out", str(ev),
                 "--quiet"]) == 0
    res = json.loads((ev / "results.json").read_text())
    assert res["profile"] == "smoke" and res["loaded_from_cache"]  # same config and data as `train`
    assert 0 <= res["metrics"]["residual"]["auroc"] <= 1
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
    assert set(by_seed["auroc"]) == {"0", "1"} and by_seed["sd"] is not None
    assert by_seed["mean"] == pytest.approx(saved["mean"]["auroc"])  # one class: mean of seeds = mean of runs
    assert "sd over 2 seeds" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["a", "0,0", "1,,2"])
def test_reproduce_rejects_bad_seeds(bad, capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--experiment", "mnist", "--seeds", bad])
    assert "--seeds" in capsys.readouterr().err
