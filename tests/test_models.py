import pytest
import torch

from ganad_lite.models import build_critic, build_encoder, build_generator, count_parameters, layer_table


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
