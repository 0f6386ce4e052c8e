"""Training StyleGAN2 (or a DCGAN baseline) with adaptive discriminator augmentation on small datasets."""

from .callbacks import TensorBoardCallback, TrainerCallback, tensorboard_available
from .config import CONFIG_PRESETS, DCGAN_DEFAULTS, WGAN_GP_DEFAULTS, PresetSpec, TrainConfig, resolve_config
from .ema import ema_beta, update_ema
from .loss import ADVERSARIAL_LOSSES, PHASES, GANLoss, LossStats, StyleGAN2Loss, adversarial_terms
from .random_streams import RunRandomness
from .reports import append_stats, plot_curves, read_stats, save_image_grid
from .sampler import InfiniteSampler
from .tracking import MetricTracker
from .trainer import AUGMENT_MODES, TRAINING_FORMAT, GANTrainer, TrainingDivergedError, tf32_allowed

__all__ = [
    "ADVERSARIAL_LOSSES",
    "AUGMENT_MODES",
    "CONFIG_PRESETS",
    "DCGAN_DEFAULTS",
    "PHASES",
    "TRAINING_FORMAT",
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
    "append_stats",
    "ema_beta",
    "plot_curves",
    "read_stats",
    "resolve_config",
    "save_image_grid",
    "tensorboard_available",
    "tf32_allowed",
    "update_ema",
]
