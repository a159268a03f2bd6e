import pytest
import torch

from ganad_lite.augment import AugmentParams, DiffAugment, adjust_color, cut_out, translate


def test_identity_policy_returns_the_input():
    x = torch.rand(4, 3, 16, 16)
    assert DiffAugment(policy=())(x) is x
    real, fake = DiffAugment(policy=()).augment_pair(x, x.flip(0))
    assert real is x and torch.equal(fake, x.flip(0))


def test_translate_moves_pixels_and_fills_zeros():
    x = torch.zeros(2, 1, 8, 8)
    x[:, 0, 3, 4] = 1.0
    out = translate(x, torch.tensor([[2, -1], [0, 0]]))
    assert out.shape == x.shape
    assert out[0, 0, 5, 3] == 1.0 and out[0].sum() == 1.0  # moved down 2, left 1
    assert torch.equal(out[1], x[1])  # zero shift
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]  # columns 0..7
    shifted = translate(ramp, torch.tensor([[0, 3]]))
    assert torch.equal(shifted[0, 0, 0], torch.tensor([0.0, 0, 0, 0, 1, 2, 3, 4]))


def test_translation_keeps_shape_and_bounds_the_shift():
    x = torch.rand(16, 3, 32, 32)
    aug = DiffAugment(policy=("translation",), translation=0.125)
    params = aug.sample(16, 32, 32, generator=torch.Generator().manual_seed(0))
    assert params.shift.abs().max() <= 4 and params.shift.dtype == torch.long
    assert params.brightness is None and params.cutout is None
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_color_by_hand():
    x = torch.rand(2, 3, 4, 4)
    b, s, c = torch.tensor([0.1, -0.2]), torch.tensor([0.5, 1.5]), torch.tensor([1.2, 0.7])
    out = adjust_color(x, b, s, c)
    i = 1
    y = x[i] + b[i]
    y = (y - y.mean(0)) * s[i] + y.mean(0)
    y = (y - y.mean()) * c[i] + y.mean()
    assert torch.allclose(out[i], y, atol=1e-6)
    grey = torch.rand(2, 1, 4, 4)  # one channel: saturation has nothing to act on
    assert torch.allclose(adjust_color(grey, torch.zeros(2), s, torch.ones(2)), grey)


def test_cutout_zeros_a_square_clipped_at_the_border():
    x = torch.ones(2, 1, 8, 8)
    out = cut_out(x, torch.tensor([[4, 4], [0, 7]]), 0.5)  # 4x4 squares
    assert out[0, 0, 2:6, 2:6].sum() == 0 and out[0].sum() == 64 - 16
    assert out[1, 0, :2, 5:].sum() == 0 and out[1].sum() == 64 - 6  # rows 0-1, cols 5-7 remain of it


def test_identical_halves_stay_identical_and_differ_per_sample():
    x = torch.rand(8, 3, 16, 16)
    aug = DiffAugment(policy=("translation", "color", "cutout"))
    real, fake = aug.augment_pair(x, x.clone(), torch.Generator().manual_seed(1))
    assert torch.equal(real, fake)
    assert not torch.allclose(real, x)
    same = x[:1].expand(8, -1, -1, -1)  # one image, eight different transforms
    out, _ = aug.augment_pair(same, same, torch.Generator().manual_seed(1))
    assert (out - out[:1]).flatten(1).abs().amax(1)[1:].min() > 0


def test_generator_makes_it_reproducible():
    x = torch.rand(4, 3, 16, 16)
    aug = DiffAugment()
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_gradients_flow_to_both_halves():
    real = torch.rand(4, 3, 16, 16, requires_grad=True)
    fake = torch.rand(4, 3, 16, 16, requires_grad=True)
    out_r, out_f = DiffAugment(policy=("translation", "color", "cutout")).augment_pair(
        real, fake, torch.Generator().manual_seed(0))
    (out_r.square().sum() + out_f.sum()).backward()
    for t in (real, fake):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_apply_with_given_parameters_equals_the_parts():
    x = torch.rand(2, 3, 8, 8)
    params = AugmentParams(shift=torch.tensor([[1, 1], [-2, 0]]), brightness=torch.zeros(2),
                           saturation=torch.ones(2), contrast=torch.ones(2))
    out = DiffAugment(policy=("translation", "color")).apply(x, params)
    assert torch.allclose(out, translate(x, params.shift), atol=1e-6)


@pytest.mark.parametrize("kwargs, word", [({"policy": ("flip",)}, "policy"), ({"translation": 0.7}, "translation"),
                                          ({"cutout": 0.0}, "cutout")])
def test_bad_settings_are_refused(kwargs, word):
    with pytest.raises(ValueError, match=word):
        DiffAugment(**kwargs)


def test_bad_batches_are_refused():
    aug = DiffAugment()
    with pytest.raises(ValueError, match="as_float_images"):
        aug(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="same shape"):
        aug.augment_pair(torch.rand(2, 1, 8, 8), torch.rand(3, 1, 8, 8))
