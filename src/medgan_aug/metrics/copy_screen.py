"""A screen for :func:`~medgan_aug.generate.synthesize` that drops likely copies of the training images."""

from __future__ import annotations

import numpy as np
import torch

from ..generate.screening import Screening
from .copying import NearestNeighbourIndex, _ratio, check_threshold
from .image_sets import ImageSet, ImageSetSource
from .scorer import FIDScorer

__all__ = ["CopyScreen"]


class CopyScreen:
    """Drop generated images closer to a training image than ``threshold`` times the data's spacing there.

    The rule of :func:`~medgan_aug.metrics.audit_copying`'s flags, applied while a set is written: an image's
    distance to its nearest training image, over that training image's distance to its own nearest other
    training image, must be at least ``threshold``. The training features and spacings are computed once, here;
    each batch then costs one feature extraction and one nearest-neighbour search. Pass it as
    ``synthesize(..., screen=CopyScreen(...))``; the manifest gains ``nearest_train`` (the training image's
    path in its folder, or ``#<index>``), ``nearest_train_distance``, ``copy_ratio``, ``copy_flagged`` and
    ``dropped``. With ``drop=False`` nothing is dropped: the set is written whole, its likely copies marked in
    ``copy_flagged`` (self-training then reports how many it accepted).

    Parameters
    ----------
    train : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
        The generator's training images, as for :meth:`~medgan_aug.metrics.FIDScorer.score`; at least 2.
    scorer : FIDScorer
        Gives the feature space (its extractor, weights, device, ``value_range`` for ``train``): the same one the
        audit of the set would use, e.g. ``FIDScorer(extractor="pixels")`` for small images.
    threshold : float
        In (0, 1]; the audit's default is 0.5.
    drop : bool
        Drop the flagged images (default), or only mark them.
    """

    def __init__(self, train: ImageSetSource, scorer: FIDScorer, *, threshold: float = 0.5, drop: bool = True) -> None:
        if not isinstance(scorer, FIDScorer):
            raise TypeError(f"scorer must be a FIDScorer (it gives the feature space), got {type(scorer).__name__}")
        train_set = ImageSet(train, "train", scorer.value_range)
        if len(train_set) < 2:
            raise ValueError(f"the training set has {len(train_set)} image(s); the screen needs at least 2")
        self.scorer = scorer
        self.threshold = check_threshold(threshold)
        self.drop = bool(drop)
        self.name = f"copy screen (ratio < {self.threshold:g} in {scorer.extractor_name} features)"
        self._names = [train_set.item_name(i) for i in range(len(train_set))]
        # The training features are indexed once; each batch is then one search against them.
        self._index = NearestNeighbourIndex(scorer.features(train))
        self._spacing, _ = self._index.query(self._index.reference, exclude_self=True)

    def __call__(self, images: torch.Tensor) -> Screening:
        """Keep the images of a uint8 ``[B, C, H, W]`` batch whose ratio is at least ``threshold``."""
        features = self.scorer.features(images)
        width = self._index.reference.shape[1]
        if features.shape[1] != width:
            raise ValueError(
                f"the images give {features.shape[1]} features but the training images {width}: "
                "screen images of the kind the generator was trained on"
            )
        distance, nearest = self._index.query(features)
        ratio = _ratio(distance, self._spacing[nearest])
        flagged = ratio < self.threshold
        return Screening(
            keep=~flagged if self.drop else np.ones(len(flagged), dtype=bool),
            fields={
                "copy_flagged": [bool(f) for f in flagged],
                "nearest_train": [self._names[i] for i in nearest],
                "nearest_train_distance": [round(float(d), 6) for d in distance],
                "copy_ratio": [round(float(r), 4) if np.isfinite(r) else None for r in ratio],
            },
        )
