"""medgan-aug: GAN-based data augmentation for medical images.

Subpackages
-----------
ops
    Fused resampling and activation operators (``upfirdn2d``, ``bias_act``,
    ``modulated_conv2d``) with pure PyTorch, C++ and CUDA implementations.
nets
    StyleGAN2 generator and discriminator that load StyleGAN2-ADA checkpoints
    without executing them; DCGAN baselines.
augment
    Adaptive discriminator augmentation (ADA) and its probability controller.
data
    Training data: 3-D volumes (NRRD, DICOM) cut into labelled planes, 2-D image preparation (PNG, JPEG,
    DICOM), intensity windows, all-or-nothing dataset folders with manifests, image folders with labels,
    image + mask pairs for segmentation.
generate
    Sampling trained generators (any :class:`~medgan_aug.nets.GeneratorLike`): checkpoint loading, the seed and
    label conventions of StyleGAN2-ADA, synthetic dataset folders with a registry that keeps sibling sets' seeds
    apart.
train
    The GAN trainer: configuration presets, losses, EMA, checkpoints and reports.
metrics
    FID, KID, Inception Score and precision/recall through torch-fidelity, offline and with any
    feature extractor; segmentation scores (Jaccard, Dice, VOC).
threads
    How many CPU threads torch uses: one per core other processes leave free, re-checked between steps.
selftrain
    Self-training: timm classifiers pseudo-label synthetic images (folders or generators) in rounds with a
    per-class cap, against real-only baselines, with reports that show whether the synthetic data helped.
"""

from . import augment, data, generate, nets, ops, selftrain, train
from .augment import AdaController, AdaptiveAugment
from .data import (
    ImageFolderDataset,
    PairedImageFolderDataset,
    Volume,
    VolumeSlicer,
    mix_datasets,
    prepare_images,
    read_volume,
)
from .generate import load_generator, synthesize
from .nets import (
    CheckpointError,
    DCGANDiscriminator,
    DCGANGenerator,
    StateDictMismatchError,
    StyleDiscriminator,
    StyleGenerator,
    UnsafeCheckpointError,
    load_network,
    load_stylegan2_ada,
)
from .selftrain import SelfTrainConfig, SelfTrainer
from .threads import ThreadPolicy, use_threads
from .train import GANTrainer, TrainConfig, resolve_config

__version__ = "0.1.0"

# The metrics pull in torch-fidelity and torchvision (about 1.7 s); they load on first use, so that slicing,
# preparing and training start without them.
_LAZY = {"metrics": None, "FIDScorer": "FIDScorer", "MetricsWeightsError": "MetricsWeightsError"}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'medgan_aug' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(".metrics", __name__)
    attribute = _LAZY[name]
    return module if attribute is None else getattr(module, attribute)


__all__ = [
    "AdaController",
    "AdaptiveAugment",
    "CheckpointError",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "FIDScorer",
    "GANTrainer",
    "ImageFolderDataset",
    "MetricsWeightsError",
    "PairedImageFolderDataset",
    "SelfTrainConfig",
    "SelfTrainer",
    "StateDictMismatchError",
    "StyleDiscriminator",
    "StyleGenerator",
    "ThreadPolicy",
    "TrainConfig",
    "UnsafeCheckpointError",
    "Volume",
    "VolumeSlicer",
    "__version__",
    "augment",
    "data",
    "generate",
    "load_generator",
    "load_network",
    "load_stylegan2_ada",
    "metrics",
    "mix_datasets",
    "nets",
    "ops",
    "prepare_images",
    "read_volume",
    "resolve_config",
    "selftrain",
    "synthesize",
    "train",
    "use_threads",
]
