"""The ``format`` identifiers of the files medgan-aug writes, in one place below every subpackage.

Each file's ``format`` entry says which reader it is for, so a loader refuses another kind of file with a
clear error instead of misreading it.  The subpackages that write the files re-export their identifiers.
"""

from __future__ import annotations

__all__ = ["CHECKPOINT_FORMAT", "CLASSIFIER_FORMAT", "REPORT_FORMAT", "SEED_REGISTRY_FORMAT", "TRAINING_FORMAT"]

CHECKPOINT_FORMAT = "medgan-aug.network"
"""A network saved with :meth:`~medgan_aug.nets.CheckpointMixin.save`."""

TRAINING_FORMAT = "medgan-aug.training"
"""A training snapshot (``training-*.pt``) of :class:`~medgan_aug.train.GANTrainer`."""

SEED_REGISTRY_FORMAT = "medgan-aug.seeds"
"""The seed registry kept beside the folders :func:`~medgan_aug.generate.synthesize` writes."""

CLASSIFIER_FORMAT = "medgan-aug classifier"
"""A classifier file (``classifier.pt``) written by :meth:`~medgan_aug.selftrain.SelfTrainResult.save`."""

REPORT_FORMAT = "medgan-aug selftrain report"
"""A self-training ``report.json``."""
