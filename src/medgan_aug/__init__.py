"""medgan-aug: GAN-based data augmentation for medical images.

Subpackages
-----------
ops
    Fused resampling and activation operators (``upfirdn2d``, ``bias_act``,
    ``modulated_conv2d``) with pure PyTorch, C++ and CUDA implementations.
nets
    StyleGAN2 generator and discriminator that load StyleGAN2-ADA checkpoints
    without executing them.
"""

from . import nets, ops
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
    "CheckpointError",
    "StateDictMismatchError",
    "StyleDiscriminator",
    "StyleGenerator",
    "UnsafeCheckpointError",
    "__version__",
    "load_network",
    "load_stylegan2_ada",
    "nets",
    "ops",
]
