"""Evaluation metrics: FID, KID, Inception Score and precision/recall of generated images, the data-copying audit;
segmentation overlap.

:class:`FIDScorer` runs torch-fidelity on folders, tensors or datasets of real and generated images and gives FID
with a bootstrap interval and the real-vs-real floor to read it against (:mod:`~medgan_aug.metrics.frechet`), with
torch-fidelity's Inception network, a timm model read from a local weights file, a classifier trained on the
medical images (:class:`ClassifierFeatures`, a domain extractor), or any feature module.
:meth:`FIDScorer.from_features` computes the same metrics from feature arrays. :mod:`~medgan_aug.metrics.copying`
checks whether generated images copy the training images (:func:`audit_copying`, ``"copying"`` among the
scorer's metrics, :func:`save_copy_pairs` to look at the closest pairs, :class:`CopyScreen` to drop likely copies
while :func:`~medgan_aug.generate.synthesize` writes a set). Without network access the
Inception weights must be given (``weights=``), else :class:`MetricsWeightsError` says what is missing.
:mod:`~medgan_aug.metrics.segmentation` scores masks: foreground Jaccard/IoU, Dice and VOC, per image or per tile.
"""

from . import copying, segmentation
from .copy_screen import CopyScreen
from .copying import CopyingAudit, audit_copying, save_copy_pairs
from .extractors import ClassifierFeatures, ModuleFeatureExtractor, PixelFeatures, TimmFeatures
from .image_sets import VALUE_RANGES, ImageSet, ImageSetSource
from .scorer import METRICS, FIDScorer
from .segmentation import SegmentationScores, dice, jaccard, segmentation_scores, voc_score
from .weights import MetricsWeightsError

__all__ = [
    "METRICS",
    "VALUE_RANGES",
    "ClassifierFeatures",
    "CopyScreen",
    "CopyingAudit",
    "FIDScorer",
    "ImageSet",
    "ImageSetSource",
    "MetricsWeightsError",
    "ModuleFeatureExtractor",
    "PixelFeatures",
    "SegmentationScores",
    "TimmFeatures",
    "audit_copying",
    "copying",
    "dice",
    "jaccard",
    "save_copy_pairs",
    "segmentation",
    "segmentation_scores",
    "voc_score",
]
