"""Training StyleGAN2 with adaptive discriminator augmentation on small datasets."""

from .config import CONFIG_PRESETS, PresetSpec, TrainConfig, resolve_config
from .ema import ema_beta, update_ema
from .loss import PHASES, LossStats, StyleGAN2Loss

__all__ = [
    "CONFIG_PRESETS",
    "PHASES",
    "LossStats",
    "PresetSpec",
    "StyleGAN2Loss",
    "TrainConfig",
    "ema_beta",
    "resolve_config",
    "update_ema",
]
