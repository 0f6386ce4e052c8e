"""Classification reports that cannot hide a collapsed class: per-class metrics, balanced accuracy, ROC AUC.

Conventions for undefined ratios (no warnings are raised; each case is listed in ``ClassificationReport.notes``):

* precision of a class that is never predicted (0/0) is 0;
* recall of a class with no samples in ``y_true`` (0/0) is 0, and that class is left out of the balanced accuracy
  (the mean recall over the classes present in ``y_true``);
* F1 is 0 when precision + recall is 0;
* ROC AUC is ``None`` when ``y_true`` holds only one of the two classes, or when hard predictions were given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..plots import plot_confusion
from ._probabilities import check_probability_rows

__all__ = ["ClassificationReport", "classification_report", "save_confusion_png"]


@dataclass(frozen=True)
class ClassificationReport:
    """Metrics of a classifier on labelled samples.

    Attributes
    ----------
    class_names : tuple of str
        Name of each class, indexed by label.
    confusion : numpy.ndarray
        ``[K, K]`` int64 counts; rows are true classes, columns predicted classes.
    accuracy : float
        Fraction of samples predicted correctly.
    precision, recall, f1 : tuple of float
        Per class (0 where undefined, see the module docstring).
    balanced_accuracy : float
        Mean recall over the classes present in ``y_true``.
    macro_f1 : float
        Mean F1 over all ``K`` classes.
    support : tuple of int
        Number of samples of each true class.
    positive_class : str or None
        The positive class of a binary task, ``None`` for multi-class tasks.
    roc_auc : float or None
        Area under the ROC curve of the positive class (binary tasks with probabilities only).
    notes : tuple of str
        Why a metric was set to 0 or ``None``.
    """

    class_names: tuple[str, ...]
    confusion: np.ndarray
    accuracy: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    balanced_accuracy: float
    macro_f1: float
    support: tuple[int, ...]
    positive_class: str | None
    roc_auc: float | None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-serialisable built-in types (the confusion matrix as nested lists)."""
        return {
            "class_names": list(self.class_names),
            "confusion": self.confusion.tolist(),
            "accuracy": self.accuracy,
            "precision": list(self.precision),
            "recall": list(self.recall),
            "f1": list(self.f1),
            "balanced_accuracy": self.balanced_accuracy,
            "macro_f1": self.macro_f1,
            "support": list(self.support),
            "positive_class": self.positive_class,
            "roc_auc": self.roc_auc,
            "notes": list(self.notes),
        }

    def to_markdown(self) -> str:
        """Return a Markdown per-class table, the confusion matrix and the summary metrics (3 decimals)."""
        names = [_escape(name) for name in self.class_names]
        lines = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for i, name in enumerate(names):
            lines.append(
                f"| {name} | {self.precision[i]:.3f} | {self.recall[i]:.3f} | {self.f1[i]:.3f} | {self.support[i]} |"
            )
        lines += ["", "Confusion matrix (rows: true class, columns: predicted class):", ""]
        lines.append("| true \\ predicted | " + " | ".join(names) + " |")
        lines.append("|---|" + "---:|" * len(names))
        for name, row in zip(names, self.confusion, strict=True):
            lines.append(f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |")
        lines += [
            "",
            f"- accuracy: {self.accuracy:.3f}",
            f"- balanced accuracy: {self.balanced_accuracy:.3f}",
            f"- macro F1: {self.macro_f1:.3f}",
        ]
        if self.positive_class is not None:
            auc = "n/a" if self.roc_auc is None else f"{self.roc_auc:.3f}"
            lines.append(f"- ROC AUC (positive class {_escape(self.positive_class)}): {auc}")
        lines += [f"- note: {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    # A '|' inside a class name would split the Markdown table cell.
    return text.replace("|", "\\|")


def _check_labels(values: np.ndarray, name: str, k: int) -> np.ndarray:
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= k):
        raise ValueError(f"{name} holds labels outside [0, {k}) (min {values.min()}, max {values.max()})")
    return values.astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _roc_auc_rank(y_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the Mann-Whitney rank formula, tied scores counting one half.

    Parameters
    ----------
    y_positive : numpy.ndarray
        ``[N]`` bool, True for positive samples.
    scores : numpy.ndarray
        ``[N]`` scores, higher meaning more likely positive.

    Returns
    -------
    float or None
        The AUC, or ``None`` when there are no positives or no negatives.
    """
    y_positive = np.asarray(y_positive, dtype=bool)
    n_pos = int(y_positive.sum())
    n_neg = y_positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    # scipy.stats costs about 0.9 s to import; only a binary report needs it.
    from scipy.stats import rankdata

    ranks = rankdata(np.asarray(scores, dtype=np.float64), method="average")
    u = ranks[y_positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def classification_report(
    y_true: Sequence[int] | np.ndarray,
    y_prob_or_pred: Sequence[int] | Sequence[Sequence[float]] | np.ndarray,
    class_names: Sequence[str],
    *,
    positive_class: str | None = None,
) -> ClassificationReport:
    """Score predictions against true labels.

    Parameters
    ----------
    y_true : array_like
        ``[N]`` integer true labels in ``[0, K)``.
    y_prob_or_pred : array_like
        Either ``[N]`` integer predicted labels, or ``[N, K]`` class probabilities (rows in [0, 1] summing to 1
        within 1e-3); predictions are then the argmax (the lowest class on ties).
    class_names : sequence of str
        ``K >= 2`` distinct class names.
    positive_class : str, optional
        Required for binary tasks (``K == 2``), and only allowed there: the class whose probability ranks the
        samples for the ROC AUC, e.g. the disease class whose sensitivity is ``recall`` of that class.

    Returns
    -------
    ClassificationReport
        See the module docstring for how 0/0 ratios and undefined AUCs are reported.
    """
    names = tuple(class_names)
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError("class_names must be a sequence of str")
    k = len(names)
    if k < 2:
        raise ValueError(f"class_names must name at least 2 classes, got {k}")
    if len(set(names)) != k:
        raise ValueError(f"class_names must be distinct, got {list(names)}")
    if k == 2:
        if positive_class is None:
            raise ValueError(f"positive_class is required for a binary task; choose one of {list(names)}")
        if positive_class not in names:
            raise ValueError(f"positive_class {positive_class!r} is not one of class_names {list(names)}")
    elif positive_class is not None:
        raise ValueError(f"positive_class applies to binary tasks only, but class_names has {k} classes")

    true = np.asarray(y_true)
    if true.ndim != 1 or true.size == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array of labels, got shape {true.shape}")
    true = _check_labels(true, "y_true", k)
    n = true.size

    second = np.asarray(y_prob_or_pred)
    probs = None
    if second.ndim == 1:
        if second.shape != (n,):
            raise ValueError(f"y_prob_or_pred has {second.shape[0]} predictions but y_true has {n} labels")
        pred = _check_labels(second, "y_prob_or_pred", k)
    elif second.ndim == 2:
        if second.shape != (n, k):
            raise ValueError(f"y_prob_or_pred probabilities must have shape ({n}, {k}), got {second.shape}")
        probs = second.astype(np.float64)
        check_probability_rows(probs, "y_prob_or_pred")
        pred = probs.argmax(axis=1)
    else:
        raise ValueError(f"y_prob_or_pred must be [N] predictions or [N, K] probabilities, got shape {second.shape}")

    confusion = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)

    notes = []
    for i, name in enumerate(names):
        if predicted[i] == 0:
            notes.append(f"class {name!r} is never predicted: its precision is set to 0")
        if support[i] == 0:
            notes.append(
                f"class {name!r} has no samples in y_true: its recall is set to 0 and it is left out of "
                "the balanced accuracy"
            )

    roc_auc = None
    if positive_class is not None and probs is not None:
        pos = names.index(positive_class)
        roc_auc = _roc_auc_rank(true == pos, probs[:, pos])
        if roc_auc is None:
            notes.append("ROC AUC is undefined: y_true holds only one class")

    return ClassificationReport(
        class_names=names,
        confusion=confusion.astype(np.int64),
        accuracy=float(tp.sum() / n),
        precision=tuple(float(v) for v in precision),
        recall=tuple(float(v) for v in recall),
        f1=tuple(float(v) for v in f1),
        balanced_accuracy=float(recall[support > 0].mean()),
        macro_f1=float(f1.mean()),
        support=tuple(int(v) for v in support),
        positive_class=positive_class,
        roc_auc=roc_auc,
        notes=tuple(notes),
    )


# Longer class names are cut so that one name cannot stretch the whole figure.
_MAX_NAME_CHARS = 24


def _short(name: str) -> str:
    return name if len(name) <= _MAX_NAME_CHARS else name[: _MAX_NAME_CHARS - 3] + "..."


def save_confusion_png(
    report: ClassificationReport, path: str | os.PathLike[str], *, normalise: bool = True
) -> Path | None:
    """Draw the confusion matrix as a PNG with class names, counts and row percentages (needs matplotlib).

    Parameters
    ----------
    report : ClassificationReport
        The report whose ``confusion`` is drawn (rows true, columns predicted).
    path : str or os.PathLike
        Destination PNG; its directory must exist. Written atomically.
    normalise : bool, default True
        Shade each cell by its share of the true class (row); otherwise by its count relative to the largest cell.

    Returns
    -------
    pathlib.Path or None
        ``path``, or None when matplotlib is not installed (:func:`~medgan_aug.plots.plot_confusion`).
    """
    names = [_short(name) for name in report.class_names]
    return plot_confusion(path, report.confusion, names, "Confusion matrix", normalise=normalise)
