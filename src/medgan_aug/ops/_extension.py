"""Deprecated: the build module is public as :mod:`medgan_aug.ops.extension`; this path goes in medgan-aug 0.3."""

from .._deprecation import moved_names
from . import extension

__getattr__ = moved_names(__name__, dict.fromkeys(extension.__all__, extension.__name__), removal="0.3")
