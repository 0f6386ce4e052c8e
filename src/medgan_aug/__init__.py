"""medgan-aug: GAN-based data augmentation for medical images.

Subpackages
-----------
ops
    Fused resampling and activation operators (``upfirdn2d``, ``bias_act``,
    ``modulated_conv2d``) with pure PyTorch, C++ and CUDA implementations.
"""

from . import ops

__version__ = "0.1.0.dev0"

__all__ = ["__version__", "ops"]
