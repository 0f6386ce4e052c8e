"""AdaptiveAugment on image + mask pairs: one geometry for all channels, colour and corruptions on the image only."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from medgan_aug.augment import AdaptiveAugment, AugmentParams


def pairs(n: int = 6, image_channels: int = 3, size: int = 32) -> torch.Tensor:
    """Images with a bright disc and masks of exactly that disc (+1 inside, -1 outside)."""
    generator = torch.Generator().manual_seed(3)
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    masks = []
    for _ in range(n):
        cx, cy = (torch.rand(2, generator=generator) * size * 0.5 + size * 0.25).tolist()
        masks.append(torch.where((x - cx) ** 2 + (y - cy) ** 2 < (size / 6) ** 2, 1.0, -1.0))
    mask = torch.stack(masks)[:, None]
    noise = torch.rand(n, image_channels, size, size, generator=generator) * 0.4
    image = (mask * 0.5 + noise - 0.2).clamp(-1, 1)
    return torch.cat([image, mask], dim=1)


def geometry_only(params: AugmentParams) -> AugmentParams:
    identity = AugmentParams.identity(params.geometry.shape[0])
    return dataclasses.replace(identity, geometry=params.geometry)


@pytest.mark.parametrize("preset", ["bgc", "bgcfnc"])
@pytest.mark.parametrize("image_channels", [1, 3])
def test_masks_follow_the_geometry_and_escape_colour_and_corruptions(preset: str, image_channels: int) -> None:
    batch = pairs(image_channels=image_channels)
    paired = AdaptiveAugment(preset, p=1.0, mask_channels=1)
    params = paired.sample_params(*batch.shape, generator=torch.Generator().manual_seed(0))
    out = paired.apply(batch, params)

    plain = AdaptiveAugment(preset, p=1.0)
    expected_image = plain.apply(batch[:, :image_channels], params)
    expected_mask = plain.apply(batch[:, image_channels:], geometry_only(params))
    torch.testing.assert_close(out[:, :image_channels], expected_image)
    torch.testing.assert_close(out[:, image_channels:], expected_mask)
    # The draw did transform something of every kind the preset has, so the comparison means something.
    assert not torch.equal(params.color, AugmentParams.identity(len(batch)).color)
    assert not torch.equal(params.geometry, AugmentParams.identity(len(batch)).geometry)


def test_colour_alone_leaves_masks_bit_identical() -> None:
    batch = pairs(image_channels=3)
    out = AdaptiveAugment(None, p=1.0, brightness=1, contrast=1, hue=1, saturation=1, noise=1, mask_channels=1)(
        batch, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(out[:, 3:], batch[:, 3:])
    assert not torch.allclose(out[:, :3], batch[:, :3])


def test_pixel_aligned_geometry_moves_mask_and_image_together_exactly() -> None:
    batch = pairs(image_channels=1)
    flip = AugmentParams.identity(len(batch))
    flip.geometry[:, 0, 0] = -1  # x-flip: output x reads input -x
    out = AdaptiveAugment(None, p=1.0, mask_channels=1).apply(batch, flip)
    torch.testing.assert_close(out, batch.flip(-1))


def test_several_mask_channels_are_all_kept_out_of_colour() -> None:
    batch = torch.cat([pairs(image_channels=1), pairs(image_channels=1)[:, 1:]], dim=1)
    out = AdaptiveAugment(None, p=1.0, brightness=1, mask_channels=2)(batch, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out[:, 1:], batch[:, 1:])
    assert not torch.equal(out[:, :1], batch[:, :1])


def test_colour_checks_count_image_channels_only() -> None:
    # 3 image channels + 1 mask = 4 channels, which colour transforms alone would reject.
    out = AdaptiveAugment("bgc", p=0.5, mask_channels=1)(pairs(image_channels=3))
    assert out.shape == (6, 4, 32, 32)
    with pytest.raises(ValueError, match=r"colour transforms .* need 1 or 3 channels, got 2"):
        AdaptiveAugment("bgc", p=0.5, mask_channels=1)(torch.zeros(2, 3, 16, 16))


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_mask_channels_must_be_a_count(bad: object) -> None:
    with pytest.raises(ValueError, match="mask_channels must be an integer >= 0"):
        AdaptiveAugment("bgc", mask_channels=bad)


def test_no_channel_left_for_the_image_is_an_error() -> None:
    with pytest.raises(
        ValueError, match="images have 2 channels, which leaves none for the image besides mask_channels=2"
    ):
        AdaptiveAugment("bg", p=1.0, mask_channels=2)(torch.zeros(1, 2, 8, 8))
