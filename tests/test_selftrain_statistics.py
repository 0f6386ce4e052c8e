"""Paired statistics of classifier comparisons against scipy, brute force and simulations with a known truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, norm

from medgan_aug.selftrain import (
    classification_report,
    compare_runs,
    confusion_metric,
    delong_test,
    mcnemar_exact,
    paired_bootstrap,
)

# --- metrics from confusion matrices ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_confusion_metrics_match_the_classification_report(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 3
    truth = rng.integers(k, size=50)
    truth[:3] = [0, 1, 2] if seed else [0, 0, 1]  # seed 0: class 2 may be absent from y_true
    pred = np.where(rng.random(50) < 0.6, truth, rng.integers(k, size=50))
    report = classification_report(truth, pred, ["a", "b", "c"])
    confusion = report.confusion
    assert confusion_metric(confusion, "accuracy") == pytest.approx(report.accuracy)
    assert confusion_metric(confusion, "balanced_accuracy") == pytest.approx(report.balanced_accuracy)
    assert confusion_metric(confusion, "macro_f1") == pytest.approx(report.macro_f1)
    for c in range(k):
        expected = report.recall[c] if report.support[c] else np.nan
        np.testing.assert_allclose(confusion_metric(confusion, "sensitivity", positive=c), expected)


def test_confusion_metric_stacks_and_rejects_bad_input() -> None:
    stack = np.array([[[3, 1], [0, 4]], [[2, 2], [1, 3]]])
    np.testing.assert_allclose(confusion_metric(stack, "accuracy"), [7 / 8, 5 / 8])
    with pytest.raises(ValueError, match="metric must be one of"):
        confusion_metric(stack, "auc")
    with pytest.raises(ValueError, match="sensitivity needs positive"):
        confusion_metric(stack, "sensitivity")
    with pytest.raises(ValueError, match=r"\[\.\.\., K, K\]"):
        confusion_metric(np.zeros((2, 3)), "accuracy")


# --- McNemar ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("only_a", "only_b"), [(0, 0), (0, 5), (3, 3), (1, 9), (12, 4), (30, 47), (2, 0)])
def test_mcnemar_matches_scipy_binomtest(only_a: int, only_b: int) -> None:
    both, neither = 20, 7
    a = np.array([True] * only_a + [False] * only_b + [True] * both + [False] * neither)
    b = np.array([False] * only_a + [True] * only_b + [True] * both + [False] * neither)
    result = mcnemar_exact(a, b)
    assert (result.only_a, result.only_b) == (only_a, only_b)
    expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_rejects_other_inputs() -> None:
    with pytest.raises(ValueError, match="correct_a must be a 1-D bool array"):
        mcnemar_exact([1, 0], [True, False])
    with pytest.raises(ValueError, match="one entry per sample"):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


# --- DeLong -------------------------------------------------------------------------------------------------


def delong_brute_force(positive: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """AUCs and variance of their difference from the pairwise kernel, by the 1988 paper's definitions."""
    components = []
    for scores in (a, b):
        x, y = scores[positive], scores[~positive]
        psi = np.array([[1.0 if xi > yj else 0.5 if xi == yj else 0.0 for yj in y] for xi in x])
        components.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    m, n = positive.sum(), (~positive).sum()
    s10 = np.cov(np.stack([components[0][0], components[1][0]]))
    s01 = np.cov(np.stack([components[0][1], components[1][1]]))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return components[0][2], components[1][2], variance


@pytest.mark.parametrize("seed", range(5))
def test_delong_matches_the_brute_force_kernel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 23 + seed
    positive = rng.random(n) < 0.4
    positive[:2], positive[2:4] = True, False
    a = np.round(rng.normal(positive * 0.8, 1.0), 1)  # rounded: ties within and across classes
    b = np.round(0.6 * a + rng.normal(positive * 0.5, 0.8), 1)
    result = delong_test(positive, a, b)
    auc_a, auc_b, variance = delong_brute_force(positive, a, b)
    assert result.auc_a == pytest.approx(auc_a, abs=1e-12) and result.auc_b == pytest.approx(auc_b, abs=1e-12)
    assert result.std == pytest.approx(np.sqrt(variance), rel=1e-9)
    z = (auc_b - auc_a) / np.sqrt(variance)
    assert result.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)


def test_delong_identical_scores_and_bad_input() -> None:
    positive = np.array([True, True, False, False, True])
    scores = np.array([0.9, 0.4, 0.3, 0.5, 0.8])
    same = delong_test(positive, scores, scores)
    assert same.difference == 0 and same.p_value == 1.0
    with pytest.raises(ValueError, match="at least 2 positive and 2 negative"):
        delong_test(np.array([True, False, False]), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="one score per sample"):
        delong_test(positive, scores, scores[:4])


# --- the bootstrap ------------------------------------------------------------------------------------------


def simulated_arms(rng: np.random.Generator, n: int, accuracy_a: float, accuracy_b: float) -> tuple[np.ndarray, ...]:
    """Binary labels and two correlated classifiers whose expected accuracies are given."""
    truth = rng.integers(2, size=n)
    shared = rng.random(n)
    right_a = shared < accuracy_a
    # b agrees with a on most images; its own accuracy is still accuracy_b in expectation.
    right_b = np.where(rng.random(n) < 0.5, shared < accuracy_b, rng.random(n) < accuracy_b)
    return truth, np.where(right_a, truth, 1 - truth), np.where(right_b, truth, 1 - truth)


def test_bootstrap_estimate_is_the_mean_of_the_paired_seed_differences() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(3, size=40)
    pred_a = np.stack([np.where(rng.random(40) < 0.6, truth, rng.integers(3, size=40)) for _ in range(3)])
    pred_b = np.stack([np.where(rng.random(40) < 0.8, truth, rng.integers(3, size=40)) for _ in range(3)])
    interval = paired_bootstrap(truth, pred_a, pred_b, "balanced_accuracy", num_classes=3, resamples=500)
    by_hand = [
        classification_report(truth, b, list("xyz")).balanced_accuracy
        - classification_report(truth, a, list("xyz")).balanced_accuracy
        for a, b in zip(pred_a, pred_b, strict=True)
    ]
    assert interval.estimate == pytest.approx(np.mean(by_hand), abs=1e-12)
    assert interval.low <= interval.estimate <= interval.high and interval.resamples == 500


def test_bootstrap_of_identical_arms_is_exactly_zero_whatever_the_seeds() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(2, size=60)
    preds = np.stack([np.where(rng.random(60) < p, truth, 1 - truth) for p in (0.5, 0.7, 0.9)])
    interval = paired_bootstrap(truth, preds, preds.copy(), "accuracy", num_classes=2, resamples=300)
    assert (interval.estimate, interval.low, interval.high, interval.std) == (0.0, 0.0, 0.0, 0.0)


def test_bootstrap_is_seeded() -> None:
    truth, a, b = simulated_arms(np.random.default_rng(2), 120, 0.7, 0.8)
    first = paired_bootstrap(truth, a, b, "accuracy", num_classes=2, resamples=400, seed=7)
    assert paired_bootstrap(truth, a, b, "accuracy", num_classes=2, resamples=400, seed=7) == first
    assert paired_bootstrap(truth, a, b, "accuracy", num_classes=2, resamples=400, seed=8) != first


@pytest.mark.parametrize(("accuracy_a", "accuracy_b"), [(0.8, 0.8), (0.6, 0.9)])
def test_bootstrap_interval_covers_the_true_difference_about_95_percent_of_the_time(
    accuracy_a: float, accuracy_b: float
) -> None:
    """Many test sets drawn from one population: the interval should cover the population's difference in about
    95 % of them; with a difference of 0 it should exclude 0 in about 5 %, with a large one almost never include it."""
    rng = np.random.default_rng(3)
    truth_difference = accuracy_b - accuracy_a
    covered = excluded_zero = 0
    trials = 200
    for trial in range(trials):
        truth, a, b = simulated_arms(rng, 300, accuracy_a, accuracy_b)
        interval = paired_bootstrap(truth, a, b, "accuracy", num_classes=2, resamples=400, seed=trial)
        covered += interval.low <= truth_difference <= interval.high
        excluded_zero += interval.excludes_zero() != 0
    assert 0.90 <= covered / trials <= 0.99
    if truth_difference == 0:
        assert excluded_zero / trials <= 0.10
    else:
        assert excluded_zero == trials


def test_patient_clusters_widen_the_interval_to_its_true_coverage() -> None:
    """When a patient's images succeed or fail together, resampling images pretends to more data than there is;
    resampling patients keeps the coverage."""
    rng = np.random.default_rng(4)
    patients, per_patient, trials = 20, 40, 150
    groups = np.repeat([f"p{i}" for i in range(patients)], per_patient)
    covered = {"patients": 0, "images": 0}
    for trial in range(trials):
        # Each patient moves b's accuracy up or down by a lot; over the population the difference is 0.
        shift = np.repeat(rng.normal(0.0, 0.2, patients), per_patient)
        truth = rng.integers(2, size=groups.size)
        right_a = rng.random(groups.size) < 0.75
        right_b = rng.random(groups.size) < np.clip(0.75 + shift, 0, 1)
        a, b = np.where(right_a, truth, 1 - truth), np.where(right_b, truth, 1 - truth)
        for name, ids in (("patients", groups), ("images", None)):
            interval = paired_bootstrap(truth, a, b, "accuracy", num_classes=2, groups=ids, resamples=300, seed=trial)
            covered[name] += interval.low <= 0.0 <= interval.high
    assert covered["patients"] / trials >= 0.88
    assert covered["images"] / trials <= covered["patients"] / trials - 0.15


def test_sensitivity_interval_skips_resamples_without_positives() -> None:
    truth = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    a = np.zeros(8, dtype=int)
    b = truth.copy()
    interval = paired_bootstrap(truth, a, b, "sensitivity", num_classes=2, positive=1, resamples=400)
    assert interval.estimate == 1.0 and interval.low == interval.high == 1.0
    # About (7/8)^8 = 34 % of the resamples hold no positive image and give no sensitivity.
    assert 200 < interval.resamples < 330


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resamples": 99}, "resamples must be an integer >= 100"),
        ({"confidence": 1.0}, "confidence must be a float in"),
        ({"groups": ["a", "b"]}, "groups must give one id per sample"),
        ({"metric": "sensitivity"}, "sensitivity needs positive"),
    ],
)
def test_bootstrap_bad_input(kwargs: dict, message: str) -> None:
    truth = np.array([0, 1, 0, 1])
    values = {"metric": "accuracy", "num_classes": 2, **kwargs}
    metric = values.pop("metric")
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(truth, truth, truth, metric, **values)


def test_bootstrap_needs_matching_predictions() -> None:
    truth = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="as many seeds"):
        paired_bootstrap(truth, np.stack([truth, truth]), truth, "accuracy", num_classes=2)
    with pytest.raises(ValueError, match=r"pred_b must hold integer class labels in \[0, 2\)"):
        paired_bootstrap(truth, truth, truth + 1, "accuracy", num_classes=2)


# --- comparisons and verdicts -------------------------------------------------------------------------------


def one_hot(pred: np.ndarray, k: int = 2, confidence: float = 0.9) -> np.ndarray:
    probs = np.full((*pred.shape, k), (1 - confidence) / (k - 1))
    np.put_along_axis(probs, pred[..., None], confidence, axis=-1)
    return probs


def arms(accuracies: tuple[float, float], n: int = 400, seeds: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    truth = np.tile([0, 1], n // 2)
    pred = [np.stack([np.where(rng.random(n) < acc, truth, 1 - truth) for _ in range(seeds)]) for acc in accuracies]
    return truth, one_hot(pred[0]), one_hot(pred[1])


@pytest.mark.parametrize(
    ("accuracies", "verdict", "opening"),
    [((0.7, 0.9), "helped", "Synthetic data helped"), ((0.9, 0.7), "hurt", "Synthetic data hurt"),
     ((0.8, 0.8), "no_difference", "No detectable difference")],
)  # fmt: skip
def test_three_verdicts_come_from_the_interval_alone(accuracies, verdict, opening) -> None:
    truth, base, other = arms(accuracies)
    groups = np.repeat([f"p{i:02d}" for i in range(40)], 10)
    comparison = compare_runs(
        truth, base, other, metric="balanced_accuracy", class_names=["normal", "cancer"], baseline="real 30%",
        compared="round 2", selected=True, groups=groups, positive_class="cancer", resamples=500,
    )  # fmt: skip
    assert comparison.verdict == verdict
    iv = comparison.interval
    assert (iv.low > 0) == (verdict == "helped") and (iv.high < 0) == (verdict == "hurt")
    sentence = comparison.sentence()
    assert sentence.startswith(opening) and f"{iv.low:+.3f} to {iv.high:+.3f}" in sentence
    # Every verdict states what the test set could detect, and on how many images and patients.
    assert f"about {comparison.detectable:.3f}" in sentence and "400 test images of 40 patients" in sentence
    record = comparison.to_dict()
    assert record["verdict"] == verdict and record["n_test_images"] == 400 and record["n_test_patients"] == 40
    assert record["ci_low"] == iv.low and record["difference"] == iv.estimate
    assert 0 <= record["p_mcnemar"] <= 1 and 0 <= record["p_delong"] <= 1
    assert record["sensitivity"]["ci_low"] <= record["sensitivity"]["difference"] <= record["sensitivity"]["ci_high"]
    assert record["warnings"] == []


def test_mcnemar_and_delong_use_the_seed_ensembles() -> None:
    truth, base, other = arms((0.7, 0.85), n=60)
    comparison = compare_runs(
        truth, base, other, metric="accuracy", class_names=["a", "b"], baseline="x", compared="y", selected=True,
        positive_class="b", resamples=200,
    )  # fmt: skip
    ensembles = [base.mean(axis=0), other.mean(axis=0)]
    expected = mcnemar_exact(ensembles[0].argmax(1) == truth, ensembles[1].argmax(1) == truth)
    assert comparison.mcnemar_p == expected.p_value
    assert comparison.mcnemar_counts == (expected.only_a, expected.only_b)
    delong = delong_test(truth == 1, ensembles[0][:, 1], ensembles[1][:, 1])
    assert comparison.delong_p == delong.p_value and comparison.auc == (delong.auc_a, delong.auc_b)


def test_small_test_sets_are_warned_about() -> None:
    truth, base, other = arms((0.8, 0.8), n=40, seeds=1)
    comparison = compare_runs(
        truth, base, other, metric="accuracy", class_names=["a", "b"], baseline="x", compared="y", selected=False,
        groups=np.repeat(["p1", "p2", "p3", "p4"], 10), resamples=200,
    )  # fmt: skip
    text = " ".join(comparison.warnings)
    assert "fewer than 30 test images in class(es) a (20), b (20)" in text
    assert "only 4 test patient(s)" in text
    sentence = comparison.sentence()
    assert "One classifier seed per run cannot show a difference" in sentence
    assert "No run with synthetic images beat x on validation; y was the best" in sentence
    no_ids = compare_runs(
        truth, base, other, metric="accuracy", class_names=["a", "b"], baseline="x", compared="y", selected=True,
        split="val", resamples=200,
    )  # fmt: skip
    assert any("no patient ids" in w for w in no_ids.warnings)
    assert any("no test set" in w for w in no_ids.warnings) and no_ids.n_patients is None


def test_a_test_set_with_one_class_is_refused() -> None:
    truth = np.zeros(10, dtype=int)
    probs = one_hot(np.zeros((2, 10), dtype=int))
    with pytest.raises(ValueError, match="holds one class only"):
        compare_runs(truth, probs, probs, metric="accuracy", class_names=["a", "b"], baseline="x", compared="y",
                     selected=True)  # fmt: skip


def test_metric_ties_and_permutation_invariance() -> None:
    """Reordering the images (and their patient ids) changes nothing: the resampling is by identity, not position."""
    truth, base, other = arms((0.7, 0.8), n=80)
    groups = np.repeat([f"p{i}" for i in range(8)], 10)
    order = np.random.default_rng(6).permutation(80)
    common = {"metric": "macro_f1", "class_names": ["a", "b"], "baseline": "x", "compared": "y", "selected": True}
    first = compare_runs(truth, base, other, groups=groups, resamples=300, **common)
    again = compare_runs(truth[order], base[:, order], other[:, order], groups=groups[order], resamples=300, **common)
    for field in ("estimate", "low", "high", "std"):
        assert getattr(first.interval, field) == pytest.approx(getattr(again.interval, field), abs=1e-12)
    assert first.n_patients == again.n_patients == 8 and first.class_counts == (40, 40)
