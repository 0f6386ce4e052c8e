"""Adaptive discriminator augmentation (ADA) for training GANs on small datasets.

:class:`AdaptiveAugment` is the non-leaking augmentation pipeline of
StyleGAN2-ADA, usable on any NCHW batch; :class:`AdaController` tunes its
probability ``p`` from the discriminator's outputs on real images.
"""

from .._deprecation import moved_names
from .adaptive import COLOR_TRANSFORMS, PRESETS, TRANSFORMS, AdaptiveAugment, AugmentParams
from .controller import AdaController

__all__ = [
    "COLOR_TRANSFORMS",
    "PRESETS",
    "TRANSFORMS",
    "AdaController",
    "AdaptiveAugment",
    "AugmentParams",
]

__getattr__ = moved_names(__name__, dict.fromkeys(("SYM2", "SYM6", "band_filter_bank"), f"{__name__}.wavelets"), "0.3")
