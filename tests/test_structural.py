import math

import pytest
import torch
from torch import nn

from ganad_lite.models import build_critic
from ganad_lite.structural import critic_features, feature_residual, gms_map, reduce_map, ssim_map

MAPS = {"ssim": ssim_map, "gms": gms_map, "msgms": lambda q, r: gms_map(q, r, scales=(1, 2, 4))}


def planted(background: torch.Tensor) -> torch.Tensor:
    q = background.clone()
    q[..., 10:18, 12:20] = 1.0  # rows 10-17, cols 12-19 of a 32x32 image
    return q


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("channels", [1, 3])
def test_identical_images_give_a_zero_map(name, channels):
    x = torch.rand(3, channels, 32, 32, generator=torch.Generator().manual_seed(0))
    x[0] = 0.0  # a black image, where only the stabilising constants keep SSIM and GMS defined
    m = MAPS[name](x, x.clone())
    assert m.shape == (3, 32, 32)
    assert m.abs().max() < 1e-6


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("channels", [1, 3])
def test_planted_square_holds_every_maximum(name, channels):
    r = torch.full((2, channels, 32, 32), 0.2)
    m = MAPS[name](planted(r), r)[0]
    inside = torch.zeros(32, 32, dtype=torch.bool)
    inside[10:18, 12:20] = True
    assert inside.view(-1)[m.argmax()]
    assert inside[m >= m.max() - 1e-6].all()  # ties included
    assert m.max() > 0.9


@pytest.mark.parametrize("name", MAPS)
def test_planted_square_on_texture_is_localised(name):
    r = 0.5 * torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    m = MAPS[name](planted(r), r)
    near = torch.zeros(32, 32, dtype=torch.bool)
    near[7:21, 9:23] = True  # the square grown by 3 pixels, the reach of the filters
    assert (m[:, near].mean(1) > 10 * m[:, ~near].mean(1)).all()


def test_ssim_map_matches_the_formula_on_flat_images():
    # Flat images: sigma = 0, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1) with C1 = 0.01^2.
    q, r = torch.full((1, 1, 16, 16), 0.6), torch.full((1, 1, 16, 16), 0.3)
    c1 = 1e-4
    expected = torch.full((1, 16, 16), 1 - (2 * 0.6 * 0.3 + c1) / (0.36 + 0.09 + c1), dtype=torch.float64)
    assert torch.allclose(ssim_map(q.double(), r.double()), expected, atol=1e-9)
    assert torch.allclose(ssim_map(q, r), expected.float(), atol=1e-4)  # float32 variances cancel to ~1e-8


def test_gms_map_matches_the_formula_on_ramps():
    # Horizontal ramps of slope a, b per pixel: kornia's normalised Sobel magnitude is sqrt(slope^2 + 1e-6).
    cols = torch.arange(16.0, dtype=torch.float64).repeat(16, 1)[None, None]
    q, r = 0.04 * cols, 0.01 * cols
    g_q, g_r, c = math.sqrt(0.04 ** 2 + 1e-6), math.sqrt(0.01 ** 2 + 1e-6), 170 / 255 ** 2 / 4
    expected = 1 - (2 * g_q * g_r + c) / (g_q ** 2 + g_r ** 2 + c)
    assert torch.allclose(gms_map(q, r)[0, 1:-1, 1:-1], torch.full((14, 14), expected, dtype=torch.float64))


def test_reduce_map_known_values():
    maps = torch.tensor([[[0.0, 1.0], [2.0, 5.0]], [[4.0, 4.0], [0.0, 0.0]]])
    assert torch.equal(reduce_map(maps), torch.tensor([2.0, 2.0]))
    assert torch.equal(reduce_map(maps, "topk", k=1), torch.tensor([5.0, 4.0]))
    assert torch.equal(reduce_map(maps, "topk", k=2), torch.tensor([3.5, 4.0]))
    assert torch.equal(reduce_map(maps, "topk", k=4), reduce_map(maps, "mean"))


def test_reduce_map_refuses_bad_arguments():
    maps = torch.rand(2, 4, 4)
    with pytest.raises(ValueError, match="reduction"):
        reduce_map(maps, "median")
    with pytest.raises(ValueError, match="k must"):
        reduce_map(maps, "topk", k=17)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        reduce_map(maps[0])


def test_feature_residual_zero_for_identical_and_by_hand():
    torch.manual_seed(0)
    critic = build_critic((1, 16, 16), ndf=4)
    q, r = torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16)
    assert feature_residual(critic, q, q.clone()).abs().max() < 1e-6
    trunk = nn.Sequential(*list(critic)[:-1])
    f_q, f_r = trunk(q), trunk(r)
    assert f_q.shape == (3, 4 * 2 * 4 * 4)  # ndf * 2 channels at 4x4
    expected = ((f_q - f_r) ** 2).sum(1) / f_q.shape[1]
    assert torch.allclose(feature_residual(critic, q, r), expected, atol=1e-6)
    assert torch.equal(critic_features(critic, q), f_q)


def test_feature_residual_is_differentiable_in_the_reconstruction():
    critic = build_critic((1, 16, 16), ndf=4)
    r = torch.rand(2, 1, 16, 16, requires_grad=True)
    feature_residual(critic, torch.rand(2, 1, 16, 16), r).sum().backward()
    assert r.grad.abs().sum() > 0


def test_bad_inputs_are_refused():
    x = torch.rand(2, 1, 16, 16)
    with pytest.raises(ValueError, match="one shape"):
        ssim_map(x, torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="as_float_images"):
        gms_map((x * 255).to(torch.uint8), x)
    with pytest.raises(ValueError, match="window_size"):
        ssim_map(x[..., :8, :8], x[..., :8, :8])
    with pytest.raises(ValueError, match="scales"):
        gms_map(x, x, scales=(1, 32))
    with pytest.raises(ValueError, match="nn.Linear"):
        feature_residual(nn.Sequential(nn.Flatten()), x, x)
