import numpy as np
import pytest
import torch

from ganad_lite.images import as_float_images, as_image_tensor, as_map_tensor, check_images


@pytest.mark.parametrize("images, message", [
    (torch.rand(4, 28, 28), "add the channel axis"),
    (torch.rand(4, 28, 28, 1), "channels-last"),
    (torch.rand(4, 2, 28, 28), "C = 1 or 3"),
    (torch.rand(2, 4, 1, 28, 28), r"must have shape \(N, C, H, W\)"),
    (torch.rand(4, 1, 32, 32), "model expects"),
    (torch.rand(4, 1, 28, 28) * 255, r"must lie in \[0, 1\]"),
    (torch.full((4, 1, 28, 28), -0.5), r"found values in \[-0.5, -0.5\]"),
    (torch.full((4, 1, 28, 28), float("nan")), "NaN"),
    (torch.full((4, 1, 28, 28), float("inf")), "infinite"),
    (torch.ones(4, 1, 28, 28, dtype=torch.int64), "uint8"),
    (torch.rand(0, 1, 28, 28), "empty"),
])
def test_bad_images_are_named(images, message):
    with pytest.raises(ValueError, match=message):
        check_images(images, (1, 28, 28))


def test_the_name_appears_in_the_message():
    with pytest.raises(ValueError, match="^query images have shape"):
        check_images(torch.rand(2, 3, 28, 28), (1, 28, 28), "query images")


def test_non_arrays_are_a_type_error():
    with pytest.raises(TypeError, match=r"images must be a tensor or array of shape \(N, C, H, W\), got object"):
        check_images(object())


def test_good_images_pass_unchanged():
    u8 = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    assert check_images(u8, (3, 16, 16)) is u8                      # no copy, dtype kept
    edges = torch.tensor([0.0, 1.0]).repeat(8).view(1, 1, 4, 4).expand(2, 1, 4, 4)
    assert check_images(edges) is edges                               # 0 and 1 themselves are allowed
    from_numpy = check_images(np.zeros((2, 1, 8, 8), dtype=np.float64))
    assert from_numpy.dtype == torch.float64 and from_numpy.shape == (2, 1, 8, 8)


def test_as_float_images_scales_uint8_only():
    u8 = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    assert torch.equal(as_float_images(u8), torch.tensor([0.0, 0.2, 1.0]).view(1, 1, 1, 3))
    f64 = torch.tensor([0.25, 0.5], dtype=torch.float64).view(1, 1, 1, 2)
    out = as_float_images(f64)
    assert out.dtype == torch.float32 and torch.equal(out, torch.tensor([0.25, 0.5]).view(1, 1, 1, 2))
    with pytest.raises(ValueError, match="uint8"):
        as_float_images(torch.ones(1, 1, 2, 2, dtype=torch.int32))


def test_as_image_tensor_gives_float_cpu_images():
    x = np.full((2, 3, 4, 4), 255, dtype=np.uint8)
    out = as_image_tensor(x)
    assert out.dtype == torch.float32 and out.device.type == "cpu" and torch.equal(out, torch.ones(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"float recon must lie in \[0, 1\], found values in \[2, 2\]"):
        as_image_tensor(np.full((1, 1, 4, 4), 2.0), "recon")


def test_as_map_tensor_drops_a_single_channel():
    maps = np.arange(32, dtype=np.float64).reshape(2, 1, 4, 4)
    out = as_map_tensor(maps)
    assert out.shape == (2, 4, 4) and out.dtype == torch.float32 and torch.equal(out, torch.arange(32.0).view(2, 4, 4))
    assert as_map_tensor(torch.ones(3, 5, 5)).shape == (3, 5, 5)
    with pytest.raises(ValueError, match=r"masks must have shape \(N, H, W\) or \(N, 1, H, W\), got \(2, 3, 4, 4\)"):
        as_map_tensor(np.zeros((2, 3, 4, 4)), "masks")
