"""Self-training: classifiers that pseudo-label synthetic images, and the reports that show whether it helped.

:class:`SelfTrainer` runs the whole study: real-only baselines (at a real fraction and at 100 %), then rounds that
pseudo-label a synthetic pool (:class:`FolderPool`, :class:`GeneratorPool`, :class:`DatasetPool`) with timm
classifiers, accept confident images under a per-class cap and retrain, or fixed real/synthetic mixes for labelled
pools; every stage is trained with several seeds. Its :class:`SelfTrainResult` compares the selected run with the
baseline on the test set (:class:`Comparison`: a bootstrap interval over patients and seeds, McNemar's and DeLong's
tests, a three-way verdict) and is written as ``report.json``, ``report.md`` and PNGs. The statistics are public:
:func:`paired_bootstrap`, :func:`mcnemar_exact`, :func:`delong_test`.
:func:`load_real_splits` reads the real images with the caller's split or a stratified (patient-level when a
manifest has patient ids) one.

The building blocks are public too: :func:`create_classifier` (from :mod:`medgan_aug.nets.classifiers`) builds a
timm classifier with random weights or
weights from a local file (never downloaded), adapting the head and first convolution; :func:`train_classifier`
trains it with :class:`TrainSettings`; :func:`predict` returns its softmax probabilities over a dataset;
:func:`accept_pseudo_labels` applies the threshold and the class cap; :func:`classification_report` gives
accuracy, per-class precision/recall/F1, the confusion matrix and, for binary tasks with an explicit positive
class, ROC AUC.
"""

from .._deprecation import moved_names
from ..nets.classifiers import adapt_input_conv, create_classifier, load_classifier
from .acceptance import AcceptResult, accept_pseudo_labels
from .classifier import OPTIMIZERS, TrainSettings, predict, train_classifier
from .comparison import MIN_CLASS_IMAGES, MIN_PATIENTS, VERDICTS, Comparison, compare_runs
from .pool import DatasetPool, FolderPool, GeneratorPool
from .report import ClassificationReport, classification_report, save_confusion_png
from .result import SeedRun, SelfTrainResult, Stage
from .splits import SPLIT_METHODS, LabelledSubset, RealSplits, class_fraction, load_real_splits, stratified_split
from .statistics import (
    CONFUSION_METRICS,
    MIN_RESAMPLES,
    BootstrapInterval,
    DeLongResult,
    McNemarResult,
    confusion_metric,
    delong_test,
    mcnemar_exact,
    paired_bootstrap,
)
from .trainer import MODES, MONITORS, ModelFactory, SelfTrainConfig, SelfTrainer, TrainFunction

__all__ = [
    "CONFUSION_METRICS",
    "MIN_CLASS_IMAGES",
    "MIN_PATIENTS",
    "MIN_RESAMPLES",
    "MODES",
    "MONITORS",
    "OPTIMIZERS",
    "SPLIT_METHODS",
    "VERDICTS",
    "AcceptResult",
    "BootstrapInterval",
    "ClassificationReport",
    "Comparison",
    "DatasetPool",
    "DeLongResult",
    "FolderPool",
    "GeneratorPool",
    "LabelledSubset",
    "McNemarResult",
    "ModelFactory",
    "RealSplits",
    "SeedRun",
    "SelfTrainConfig",
    "SelfTrainResult",
    "SelfTrainer",
    "Stage",
    "TrainFunction",
    "TrainSettings",
    "accept_pseudo_labels",
    "adapt_input_conv",
    "class_fraction",
    "classification_report",
    "compare_runs",
    "confusion_metric",
    "create_classifier",
    "delong_test",
    "load_classifier",
    "load_real_splits",
    "mcnemar_exact",
    "paired_bootstrap",
    "predict",
    "save_confusion_png",
    "stratified_split",
    "train_classifier",
]

__getattr__ = moved_names(
    __name__,
    {
        "CLASSIFIER_FORMAT": "medgan_aug.formats",
        "CUSTOM_MODEL_PREFIX": "medgan_aug.nets.classifiers",
        "check_model_name": "medgan_aug.nets.classifiers",
    },
    "0.3",
)
