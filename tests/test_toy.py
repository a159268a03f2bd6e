import numpy as np
import pytest
import torch
from scipy.stats import norm

import ganad_lite.losses
from ganad_lite import toy


@pytest.fixture(autouse=True)
def _run_cache(tmp_path, monkeypatch):
    """Each test keeps its toy runs in its own run cache."""
    monkeypatch.setenv("GANAD_RUNS", str(tmp_path))


def test_ring_shapes_and_modes():
    x = toy.ring_of_gaussians(800, modes=8, radius=2.0, std=0.05, seed=3)
    assert x.shape == (800, 2) and x.dtype == torch.float32
    assert torch.allclose(x.norm(dim=1).mean(), torch.tensor(2.0), atol=0.02)
    cov = toy.mode_coverage(x, toy.ring_centers(8, 2.0), std=0.05)
    assert cov["covered"] == 8 and cov["quality"] > 0.98 and cov["counts"].shape == (8,)
    # a collapsed sample set (every point on one mode) covers one mode only
    one = toy.ring_centers()[:1].repeat(100, 1)
    assert toy.mode_coverage(one, toy.ring_centers())["covered"] == 1


def test_grid_shape_and_seed():
    a, b = toy.grid_of_gaussians(50, side=5, seed=1), toy.grid_of_gaussians(50, side=5, seed=1)
    assert a.shape == (50, 2) and torch.equal(a, b)
    assert toy.grid_centers(5).shape == (25, 2)
    assert not torch.equal(a, toy.grid_of_gaussians(50, side=5, seed=2))


def test_mlp_and_surface_shapes():
    critic = toy.mlp(2, 1, hidden=16, depth=2)
    assert critic(torch.zeros(7, 2)).shape == (7, 1)
    xs, ys, v = toy.critic_surface(critic, (-1, 1), (-2, 2), n=11)
    assert xs.shape == ys.shape == (11,) and v.shape == (11, 11)
    # values[i, j] is the critic at (xs[j], ys[i])
    with torch.no_grad():
        ref = critic(torch.tensor([[xs[3], ys[7]]])).item()
    assert v[7, 3] == pytest.approx(ref, rel=1e-5, abs=1e-6)
    assert toy.layer_gradient_norms(critic, torch.randn(5, 2)).shape == (3,)


def test_unknown_loss_and_bad_data_are_rejected():
    with pytest.raises(ValueError, match="unknown loss"):
        toy.train_toy_gan(toy.ring_of_gaussians(10), loss="hinge", steps=1)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        toy.train_toy_gan(torch.zeros(10, 3), steps=1)


@pytest.mark.parametrize("loss", toy.LOSSES)
def test_train_toy_gan_records_and_is_deterministic(loss):
    data = toy.ring_of_gaussians(500, seed=0)
    kw = dict(loss=loss, steps=6, snapshot_every=3, batch_size=32, hidden=16, depth=2, n_samples=40, n_eval=30, seed=4)
    a, b = toy.train_toy_gan(data, **kw), toy.train_toy_gan(data, cache=False, **kw)
    assert a.snapshot_steps == [0, 3, 6]
    assert len(a.samples) == len(a.grad_norms) == 3
    assert a.samples[0].shape == (40, 2) and a.grad_norms[0].shape == (30,)
    assert len(a.history["critic_loss"]) == len(a.history["generator_loss"]) == 6
    for x, y in zip(a.samples, b.samples):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_equal(a.history, b.history)  # bit for bit; NaN (no Wasserstein estimate) equals NaN
    c = toy.train_toy_gan(data, **{**kw, "seed": 5})
    assert not np.array_equal(a.samples[-1], c.samples[-1])
    assert a.sample(9).shape == (9, 2)


def test_toy_runs_are_cached_by_settings_points_and_code(tmp_path, monkeypatch):
    data = toy.ring_of_gaussians(300, seed=0)
    kw = dict(loss="wgan_gp", steps=4, snapshot_every=2, batch_size=32, hidden=8, depth=2, n_samples=20, n_eval=10)
    first = toy.train_toy_gan(data, **kw)
    files = sorted((tmp_path / "toy").glob("gan-wgan_gp-*.pt"))
    monkeypatch.setattr(toy.training, "_run_steps", lambda *a, **k: pytest.fail("trained again"))
    kept = toy.train_toy_gan(data, **kw)  # read back: no training step runs
    assert sorted((tmp_path / "toy").glob("*.pt")) == files and len(files) == 1
    for x, y in zip(first.samples + first.grad_norms, kept.samples + kept.grad_norms):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_equal(first.history, kept.history)
    assert kept.settings == first.settings and kept.seconds == first.seconds
    np.testing.assert_array_equal(first.sample(5), kept.sample(5))  # the networks themselves came back
    with pytest.raises(pytest.fail.Exception):
        toy.train_toy_gan(data, **{**kw, "seed": 1})  # another setting: trained, not read
    with pytest.raises(pytest.fail.Exception):
        toy.train_toy_gan(data + 0.01, **kw)  # other points: trained, not read
    files[0].write_bytes(b"not a checkpoint")
    with pytest.raises(pytest.fail.Exception):
        toy.train_toy_gan(data, **kw)  # a damaged file is trained again, never a crash


def test_toy_critic_runs_are_cached(tmp_path, monkeypatch):
    real = toy.ring_of_gaussians(200, seed=0)
    kw = dict(loss="wgan_clip", steps=3, hidden=8, depth=1, batch_size=32, n_eval=16)
    first = toy.train_toy_critic(real, real + 1.0, **kw)
    monkeypatch.setattr(toy.training, "_run_steps", lambda *a, **k: pytest.fail("trained again"))
    kept = toy.train_toy_critic(real, real + 1.0, **kw)
    assert kept.critic_loss == first.critic_loss and kept.generator_grad == first.generator_grad
    np.testing.assert_array_equal(toy.layer_gradient_norms(first.critic, real[:8]),
                                  toy.layer_gradient_norms(kept.critic, real[:8]))
    with pytest.raises(pytest.fail.Exception):
        toy.train_toy_critic(real, real + 2.0, **kw)  # other fake points: trained again


def test_clipping_keeps_weights_in_range():
    run = toy.train_toy_gan(toy.ring_of_gaussians(200), loss="wgan_clip", steps=3, clip=0.02, hidden=16, depth=2,
                            batch_size=32)
    assert max(p.abs().max().item() for p in run.critic.parameters()) <= 0.02 + 1e-7


def test_toy_gp_uses_the_package_penalty(monkeypatch):
    calls = []
    original = ganad_lite.losses.gradient_penalty

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ganad_lite.losses, "gradient_penalty", counting)
    toy.train_toy_gan(toy.ring_of_gaussians(200), loss="wgan_gp", steps=2, n_critic=3, hidden=16, depth=2,
                      batch_size=32, snapshot_every=10)
    # 2 x 3 critic steps go through losses.critic_loss -> gradient_penalty, and the two snapshots (before the
    # first step and after the last) measure the critic's gradient norms with it too
    assert len(calls) == 2 * 3 + 2


def test_gradient_penalty_critic_has_unit_gradients_and_clipped_one_does_not():
    """After a short run against a fixed fake set, the WGAN-GP critic's gradient norms at interpolates sit
    near 1 (what the penalty asks for); the weight-clipped critic's are far smaller. Before training, the
    norms are far from 1 for both, so it is the training objective that makes the difference."""
    real = toy.ring_of_gaussians(2000, seed=0)
    fake = real + torch.randn(real.shape, generator=torch.Generator().manual_seed(1))
    kw = dict(steps=150, snapshot_every=150, hidden=32, depth=2, batch_size=128, n_eval=256)
    gp = toy.train_toy_critic(real, fake, loss="wgan_gp", **kw)
    clip = toy.train_toy_critic(real, fake, loss="wgan_clip", clip=0.01, **kw)
    assert abs(np.median(gp.grad_norms[0]) - 1) > 0.5          # untrained: not unit norm
    gp_err = np.abs(gp.grad_norms[-1] - 1).mean()
    clip_err = np.abs(clip.grad_norms[-1] - 1).mean()
    assert gp_err < 0.25, gp_err
    assert clip_err > 0.9, clip_err
    assert gp_err < clip_err


def test_toy_gan_gp_norms_closer_to_one_than_clipping():
    data = toy.ring_of_gaussians(1000, seed=0)
    kw = dict(steps=40, n_critic=5, hidden=32, depth=2, batch_size=128, n_eval=256)
    gp = toy.train_toy_gan(data, loss="wgan_gp", **kw)
    clip = toy.train_toy_gan(data, loss="wgan_clip", **kw)
    gp_err, clip_err = np.abs(gp.grad_norms[-1] - 1).mean(), np.abs(clip.grad_norms[-1] - 1).mean()
    assert gp_err < 0.3 and gp_err < clip_err, (gp_err, clip_err)


def test_trained_discriminator_matches_optimal_formula_in_1d():
    """D*(x) = p_data / (p_data + p_g): a cross-entropy discriminator trained on samples of two 1-D Gaussians
    approaches it, and clearly differs from the swapped formula p_g / (p_data + p_g)."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(8000, 1, generator=g)                  # p_data = N(0, 1)
    fake = 1.5 + 0.5 * torch.randn(8000, 1, generator=g)      # p_g = N(1.5, 0.5^2)
    run = toy.train_toy_critic(real, fake, loss="non_saturating", steps=300, hidden=32, depth=2, seed=0)
    x = torch.linspace(-1.5, 2.5, 81)[:, None]
    with torch.no_grad():
        d = torch.sigmoid(run.critic(x)).squeeze(1).numpy()
    p_data, p_g = norm.pdf(x.squeeze(1).numpy(), 0, 1), norm.pdf(x.squeeze(1).numpy(), 1.5, 0.5)
    d_star = toy.optimal_discriminator(p_data, p_g)
    assert np.abs(d - d_star).mean() < 0.05
    assert np.abs(d - toy.optimal_discriminator(p_g, p_data)).mean() > 0.3


def test_optimal_discriminator_edge_cases():
    np.testing.assert_allclose(toy.optimal_discriminator([1.0, 0.0, 0.0, 3.0], [1.0, 2.0, 0.0, 1.0]),
                               [0.5, 0.0, 0.5, 0.75])


def test_saturating_gradient_vanishes_against_a_confident_discriminator():
    """With disjoint supports the discriminator becomes confident and the saturating generator loss stops
    pushing, while the non-saturating one keeps a large gradient."""
    real = toy.ring_of_gaussians(1000)
    fake = 0.1 * torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    run = toy.train_toy_critic(real, fake, loss="saturating", steps=200, snapshot_every=200, hidden=32, depth=2)
    sat, ns = run.generator_grad["saturating"], run.generator_grad["non_saturating"]
    assert sat[-1] < 0.1 * sat[0] and ns[-1] > ns[0]
    assert ns[-1] > 100 * sat[-1]


def test_default_steps_follow_profile(monkeypatch):
    monkeypatch.setenv("GANAD_PROFILE", "smoke")
    smoke = toy.default_steps("gan")
    monkeypatch.setenv("GANAD_PROFILE", "cpu")
    assert toy.default_steps("gan") > smoke
    with pytest.raises(ValueError, match="kind"):
        toy.default_steps("encoder")


def test_one_thread_restores_setting():
    before = torch.get_num_threads()
    toy.train_toy_gan(toy.ring_of_gaussians(100), loss="non_saturating", steps=1, hidden=8, depth=1, batch_size=16)
    assert torch.get_num_threads() == before
