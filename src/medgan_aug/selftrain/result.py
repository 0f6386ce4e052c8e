"""What a self-training run measured: one :class:`Stage` per classifier, the :class:`SelfTrainResult` and its files."""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._files import atomic_write, atomic_write_text
from ..formats import CLASSIFIER_FORMAT, REPORT_FORMAT
from ..plots import PLOTS_MISSING, plot_curves, plotting_available
from .comparison import Comparison, compare_runs
from .report import ClassificationReport, save_confusion_png

__all__ = ["SeedRun", "SelfTrainResult", "Stage"]

_REPORT_VERSION = 2


@dataclass(frozen=True)
class SeedRun:
    """One classifier of a stage: its seed, its scores and, kept in memory only, its softmax outputs.

    Attributes
    ----------
    seed : int
        The classifier's training seed (initialisation, shuffling, augmentation).
    val, test : ClassificationReport or None
        Its scores on the validation and test sets (``test`` None without a test set).
    history : tuple of dict
        :func:`~medgan_aug.selftrain.train_classifier`'s per-epoch rows.
    probs : dict of str to numpy.ndarray
        ``{"val": [N, K], "test": [N, K]}`` softmax outputs on the held-out images; not written to reports.
    """

    seed: int
    val: ClassificationReport
    test: ClassificationReport | None
    history: tuple[dict[str, float], ...] = ()
    probs: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the run's seed, reports and history as JSON-serialisable built-in types."""
        return {
            "seed": self.seed,
            "val": self.val.to_dict(),
            "test": None if self.test is None else self.test.to_dict(),
            "history": [dict(row) for row in self.history],
        }


@dataclass(frozen=True)
class Stage:
    """One step of a self-training run, trained once per seed on the same data, and the data it was trained on.

    Attributes
    ----------
    name : str
        ``"real 30%"``, ``"real 100%"``, ``"round 2"`` or ``"mix x1.5"``.
    kind : {"baseline", "full", "round", "mix"}
        The real-only baseline at the real fraction, real-only at 100 %, a pseudo-labelling round or a mixing run.
    real_images : int
        Real training images (per seed, when each seed draws its own real subset).
    synthetic_per_class : tuple of int
        Synthetic training images per class.
    added_per_class : tuple of int
        Synthetic images this stage added per class (accepted this round, or the whole mix).
    capped : tuple of int
        Per class: confident images left out because the class cap was reached (pseudo), or synthetic images
        missing for the requested ratio (mix).
    below_threshold : int or None
        Pool images under the confidence threshold this round (pseudo rounds only).
    pool_remaining : int or None
        Pool images not used for training after this stage (rounds and mixes).
    val, test : ClassificationReport or None
        Scores of the seed ensemble (the mean softmax output of the stage's classifiers) on the validation and test
        sets; ``val`` is None for a round that accepted nothing (no classifier was trained), ``test`` is None also
        when there is no test set. Per-seed scores are in ``runs``.
    runs : tuple of SeedRun
        One classifier per seed, in seed order; empty when nothing was trained.
    """

    name: str
    kind: str
    real_images: int
    synthetic_per_class: tuple[int, ...]
    added_per_class: tuple[int, ...]
    capped: tuple[int, ...]
    below_threshold: int | None
    pool_remaining: int | None
    val: ClassificationReport | None
    test: ClassificationReport | None
    runs: tuple[SeedRun, ...] = ()

    @property
    def trained(self) -> bool:
        """Whether classifiers were trained (and scored) at this stage."""
        return self.val is not None

    def per_seed(self, split: str, metric: str) -> np.ndarray:
        """``metric`` (an attribute of :class:`ClassificationReport`, e.g. ``"balanced_accuracy"``) of each seed's
        classifier on ``split`` (``"val"`` or ``"test"``); empty when nothing was trained or the value is
        undefined (a missing test set, an undefined ROC AUC)."""
        values = [getattr(getattr(run, split), metric) for run in self.runs if getattr(run, split) is not None]
        return np.array([v for v in values if v is not None], dtype=np.float64)

    def mean(self, split: str, metric: str) -> float | None:
        """Mean of :meth:`per_seed` (None when empty)."""
        values = self.per_seed(split, metric)
        return float(values.mean()) if values.size else None

    def std(self, split: str, metric: str) -> float | None:
        """Sample standard deviation of :meth:`per_seed` (None with fewer than two seeds)."""
        values = self.per_seed(split, metric)
        return float(values.std(ddof=1)) if values.size > 1 else None

    def probs(self, split: str) -> np.ndarray:
        """``[seeds, N, K]`` softmax outputs of the stage's classifiers on ``split``."""
        return np.stack([run.probs[split] for run in self.runs])

    def to_dict(self) -> dict[str, Any]:
        """Return the stage as JSON-serialisable built-in types."""
        summary: dict[str, Any] = {}
        for split in ("val", "test"):
            summary[split] = {
                metric: {"mean": self.mean(split, metric), "std": self.std(split, metric)}
                for metric in _SUMMARY_METRICS
                if self.per_seed(split, metric).size
            } or None
        return {
            "name": self.name,
            "kind": self.kind,
            "real_images": self.real_images,
            "synthetic_per_class": list(self.synthetic_per_class),
            "added_per_class": list(self.added_per_class),
            "capped": list(self.capped),
            "below_threshold": self.below_threshold,
            "pool_remaining": self.pool_remaining,
            "val": None if self.val is None else self.val.to_dict(),
            "test": None if self.test is None else self.test.to_dict(),
            "summary": summary,
            "per_seed": [run.to_dict() for run in self.runs],
        }


_SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _mean_sd(values: np.ndarray) -> str:
    """``mean ± sd`` of per-seed values (the value alone for one seed, n/a for none)."""
    if values.size == 0:
        return "n/a"
    return f"{values.mean():.3f}" if values.size == 1 else f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


@dataclass
class SelfTrainResult:
    """Everything a self-training run measured, the comparison with the baseline, and the selected classifier.

    Attributes
    ----------
    class_names : tuple of str
        The classes, indexed by label.
    positive_class : str or None
        The positive class of a binary task.
    monitor : str
        The validation metric the run was selected by.
    config : dict
        :meth:`SelfTrainConfig.to_dict` of the run.
    data : dict
        The real splits (:meth:`RealSplits.describe`) and the pool's size and kind.
    stages : list of Stage
        Baseline first, then real 100 % (when trained), then rounds or mixes in order.
    stop_reason : str
        Why the rounds ended.
    selected : int
        Index in ``stages`` of the run with the best mean validation ``monitor`` over seeds (the earliest on ties,
        so synthetic data has to do strictly better than the baseline; real 100 % is a reference and never
        selected).
    accepted : list of dict
        One row per synthetic image trained on: ``source`` (file or seed), ``label`` (class name),
        ``confidence`` (top probability of the seed ensemble when pseudo-labelled, None in mix mode) and ``stage``
        (the first stage whose training set held it).
    held_out : dict of str to tuple
        ``{"val": (labels, patient ids or None), "test": ...}`` of the held-out images the stages were scored on
        (no ``"test"`` without a test set); :meth:`comparison` reads them.
    model : torch.nn.Module or None
        The selected stage's classifier of the first seed (``config["train"]["seed"]``), on the CPU in eval mode.
    """

    class_names: tuple[str, ...]
    positive_class: str | None
    monitor: str
    config: dict[str, Any]
    data: dict[str, Any]
    stages: list[Stage]
    stop_reason: str
    selected: int
    accepted: list[dict[str, Any]]
    held_out: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    model: nn.Module | None = None
    _cached: tuple[tuple[int, int], Comparison | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def baseline(self) -> Stage:
        """The real-only run at the real fraction."""
        return self.stages[0]

    @property
    def selected_stage(self) -> Stage:
        """The run selected on validation."""
        return self.stages[self.selected]

    def selected_synthetic(self) -> list[dict[str, Any]]:
        """The rows of :attr:`accepted` for the synthetic images the selected run trained on."""
        names = {stage.name for stage in self.stages[: self.selected + 1]}
        return [row for row in self.accepted if row["stage"] in names]

    def _data_warnings(self) -> list[str]:
        """Warnings about the data that no interval can show: test patients the generator was trained on."""
        leak = self.data.get("generator_training")
        if not leak or not leak.get("shared_patients"):
            return []
        shared = leak["shared_patients"]
        listed = ", ".join(shared[:10]) + (", ..." if len(shared) > 10 else "")
        return [
            f"{len(shared)} {self._scored_set()} patient(s) were in the generator's training set "
            f"({leak['folder']}): {listed}. The synthetic images may copy these patients' images, so the "
            "comparison is not held out from the generator and overstates what synthetic data gives"
        ]

    def _copying_lines(self) -> list[str]:
        lines = []
        flagged = self.data["pool"].get("copy_flagged")
        if flagged is not None:
            used = self.selected_synthetic()
            hit = sum(bool(row.get("copy_flagged")) for row in used)
            lines.append(
                f"- copying audit of the pool: {flagged} of {self.data['pool']['size']} pool images are flagged as "
                f"likely copies of the generator's training images; the selected run trained on {hit} of them "
                f"(of {len(used)} synthetic images)"
            )
        leak = self.data.get("generator_training")
        if leak and not leak.get("shared_patients"):
            lines.append(f"- generator training set ({leak['folder']}): {leak['note']}")
        return lines

    def _scored_set(self) -> str:
        return "test" if "test" in self.held_out or self.baseline.test is not None else "val"

    def _compared_index(self) -> int | None:
        """The selected run when it used synthetic images, else the best such run on validation."""
        if self.selected_stage.kind in ("round", "mix"):
            return self.selected
        synthetic = [i for i, s in enumerate(self.stages) if s.kind in ("round", "mix") and s.trained]
        if not synthetic:
            return None
        return max(synthetic, key=lambda i: (self.stages[i].mean("val", self.monitor), -i))

    def comparison(self) -> Comparison | None:
        """The paired comparison of the selected run (or the best run with synthetic images, when the baseline was
        selected) with the real-only baseline on the test set (the validation set without one).

        Returns
        -------
        Comparison or None
            None when no classifier was trained with synthetic images.
        """
        key = (self.selected, len(self.stages))
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        index = self._compared_index()
        result = None
        if index is not None:
            split = self._scored_set()
            labels, groups = self.held_out[split]
            compared = self.stages[index]
            result = compare_runs(
                labels,
                self.baseline.probs(split),
                compared.probs(split),
                metric=self.monitor,
                class_names=self.class_names,
                baseline=self.baseline.name,
                compared=compared.name,
                selected=index == self.selected,
                split=split,  # type: ignore[arg-type]
                groups=groups,
                positive_class=self.positive_class,
                resamples=int(self.config["bootstrap"]),
                seed=int(self.config["train"]["seed"]),
            )
        self._cached = (key, result)
        return result

    def verdict(self) -> str:
        """The verdict on whether synthetic data helped, in one or a few sentences (see :class:`Comparison`)."""
        comparison = self.comparison()
        if comparison is None:
            return f"No classifier was trained with synthetic images ({self.stop_reason}): nothing to compare."
        return comparison.sentence()

    def to_dict(self) -> dict[str, Any]:
        """Return the whole result as JSON-serialisable built-in types (the model is left out)."""
        comparison = self.comparison()
        return {
            "format": REPORT_FORMAT,
            "version": _REPORT_VERSION,
            "class_names": list(self.class_names),
            "positive_class": self.positive_class,
            "monitor": self.monitor,
            "config": self.config,
            "data": self.data,
            "comparison": None if comparison is None else comparison.to_dict(),
            "verdict": self.verdict(),
            "data_warnings": self._data_warnings(),
            "stages": [stage.to_dict() for stage in self.stages],
            "stop_reason": self.stop_reason,
            "selected": self.stages[self.selected].name,
            "accepted": self.accepted,
        }

    def _extra_metrics(self) -> list[tuple[str, str, int | None]]:
        """``(column, attribute, class index)`` of the per-class columns of the runs table."""
        if self.positive_class is not None:
            pos = self.class_names.index(self.positive_class)
            return [("sensitivity", "recall", pos), ("specificity", "recall", 1 - pos), ("ROC AUC", "roc_auc", None)]
        return [(f"recall {name}", "recall", k) for k, name in enumerate(self.class_names)]

    def _extra_cell(self, stage: Stage, split: str, attribute: str, index: int | None) -> str:
        if index is None:
            return _mean_sd(stage.per_seed(split, attribute))
        reports = [getattr(run, split) for run in stage.runs]
        return _mean_sd(np.array([getattr(r, attribute)[index] for r in reports if r is not None], dtype=np.float64))

    def to_markdown(self) -> str:
        """Return the report as Markdown: the verdict and its statistics first, then the runs (mean ± sd over seeds),
        every seed's scores, acceptance per round, and per-class tables of the seed ensembles."""
        split = self._scored_set()
        names = " / ".join(self.class_names)
        monitor = self.monitor.replace("_", " ")
        repeats = int(self.config["repeats"])
        seed = int(self.config["train"]["seed"])
        comparison = self.comparison()
        lines = ["# Self-training report", "", f"**{self.verdict()}**", ""]
        alerts = [f"**Warning:** {warning}." for warning in self._data_warnings()]
        lines += [*alerts, ""] if alerts else []
        if comparison is not None:
            lines += [comparison.to_markdown().rstrip("\n"), ""]
        lines += [
            "## Setup",
            "",
            f"- model: {self.config['model']}, mode: {self.config['mode']}, real fraction: "
            f"{self.config['real_fraction']}",
            f"- {repeats} classifier seed(s) per run: {', '.join(str(seed + r) for r in range(repeats))}"
            + ("; each seed draws its own real subset" if self.config["resample_real"] else ""),
        ]
        if self.config["mode"] == "pseudo":
            lines.append(
                f"- threshold: {self.config['threshold']} on the seed ensemble's softmax, per-class cap: "
                f"{self.config['max_ratio']} x real, rounds: at most {self.config['rounds']}, patience: "
                f"{self.config['patience']}"
            )
        compared = "" if comparison is None else f"; the comparison above is of {comparison.compared}"
        lines += [
            f"- real data: {self.data['real']['method']} split; {self._split_counts()}",
            f"- synthetic pool: {self.data['pool']['size']} images ({self.data['pool']['kind']})",
            f"- selected on mean validation {monitor}: {self.selected_stage.name}{compared}",
            f"- stopped: {self.stop_reason}",
            *self._copying_lines(),
            "",
            f"## Runs (mean ± standard deviation over {repeats} seed(s))",
            "",
        ]
        extra = self._extra_metrics()
        head = ["run", "real", f"synthetic ({names})", f"val {monitor}", f"{split} acc", f"{split} bal. acc",
                f"{split} macro F1", *(f"{split} {column}" for column, _, _ in extra)]  # fmt: skip
        lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for stage in self.stages:
            marker = " (selected)" if stage is self.selected_stage else ""
            cells = [
                stage.name + marker,
                str(stage.real_images),
                " / ".join(str(c) for c in stage.synthetic_per_class),
                _mean_sd(stage.per_seed("val", self.monitor)),
                _mean_sd(stage.per_seed(split, "accuracy")),
                _mean_sd(stage.per_seed(split, "balanced_accuracy")),
                _mean_sd(stage.per_seed(split, "macro_f1")),
                *(self._extra_cell(stage, split, attribute, index) for _, attribute, index in extra),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "## Runs by seed",
            "",
            f"| run | seed | val {monitor} | {split} {monitor} |",
            "|---|---:|---:|---:|",
        ]
        for stage in self.stages:
            for run in stage.runs:
                scored = getattr(run, split)
                lines.append(
                    f"| {stage.name} | {run.seed} | {getattr(run.val, self.monitor):.3f} | "
                    f"{_fmt(None if scored is None else getattr(scored, self.monitor))} |"
                )
        added = [s for s in self.stages if s.kind in ("round", "mix")]
        if added:
            lines += ["", "## Synthetic images added", ""]
            capped = "capped, class full" if self.config["mode"] == "pseudo" else "missing for the ratio"
            lines.append(f"| run | added ({names}) | {capped} ({names}) | below threshold | pool left |")
            lines.append("|---|---:|---:|---:|---:|")
            for stage in added:
                below = "" if stage.below_threshold is None else str(stage.below_threshold)
                lines.append(
                    f"| {stage.name} | {' / '.join(map(str, stage.added_per_class))} | "
                    f"{' / '.join(map(str, stage.capped))} | {below} | {stage.pool_remaining} |"
                )
        for title, stage in self._detailed_stages():
            report = getattr(stage, split)
            heading = f"## {title}: {stage.name}, {split} set, ensemble of {len(stage.runs)} seed(s)"
            lines += ["", heading, "", report.to_markdown().rstrip("\n")]
        return "\n".join(lines) + "\n"

    def _split_counts(self) -> str:
        counts = self.data["real"]["counts"]
        return ", ".join(f"{name.replace('_', ' ')} {counts[name]}" for name in ("train", "train_used", "val", "test"))

    def _detailed_stages(self) -> list[tuple[str, Stage]]:
        pairs = [("Selected", self.selected_stage)]
        if self.selected != 0:
            pairs.append(("Baseline", self.baseline))
        pairs += [("Reference", s) for s in self.stages if s.kind == "full"]
        return pairs

    def _plot(self, path: Path, split: str) -> None:
        """Validation and ``split`` ``monitor`` run by run: seed means joined by lines, every seed a dot, a bar from
        the lowest to the highest seed; real 100 % as a flat line."""
        runs = [s for s in self.stages if s.kind != "full"]
        metric = self.monitor.replace("_", " ")
        curves: dict[str, list[float | None]] = {}
        seeds: dict[str, list[list[float]]] = {}
        for which in ("val", split):
            name = f"{which} {metric}"
            curves[name] = [s.mean(which, self.monitor) for s in runs]
            seeds[name] = [s.per_seed(which, self.monitor).tolist() for s in runs]
        for full in (s for s in self.stages if s.kind == "full"):
            curves[f"{split} {metric}, {full.name}"] = [full.mean(split, self.monitor)] * len(runs)
        repeats = int(self.config["repeats"])
        title = f"{metric} per run over {repeats} seed(s) (0: {self.baseline.name}, then {runs[-1].kind}s)"
        plot_curves(path, list(range(len(runs))), curves, title, spread=seeds)

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``report.json``, ``report.md``, ``accepted.csv``, ``runs.png``, confusion PNGs and ``classifier.pt``.

        Every file is written atomically; the PNGs need matplotlib (a warning says when they are left out).
        ``runs.png`` plots the validation and test ``monitor`` run by run, every
        seed's value and their mean. ``confusion_selected.png`` (and ``confusion_baseline.png`` when another run
        was selected) show the seed ensemble on the test set, or the validation set without one.
        ``classifier.pt`` holds the selected run's first-seed classifier (see :func:`load_classifier`).

        Parameters
        ----------
        out_dir : str or os.PathLike
            Folder to write into; created if missing.

        Returns
        -------
        pathlib.Path
            The folder.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        atomic_write_text(out / "report.json", text)
        markdown = self.to_markdown()
        atomic_write_text(out / "report.md", markdown)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["source", "label", "confidence", "stage"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.accepted)
        atomic_write_text(out / "accepted.csv", buffer.getvalue())
        split = self._scored_set()
        if plotting_available():
            self._plot(out / "runs.png", split)
            save_confusion_png(getattr(self.selected_stage, split), out / "confusion_selected.png")
            if self.selected != 0:
                save_confusion_png(getattr(self.baseline, split), out / "confusion_baseline.png")
        else:
            warnings.warn(
                f"no runs.png or confusion PNGs in {out}: {PLOTS_MISSING}; report.json and report.md hold the numbers",
                stacklevel=2,
            )
        if self.model is not None:
            checkpoint = {
                "format": CLASSIFIER_FORMAT,
                "model": self.config["model"],
                "class_names": list(self.class_names),
                "in_chans": self.data["real"]["num_channels"],
                "image_size": self.config["train"]["image_size"] or self.data["real"]["resolution"],
                "stage": self.selected_stage.name,
                "seed": int(self.config["train"]["seed"]),
                "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            }
            atomic_write(out / "classifier.pt", lambda f: torch.save(checkpoint, f))
        return out
