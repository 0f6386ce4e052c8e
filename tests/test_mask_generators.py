"""Generators whose last output channels are segmentation masks: the constructor argument and checkpoints."""

from __future__ import annotations

import pytest
import torch

from medgan_aug.nets import DCGANGenerator, StyleGenerator, load_network
from tests.test_synthetic import SMALL


@pytest.mark.parametrize("cls", [StyleGenerator, DCGANGenerator])
def test_mask_channels_survive_a_checkpoint(tmp_path, cls):
    kwargs = {**SMALL, "c_dim": 0} if cls is StyleGenerator else {"z_dim": 8, "img_resolution": 16}
    G = cls(img_channels=3, mask_channels=2, **kwargs)
    assert G.mask_channels == 2 and "mask_channels=2" in repr(G)
    G.save(tmp_path / "g.pt")
    loaded = load_network(tmp_path / "g.pt")
    assert type(loaded) is cls and loaded.mask_channels == 2
    z = torch.randn(2, G.z_dim)
    torch.testing.assert_close(loaded(z, noise_mode="const"), G.eval()(z, noise_mode="const"))


def test_image_generators_keep_stylegan2_adas_constructor_arguments():
    G = StyleGenerator(c_dim=0, img_channels=1, **SMALL)
    assert G.mask_channels == 0 and "mask_channels" not in G.init_kwargs


@pytest.mark.parametrize("cls", [StyleGenerator, DCGANGenerator])
@pytest.mark.parametrize(
    ("channels", "masks", "message"),
    [
        (1, 1, "mask_channels=1 leaves no image channel of img_channels=1"),
        (2, -1, "mask_channels must be an integer >= 0, got -1"),
        (2, 1.0, "mask_channels must be an integer >= 0, got 1.0"),
    ],
)
def test_mask_channels_must_leave_an_image(cls, channels, masks, message):
    kwargs = {**SMALL, "c_dim": 0} if cls is StyleGenerator else {"z_dim": 8, "img_resolution": 16}
    with pytest.raises(ValueError, match=message):
        cls(img_channels=channels, mask_channels=masks, **kwargs)
