"""No silent wrong answers, no lost work: degenerate standardiser statistics are refused, and Ctrl-C or
SIGTERM during training writes a checkpoint of whole steps that resumes bit for bit."""
import signal

import numpy as np
import pytest
import torch

from ganad_lite.checkpoint import load_checkpoint
from ganad_lite.config import TrainConfig
from ganad_lite.models import build_encoder, build_generator
from ganad_lite.scoring import Scores, ScoringError, Standardizer, score_images
from ganad_lite.training import Trainer

# 64 images / (batch 8 x 2 critic steps) = 4 generator steps per epoch; losses logged every 3 steps
CONFIG = TrainConfig(image_shape=(1, 28, 28), latent_dim=16, ngf=8, ndf=8, batch_size=8, n_critic=2, log_every=3,
                     epochs=2, seed=5)


def weights(trainer):
    return {f"{k}.{n}": t.clone() for k, m in trainer.models.items() for n, t in m.state_dict().items()}


def assert_same_run(a: Trainer, b: Trainer):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a.epoch, a.step) == (b.epoch, b.step)
    assert a.history == b.history  # every logged mean, including the window the stop cut in two


@pytest.fixture(scope="module")
def straight():
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(64, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    return images, Trainer(CONFIG).train(images, progress=False)


def signal_in_step(monkeypatch, at_step: int, signals: tuple):
    """Deliver `signals` to this process inside generator step `at_step` (1-based), as Ctrl-C or kill would."""
    real_step, calls = Trainer.generator_step, {"n": 0}

    def step(self, n):
        calls["n"] += 1
        if calls["n"] == at_step:
            for sig in signals:
                signal.raise_signal(sig)
        return real_step(self, n)

    monkeypatch.setattr(Trainer, "generator_step", step)
    return real_step


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_after_the_step_with_a_checkpoint_that_resumes_exactly(straight, tmp_path, monkeypatch, sig):
    images, uninterrupted = straight
    real_step = signal_in_step(monkeypatch, at_step=6, signals=(sig,))
    with pytest.raises(KeyboardInterrupt, match=signal.Signals(sig).name):
        Trainer(CONFIG).train(images, checkpoint_path=tmp_path / "c.pt", checkpoint_every_s=1e9, progress=False)
    monkeypatch.setattr(Trainer, "generator_step", real_step)
    state = load_checkpoint(tmp_path / "c.pt")
    assert (state["epoch"], state["pos"], state["step"], state["n_summed"]) == (1, 2, 6, 2)  # step 6 done, 2 unlogged
    resumed = Trainer.from_checkpoint(tmp_path / "c.pt").train(images, progress=False)
    assert_same_run(resumed, uninterrupted)


def test_interrupt_between_epochs_saves_and_resumes_exactly(straight, tmp_path):
    images, uninterrupted = straight

    def stop(trainer):
        raise KeyboardInterrupt  # e.g. Ctrl-C while the per-epoch validation runs

    with pytest.raises(KeyboardInterrupt):
        Trainer(CONFIG).train(images, checkpoint_path=tmp_path / "c.pt", on_epoch_end=stop, progress=False)
    assert load_checkpoint(tmp_path / "c.pt")["epoch"] == 1
    assert_same_run(Trainer.from_checkpoint(tmp_path / "c.pt").train(images, progress=False), uninterrupted)


def test_second_signal_stops_at_once_and_writes_no_half_step(straight, tmp_path, monkeypatch):
    images, _ = straight
    signal_in_step(monkeypatch, at_step=2, signals=(signal.SIGINT, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        Trainer(CONFIG).train(images, checkpoint_path=tmp_path / "c.pt", checkpoint_every_s=1e9, progress=False)
    assert not (tmp_path / "c.pt").exists()  # no checkpoint yet, and none of a step cut in half


def test_previous_signal_handlers_come_back(straight):
    images, _ = straight
    seen = []
    handler = lambda signum, frame: seen.append(signum)  # noqa: E731
    old = signal.signal(signal.SIGTERM, handler)
    sigint = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a job started in the background
    try:
        Trainer(CONFIG.replace(epochs=1)).train(images, progress=False)
        assert signal.getsignal(signal.SIGTERM) is handler
        assert signal.getsignal(signal.SIGINT) == sigint
        signal.raise_signal(signal.SIGTERM)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)


# -- standardiser statistics ---------------------------------------------------------------------------------
def tiny_model():
    torch.manual_seed(0)
    return build_generator((1, 28, 28), 16, 8).eval(), build_encoder((1, 28, 28), 16, 8).eval()


def test_standardizer_refuses_one_or_identical_images():
    g, e = tiny_model()
    one = (torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    with pytest.raises(ScoringError, match="at least 2 distinct held-out normal images, got 1"):
        Standardizer.fit(score_images(g, e, one))
    with pytest.raises(ScoringError, match="identical images.*at least 2 distinct held-out normal images"):
        Standardizer.fit(score_images(g, e, one.repeat(5, 1, 1, 1)))  # std ~0 used to be clamped to 1e-12


def test_standardizer_of_distinct_images_is_their_mean_and_std():
    g, e = tiny_model()
    images = (torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8)
    s = score_images(g, e, images)
    st = Standardizer.fit(s)
    assert st.as_dict() == {"residual_mean": pytest.approx(np.mean(s.residual)),
                            "residual_std": pytest.approx(np.std(s.residual)),
                            "origin_mean": pytest.approx(np.mean(s.origin)),
                            "origin_std": pytest.approx(np.std(s.origin))}
    s.standardizer = st
    z = s.anomaly_score(0.0, standardized=True)  # the origin term alone, z-scored on the same images
    assert np.mean(z) == pytest.approx(0.0, abs=1e-6) and np.std(z) == pytest.approx(1.0)


@pytest.mark.parametrize("stats, message", [
    ((1e-3, 0.0, -1.0, 0.1), "residual_std = 0 is no spread"),
    ((1e-3, 1e-4, -1.0, 1e-12), "origin_std = 1e-12 is no spread"),
    ((1e-3, 1e-4, float("nan"), 0.1), "origin_mean must be a finite number"),
    ((1e-3, "0.1", -1.0, 0.1), "residual_std must be a finite number"),
])
def test_standardizer_fields_are_checked(stats, message):
    with pytest.raises(ScoringError, match=message):
        Standardizer(*stats)


def test_standardizer_from_dict_names_wrong_keys():
    good = Standardizer(1e-3, 1e-4, -1.0, 0.1)
    assert Standardizer.from_dict(good.as_dict()) == good
    with pytest.raises(ScoringError, match=r"exactly the keys .*got \['extra', 'origin_mean'"):
        Standardizer.from_dict({**good.as_dict(), "extra": 1.0})


def test_score_weight_must_be_a_number_in_the_unit_interval():
    s = Scores(residual=np.array([1e-3, 2e-3]), origin=np.array([-1.0, -0.9]), z=np.zeros((2, 2)))
    for bad in ("0.5", None, True, float("nan"), 1.5, np.array([0.5, 0.5])):
        with pytest.raises(ScoringError, match=r"score weight \(lambda\) must be a number in \[0, 1\]"):
            s.anomaly_score(bad)
    with pytest.raises(ValueError, match="threshold .* must be finite"):
        s.decide(float("nan"))
