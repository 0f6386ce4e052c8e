"""Fused resampling and activation operators with StyleGAN2 semantics, and volume plane sampling.

Every operator takes ``impl`` (``"ref"``, ``"cpp"``, ``"cuda"``,
``"cuda_emulated"``, ``"auto"`` or ``None``); see :mod:`medgan_aug.ops._backend`.
:func:`sample_planes` (oblique planes out of 3-D volumes) has ``ref`` and
``cpp`` only.  The compiled backends are built on first use, never at import.
"""

from ._backend import ENV_VAR, IMPLS, available_impls, resolve_impl
from .bias_act import ACTIVATIONS, bias_act
from .modulated_conv2d import conv2d_resample, modulate_weight, modulated_conv2d
from .plane_sampling import sample_planes, spline_coefficients
from .upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "ACTIVATIONS",
    "ENV_VAR",
    "IMPLS",
    "available_impls",
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "filter2d",
    "modulate_weight",
    "modulated_conv2d",
    "resolve_impl",
    "sample_planes",
    "setup_filter",
    "spline_coefficients",
    "upfirdn2d",
    "upsample2d",
]
