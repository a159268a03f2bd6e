import math

import numpy as np
import pytest
import torch

from ganad_lite.models import build_encoder, build_generator
from ganad_lite.scoring import Scores, Standardizer, latent_search, minmax_normalize, origin_term, residual_terms, score_images


def numpy_reference(q: np.ndarray, r: np.ndarray, z: np.ndarray):
    """The source formulas written out in NumPy, one image at a time."""
    def w(x):
        span = x.max() - x.min()
        return (x - x.min()) / span if span > 1e-8 else np.zeros_like(x)
    l_n = np.array([np.linalg.norm(w(a) - w(b)) / a.size for a, b in zip(q, r)])
    maps = np.stack([np.abs(w(a) - w(b)).mean(0) for a, b in zip(q, r)])
    l_o = -np.linalg.norm(z, axis=1) / math.sqrt(z.shape[1])
    return l_n, maps, l_o


def test_terms_equal_numpy_reference():
    rng = np.random.default_rng(0)
    q, r, z = rng.random((4, 3, 5, 5)), rng.random((4, 3, 5, 5)) * 0.5, rng.normal(size=(4, 7))
    q[1] = 0.3  # a flat image: normalises to zero
    l_n, maps = residual_terms(torch.from_numpy(q), torch.from_numpy(r))
    ref_n, ref_maps, ref_o = numpy_reference(q, r, z)
    np.testing.assert_allclose(l_n.numpy(), ref_n, rtol=1e-12)
    np.testing.assert_allclose(maps.numpy(), ref_maps, rtol=1e-12)
    np.testing.assert_allclose(origin_term(torch.from_numpy(z)).numpy(), ref_o, rtol=1e-12)


def test_minmax_guard_for_flat_images():
    x = torch.stack([torch.full((1, 4, 4), 0.7), torch.linspace(0.2, 0.6, 16).view(1, 4, 4)])
    w = minmax_normalize(x)
    assert torch.all(w[0] == 0) and float(w[1].min()) == 0 and float(w[1].max()) == pytest.approx(1.0)


def test_score_mix_and_standardised():
    s = Scores(residual=np.array([1e-3, 2e-3, 4e-3]), origin=np.array([-1.0, -0.9, -0.5]), z=np.zeros((3, 2)))
    np.testing.assert_allclose(s.anomaly_score(0.25), 0.25 * s.residual + 0.75 * s.origin)
    with pytest.raises(ValueError, match="held-out normal"):
        s.anomaly_score(0.5, standardized=True)
    s.standardizer = Standardizer(2e-3, 1e-3, -0.8, 0.2)
    np.testing.assert_allclose(s.anomaly_score(0.5, True), 0.5 * (s.residual - 2e-3) / 1e-3 + 0.5 * (s.origin + 0.8) / 0.2)
    np.testing.assert_array_equal(s.decide(-0.6, weight=0.0), [False, False, True])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        s.anomaly_score(1.5)


def test_score_images_matches_manual_pipeline():
    torch.manual_seed(0)
    g, e = build_generator((1, 28, 28), 16, 8).eval(), build_encoder((1, 28, 28), 16, 8).eval()
    images = (torch.rand(10, 1, 28, 28) * 255).to(torch.uint8)
    s = score_images(g, e, images, batch_size=3, keep_recon=True)
    q = images.float() / 255
    with torch.no_grad():
        z = e(q)
        recon = g(z)
    ref_n, ref_maps, ref_o = numpy_reference(q.double().numpy(), recon.double().numpy(), z.double().numpy())
    np.testing.assert_allclose(s.residual, ref_n, rtol=1e-4)
    np.testing.assert_allclose(s.maps, ref_maps, atol=1e-5)
    np.testing.assert_allclose(s.origin, ref_o, rtol=1e-5)
    assert s.maps.shape == (10, 28, 28) and s.recon.shape == (10, 1, 28, 28) and s.z.shape == (10, 16)
    assert len(s.subset([0, 2])) == 2


def test_latent_search_finds_a_planted_latent():
    torch.manual_seed(1)
    g = build_generator((1, 28, 28), 8, 8).eval()
    z_true = torch.randn(4, 8)
    with torch.no_grad():
        target = g(z_true)
    z0 = torch.randn(4, 8, generator=torch.Generator().manual_seed(5))
    err0 = (g(z0) - target).pow(2).mean().item()
    z = latent_search(g, target, steps=150, restarts=3, lr=0.05)
    with torch.no_grad():
        err = (g(z) - target).pow(2).mean().item()
    assert err < 0.2 * err0
    assert all(p.requires_grad for p in g.parameters())  # the weights' flags are restored


@pytest.mark.parametrize("method", ["search", "hybrid"])
def test_search_methods_score_the_searched_latent(method):
    torch.manual_seed(0)
    g, e = build_generator((1, 28, 28), 8, 8), build_encoder((1, 28, 28), 8, 8)
    q = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    s = score_images(g, e, q, method=method, search_steps=3, search_restarts=2, hybrid_steps=3)
    if method == "search":  # random starts from the stream seeded with score_images' seed (0)
        z = latent_search(g, q, steps=3, restarts=2, generator_rng=torch.Generator().manual_seed(0))
    else:  # three search steps from E(Q)
        with torch.no_grad():
            z = latent_search(g, q, steps=3, init=e(q))
    with torch.no_grad():
        l_n, _ = residual_terms(q, g(z))
    assert s.method == method
    np.testing.assert_array_equal(s.z, z.numpy())
    np.testing.assert_allclose(s.residual, l_n.numpy(), rtol=1e-6)
    np.testing.assert_allclose(s.origin, origin_term(z).numpy(), rtol=1e-6)


def test_score_images_bad_input():
    g, e = build_generator((1, 28, 28), 8, 8), build_encoder((1, 28, 28), 8, 8)
    with pytest.raises(ValueError, match="model expects"):
        score_images(g, e, torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="unknown scoring method"):
        score_images(g, e, torch.rand(2, 1, 28, 28), method="magic")
