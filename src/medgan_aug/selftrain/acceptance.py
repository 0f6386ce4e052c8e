"""Choosing which pseudo-labelled synthetic images a self-training round accepts.

A confidence threshold alone lets a classifier that favours one class fill the training set with that class; the
class-balanced cap here bounds every class by the size of its real counterpart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._probabilities import check_probability_rows

__all__ = ["AcceptResult", "accept_pseudo_labels"]


@dataclass(frozen=True)
class AcceptResult:
    """The pseudo-labels accepted in one round.

    Attributes
    ----------
    indices : numpy.ndarray
        Accepted pool indices, int64, ascending.
    labels : numpy.ndarray
        Predicted class (argmax) of each accepted index, int64.
    per_class : tuple of int
        Number of images accepted this round, per class.
    capped : tuple of int
        Per class, candidates above the threshold that were dropped because the class was full.
    below_threshold : int
        Pool images whose top probability is below the threshold.
    """

    indices: np.ndarray
    labels: np.ndarray
    per_class: tuple[int, ...]
    capped: tuple[int, ...]
    below_threshold: int


def _counts(values: Sequence[int] | np.ndarray, name: str, k: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (k,):
        raise ValueError(f"{name} must hold one count per class ({k}), got shape {arr.shape}")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold integer counts, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must hold whole numbers, got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must not be negative, got {arr.tolist()}")
    return arr.astype(np.int64)


def accept_pseudo_labels(
    probs: np.ndarray,
    threshold: float,
    real_class_counts: Sequence[int],
    *,
    max_ratio: float = 1.0,
    already_accepted: Sequence[int] | None = None,
) -> AcceptResult:
    """Accept confident pseudo-labels, at most ``floor(max_ratio * real_class_counts[k])`` per class over all rounds.

    Parameters
    ----------
    probs : numpy.ndarray
        ``[N, K]`` class probabilities of the pool (rows in [0, 1] summing to 1 within 1e-3). The predicted class
        is the argmax, the lowest class on ties.
    threshold : float
        In ``(0, 1]``: an image is a candidate when its top probability is ``>= threshold``.
    real_class_counts : sequence of int
        ``[K]`` number of real training images per class.
    max_ratio : float, default 1.0
        Positive; ``math.inf`` disables the cap.
    already_accepted : sequence of int, optional
        ``[K]`` images accepted per class in earlier rounds; they use up the cap. Defaults to zeros.

    Returns
    -------
    AcceptResult
        Within a class the most confident candidates are accepted first; equal confidences go to the lower index.
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] < 1:
        raise ValueError(f"probs must be an [N, K] array of class probabilities, got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating):
        raise ValueError(f"probs must hold floating-point probabilities, got dtype {probs.dtype}")
    probs = probs.astype(np.float64)
    n, k = probs.shape
    check_probability_rows(probs, "probs")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if isinstance(max_ratio, bool) or not isinstance(max_ratio, (int, float, np.integer, np.floating)):
        raise ValueError(f"max_ratio must be a positive number, got {max_ratio!r}")
    if not max_ratio > 0:
        raise ValueError(f"max_ratio must be positive, got {max_ratio}")
    real = _counts(real_class_counts, "real_class_counts", k)
    before = (
        np.zeros(k, dtype=np.int64) if already_accepted is None else _counts(already_accepted, "already_accepted", k)
    )

    confidence = probs.max(axis=1) if n else np.zeros(0)
    predicted = probs.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    candidate = confidence >= threshold

    chosen = []
    per_class = []
    capped = []
    for c in range(k):
        members = np.flatnonzero(candidate & (predicted == c))
        if math.isinf(max_ratio):
            room = members.size
        else:
            # Rounding first keeps e.g. 0.29 * 100 = 28.999999999999996 from losing an image to floor().
            room = max(math.floor(round(float(max_ratio) * int(real[c]), 9)) - int(before[c]), 0)
        # lexsort's last key is the primary one: confidence descending, then index ascending.
        order = members[np.lexsort((members, -confidence[members]))]
        taken = order[:room]
        chosen.append(taken)
        per_class.append(int(taken.size))
        capped.append(int(members.size - taken.size))

    indices = np.sort(np.concatenate(chosen)).astype(np.int64)
    return AcceptResult(
        indices=indices,
        labels=predicted[indices].astype(np.int64),
        per_class=tuple(per_class),
        capped=tuple(capped),
        below_threshold=int(n - candidate.sum()),
    )
