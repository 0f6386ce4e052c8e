"""medgan-aug: GAN-based data augmentation for medical images.

Subpackages
-----------
ops
    Fused resampling and activation operators (``upfirdn2d``, ``bias_act``,
    ``modulated_conv2d``) with pure PyTorch, C++ and CUDA implementations.
nets
    StyleGAN2 generator and discriminator that load StyleGAN2-ADA checkpoints
    without executing them.
augment
    Adaptive discriminator augmentation (ADA) and its probability controller.
"""

from . import augment, nets, ops
from .augment import AdaController, AdaptiveAugment
from .nets import (
    CheckpointError,
    StateDictMismatchError,
    StyleDiscriminator,
    StyleGenerator,
    UnsafeCheckpointError,
    load_network,
    load_stylegan2_ada,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AdaController",
    "AdaptiveAugment",
    "CheckpointError",
    "StateDictMismatchError",
    "StyleDiscriminator",
    "StyleGenerator",
    "UnsafeCheckpointError",
    "__version__",
    "augment",
    "load_network",
    "load_stylegan2_ada",
    "nets",
    "ops",
]
