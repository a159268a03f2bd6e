import pytest
import torch

from ganad_lite.izif import fit_encoder_izif, izif_loss
from ganad_lite.models import build_critic, build_encoder, build_generator

SHAPE = (1, 16, 16)


def tiny_networks(seed: int = 0):
    torch.manual_seed(seed)
    return build_generator(SHAPE, 8, 4), build_critic(SHAPE, 4), build_encoder(SHAPE, 8, 4)


def flat_weights(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()]).clone()


def images(n: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


def test_izif_loss_by_hand():
    g, d, e = tiny_networks()
    x = images(5)
    out = izif_loss(g, d, e, x, kappa=0.3)
    recon = g(e(x))
    image = ((x - recon) ** 2).sum() / (5 * 16 * 16)
    h_x, h_r = x, recon
    for layer in list(d)[:-1]:  # every layer but the final Linear
        h_x, h_r = layer(h_x), layer(h_r)
    n_f = h_x.shape[1]
    assert n_f == 4 * 2 * 4 * 4
    features = ((h_x - h_r) ** 2).sum() / (5 * n_f)
    assert torch.allclose(out["image"], image, atol=1e-7)
    assert torch.allclose(out["features"], features, atol=1e-7)
    assert torch.allclose(out["loss"], image + 0.3 * features, atol=1e-7)
    assert all(v.dim() == 0 for v in out.values())


def test_fit_trains_only_the_encoder_and_restores_flags():
    g, d, e = tiny_networks()
    list(g.parameters())[0].requires_grad_(False)  # a flag the caller set stays as it was
    g.train(), d.eval()
    before = [flat_weights(m) for m in (g, d, e)]
    fit_encoder_izif(g, d, e, images(), steps=3, batch_size=8, lr=1e-3, rng=torch.Generator().manual_seed(0))
    assert torch.equal(flat_weights(g), before[0]) and torch.equal(flat_weights(d), before[1])
    assert not torch.allclose(flat_weights(e), before[2])
    assert [p.requires_grad for p in g.parameters()] == [False] + [True] * (len(list(g.parameters())) - 1)
    assert all(p.requires_grad for p in d.parameters()) and all(p.requires_grad for p in e.parameters())
    assert g.training and not d.training and e.training
    assert all(p.grad is None for p in list(g.parameters()) + list(d.parameters()))


def test_fit_lowers_the_loss_and_is_reproducible():
    results = []
    for _ in range(2):
        g, d, e = tiny_networks()
        with torch.no_grad():  # images G can draw, so that a good E brings the loss near 0
            x = g(torch.randn(32, 8, generator=torch.Generator().manual_seed(2)))
        start = izif_loss(g, d, e, x)["loss"].item()
        history = fit_encoder_izif(g, d, e, x, steps=40, batch_size=16, lr=1e-3,
                                   rng=torch.Generator().manual_seed(5), select_every=20)
        results.append(flat_weights(e))
    assert [h["step"] for h in history] == [20, 40]
    assert history[-1]["loss"] < 0.85 * start
    assert torch.equal(results[0], results[1])


def test_history_entries_average_their_interval():
    g, d, e = tiny_networks()
    history = fit_encoder_izif(g, d, e, images(), steps=5, batch_size=8, kappa=2.0, select_every=2)
    assert [h["step"] for h in history] == [2, 4, 5]
    for h in history:
        assert h["loss"] == pytest.approx(h["image"] + 2.0 * h["features"], rel=1e-5)
        assert "select" not in h


def test_select_keeps_the_weights_of_the_best_call():
    g, d, e = tiny_networks()
    seen = []

    def select(encoder):
        assert not encoder.training and not torch.is_grad_enabled()
        seen.append(flat_weights(encoder))
        return 1.0 if len(seen) == 3 else 0.0  # prefers the state after step 3

    history = fit_encoder_izif(g, d, e, images(), steps=5, batch_size=8, lr=1e-3, select=select,
                               select_every=1)
    assert [h["select"] for h in history] == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert torch.equal(flat_weights(e), seen[2])
    assert not torch.allclose(seen[2], seen[4])
    assert e.training


def test_select_ties_keep_the_first():
    g, d, e = tiny_networks()
    seen = []

    def select(encoder):
        seen.append(flat_weights(encoder))
        return 0.5

    fit_encoder_izif(g, d, e, images(), steps=4, batch_size=8, lr=1e-3, select=select, select_every=2)
    assert len(seen) == 2 and torch.equal(flat_weights(e), seen[0])


def test_bad_arguments_are_refused():
    g, d, e = tiny_networks()
    with pytest.raises(ValueError, match="batch_size"):
        fit_encoder_izif(g, d, e, images(4), steps=1, batch_size=8)
    with pytest.raises(ValueError, match="steps"):
        fit_encoder_izif(g, d, e, images(), steps=0, batch_size=8)
    with pytest.raises(ValueError, match="finite"):
        fit_encoder_izif(g, d, e, images(), steps=1, batch_size=8, select=lambda enc: float("nan"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_encoder_izif(g, d, e, images() * 2, steps=1, batch_size=8)
