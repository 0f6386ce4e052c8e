"""Screens that decide, image by image, whether a generated image goes into a synthetic set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

__all__ = ["ImageScreen", "Screening"]


@dataclass(frozen=True)
class Screening:
    """A screen's verdict on a batch of generated images.

    Attributes
    ----------
    keep : numpy.ndarray
        bool ``[B]``: which images go into the set.
    fields : dict of str to sequence
        Manifest columns, one value per image (kept or dropped), e.g. the distance to the nearest training image.
    """

    keep: np.ndarray
    fields: dict[str, Sequence[object]] = field(default_factory=dict)

    def check(self, batch: int, name: str) -> None:
        """Raise a ValueError naming the screen ``name`` unless the verdict covers ``batch`` images."""
        keep = np.asarray(self.keep)
        if keep.dtype != np.bool_ or keep.shape != (batch,):
            raise ValueError(
                f"{name} must return keep as a bool array of {batch} values, got {keep.dtype} {keep.shape}"
            )
        for column, values in self.fields.items():
            if len(values) != batch:
                raise ValueError(f"{name}: field {column!r} has {len(values)} values for {batch} images")


@runtime_checkable
class ImageScreen(Protocol):
    """Decides which generated images :func:`~medgan_aug.generate.synthesize` keeps.

    Called once per batch with the images as they will be written, rounded to 8 bits: uint8
    ``[B, C, H, W]`` on the CPU (C 1 or 3; without mask channels). ``name`` appears in messages and is
    recorded in the manifest.
    """

    name: str

    def __call__(self, images: torch.Tensor) -> Screening: ...
