"""The generator/discriminator pairs the trainer can build, by name."""

from __future__ import annotations

from typing import Any, TypeAlias

from .dcgan import DCGANDiscriminator, DCGANGenerator
from .discriminator import StyleDiscriminator
from .generator import StyleGenerator

__all__ = ["ARCHITECTURES", "Generator", "check_generator", "generator_image_channels"]

Generator: TypeAlias = StyleGenerator | DCGANGenerator
"""Any generator of this library: ``G(z, c)`` makes ``[N, img_channels, R, R]`` images in [-1, 1]."""

ARCHITECTURES: dict[str, tuple[type[StyleGenerator | DCGANGenerator], type[StyleDiscriminator | DCGANDiscriminator]]]
ARCHITECTURES = {
    "stylegan2": (StyleGenerator, StyleDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
}
"""Generator and discriminator classes by architecture name (``train --arch``)."""


def check_generator(G: Any, name: str = "G") -> None:
    """Raise a TypeError unless ``G`` is one of the generators in :data:`ARCHITECTURES`.

    Parameters
    ----------
    G : object
        The value to check.
    name : str
        Its name in the message.
    """
    if not isinstance(G, tuple(generator for generator, _ in ARCHITECTURES.values())):
        kinds = " or ".join(generator.__name__ for generator, _ in ARCHITECTURES.values())
        raise TypeError(f"{name} must be a {kinds}, got {type(G).__name__}")


def generator_image_channels(G: Any, need: str) -> int:
    """The channels of the images ``G`` makes (its outputs but the masks), which must be 1 or 3.

    Parameters
    ----------
    G : object
        The generator, checked with :func:`check_generator`.
    need : str
        The end of the error message: what needs 1 or 3 channels, e.g. ``"the metrics need 1 or 3 channels"``.

    Returns
    -------
    int
        ``G.img_channels - G.mask_channels``.
    """
    check_generator(G)
    channels = G.img_channels - G.mask_channels
    if channels not in (1, 3):
        plus = f" (besides {G.mask_channels} mask channel(s))" if G.mask_channels else ""
        raise ValueError(f"the generator makes {channels}-channel images{plus}; {need}")
    return channels
