"""Adaptive discriminator augmentation (ADA) for training GANs on small datasets.

:class:`AdaptiveAugment` is the non-leaking augmentation pipeline of
StyleGAN2-ADA, usable on any NCHW batch; :class:`AdaController` tunes its
probability ``p`` from the discriminator's outputs on real images.
"""

from .adaptive import COLOR_TRANSFORMS, PRESETS, TRANSFORMS, AdaptiveAugment, AugmentParams
from .controller import AdaController
from .wavelets import SYM2, SYM6, band_filter_bank

__all__ = [
    "COLOR_TRANSFORMS",
    "PRESETS",
    "SYM2",
    "SYM6",
    "TRANSFORMS",
    "AdaController",
    "AdaptiveAugment",
    "AugmentParams",
    "band_filter_bank",
]
