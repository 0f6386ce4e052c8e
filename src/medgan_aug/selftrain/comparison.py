"""Did synthetic images help? The paired comparison of a run with the real-only baseline, and its verdict.

:func:`compare_runs` scores two arms (each a stack of one classifier per seed) on the same held-out images: a
bootstrap interval of the difference in the monitored metric (patients resampled when their ids are known),
McNemar's exact test, DeLong's test for a binary task's ROC AUC and an interval for the positive class's
sensitivity. :class:`Comparison` turns them into one of three verdicts, helped, hurt or no detectable difference,
from the interval alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .statistics import BootstrapInterval, delong_test, mcnemar_exact, paired_bootstrap

__all__ = ["MIN_CLASS_IMAGES", "MIN_PATIENTS", "VERDICTS", "Comparison", "compare_runs"]

VERDICTS: tuple[str, ...] = ("helped", "hurt", "no_difference")
"""The three outcomes of :attr:`Comparison.verdict`."""

MIN_CLASS_IMAGES = 30
"""Fewer test images of a class than this draw a warning: its recall moves by more than 3 points per image."""

MIN_PATIENTS = 5
"""Fewer test patients than this draw a warning: a patient-level interval cannot be trusted with fewer."""

# Two-sided 5 % test with 80 % power: the smallest difference detectable is about (1.96 + 0.84) standard errors.
_DETECTABLE_SE = 2.8


@dataclass(frozen=True)
class Comparison:
    """A run with synthetic images against the real-only baseline, on the same held-out images.

    Attributes
    ----------
    metric : str
        The compared metric (the run's validation ``monitor``).
    split : {"test", "val"}
        The images compared on: the test set, or the validation set when there is none (then the selected run
        was chosen on these images and the difference is optimistic).
    baseline, compared : str
        Names of the two runs.
    selected : bool
        Whether ``compared`` is the run selected on validation; False when no run with synthetic images beat the
        baseline there and the best of them is compared instead.
    repeats : int
        Classifier seeds per run.
    interval : BootstrapInterval
        ``metric(compared) - metric(baseline)``: the mean over seeds, its percentile interval and standard error.
    mcnemar_p : float
        McNemar's exact p-value on per-image correctness of the seed ensembles (mean softmax over seeds).
    mcnemar_counts : tuple of int
        Images only the baseline's ensemble gets right, and only the compared run's.
    auc : tuple of float or None
        ROC AUC of the baseline's and the compared run's ensembles (binary tasks).
    delong_p : float or None
        DeLong's p-value for the AUC difference (binary tasks with 2 or more images of each class).
    sensitivity : BootstrapInterval or None
        Difference in the positive class's recall (binary tasks), same resampling as ``interval``.
    sensitivity_means : tuple of float or None
        The baseline's and the compared run's positive-class recall, mean over seeds.
    n_images : int
        Held-out images compared on.
    n_patients : int or None
        Their distinct patients, None without patient ids.
    class_counts : tuple of int
        Held-out images per class.
    warnings : tuple of str
        Why the numbers deserve less trust than they seem to.
    """

    metric: str
    split: Literal["test", "val"]
    baseline: str
    compared: str
    selected: bool
    repeats: int
    interval: BootstrapInterval
    mcnemar_p: float
    mcnemar_counts: tuple[int, int]
    auc: tuple[float, float] | None
    delong_p: float | None
    sensitivity: BootstrapInterval | None
    sensitivity_means: tuple[float, float] | None
    n_images: int
    n_patients: int | None
    class_counts: tuple[int, ...]
    warnings: tuple[str, ...]

    @property
    def verdict(self) -> Literal["helped", "hurt", "no_difference"]:
        """``"helped"`` when the interval lies above 0, ``"hurt"`` when below, else ``"no_difference"``."""
        side = self.interval.excludes_zero()
        return "helped" if side > 0 else "hurt" if side < 0 else "no_difference"

    @property
    def detectable(self) -> float:
        """The smallest difference these images could detect: 2.8 bootstrap standard errors (5 % level, 80 %
        power)."""
        return _DETECTABLE_SE * self.interval.std

    def sentence(self) -> str:
        """The verdict in words, with the difference, its interval, what limits it and every warning."""
        metric = self.metric.replace("_", " ")
        iv = self.interval
        level = f"{100 * iv.confidence:g}% CI"
        numbers = (
            f"{self.split} {metric} {iv.estimate:+.3f} for {self.compared} over {self.baseline} "
            f"({level} {iv.low:+.3f} to {iv.high:+.3f}"
        )
        numbers += f"; mean of {self.repeats} seeds)" if self.repeats > 1 else ")"
        opening = {"helped": "Synthetic data helped", "hurt": "Synthetic data hurt"}
        text = (
            f"{opening.get(self.verdict, 'No detectable difference')}: {numbers}; these {self.n_images} "
            f"{self.split} images{self._patients_clause()} can detect differences of about {self.detectable:.3f}."
        )
        if not self.selected:
            text += f" No run with synthetic images beat {self.baseline} on validation; {self.compared} was the best."
        if self.repeats == 1:
            text += (
                " One classifier seed per run cannot show a difference: the interval leaves out the spread between "
                "training seeds (use repeats >= 3)."
            )
        # A verdict never travels without what weakens it.
        text += "".join(f" Warning: {note}." for note in self.warnings)
        return text

    def _patients_clause(self) -> str:
        return "" if self.n_patients is None else f" of {self.n_patients} patients"

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-serialisable built-in types."""
        iv = self.interval
        sensitivity = None
        if self.sensitivity is not None and self.sensitivity_means is not None:
            sensitivity = {
                "baseline": self.sensitivity_means[0],
                "compared": self.sensitivity_means[1],
                "difference": self.sensitivity.estimate,
                "ci_low": self.sensitivity.low,
                "ci_high": self.sensitivity.high,
            }
        return {
            "metric": self.metric,
            "split": self.split,
            "baseline": self.baseline,
            "compared": self.compared,
            "compared_is_selected": self.selected,
            "repeats": self.repeats,
            "difference": iv.estimate,
            "ci_low": iv.low,
            "ci_high": iv.high,
            "confidence": iv.confidence,
            "std": iv.std,
            "bootstrap_resamples": iv.resamples,
            "detectable_difference": self.detectable,
            "p_mcnemar": self.mcnemar_p,
            "mcnemar_only_baseline_correct": self.mcnemar_counts[0],
            "mcnemar_only_compared_correct": self.mcnemar_counts[1],
            "roc_auc_baseline": None if self.auc is None else self.auc[0],
            "roc_auc_compared": None if self.auc is None else self.auc[1],
            "p_delong": self.delong_p,
            "sensitivity": sensitivity,
            "n_test_images": self.n_images,
            "n_test_patients": self.n_patients,
            "class_counts": list(self.class_counts),
            "verdict": self.verdict,
            "sentence": self.sentence(),
            "warnings": list(self.warnings),
        }

    def to_markdown(self) -> str:
        """Bullet lines: the verdict's numbers, the tests and the sample sizes (:meth:`sentence` has the warnings)."""
        iv = self.interval
        metric = self.metric.replace("_", " ")
        level = f"{100 * iv.confidence:g}%"
        resampled = "patients" if self.n_patients is not None else "images"
        lines = [
            f"- compared on the {self.split} set: {self.compared}"
            + (" (selected on validation)" if self.selected else " (best run with synthetic images on validation)")
            + f" against {self.baseline}, {self.repeats} classifier seed(s) each",
            f"- {metric} difference {iv.estimate:+.3f}, {level} bootstrap interval {iv.low:+.3f} to {iv.high:+.3f} "
            f"({iv.resamples} resamples of {resampled} and seeds; standard error {iv.std:.3f}; smallest detectable "
            f"difference about {self.detectable:.3f})",
            f"- McNemar exact p = {self.mcnemar_p:.3g} (seed ensembles; only {self.baseline} right on "
            f"{self.mcnemar_counts[0]} images, only {self.compared} right on {self.mcnemar_counts[1]})",
        ]
        if self.auc is not None:
            delong = "n/a" if self.delong_p is None else f"{self.delong_p:.3g}"
            lines.append(f"- ROC AUC {self.auc[0]:.3f} -> {self.auc[1]:.3f} (seed ensembles), DeLong p = {delong}")
        if self.sensitivity is not None and self.sensitivity_means is not None:
            sv = self.sensitivity
            lines.append(
                f"- sensitivity {self.sensitivity_means[0]:.3f} -> {self.sensitivity_means[1]:.3f}, difference "
                f"{sv.estimate:+.3f} ({level} interval {sv.low:+.3f} to {sv.high:+.3f})"
            )
        patients = "unknown (no patient ids)" if self.n_patients is None else str(self.n_patients)
        lines.append(
            f"- {self.split} images: {self.n_images} ({' / '.join(map(str, self.class_counts))} per class), "
            f"patients: {patients}"
        )
        return "\n".join(lines) + "\n"


def compare_runs(
    y_true: np.ndarray,
    baseline_probs: np.ndarray,
    compared_probs: np.ndarray,
    *,
    metric: str,
    class_names: Sequence[str],
    baseline: str,
    compared: str,
    selected: bool,
    split: Literal["test", "val"] = "test",
    groups: np.ndarray | None = None,
    positive_class: str | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare two runs scored on the same images (see :class:`Comparison`).

    Parameters
    ----------
    y_true : numpy.ndarray
        ``[N]`` true classes of the held-out images.
    baseline_probs, compared_probs : numpy.ndarray
        ``[R, N, K]`` softmax outputs of each run's ``R`` classifiers; row ``r`` of both runs shares a seed.
    metric : str
        ``"accuracy"``, ``"balanced_accuracy"`` or ``"macro_f1"``.
    class_names : sequence of str
        The ``K`` classes.
    baseline, compared : str
        The runs' names.
    selected : bool
        Whether ``compared`` is the run selected on validation.
    split : {"test", "val"}
        Which images these are.
    groups : numpy.ndarray, optional
        ``[N]`` patient ids: the bootstrap then resamples patients.
    positive_class : str, optional
        The positive class of a binary task: adds DeLong's test and the sensitivity interval.
    resamples : int
        Bootstrap resamples (>= 100).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    Comparison
    """
    names = list(class_names)
    truth = np.asarray(y_true, dtype=np.int64)
    arms = [np.asarray(baseline_probs, dtype=np.float64), np.asarray(compared_probs, dtype=np.float64)]
    k = len(names)
    counts = np.bincount(truth, minlength=k)
    if (counts > 0).sum() < 2:
        present = [names[c] for c in np.flatnonzero(counts)]
        raise ValueError(
            f"the {split} set holds one class only ({', '.join(present)}): a comparison needs images of 2 or more "
            "classes"
        )
    predictions = [arm.argmax(axis=2) for arm in arms]
    common = {"num_classes": k, "groups": groups, "resamples": resamples, "seed": seed}
    interval = paired_bootstrap(truth, predictions[0], predictions[1], metric, **common)
    # McNemar and DeLong compare one classifier per run: the seed ensemble, the mean softmax over seeds.
    ensembles = [arm.mean(axis=0) for arm in arms]
    correct = [ensemble.argmax(axis=1) == truth for ensemble in ensembles]
    mcnemar = mcnemar_exact(correct[0], correct[1])

    auc = delong_p = sensitivity = sensitivity_means = None
    if positive_class is not None:
        pos = names.index(positive_class)
        is_positive = truth == pos
        if min(int(is_positive.sum()), int((~is_positive).sum())) >= 2:
            delong = delong_test(is_positive, ensembles[0][:, pos], ensembles[1][:, pos])
            auc, delong_p = (delong.auc_a, delong.auc_b), delong.p_value
        if is_positive.any():
            sensitivity = paired_bootstrap(truth, predictions[0], predictions[1], "sensitivity", positive=pos, **common)
            recalls = [float((p[:, is_positive] == pos).mean()) for p in predictions]
            sensitivity_means = (recalls[0], recalls[1])

    n_patients = None if groups is None else len(set(groups.tolist()))
    notes = []
    if split == "val":
        notes.append(
            "there is no test set: the runs are compared on the validation images that selected them, so the "
            "difference is optimistic"
        )
    small = [f"{name} ({int(c)})" for name, c in zip(names, counts, strict=True) if c < MIN_CLASS_IMAGES]
    if small:
        notes.append(f"fewer than {MIN_CLASS_IMAGES} {split} images in class(es) {', '.join(small)}")
    if n_patients is None:
        notes.append(
            f"no patient ids for the {split} images: they are resampled one by one, which overstates the precision "
            "when a patient contributes several images"
        )
    elif n_patients < MIN_PATIENTS:
        notes.append(
            f"only {n_patients} {split} patient(s) (fewer than {MIN_PATIENTS}): the interval rests on too few "
            "patients to generalise"
        )
    return Comparison(
        metric=metric,
        split=split,
        baseline=baseline,
        compared=compared,
        selected=selected,
        repeats=int(arms[0].shape[0]),
        interval=interval,
        mcnemar_p=mcnemar.p_value,
        mcnemar_counts=(mcnemar.only_a, mcnemar.only_b),
        auc=auc,
        delong_p=delong_p,
        sensitivity=sensitivity,
        sensitivity_means=sensitivity_means,
        n_images=int(truth.size),
        n_patients=n_patients,
        class_counts=tuple(int(c) for c in counts),
        warnings=tuple(notes),
    )
