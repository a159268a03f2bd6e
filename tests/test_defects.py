import pytest
import torch

from ganad_lite.defects import DEFECT_KINDS, defect_validation_set, plant_defects, small_defect_validation_set


def constant_images(n: int, size: int = 32, channels: int = 1) -> torch.Tensor:
    """Image k is flat at (k + 1) / (n + 1): every pixel says which image it came from."""
    values = (torch.arange(n, dtype=torch.float32) + 1) / (n + 1)
    return values.view(n, 1, 1, 1).expand(n, channels, size, size).clone()


def test_deterministic_for_a_seed(tiny_images):
    a, mask_a = plant_defects(tiny_images, seed=3)
    b, mask_b = plant_defects(tiny_images, seed=3)
    c, _ = plant_defects(tiny_images, seed=4)
    assert torch.equal(a, b) and torch.equal(mask_a, mask_b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("kind", DEFECT_KINDS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_masks_cover_every_change_and_a_modest_area(kind, dtype):
    x = torch.rand(40, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    x = (x * 255).round().to(torch.uint8) if dtype == torch.uint8 else x.to(dtype)
    out, masks = plant_defects(x, seed=0, kinds=(kind,))
    assert out.dtype == dtype and out.shape == x.shape
    assert masks.dtype == torch.uint8 and masks.shape == (40, 32, 32) and masks.max() == 1
    changed = (out != x).any(1)
    assert not (changed & (masks == 0)).any()  # nothing changes outside the mask
    area = masks.float().mean((1, 2))
    assert area.min() >= 0.005 and area.max() <= 0.12  # 1-10% up to pixel rounding
    assert (changed.sum((1, 2)) > 0).all()


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_defects_show_on_plain_backgrounds(kind, tiny_images):
    # Discs on a black background: a defect must change pixels even where it lands on black.
    out, masks = plant_defects(tiny_images, seed=1, kinds=(kind,))
    changed = (out - tiny_images).abs().amax(1) > 0.05
    assert (changed.sum((1, 2)) > 0).all()
    assert float((changed & (masks == 1)).sum()) > 0.5 * float(masks.sum())


def test_cut_paste_copies_a_rectangle_of_another_image():
    x = constant_images(6)
    out, masks = plant_defects(x, seed=2, kinds=("cutpaste",))
    for i in range(6):
        region = out[i, 0][masks[i] == 1]
        rows, cols = masks[i].nonzero().unbind(1)
        assert masks[i].sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a rectangle
        assert (region == region[0]).all() and region[0] != x[i, 0, 0, 0]  # one other image's value
        assert bool((x[:, 0, 0, 0] == region[0]).any())


def test_scratch_is_one_contrasting_colour():
    x = constant_images(5, channels=3) * 0.5  # values below 0.5: the scratch must be bright
    out, masks = plant_defects(x, seed=0, kinds=("scratch",))
    for i in range(5):
        line = out[i][:, masks[i] == 1]  # (C, pixels)
        assert (line == line[:, :1]).all() and (line >= 0.7).all()


def test_noise_stays_in_range():
    x = constant_images(5)
    out, masks = plant_defects(x, seed=0, kinds=("noise",))
    blob = out[:, 0][masks == 1]
    assert blob.min() >= 0 and blob.max() <= 1 and blob.std() > 0.2  # uniform noise has sd 0.29


def test_validation_set_halves_use_different_normals():
    normals = constant_images(11)
    images, labels, masks = defect_validation_set(normals, seed=0)
    assert images.shape == (10, 1, 32, 32) and labels.tolist() == [0] * 5 + [1] * 5
    assert masks[:5].sum() == 0 and (masks[5:].flatten(1).sum(1) > 0).all()
    clean = {float(v) for v in images[:5, 0, 0, 0]}
    # outside its mask a defective image keeps its own normal's value
    sources = {float(images[i, 0][masks[i] == 0][0]) for i in range(5, 10)}
    assert len(clean) == 5 and len(sources) == 5 and not clean & sources
    assert clean | sources <= {float(v) for v in normals[:, 0, 0, 0]}
    again = defect_validation_set(normals, seed=0)
    assert all(torch.equal(a, b) for a, b in zip((images, labels, masks), again))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="kinds"):
        plant_defects(constant_images(2), seed=0, kinds=("rust",))
    with pytest.raises(ValueError, match="square"):
        plant_defects(torch.rand(2, 1, 16, 32), seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        defect_validation_set(constant_images(1), seed=0)


def test_small_defect_set_keeps_every_normal_and_plants_small_defects_in_copies(tiny_images):
    images, labels, masks = small_defect_validation_set(tiny_images, seed=0, copies=2)
    n = len(tiny_images)
    assert images.shape[0] == labels.shape[0] == masks.shape[0] == 3 * n
    assert torch.equal(images[:n], tiny_images) and labels[:n].sum() == 0 and labels[n:].all()
    h, w = tiny_images.shape[-2:]
    share = masks[n:].flatten(1).float().mean(1)
    assert share.max() <= 0.03 and share.min() > 0  # 0.2-2% of the image, up to pixel rounding
    twin = images[n:] != tiny_images.repeat(2, 1, 1, 1)  # a copy differs from its twin only inside its mask
    assert not (twin.any(1) & (masks[n:] == 0)).any()
    again = small_defect_validation_set(tiny_images, seed=0, copies=2)[0]
    assert torch.equal(images, again)
    with pytest.raises(ValueError, match="area must be"):
        plant_defects(tiny_images, seed=0, area=(0.2, 0.1))
