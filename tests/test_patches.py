import pytest
import torch

from ganad_lite.patches import random_crops, stitched_maps, window_starts
from ganad_lite.structural import ssim_map


def abs_map(q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return (q - r).abs().mean(1)


def coded_images(n: int = 3, size: int = 20) -> torch.Tensor:
    """Float images whose pixel value encodes (image, row, col), so that a crop tells where it came from."""
    k, y, x = torch.meshgrid(torch.arange(n), torch.arange(size), torch.arange(size), indexing="ij")
    return ((k * 10000 + y * 100 + x).double() / 1e6)[:, None].repeat(1, 3, 1, 1)


def test_window_starts_align_the_last_window_to_the_edge():
    assert window_starts(21, 8, 5) == [0, 5, 10, 13]
    assert window_starts(16, 8, 4) == [0, 4, 8]
    assert window_starts(8, 8, 3) == [0]
    with pytest.raises(ValueError, match="no gaps"):
        window_starts(20, 4, 5)


def test_random_crops_are_crops_of_the_images():
    images = coded_images()
    crops = random_crops(images, 8, 200, torch.Generator().manual_seed(0))
    assert crops.shape == (200, 3, 8, 8) and crops.dtype == images.dtype
    codes = (crops[:, 0, 0, 0] * 1e6).round().long()
    k, y, x = codes // 10000, codes // 100 % 100, codes % 100
    for i in range(200):
        assert torch.equal(crops[i], images[k[i], :, y[i]:y[i] + 8, x[i]:x[i] + 8])
    assert set(k.tolist()) == {0, 1, 2} and y.max() == 12 and x.min() == 0  # every image, both edges reached


def test_random_crops_keep_uint8_and_reproduce():
    images = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8)
    a = random_crops(images, 16, 50, torch.Generator().manual_seed(1))
    b = random_crops(images, 16, 50, torch.Generator().manual_seed(1))
    assert a.dtype == torch.uint8 and a.shape == (50, 1, 16, 16) and torch.equal(a, b)
    with pytest.raises(ValueError, match="patch size"):
        random_crops(images, 33, 1)
    with pytest.raises(ValueError, match="positive"):
        random_crops(images, 8, 0)


def test_identity_reconstruction_gives_an_all_zero_map():
    images = torch.rand(2, 3, 32, 32)
    maps = stitched_maps(lambda p: p.clone(), images, 16, 8, abs_map)
    assert maps.shape == (2, 32, 32) and maps.abs().max() == 0
    assert stitched_maps(lambda p: p.clone(), images, 16, 8, ssim_map).abs().max() < 1e-6


def test_planted_square_shows_up_where_it_is():
    images = torch.zeros(2, 3, 21, 21, dtype=torch.uint8)
    images[0, :, 17:21, 2:6] = 255  # bottom rows: only the edge-aligned window (start 13) reaches them
    images[1, :, 5:9, 9:12] = 255
    maps = stitched_maps(torch.zeros_like, images, 8, 5, abs_map)  # a model that draws only background
    expected = torch.zeros(2, 21, 21)
    expected[0, 17:21, 2:6] = 1.0
    expected[1, 5:9, 9:12] = 1.0
    assert torch.equal(maps, expected)


def test_overlaps_are_averaged_and_coverage_is_complete():
    images = torch.rand(1, 1, 21, 21)
    ones = stitched_maps(lambda p: p, images, 8, 5, lambda q, r: torch.ones(q.shape[0], 8, 8))
    assert torch.equal(ones, torch.ones(1, 21, 21))  # every pixel covered, each mean of ones is 1
    # A window's map = its own start row: pixel (y, .) averages the starts of the windows holding it.
    starts = iter([0, 0, 0, 0, 5, 5, 5, 5, 10, 10, 10, 10, 13, 13, 13, 13])  # row-major window order
    maps = stitched_maps(lambda p: p, images, 8, 5, lambda q, r: torch.full((1, 8, 8), float(next(starts))),
                         batch_size=1)
    # rows 0-4 lie in window 0; 5-7 in 0, 5; 8-9 in 5; 10-12 in 5, 10; 13-17 in 10, 13; 18-20 in 13
    column = [0.0] * 5 + [2.5] * 3 + [5.0] * 2 + [7.5] * 3 + [11.5] * 5 + [13.0] * 3
    assert torch.equal(maps[0, :, 0], torch.tensor(column))
    assert torch.equal(maps[0], maps[0, :, :1].expand(21, 21))


def test_batch_size_does_not_change_the_maps():
    images = torch.rand(3, 1, 24, 24)
    blur = lambda p: torch.nn.functional.avg_pool2d(p, 3, 1, 1)  # noqa: E731
    a = stitched_maps(blur, images, 12, 5, abs_map, batch_size=1)
    b = stitched_maps(blur, images, 12, 5, abs_map, batch_size=1000)
    assert torch.allclose(a, b, atol=1e-7) and a.abs().max() > 0


def test_reconstruct_gets_float_patches_and_map_shape_is_checked():
    images = torch.randint(0, 256, (1, 1, 16, 16), dtype=torch.uint8)

    def reconstruct(p):
        assert p.dtype == torch.float32 and p.max() <= 1 and p.shape[1:] == (1, 8, 8)
        return p

    stitched_maps(reconstruct, images, 8, 8, abs_map)
    with pytest.raises(ValueError, match="one map per window"):
        stitched_maps(reconstruct, images, 8, 8, lambda q, r: (q - r).abs().flatten(1))
    with pytest.raises(ValueError, match="one map per window"):
        stitched_maps(reconstruct, images, 8, 8, lambda q, r: (q - r).abs()[..., :4])


def test_several_maps_from_one_reconstruction_match_the_single_maps():
    images = torch.rand(2, 3, 24, 24)
    calls = []
    blur = lambda p: calls.append(len(p)) or torch.nn.functional.avg_pool2d(p, 3, 1, 1)  # noqa: E731
    both = stitched_maps(blur, images, 12, 5, lambda q, r: torch.stack([abs_map(q, r), ssim_map(q, r)], 1))
    assert both.shape == (2, 2, 24, 24) and len(calls) == 1  # one reconstruction for both maps
    assert torch.allclose(both[:, 0], stitched_maps(blur, images, 12, 5, abs_map), atol=1e-7)
    assert torch.allclose(both[:, 1], stitched_maps(blur, images, 12, 5, ssim_map), atol=1e-6)
