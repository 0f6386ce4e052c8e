"""Paired statistics for two classifiers scored on the same test images: bootstrap intervals, McNemar, DeLong.

:func:`paired_bootstrap` gives a percentile interval of the difference in a confusion-matrix metric between two
arms (say, the real-only baseline and a run with synthetic images), each trained with several seeds: every resample
draws patients (or images) with replacement, and seeds with replacement, paired across the arms.
:func:`mcnemar_exact` tests per-image correctness, :func:`delong_test` the difference of two correlated ROC AUCs.
Metrics follow :func:`~medgan_aug.selftrain.classification_report` (0/0 ratios are 0; the balanced accuracy is the
mean recall over the classes present).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CONFUSION_METRICS",
    "MIN_RESAMPLES",
    "BootstrapInterval",
    "DeLongResult",
    "McNemarResult",
    "confusion_metric",
    "delong_test",
    "mcnemar_exact",
    "paired_bootstrap",
]

CONFUSION_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "sensitivity")
"""Metrics :func:`confusion_metric` computes; ``"sensitivity"`` is the recall of one (positive) class."""

MIN_RESAMPLES = 100
"""Fewest bootstrap resamples accepted: fewer cannot place the 2.5 and 97.5 percentiles."""

# Resamples drawn at once: bounds the [chunk, clusters] weight matrix.
_CHUNK = 256


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def confusion_metric(confusion: np.ndarray, metric: str, *, positive: int | None = None) -> np.ndarray:
    """A metric of each confusion matrix in a stack.

    Parameters
    ----------
    confusion : numpy.ndarray
        ``[..., K, K]`` counts (or bootstrap-weighted counts); rows are true classes, columns predicted ones.
    metric : {"accuracy", "balanced_accuracy", "macro_f1", "sensitivity"}
        ``"sensitivity"`` is the recall of class ``positive``: NaN where that class has no samples.
    positive : int, optional
        The positive class, for ``"sensitivity"``.

    Returns
    -------
    numpy.ndarray
        ``[...]`` float64 values.
    """
    if metric not in CONFUSION_METRICS:
        raise ValueError(f"metric must be one of {CONFUSION_METRICS}, got {metric!r}")
    counts = np.asarray(confusion, dtype=np.float64)
    if counts.ndim < 2 or counts.shape[-1] != counts.shape[-2]:
        raise ValueError(f"confusion must have shape [..., K, K], got {counts.shape}")
    tp = np.diagonal(counts, axis1=-2, axis2=-1)
    support = counts.sum(axis=-1)
    recall = _ratio(tp, support)
    if metric == "accuracy":
        return _ratio(tp.sum(axis=-1), support.sum(axis=-1))
    if metric == "balanced_accuracy":
        present = support > 0
        return _ratio((recall * present).sum(axis=-1), present.sum(axis=-1).astype(np.float64))
    if metric == "macro_f1":
        precision = _ratio(tp, counts.sum(axis=-2))
        return _ratio(2 * precision * recall, precision + recall).mean(axis=-1)
    if positive is None or not 0 <= positive < counts.shape[-1]:
        raise ValueError(f"sensitivity needs positive, a class index in [0, {counts.shape[-1]}), got {positive!r}")
    return np.where(support[..., positive] > 0, recall[..., positive], np.nan)


@dataclass(frozen=True)
class BootstrapInterval:
    """A bootstrap estimate of ``metric(b) - metric(a)``.

    Attributes
    ----------
    estimate : float
        The difference on all samples, averaged over the paired seeds.
    low, high : float
        Percentile interval at ``confidence``.
    std : float
        Standard deviation of the resampled differences (the bootstrap standard error).
    resamples : int
        Resamples that gave a value (a resample without the positive class has no sensitivity).
    confidence : float
        Coverage of the interval, e.g. 0.95.
    """

    estimate: float
    low: float
    high: float
    std: float
    resamples: int
    confidence: float

    def excludes_zero(self) -> int:
        """+1 when the interval lies above 0, -1 when below, 0 when it contains 0."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


def _predictions(values: np.ndarray | Sequence, name: str, n: int, k: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != n:
        raise ValueError(f"{name} must be [N] or [seeds, N] predictions for the {n} samples, got shape {array.shape}")
    if array.dtype.kind not in "iu" or (array.size and (array.min() < 0 or array.max() >= k)):
        raise ValueError(f"{name} must hold integer class labels in [0, {k})")
    return array.astype(np.int64)


def _clusters(groups: Sequence[str] | np.ndarray | None, n: int) -> np.ndarray:
    if groups is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(groups, dtype=object)
    if ids.shape != (n,):
        raise ValueError(f"groups must give one id per sample: {ids.shape[0] if ids.ndim else 0} for {n} samples")
    return np.unique(ids, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _check_resamples(resamples: int, confidence: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < MIN_RESAMPLES:
        raise ValueError(f"resamples must be an integer >= {MIN_RESAMPLES}, got {resamples!r}")
    if not (isinstance(confidence, float) and 0 < confidence < 1):
        raise ValueError(f"confidence must be a float in (0, 1), got {confidence!r}")


def paired_bootstrap(
    y_true: Sequence[int] | np.ndarray,
    pred_a: Sequence[int] | np.ndarray,
    pred_b: Sequence[int] | np.ndarray,
    metric: str,
    *,
    num_classes: int,
    groups: Sequence[str] | np.ndarray | None = None,
    positive: int | None = None,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Percentile bootstrap interval of the difference ``metric(b) - metric(a)`` on the same samples.

    Each resample draws the samples' clusters with replacement (patients when ``groups`` is given, a cluster
    bootstrap; otherwise single samples) and, when the arms were trained with several seeds, as many seeds with
    replacement, the same seeds in both arms (row ``r`` of ``pred_a`` and ``pred_b`` share a seed). Its value is
    the mean over the drawn seeds of the paired differences on the drawn samples, so the interval covers both the
    test set's sampling and the seed-to-seed spread of training.

    Parameters
    ----------
    y_true : array_like
        ``[N]`` true classes.
    pred_a, pred_b : array_like
        ``[N]`` or ``[R, N]`` predicted classes of each arm, one row per seed; both arms have ``R`` rows.
    metric : str
        One of :data:`CONFUSION_METRICS`.
    num_classes : int
        ``K``; classes are ``0 .. K - 1``.
    groups : sequence of str, optional
        ``[N]`` cluster (patient) id of every sample.
    positive : int, optional
        The positive class, for ``"sensitivity"``.
    resamples : int
        Bootstrap resamples, at least :data:`MIN_RESAMPLES`.
    confidence : float
        Interval coverage in (0, 1).
    seed : int
        Seed of the resampling.

    Returns
    -------
    BootstrapInterval
    """
    _check_resamples(resamples, confidence)
    k = int(num_classes)
    truth = np.asarray(y_true)
    if truth.ndim != 1 or truth.size == 0 or truth.dtype.kind not in "iu":
        raise ValueError(f"y_true must be a non-empty 1-D array of integer classes, got shape {truth.shape}")
    if truth.min() < 0 or truth.max() >= k:
        raise ValueError(f"y_true must hold classes in [0, {k})")
    n = truth.size
    arms = [_predictions(pred_a, "pred_a", n, k), _predictions(pred_b, "pred_b", n, k)]
    if arms[0].shape != arms[1].shape:
        raise ValueError(f"pred_a and pred_b must have as many seeds: {arms[0].shape[0]} and {arms[1].shape[0]}")
    confusion_metric(np.zeros((k, k)), metric, positive=positive)  # rejects a bad metric or positive class early
    cluster = _clusters(groups, n)
    clusters = int(cluster.max()) + 1
    seeds = arms[0].shape[0]
    # Per arm, seed and cluster: the confusion counts, flattened to K * K; a resample weights the clusters.
    per_cluster = [
        np.stack([np.bincount((cluster * k + truth) * k + row, minlength=clusters * k * k) for row in arm])
        .reshape(seeds, clusters, k * k)
        .astype(np.float64)
        for arm in arms
    ]

    def paired_differences(weights: np.ndarray) -> np.ndarray:
        values = [confusion_metric((weights @ counts).reshape(seeds, -1, k, k), metric, positive=positive)
                  for counts in per_cluster]  # fmt: skip
        return values[1] - values[0]

    estimate = float(np.nanmean(paired_differences(np.ones((1, clusters)))))
    rng = np.random.default_rng(seed)
    replicates = []
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        weights = rng.multinomial(clusters, np.full(clusters, 1.0 / clusters), size=size).astype(np.float64)
        drawn = rng.integers(seeds, size=(seeds, size))
        replicates.append(np.take_along_axis(paired_differences(weights), drawn, axis=0).mean(axis=0))
    values = np.concatenate(replicates)
    values = values[np.isfinite(values)]
    if values.size < MIN_RESAMPLES:
        raise ValueError(
            f"only {values.size} of {resamples} resamples gave a {metric}: the samples hold too few of the classes "
            "it needs"
        )
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return BootstrapInterval(
        estimate=estimate,
        low=float(low),
        high=float(high),
        std=float(values.std(ddof=1)),
        resamples=int(values.size),
        confidence=float(confidence),
    )


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test of two classifiers' per-sample correctness.

    Attributes
    ----------
    only_a : int
        Samples that ``a`` classifies correctly and ``b`` does not.
    only_b : int
        Samples that ``b`` classifies correctly and ``a`` does not.
    p_value : float
        Two-sided exact p-value: twice the binomial(``only_a + only_b``, 1/2) tail at the smaller count, at most 1;
        1 when no sample is discordant.
    """

    only_a: int
    only_b: int
    p_value: float


def _correct(values: Sequence[bool] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype != np.bool_:
        raise ValueError(f"{name} must be a 1-D bool array (per-sample correctness), got {array.dtype} {array.shape}")
    return array


def mcnemar_exact(correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray) -> McNemarResult:
    """McNemar's exact (binomial) test that two classifiers err equally often on the same samples.

    Parameters
    ----------
    correct_a, correct_b : array_like of bool
        ``[N]`` whether each classifier got each sample right.

    Returns
    -------
    McNemarResult
    """
    a, b = _correct(correct_a, "correct_a"), _correct(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b must have one entry per sample: {a.size} and {b.size}")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    discordant = only_a + only_b
    if discordant == 0:
        return McNemarResult(only_a, only_b, 1.0)
    from scipy.stats import binom

    p_value = min(1.0, 2.0 * float(binom.cdf(min(only_a, only_b), discordant, 0.5)))
    return McNemarResult(only_a, only_b, p_value)


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test of two correlated ROC AUCs on the same samples.

    Attributes
    ----------
    auc_a, auc_b : float
        The two AUCs (ties count one half).
    difference : float
        ``auc_b - auc_a``.
    std : float
        Standard error of the difference.
    p_value : float
        Two-sided p-value of the normal statistic ``difference / std``; when ``std`` is 0 (no spread at all), 1 if
        the difference is 0 too, else 0.
    """

    auc_a: float
    auc_b: float
    difference: float
    std: float
    p_value: float


def _midranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values, method="average", axis=-1)


def delong_test(
    y_positive: Sequence[bool] | np.ndarray,
    scores_a: Sequence[float] | np.ndarray,
    scores_b: Sequence[float] | np.ndarray,
) -> DeLongResult:
    """DeLong, DeLong and Clarke-Pearson's (1988) test of ``AUC(b) - AUC(a)`` for scores of the same samples.

    The AUCs' structural components come from mid-ranks (the O(N log N) form of Sun and Xu, 2014): for a
    positive sample, the share of negatives it outranks; for a negative, the share of positives outranking it.
    Their covariances over positives and over negatives give the variance of the difference.

    Parameters
    ----------
    y_positive : array_like of bool
        ``[N]`` True for positive samples; at least two of each class.
    scores_a, scores_b : array_like of float
        ``[N]`` scores (higher means more likely positive) of the two classifiers.

    Returns
    -------
    DeLongResult
    """
    positive = _correct(y_positive, "y_positive")
    pair = [np.asarray(scores_a, dtype=np.float64), np.asarray(scores_b, dtype=np.float64)]
    if any(scores.shape != positive.shape for scores in pair):
        shapes = [scores.shape for scores in pair]
        raise ValueError(f"scores_a and scores_b must have one score per sample ({positive.size}), got {shapes}")
    scores = np.stack(pair)
    if not np.isfinite(scores).all():
        raise ValueError("scores_a and scores_b must be finite")
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's test needs at least 2 positive and 2 negative samples, got {m} and {n}")
    pos, neg = scores[:, positive], scores[:, ~positive]
    overall = _midranks(np.concatenate([pos, neg], axis=1))
    among_pos, among_neg = _midranks(pos), _midranks(neg)
    v10 = (overall[:, :m] - among_pos) / n
    v01 = 1.0 - (overall[:, m:] - among_neg) / m
    auc = v10.mean(axis=1)
    contrast = np.array([-1.0, 1.0])
    variance = contrast @ np.cov(v10) @ contrast / m + contrast @ np.cov(v01) @ contrast / n
    difference = float(auc[1] - auc[0])
    std = math.sqrt(max(float(variance), 0.0))
    # Two-sided normal tail: P(|Z| > |z|) = erfc(|z| / sqrt(2)).
    p_value = math.erfc(abs(difference) / std / math.sqrt(2.0)) if std > 0 else float(difference == 0)
    return DeLongResult(float(auc[0]), float(auc[1]), difference, std, p_value)
