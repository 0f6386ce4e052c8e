"""accept_pseudo_labels: exact selections on hand-made pools, the class-balanced cap across rounds, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medgan_aug.selftrain.acceptance import accept_pseudo_labels


def _pool(rows):
    return np.asarray(rows, dtype=np.float64)


POOL = _pool(
    [
        [0.95, 0.05],  # 0: class 0, confident
        [0.60, 0.40],  # 1: class 0, below 0.9
        [0.10, 0.90],  # 2: class 1, exactly at the threshold
        [0.02, 0.98],  # 3: class 1, most confident
        [0.92, 0.08],  # 4: class 0, confident
        [0.50, 0.50],  # 5: argmax tie -> class 0, below 0.9
    ]
)


def test_threshold_selects_confident_rows_with_their_argmax():
    r = accept_pseudo_labels(POOL, 0.9, [100, 100])
    np.testing.assert_array_equal(r.indices, [0, 2, 3, 4])
    np.testing.assert_array_equal(r.labels, [0, 1, 1, 0])
    assert r.indices.dtype == np.int64 and r.labels.dtype == np.int64
    assert r.per_class == (2, 2)
    assert r.capped == (0, 0)
    assert r.below_threshold == 2


def test_threshold_one_accepts_only_certain_rows():
    r = accept_pseudo_labels(_pool([[1.0, 0.0], [0.999, 0.001], [0.0, 1.0]]), 1.0, [5, 5])
    np.testing.assert_array_equal(r.indices, [0, 2])
    assert r.below_threshold == 1


def test_argmax_tie_goes_to_lower_class():
    r = accept_pseudo_labels(POOL, 0.5, [100, 100])
    assert 5 in r.indices
    assert r.labels[list(r.indices).index(5)] == 0


def test_cap_keeps_the_most_confident_of_each_class():
    # Class 0 candidates at 0.5: rows 0 (0.95), 1 (0.60), 4 (0.92), 5 (0.50); cap 2 keeps rows 0 and 4.
    r = accept_pseudo_labels(POOL, 0.5, [2, 1])
    np.testing.assert_array_equal(r.indices, [0, 3, 4])
    np.testing.assert_array_equal(r.labels, [0, 1, 0])
    assert r.per_class == (2, 1)
    assert r.capped == (2, 1)
    assert r.below_threshold == 0


def test_equal_confidences_are_broken_by_lower_index():
    probs = _pool([[0.3, 0.7], [0.8, 0.2], [0.2, 0.8], [0.2, 0.8], [0.1, 0.9], [0.2, 0.8]])
    r = accept_pseudo_labels(probs, 0.7, [0, 3])
    # Class 1: row 4 (0.9) first, then the 0.8 ties in index order 2, 3; rows 5 and 0 miss out. Class 0 has no room.
    np.testing.assert_array_equal(r.indices, [2, 3, 4])
    assert r.per_class == (0, 3)
    assert r.capped == (1, 2)


def test_already_accepted_uses_up_the_cap_and_overfull_classes_take_nothing():
    r = accept_pseudo_labels(POOL, 0.5, [3, 3], already_accepted=[2, 5])
    np.testing.assert_array_equal(r.indices, [0])
    assert r.per_class == (1, 0)
    assert r.capped == (3, 2)


def test_max_ratio_scales_the_cap_and_rounds_down():
    probs = np.tile([[0.05, 0.95]], (10, 1))
    probs[:, 1] -= np.arange(10) * 0.01
    probs[:, 0] = 1 - probs[:, 1]
    assert accept_pseudo_labels(probs, 0.5, [1, 5], max_ratio=1.5).per_class == (0, 7)
    # 0.29 * 100 is 28.999999999999996 in binary floating point; the cap is still 29.
    assert accept_pseudo_labels(np.tile([[0.0, 1.0]], (40, 1)), 0.5, [1, 100], max_ratio=0.29).per_class == (0, 29)
    r = accept_pseudo_labels(probs, 0.5, [0, 0], max_ratio=math.inf)
    assert r.per_class == (0, 10) and r.capped == (0, 0)


def test_one_dominant_class_is_capped_to_the_real_distribution():
    rng = np.random.default_rng(0)
    n, k = 2000, 3
    # A collapsed classifier: 90% of the confident pool is class 0.
    labels = np.where(rng.random(n) < 0.9, 0, rng.integers(1, k, n))
    confidence = rng.uniform(0.5, 1.0, n)
    probs = np.full((n, k), 0.0)
    probs[np.arange(n), labels] = confidence
    probs[np.arange(n), (labels + 1) % k] = 1 - confidence
    real = [30, 25, 20]
    r = accept_pseudo_labels(probs, 0.8, real)
    candidates = np.bincount(labels[confidence >= 0.8], minlength=k)
    assert candidates[0] > 0.8 * candidates.sum() and np.all(candidates >= real)
    # Accepted proportions follow the real ones (30:25:20) instead of the 90% flood.
    assert r.per_class == tuple(real)
    assert r.capped == tuple(int(c - m) for c, m in zip(candidates, real, strict=True))
    assert r.below_threshold == int((confidence < 0.8).sum())
    # The winners in the flooded class are its most confident images.
    class0 = r.indices[r.labels == 0]
    rejected0 = np.setdiff1d(np.flatnonzero((labels == 0) & (confidence >= 0.8)), class0)
    assert confidence[class0].min() >= confidence[rejected0].max()


def test_rounds_never_exceed_the_cap_in_total():
    rng = np.random.default_rng(1)
    real = np.array([30, 10])
    total = np.zeros(2, dtype=int)
    for _ in range(5):
        p1 = rng.uniform(0, 1, 50) ** 3  # mostly class 0
        probs = np.stack([1 - p1, p1], axis=1)
        r = accept_pseudo_labels(probs, 0.6, real, max_ratio=1.0, already_accepted=total)
        np.testing.assert_array_equal(r.labels, probs[r.indices].argmax(axis=1))
        total += np.asarray(r.per_class)
    np.testing.assert_array_equal(total, real)


def test_empty_pool():
    r = accept_pseudo_labels(np.zeros((0, 3)), 0.9, [1, 2, 3])
    assert r.indices.size == 0 and r.labels.size == 0
    assert r.per_class == (0, 0, 0) and r.capped == (0, 0, 0) and r.below_threshold == 0


@pytest.mark.parametrize(
    ("probs", "threshold", "real", "kwargs", "match"),
    [
        (np.array([0.5, 0.5]), 0.9, [1, 1], {}, r"probs must be an \[N, K\] array"),
        (np.zeros((2, 2, 2)), 0.9, [1, 1], {}, r"probs must be an \[N, K\] array"),
        (np.array([[1, 0]]), 0.9, [1, 1], {}, "floating-point"),
        (np.array([[0.6, 0.6]]), 0.9, [1, 1], {}, "sum to 1 within 0.001"),
        (np.array([[0.5, 0.499]]), 0.9, [1, 1], {}, "sum to 1"),
        (np.array([[2.0, -1.0]]), 0.9, [1, 1], {}, "logits"),
        (np.array([[np.nan, 1.0]]), 0.9, [1, 1], {}, "finite"),
        (POOL, 0.0, [1, 1], {}, r"threshold must be in \(0, 1\], got 0.0"),
        (POOL, 1.5, [1, 1], {}, r"threshold must be in \(0, 1\], got 1.5"),
        (POOL, math.nan, [1, 1], {}, "threshold must be in"),
        (POOL, "0.9", [1, 1], {}, "threshold must be a number"),
        (POOL, 0.9, [1, -1], {}, "real_class_counts must not be negative"),
        (POOL, 0.9, [1, 1, 1], {}, r"real_class_counts must hold one count per class \(2\)"),
        (POOL, 0.9, [1.5, 1], {}, "real_class_counts must hold whole numbers"),
        (POOL, 0.9, [1, 1], {"already_accepted": [0, -2]}, "already_accepted must not be negative"),
        (POOL, 0.9, [1, 1], {"already_accepted": [0]}, "already_accepted must hold one count per class"),
        (POOL, 0.9, [1, 1], {"max_ratio": 0}, "max_ratio must be positive"),
        (POOL, 0.9, [1, 1], {"max_ratio": -1.0}, "max_ratio must be positive"),
    ],
)
def test_bad_inputs_are_named(probs, threshold, real, kwargs, match):
    with pytest.raises(ValueError, match=match):
        accept_pseudo_labels(probs, threshold, real, **kwargs)


def test_rows_within_tolerance_are_accepted():
    r = accept_pseudo_labels(_pool([[0.9995, 0.0]]), 0.9, [1, 1])
    np.testing.assert_array_equal(r.indices, [0])
