import pytest
import torch

import math

from torch import nn

from ganad_lite.models import (build_critic, build_encoder, build_generator, count_parameters, he_init_, latent_dim_of,
                               layer_table)


def test_thesis_28x28_parameter_counts():
    # DESIGN: generator 1.56 M, critic 1.03 M, encoder 1.55 M for ngf = ndf = 64, N_z = 128, C = 1.
    assert count_parameters(build_generator((1, 28, 28))) == 1_556_673
    assert count_parameters(build_critic((1, 28, 28))) == 1_030_145
    assert count_parameters(build_encoder((1, 28, 28))) == 1_550_464


def test_generator_sizes_4_8_7_11_28():
    rows = layer_table(build_generator((1, 28, 28)), (128,))
    spatial = [r["output_shape"][1] for r in rows if len(r["output_shape"]) == 3]
    assert spatial == [4, 8, 8, 7, 11, 11, 28, 28]  # reshape, convT, relu, crop, convT, relu, convT, sigmoid


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 28, 28), (3, 32, 32), (1, 16, 16), (3, 64, 64), (3, 128, 128)])
def test_shapes_round_trip(shape):
    g, d, e = build_generator(shape, 32, 8), build_critic(shape, 8), build_encoder(shape, 32, 8)
    x = g(torch.randn(3, 32))
    assert x.shape == (3, *shape)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert d(x).shape == (3, 1)
    assert e(x).shape == (3, 32)


def test_critic_trunk_sizes():
    rows = layer_table(build_critic((3, 32, 32)), (3, 32, 32))
    convs = [r["output_shape"] for r in rows if r["layer"].startswith("Conv2d")]
    assert convs == [(64, 16, 16), (128, 8, 8), (256, 4, 4)]
    assert count_parameters(build_generator((3, 32, 32))) == 1_557_379


def test_no_normalisation_layers():
    for m in (build_generator((3, 64, 64)), build_critic((3, 64, 64)), build_encoder((3, 64, 64))):
        assert not any("Norm" in type(layer).__name__ for layer in m.modules())


@pytest.mark.parametrize("bad", [(2, 28, 28), (1, 30, 30), (1, 28, 32), (28, 28), "abc"])
def test_bad_image_shape(bad):
    with pytest.raises(ValueError, match="image_shape"):
        build_generator(bad)


def test_he_init_scales_every_layer():
    torch.manual_seed(0)
    g = build_generator((1, 28, 28), 128, 16)
    seen = set()
    for layer in g.modules():
        if isinstance(layer, (nn.Linear, nn.ConvTranspose2d)):
            if isinstance(layer, nn.Linear):
                fan_in = layer.in_features
            else:
                fan_in = layer.in_channels * layer.kernel_size[0] ** 2 / layer.stride[0] ** 2
            assert float(layer.weight.std()) == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
            assert float(layer.bias.abs().max()) == 0.0
            seen.add(type(layer))
    assert seen == {nn.Linear, nn.ConvTranspose2d}


def test_generator_output_depends_on_z_at_init():
    # The reason for he_init_: with PyTorch's default initialisation this width-16 generator's images vary
    # by about 0.005 across z at the start; with He initialisation by about 0.05.
    torch.manual_seed(0)
    g = build_generator((1, 28, 28), 128, 16)
    with torch.no_grad():
        spread = float(g(torch.randn(256, 128)).std(0).mean())
    assert spread > 0.03
    g_torch = build_generator((1, 28, 28), 128, 16, init="torch")  # PyTorch's default initialisation
    with torch.no_grad():
        assert float(g_torch(torch.randn(256, 128)).std(0).mean()) < spread / 3


def test_he_init_returns_module_and_unknown_init_is_refused():
    m = nn.Sequential(nn.Conv2d(3, 4, 5))
    assert he_init_(m) is m
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        build_critic((1, 28, 28), 8, init="xavier")


def test_leaky_generator_has_no_relu_and_the_same_shapes():
    relu = build_generator((1, 28, 28), 16, 4)
    leaky = build_generator((1, 28, 28), 16, 4, activation="leaky_relu")
    assert not any(isinstance(m, nn.ReLU) for m in leaky) and any(isinstance(m, nn.ReLU) for m in relu)
    assert leaky(torch.randn(3, 16)).shape == relu(torch.randn(3, 16)).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="activation must be"):
        build_generator((1, 28, 28), 16, 4, activation="gelu")


def test_pixel_norm_generator_reads_only_the_direction_of_z():
    for shape in ((1, 28, 28), (3, 32, 32)):
        torch.manual_seed(0)
        plain = build_generator(shape, 16, 4)
        torch.manual_seed(0)
        normed = build_generator(shape, 16, 4, latent_norm="pixel")
        z = torch.randn(5, 16)
        assert torch.allclose(normed(z), normed(0.1 * z), atol=1e-6)  # G(c z) = G(z)
        assert not torch.allclose(plain(z), plain(0.1 * z), atol=1e-3)
        unit = z / z.square().mean(1, keepdim=True).sqrt()
        assert torch.allclose(normed(z), plain(unit), atol=1e-6)  # the same weights after the normalisation
        assert latent_dim_of(normed) == latent_dim_of(plain) == 16
    with pytest.raises(ValueError, match="latent_norm must be"):
        build_generator((1, 28, 28), 16, 4, latent_norm="batch")
