"""The generator/discriminator pairs the trainer can build, by name."""

from __future__ import annotations

from typing import TypeAlias

from .dcgan import DCGANDiscriminator, DCGANGenerator
from .discriminator import StyleDiscriminator
from .generator import StyleGenerator

__all__ = ["ARCHITECTURES", "Generator"]

Generator: TypeAlias = StyleGenerator | DCGANGenerator
"""This library's generators: ``G(z, c)`` makes ``[N, img_channels, R, R]`` images in [-1, 1]; what consumes a
generator accepts any :class:`~medgan_aug.nets.GeneratorLike`."""

ARCHITECTURES: dict[str, tuple[type[StyleGenerator | DCGANGenerator], type[StyleDiscriminator | DCGANDiscriminator]]]
ARCHITECTURES = {
    "stylegan2": (StyleGenerator, StyleDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
}
"""Generator and discriminator classes by architecture name (``train --arch``)."""
