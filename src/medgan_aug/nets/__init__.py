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

from .._deprecation import moved_names
from .architectures import ARCHITECTURES
from .checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointMixin,
    TransferReport,
    convert_color_channels,
    load_network,
)
from .classifiers import create_classifier, load_classifier
from .dcgan import DCGAN_PRESETS, DCGANDiscriminator, DCGANGenerator
from .discriminator import DiscriminatorBlock, DiscriminatorEpilogue, StyleDiscriminator
from .errors import CheckpointError, StateDictMismatchError, UnsafeCheckpointError
from .generator import StyleGenerator
from .generator_like import (
    NOISE_MODES,
    GeneratorLike,
    check_generator,
    generate_images,
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
    "check_generator",
    "convert_color_channels",
    "create_classifier",
    "generate_images",
    "load_classifier",
    "load_network",
    "load_stylegan2_ada",
    "normalize_2nd_moment",
]

__getattr__ = moved_names(
    __name__,
    {
        "Generator": f"{__name__}.architectures",
        "atomic_save": f"{__name__}.checkpoint",
        **dict.fromkeys(
            ("check_sampling", "generator_device", "generator_image_channels", "is_native_generator"),
            f"{__name__}.generator_like",
        ),
    },
    "0.3",
)
