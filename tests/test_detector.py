import json

import numpy as np
import pytest
import torch

from ganad_lite import GANAD, TrainConfig, get_profile
from ganad_lite.checkpoint import CheckpointError
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
