import pytest
import torch

from hyperzoo.data.augment import augment, random_crop, random_flip


def test_crop_windows_are_shifted_copies_of_the_padded_image():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5) + 1
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, 1, g)
    assert out.shape == (2, 3, 5, 5) and out.dtype == x.dtype
    dy, dx = torch.randint(3, (2, 2, 1), generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        oy, ox = dy[i].item(), dx[i].item()
        assert torch.equal(out[i], padded[i, :, oy:oy + 5, ox:ox + 5])


def test_crops_cover_every_offset_and_repeat_with_the_seed():
    x = torch.ones(400, 1, 4, 4)
    a = random_crop(x, 2, torch.Generator().manual_seed(3))
    b = random_crop(x, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # Zeros from the padding show where the window sat: 5 × 5 offsets, all drawn.
    windows = {tuple(map(tuple, (img[0] == 0).int().tolist())) for img in a}
    assert len(windows) == 25


def test_no_augmentation_and_bad_kind():
    x = torch.rand(2, 1, 4, 4)
    assert augment(x, "none", 1) is x
    assert random_crop(x, 0) is x
    with pytest.raises(ValueError, match="data.augment 'flip'"):
        augment(x, "flip", 1)


def test_flips_mirror_about_half_the_images_and_repeat_with_the_seed():
    x = torch.rand(400, 2, 3, 5)
    out = random_flip(x, torch.Generator().manual_seed(1))
    same = [torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)]
    assert all(s != m for s, m in zip(same, mirrored, strict=True))  # each image one or the other
    assert 150 < sum(mirrored) < 250
    assert torch.equal(out, random_flip(x, torch.Generator().manual_seed(1)))


def test_crop_flip_is_a_crop_then_a_flip_from_one_generator():
    x = torch.rand(8, 3, 6, 6)
    g = torch.Generator().manual_seed(2)
    expected = random_flip(random_crop(x, 2, g), g)
    assert torch.equal(augment(x, "crop_flip", 2, torch.Generator().manual_seed(2)), expected)
