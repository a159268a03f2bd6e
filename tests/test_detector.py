import json
import shutil

import numpy as np
import pytest
import torch

from ganad_lite import GANAD, TrainConfig, get_profile
from ganad_lite.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ganad_lite.config import ConfigError
from ganad_lite.runcache import data_fingerprint
from ganad_lite.training import Trainer
from ganad_lite.metrics import auroc
from ganad_lite.profiles import PROFILES, profile_table

TINY = TrainConfig(latent_dim=16, ngf=8, ndf=8, batch_size=16, n_critic=2, epochs=2, seed=0)


def test_fit_caches_and_reloads(tiny_images, tmp_path):
    a = GANAD(TINY, cache_dir=tmp_path, progress=False).fit(tiny_images)
    assert not a.loaded_from_cache
    assert {p.name for p in a.run_dir.iterdir()} >= {"config.json", "history.json", "run.json", "checkpoint.pt"}
    assert json.loads((a.run_dir / "config.json").read_text())["ngf"] == 8
    b = GANAD(TINY, cache_dir=tmp_path, progress=False).fit(tiny_images)
    assert b.loaded_from_cache and b.run_dir == a.run_dir
    for p, q in zip(a.generator.parameters(), b.generator.parameters()):
        assert torch.equal(p, q)
    c = GANAD(TINY.replace(seed=1), cache_dir=tmp_path, progress=False).fit(tiny_images)
    assert c.run_dir != a.run_dir and not c.loaded_from_cache


def test_save_load_round_trip(tiny_images, tmp_path):
    det = GANAD(TINY, cache_dir=False, progress=False).fit(tiny_images[:48], normal=tiny_images[48:])
    s1 = det.score_terms(tiny_images)
    path = det.save(tmp_path / "model.pt")
    back = GANAD.load(path)
    s2 = back.score_terms(tiny_images)
    np.testing.assert_array_equal(s1.residual, s2.residual)
    np.testing.assert_array_equal(s1.anomaly_score(0.5, True), s2.anomaly_score(0.5, True))
    assert back.history == det.history


def test_fit_infers_image_shape_and_uint8(tmp_path):
    images = (torch.rand(40, 3, 32, 32) * 255).to(torch.uint8)
    det = GANAD(TINY.replace(epochs=1), cache_dir=False, progress=False).fit(images)
    assert det.config.image_shape == (3, 32, 32)
    assert det.score_terms(images[:5]).maps.shape == (5, 32, 32)


def test_validation_auroc_per_epoch(tiny_images):
    labels = np.r_[np.zeros(8), np.ones(8)]
    val = torch.cat([tiny_images[:8], torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))])
    det = GANAD(TINY, cache_dir=False, progress=False).fit(tiny_images, validation=(val, labels))
    assert [e["epoch"] for e in det.epoch_log] == [1, 2]
    s = det.score_terms(val)  # the last record is the trained detector's AUROC on the validation set
    assert det.epoch_log[-1]["val_auroc_residual"] == auroc(labels, s.residual)
    assert det.epoch_log[-1]["val_auroc_origin"] == auroc(labels, s.origin)
    plain = GANAD(TINY, cache_dir=False, progress=False).fit(tiny_images)  # monitoring changes no weight
    for p, q in zip([*det.generator.parameters(), *det.encoder.parameters()],
                    [*plain.generator.parameters(), *plain.encoder.parameters()]):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="validation images"):
        GANAD(TINY, cache_dir=False, progress=False).fit(tiny_images, validation=(val[:, 0], labels))


def test_unfitted_and_corrupt(tmp_path):
    with pytest.raises(RuntimeError, match="not trained"):
        GANAD().score_terms(torch.rand(2, 1, 28, 28))
    (tmp_path / "x.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        GANAD.load(tmp_path / "x.pt")


def test_profiles(monkeypatch):
    monkeypatch.setenv("GANAD_PROFILE", "smoke")
    assert get_profile().name == "smoke"
    assert get_profile("CPU").name == "cpu"
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        get_profile("fast")
    det = GANAD.from_profile((1, 28, 28), "mnist", "full", cache_dir=False)
    assert det.config.ngf == 64 and det.config.epochs == 32 and det.profile == "full"
    assert all(f"`{name}`" in profile_table() for name in PROFILES)


def test_profile_budget_has_a_floor_in_generator_steps():
    from ganad_lite.data import load_split
    from ganad_lite.training import Trainer
    cpu = PROFILES["cpu"]
    assert cpu.epochs_for("mnist", 5331) == 12  # the full digit-0 set: the floor (450 steps) does not bind
    assert cpu.epochs_for("mnist", 360) == 150  # the shipped sample: 3 steps an epoch, raised to 450 steps
    assert cpu.epochs_for("mnist") == 12 and PROFILES["smoke"].epochs_for("mnist", 10) == 1
    split = load_split("mnist", 3, root="/nonexistent", download=False)  # the shipped sample
    det = GANAD.from_profile(split, "mnist", "cpu", cache_dir=False)
    steps = Trainer(det.config).steps_per_epoch(len(split.train))
    assert det.config.image_shape == (1, 28, 28) and det.config.epochs * steps >= cpu.min_steps["mnist"]
    assert (det.config.epochs - 1) * steps < cpu.min_steps["mnist"]  # no more epochs than the floor needs


def test_fit_refuses_zero_epochs(tiny_images, tmp_path):
    with pytest.raises(ConfigError, match="GANAD.fit needs epochs >= 1, got epochs=0"):
        GANAD(TINY.replace(epochs=0), cache_dir=tmp_path, progress=False).fit(tiny_images)
    assert not any(tmp_path.iterdir())  # nothing cached as if it were trained


def test_cached_checkpoint_of_other_settings_is_refused(tiny_images, tmp_path):
    a = GANAD(TINY.replace(epochs=1), cache_dir=tmp_path, progress=False).fit(tiny_images)
    wider = TINY.replace(epochs=1, ngf=16, ndf=16)
    run_dir = tmp_path / f"{wider.model_key()}-{data_fingerprint(tiny_images)}"  # where `wider` looks
    run_dir.mkdir()
    shutil.copy(a.run_dir / "checkpoint.pt", run_dir / "checkpoint.pt")  # a stale or copied checkpoint
    with pytest.raises(CheckpointError, match=r"cached run in .*\(ngf: 8 in the checkpoint, 16 asked for; "
                                              r"ndf: 8 in the checkpoint, 16 asked for\)") as err:
        GANAD(wider, cache_dir=tmp_path, progress=False).fit(tiny_images)
    assert str(run_dir) in str(err.value)


def test_run_cache_that_is_a_file_fails_before_training(tiny_images, tmp_path, monkeypatch):
    (tmp_path / "runs").write_text("not a folder")
    monkeypatch.setenv("GANAD_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(Trainer, "train", lambda *a, **k: pytest.fail("trained before the cache was checked"))
    with pytest.raises(NotADirectoryError, match="the run cache .*runs is a file, not a folder: point GANAD_RUNS"):
        GANAD(TINY, progress=False).fit(tiny_images)


def test_run_records_survive_a_temporary_name_held_by_another_writer(tiny_images, tmp_path):
    config = TINY.replace(epochs=1)
    run_dir = tmp_path / f"{config.model_key()}-{data_fingerprint(tiny_images)}"
    (run_dir / ".history.json.tmp").mkdir(parents=True)  # the shared temporary name the records used to take
    det = GANAD(config, cache_dir=tmp_path, progress=False).fit(tiny_images)
    assert json.loads((run_dir / "history.json").read_text())["history"] == det.history


def test_load_refuses_unusable_standardizer(tiny_images, tmp_path):
    det = GANAD(TINY.replace(epochs=1), cache_dir=False, progress=False).fit(tiny_images[:48], normal=tiny_images[48:])
    state = load_checkpoint(det.save(tmp_path / "model.pt"))
    state["standardizer"]["scale"] = 2.0
    save_checkpoint(state, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match=r"extra.pt: unusable standardiser statistics .*got \['origin_mean'"):
        GANAD.load(tmp_path / "extra.pt")
