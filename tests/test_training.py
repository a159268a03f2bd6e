import pytest
import torch

from ganad_lite.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ganad_lite.config import TrainConfig
from ganad_lite.training import Trainer, TrainingDiverged, check_images

TINY = dict(image_shape=(1, 28, 28), latent_dim=16, ngf=8, ndf=8, batch_size=16, n_critic=2, log_every=1, seed=3)


def weights(trainer):
    return {f"{k}.{n}": t.clone() for k, m in trainer.models.items() for n, t in m.state_dict().items()}


def test_short_fit_lowers_reconstruction_error(tiny_images):
    # The encoder loss |G(z) - G(E(G(z)))| starts small (an untrained G's images vary little with z), so
    # the meaningful check is on real images: |x - G(E(x))| must fall well below its value at initialisation
    # (about 0.44 for these dark images against G's mid-grey start; 0.19 after 24 epochs).
    t = Trainer(TrainConfig(**{**TINY, "lr": 1e-3}))
    with torch.no_grad():
        before = (tiny_images - t.generator(t.encoder(tiny_images))).abs().mean()
    t.train(tiny_images, epochs=24, progress=False)
    with torch.no_grad():
        after = (tiny_images - t.generator(t.encoder(tiny_images))).abs().mean()
    assert after < 0.6 * before
    assert len(t.history) == 24 * t.steps_per_epoch(64)
    assert t.epoch == 24 and len(t.epoch_log) == 24
    assert {"critic_loss", "wasserstein", "penalty", "generator_loss", "encoder_loss"} <= set(t.history[-1])


def test_init_is_part_of_the_run_key():
    # a run cache filled before a change of initialisation must not be read as the new scheme's run
    assert TrainConfig(**TINY).model_key() != TrainConfig(**TINY, init="torch").model_key()
    t = Trainer(TrainConfig(**TINY, init="torch"))
    assert float(t.generator[0].bias.abs().max()) > 0  # PyTorch's default init draws nonzero biases


def test_same_seed_same_weights(tiny_images):
    a = Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=1, progress=False)
    b = Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=1, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(weights(a).values(), weights(b).values()))


def test_resume_after_epoch_gives_identical_weights(tiny_images, tmp_path):
    straight = Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=2, progress=False)
    Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=1, checkpoint_path=tmp_path / "c.pt", progress=False)
    resumed = Trainer.from_checkpoint(tmp_path / "c.pt").train(tiny_images, epochs=2, progress=False)
    w1, w2 = weights(straight), weights(resumed)
    assert w1.keys() == w2.keys()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert resumed.step == straight.step and resumed.history == straight.history


def test_resume_mid_epoch_after_interrupt(tiny_images, tmp_path, monkeypatch):
    straight = Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=2, progress=False)
    t = Trainer(TrainConfig(**TINY))
    calls = {"n": 0}
    real_step = Trainer.generator_step

    def interrupted(self, n):
        calls["n"] += 1
        if calls["n"] == 3:  # Ctrl-C in the middle of the second epoch
            raise KeyboardInterrupt
        return real_step(self, n)

    monkeypatch.setattr(Trainer, "generator_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        t.train(tiny_images, epochs=2, checkpoint_path=tmp_path / "c.pt", checkpoint_every_s=0, progress=False)
    monkeypatch.setattr(Trainer, "generator_step", real_step)
    state = load_checkpoint(tmp_path / "c.pt")
    assert state["epoch"] == 1 and state["pos"] == 0 or state["pos"] > 0
    resumed = Trainer.from_checkpoint(tmp_path / "c.pt").train(tiny_images, epochs=2, progress=False)
    w1, w2 = weights(straight), weights(resumed)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_images, tmp_path):
    path = tmp_path / "c.pt"
    t = Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=1, checkpoint_path=path, progress=False)
    with torch.no_grad():
        t.critic[0].weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match=r"non-finite .* generator step \d+ .*epoch 2.*last good checkpoint"):
        t.train(tiny_images, epochs=2, checkpoint_path=path, progress=False)
    state = load_checkpoint(path)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["models"]["critic"].values())


def test_checkpoint_is_atomic_and_weights_only(tmp_path):
    path = save_checkpoint({"x": torch.arange(3), "note": "ok"}, tmp_path / "a" / "c.pt")
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # no temporary file left behind
    assert torch.equal(load_checkpoint(path)["x"], torch.arange(3))


def test_corrupt_checkpoint_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"a": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a ganad_lite"):
        load_checkpoint(tmp_path / "other.pt")


def test_incompatible_checkpoint_error(tiny_images, tmp_path):
    Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=1, checkpoint_path=tmp_path / "c.pt", progress=False)
    state = load_checkpoint(tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="does not fit this model"):
        Trainer(TrainConfig(**{**TINY, "ngf": 16})).load_state_dict(state)


@pytest.mark.parametrize("images, message", [
    (torch.rand(4, 28, 28), "channel axis"),
    (torch.rand(4, 28, 28, 1), "channels-last"),
    (torch.rand(4, 1, 32, 32), "model expects"),
    (torch.rand(4, 1, 28, 28) * 255, r"must lie in \[0, 1\]"),
    (torch.full((4, 1, 28, 28), float("nan")), "NaN"),
    (torch.ones(4, 1, 28, 28, dtype=torch.int64), "uint8"),
    (torch.rand(0, 1, 28, 28), "empty"),
])
def test_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        check_images(images, (1, 28, 28))


def test_bad_config_and_device():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="init must be 'he' or 'torch'"):
        TrainConfig(init="xavier")
    with pytest.raises(ValueError, match="unknown device"):
        Trainer(TrainConfig(**TINY), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            Trainer(TrainConfig(**TINY), device="cuda")
