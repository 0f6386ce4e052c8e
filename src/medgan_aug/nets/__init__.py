"""StyleGAN2 networks compatible with StyleGAN2-ADA checkpoints.

:class:`StyleGenerator` and :class:`StyleDiscriminator` take the reference
implementation's constructor arguments and state-dict keys, run on
:mod:`medgan_aug.ops` (so the fast backends are used on every device), and
save and load with :meth:`~CheckpointMixin.save` /
:meth:`~CheckpointMixin.from_checkpoint` without executing code from files;
:func:`load_stylegan2_ada` reads StyleGAN2-ADA training snapshots the same way.
:class:`DCGANGenerator` and :class:`DCGANDiscriminator` are configurable DCGAN baselines, with presets of the
dermoscopy (128 px) and MNIST (28 px) studies (:data:`DCGAN_PRESETS`), saved and loaded the same way;
:data:`ARCHITECTURES` names both pairs for the trainer. Generators may output segmentation masks as their last
``mask_channels`` channels, made together with the image. Whatever consumes a generator accepts any
:class:`GeneratorLike`: ``z_dim``, ``c_dim``, ``img_resolution``, ``img_channels`` and ``G(z, c)``.
"""

from .architectures import ARCHITECTURES, Generator
from .checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointMixin,
    TransferReport,
    atomic_save,
    convert_color_channels,
    load_network,
)
from .dcgan import DCGAN_PRESETS, DCGANDiscriminator, DCGANGenerator
from .discriminator import DiscriminatorBlock, DiscriminatorEpilogue, StyleDiscriminator
from .errors import CheckpointError, StateDictMismatchError, UnsafeCheckpointError
from .generator import StyleGenerator
from .generator_like import (
    NOISE_MODES,
    GeneratorLike,
    check_generator,
    check_sampling,
    generate_images,
    generator_device,
    generator_image_channels,
    is_native_generator,
)
from .layers import Conv2dLayer, FullyConnectedLayer, MinibatchStdLayer, normalize_2nd_moment
from .mapping import MappingNetwork
from .stylegan2_ada import load_stylegan2_ada
from .synthesis import SynthesisBlock, SynthesisLayer, SynthesisNetwork, ToRGBLayer

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_FORMAT",
    "DCGAN_PRESETS",
    "NOISE_MODES",
    "CheckpointError",
    "CheckpointMixin",
    "Conv2dLayer",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DiscriminatorBlock",
    "DiscriminatorEpilogue",
    "FullyConnectedLayer",
    "Generator",
    "GeneratorLike",
    "MappingNetwork",
    "MinibatchStdLayer",
    "StateDictMismatchError",
    "StyleDiscriminator",
    "StyleGenerator",
    "SynthesisBlock",
    "SynthesisLayer",
    "SynthesisNetwork",
    "ToRGBLayer",
    "TransferReport",
    "UnsafeCheckpointError",
    "atomic_save",
    "check_generator",
    "check_sampling",
    "convert_color_channels",
    "generate_images",
    "generator_device",
    "generator_image_channels",
    "is_native_generator",
    "load_network",
    "load_stylegan2_ada",
    "normalize_2nd_moment",
]
