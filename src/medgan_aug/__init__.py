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
data
    Training data: 3-D volumes (NRRD, DICOM) cut into labelled planes, 2-D image preparation (PNG, JPEG,
    DICOM), intensity windows, all-or-nothing dataset folders with manifests, image folders with labels.
train
    The GAN trainer: configuration presets, losses, EMA, checkpoints and reports.
"""

from . import augment, data, nets, ops, train
from .augment import AdaController, AdaptiveAugment
from .data import ImageFolderDataset, Volume, VolumeSlicer, prepare_images, read_volume
from .nets import (
    CheckpointError,
    StateDictMismatchError,
    StyleDiscriminator,
    StyleGenerator,
    UnsafeCheckpointError,
    load_network,
    load_stylegan2_ada,
)
from .train import GANTrainer, TrainConfig, resolve_config

__version__ = "0.1.0.dev0"

__all__ = [
    "AdaController",
    "AdaptiveAugment",
    "CheckpointError",
    "GANTrainer",
    "ImageFolderDataset",
    "StateDictMismatchError",
    "StyleDiscriminator",
    "StyleGenerator",
    "TrainConfig",
    "UnsafeCheckpointError",
    "Volume",
    "VolumeSlicer",
    "__version__",
    "augment",
    "data",
    "load_network",
    "load_stylegan2_ada",
    "nets",
    "ops",
    "prepare_images",
    "read_volume",
    "resolve_config",
    "train",
]
