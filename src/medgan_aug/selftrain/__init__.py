"""Self-training: classifiers that pseudo-label synthetic images, and the reports that show whether it helped.

:func:`create_classifier` builds a timm classifier with random weights or weights from a local file (never
downloaded), adapting the head and first convolution; :func:`train_classifier` trains it with
:class:`TrainSettings`; :func:`predict` returns its softmax probabilities over a dataset.
:func:`accept_pseudo_labels` chooses which confident predictions join the training set, capped per class relative to
the real class distribution so that one class cannot swallow the pool. :func:`classification_report` gives accuracy,
per-class precision/recall/F1, the confusion matrix and, for binary tasks with an explicit positive class, ROC AUC.
"""

from .acceptance import AcceptResult, accept_pseudo_labels
from .classifier import OPTIMIZERS, TrainSettings, adapt_input_conv, create_classifier, predict, train_classifier
from .report import ClassificationReport, classification_report, save_confusion_png

__all__ = [
    "OPTIMIZERS",
    "AcceptResult",
    "ClassificationReport",
    "TrainSettings",
    "accept_pseudo_labels",
    "adapt_input_conv",
    "classification_report",
    "create_classifier",
    "predict",
    "save_confusion_png",
    "train_classifier",
]
