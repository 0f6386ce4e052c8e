"""Training StyleGAN2 (or a DCGAN baseline) with adaptive discriminator augmentation on small datasets."""

from .._deprecation import moved_names
from .callbacks import TensorBoardCallback, TrainerCallback, tensorboard_available
from .config import CONFIG_PRESETS, DCGAN_DEFAULTS, WGAN_GP_DEFAULTS, PresetSpec, TrainConfig, resolve_config
from .ema import ema_beta, update_ema
from .loss import ADVERSARIAL_LOSSES, PHASES, GANLoss, LossStats, StyleGAN2Loss, adversarial_terms
from .random_streams import RunRandomness
from .reports import read_stats, save_image_grid
from .sampler import InfiniteSampler
from .tracking import MetricTracker
from .trainer import AUGMENT_MODES, GANTrainer, TrainingDivergedError, tf32_allowed

__all__ = [
    "ADVERSARIAL_LOSSES",
    "AUGMENT_MODES",
    "CONFIG_PRESETS",
    "DCGAN_DEFAULTS",
    "PHASES",
    "WGAN_GP_DEFAULTS",
    "GANLoss",
    "GANTrainer",
    "InfiniteSampler",
    "LossStats",
    "MetricTracker",
    "PresetSpec",
    "RunRandomness",
    "StyleGAN2Loss",
    "TensorBoardCallback",
    "TrainConfig",
    "TrainerCallback",
    "TrainingDivergedError",
    "adversarial_terms",
    "ema_beta",
    "read_stats",
    "resolve_config",
    "save_image_grid",
    "tensorboard_available",
    "tf32_allowed",
    "update_ema",
]

__getattr__ = moved_names(
    __name__,
    {"TRAINING_FORMAT": "medgan_aug.formats", "append_stats": f"{__name__}.reports", "plot_curves": "medgan_aug.plots"},
    "0.3",
)
