import pytest
import torch

from ganad_lite.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ganad_lite.config import TrainConfig
from ganad_lite.training import Trainer, TrainingDiverged

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
        if calls["n"] == 4:  # Ctrl-C in the second step of the second epoch (2 steps per epoch)
            raise KeyboardInterrupt
        return real_step(self, n)

    monkeypatch.setattr(Trainer, "generator_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        t.train(tiny_images, epochs=2, checkpoint_path=tmp_path / "c.pt", checkpoint_every_s=0, progress=False)
    monkeypatch.setattr(Trainer, "generator_step", real_step)
    state = load_checkpoint(tmp_path / "c.pt")
    assert (state["epoch"], state["pos"], state["step"]) == (1, 1, 3)  # the periodic checkpoint after step 3
    resumed = Trainer.from_checkpoint(tmp_path / "c.pt").train(tiny_images, epochs=2, progress=False)
    w1, w2 = weights(straight), weights(resumed)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_public_hooks_reproduce_train(tiny_images):
    # the loop of Trainer.train written with its public hooks (what parallel.py and later phases build on)
    straight = Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=1, progress=False)
    t = Trainer(TrainConfig(**TINY))
    data = t.training_data(tiny_images)
    batches = t.epoch_batches(data.shape[0])  # (steps, n_critic, batch)
    assert batches.shape == (2, 2, 16) and t.epoch_step == 0
    entries = []
    while t.epoch_step < batches.shape[0]:
        entries.append(t.record_step(t.train_step(t.prepare(data[i]) for i in batches[t.epoch_step])))
    record = t.end_epoch()
    assert entries == straight.history  # log_every=1: every step logs
    assert (t.epoch, t.step, t.epoch_step) == (1, 2, 0) and record["step"] == 2
    w1, w2 = weights(straight), weights(t)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_record_step_logs_means_every_log_every_steps():
    t = Trainer(TrainConfig(**{**TINY, "log_every": 3}))
    t.epoch_batches(64 * 3)  # 6 steps in this epoch
    logged = [t.record_step(torch.full((5,), float(k))) for k in range(1, 7)]
    assert [e is None for e in logged] == [True, True, False, True, True, False]
    assert [e["critic_loss"] for e in t.history] == [2.0, 5.0]  # means of 1, 2, 3 and of 4, 5, 6
    assert [e["epoch"] for e in t.history] == [0.5, 1.0] and [e["step"] for e in t.history] == [3, 6]


def test_on_epoch_end_adds_to_the_epoch_record_and_changes_nothing(tiny_images):
    plain = Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=2, progress=False)
    seen = []

    def callback(trainer):
        seen.append(trainer.generator.training)  # True at epoch 2 too: the loop undid the eval() below
        trainer.generator.eval()
        return {"mark": 10 * trainer.epoch}

    t = Trainer(TrainConfig(**TINY)).train(tiny_images, epochs=2, on_epoch_end=callback, progress=False)
    assert [e["mark"] for e in t.epoch_log] == [10, 20] and seen == [True, True]
    w1, w2 = weights(plain), weights(t)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_critic_augment_reaches_every_critic_input(tiny_images):
    t = Trainer(TrainConfig(**TINY))
    shapes = []

    def augment(x):
        shapes.append(tuple(x.shape))
        return x

    t.critic_augment = augment
    t.train_step(t.prepare(tiny_images[:16]) for _ in range(2))
    # two critic steps (real, then fake), then the generator step's fake batch
    assert shapes == [(16, 1, 28, 28)] * 5


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


def test_training_images_are_checked(tiny_images):
    t = Trainer(TrainConfig(**TINY))
    with pytest.raises(ValueError, match="model expects"):
        t.train(torch.rand(8, 1, 32, 32), progress=False)
    with pytest.raises(ValueError, match="training images: training needs at least 2 images, got 1"):
        t.train(tiny_images[:1], progress=False)
    data = t.training_data((tiny_images * 255).to(torch.uint8))
    assert data.dtype == torch.uint8 and data.device == t.device  # kept as bytes on the device


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
