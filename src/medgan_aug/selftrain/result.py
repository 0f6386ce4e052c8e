"""What a self-training run measured: one :class:`Stage` per classifier, the :class:`SelfTrainResult` and its files."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._files import atomic_write
from ..train.reports import plot_curves
from .classifier import create_classifier
from .report import ClassificationReport, save_confusion_png

__all__ = ["CLASSIFIER_FORMAT", "SelfTrainResult", "Stage", "load_classifier"]

CLASSIFIER_FORMAT = "medgan-aug classifier"
"""The ``format`` entry of the classifier files :meth:`SelfTrainResult.save` writes."""

_REPORT_FORMAT = "medgan-aug selftrain report"
_REPORT_VERSION = 1


@dataclass(frozen=True)
class Stage:
    """One classifier of a self-training run and the data it was trained on.

    Attributes
    ----------
    name : str
        ``"real 30%"``, ``"real 100%"``, ``"round 2"`` or ``"mix x1.5"``.
    kind : {"baseline", "full", "round", "mix"}
        The real-only baseline at the real fraction, real-only at 100 %, a pseudo-labelling round or a mixing run.
    real_images : int
        Real training images.
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
        Scores on the validation and test sets; ``val`` is None for a round that accepted nothing (no classifier
        was trained), ``test`` is None also when there is no test set.
    history : tuple of dict
        :func:`~medgan_aug.selftrain.train_classifier`'s per-epoch rows.
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
    history: tuple[dict[str, float], ...] = ()

    @property
    def trained(self) -> bool:
        """Whether a classifier was trained (and scored) at this stage."""
        return self.val is not None

    def to_dict(self) -> dict[str, Any]:
        """Return the stage as JSON-serialisable built-in types."""
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
            "history": [dict(row) for row in self.history],
        }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _signed(value: float) -> str:
    return f"{value:+.3f}"


@dataclass
class SelfTrainResult:
    """Everything a self-training run measured, and the selected classifier.

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
        Index in ``stages`` of the run with the best validation ``monitor`` (the earliest on ties, so synthetic
        data has to do strictly better than the baseline; real 100 % is a reference and never selected).
    accepted : list of dict
        One row per synthetic image trained on: ``source`` (file or seed), ``label`` (class name),
        ``confidence`` (top probability when pseudo-labelled, None in mix mode) and ``stage`` (the first stage
        whose training set held it).
    model : torch.nn.Module or None
        The selected classifier, on the CPU in eval mode.
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
    model: nn.Module | None = None

    @property
    def baseline(self) -> Stage:
        """The real-only run at the real fraction."""
        return self.stages[0]

    @property
    def selected_stage(self) -> Stage:
        """The run selected on validation."""
        return self.stages[self.selected]

    def _scored_set(self) -> str:
        return "test" if self.baseline.test is not None else "val"

    def verdict(self) -> str:
        """One sentence saying whether synthetic data helped, on the test set (validation when there is none)."""
        split = self._scored_set()
        base = getattr(self.baseline, split)
        chosen = self.selected_stage
        metric = self.monitor.replace("_", " ")
        if chosen.kind == "baseline":
            return (
                f"Synthetic data did not help: no run beat the real-only baseline ({self.baseline.name}) on "
                f"validation {metric}."
            )
        best = getattr(chosen, split)
        before, after = getattr(base, self.monitor), getattr(best, self.monitor)
        change = "helped" if after > before else "did not help"
        return (
            f"{chosen.name} was selected on validation {metric}; on the {split} set its {metric} is {after:.3f} "
            f"against {before:.3f} for {self.baseline.name} ({_signed(after - before)}): synthetic data {change}."
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the whole result as JSON-serialisable built-in types (the model is left out)."""
        return {
            "format": _REPORT_FORMAT,
            "version": _REPORT_VERSION,
            "class_names": list(self.class_names),
            "positive_class": self.positive_class,
            "monitor": self.monitor,
            "config": self.config,
            "data": self.data,
            "stages": [stage.to_dict() for stage in self.stages],
            "stop_reason": self.stop_reason,
            "selected": self.stages[self.selected].name,
            "verdict": self.verdict(),
            "accepted": self.accepted,
        }

    def _recall_cells(self, report: ClassificationReport | None) -> list[str]:
        if report is None:
            return ["n/a"] * (3 if self.positive_class is not None else 1)
        if self.positive_class is not None:
            pos = self.class_names.index(self.positive_class)
            return [_fmt(report.recall[pos]), _fmt(report.recall[1 - pos]), _fmt(report.roc_auc)]
        return [" / ".join(f"{r:.2f}" for r in report.recall)]

    def to_markdown(self) -> str:
        """Return the report as Markdown: summary table, acceptance per round, per-class tables and confusion."""
        split = self._scored_set()
        names = " / ".join(self.class_names)
        if self.positive_class is not None:
            extra = [f"{split} sensitivity ({self.positive_class})", f"{split} specificity", f"{split} ROC AUC"]
        else:
            extra = [f"{split} recall ({names})"]
        head = ["run", "real", f"synthetic ({names})", "val acc", "val bal. acc", f"{split} acc",
                f"{split} bal. acc", f"{split} macro F1", *extra]  # fmt: skip
        lines = [
            "# Self-training report",
            "",
            f"- model: {self.config['model']}, mode: {self.config['mode']}, real fraction: "
            f"{self.config['real_fraction']}, seed: {self.config['train']['seed']}",
        ]
        if self.config["mode"] == "pseudo":
            lines.append(
                f"- threshold: {self.config['threshold']}, per-class cap: {self.config['max_ratio']} x real, "
                f"rounds: at most {self.config['rounds']}, patience: {self.config['patience']}"
            )
        lines += [
            f"- real data: {self.data['real']['method']} split; {self._split_counts()}",
            f"- synthetic pool: {self.data['pool']['size']} images ({self.data['pool']['kind']})",
            f"- selected on validation {self.monitor.replace('_', ' ')}: {self.selected_stage.name}",
            f"- stopped: {self.stop_reason}",
            "",
            f"**{self.verdict()}**",
            "",
            "## Runs",
            "",
            "| " + " | ".join(head) + " |",
            "|---|" + "---:|" * (len(head) - 1),
        ]
        for stage in self.stages:
            test = getattr(stage, split)
            marker = " (selected)" if stage is self.selected_stage else ""
            cells = [
                stage.name + marker,
                str(stage.real_images),
                " / ".join(str(c) for c in stage.synthetic_per_class),
                _fmt(None if stage.val is None else stage.val.accuracy),
                _fmt(None if stage.val is None else stage.val.balanced_accuracy),
                _fmt(None if test is None else test.accuracy),
                _fmt(None if test is None else test.balanced_accuracy),
                _fmt(None if test is None else test.macro_f1),
                *self._recall_cells(test),
            ]
            lines.append("| " + " | ".join(cells) + " |")
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
            lines += ["", f"## {title}: {stage.name}, {split} set", "", report.to_markdown().rstrip("\n")]
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
        """Validation and test ``monitor`` and per-class test recall, run by run (0 is the real-only baseline)."""
        runs = [s for s in self.stages if s.kind != "full"]
        metric = self.monitor.replace("_", " ")
        curves: dict[str, list[float | None]] = {
            f"val {metric}": [None if s.val is None else getattr(s.val, self.monitor) for s in runs],
            f"{split} {metric}": [None if s.val is None else getattr(getattr(s, split), self.monitor) for s in runs],
        }
        for k, name in enumerate(self.class_names):
            curves[f"{split} recall {name}"] = [None if s.val is None else getattr(s, split).recall[k] for s in runs]
        for full in (s for s in self.stages if s.kind == "full"):
            curves[f"{split} {metric}, {full.name}"] = [getattr(getattr(full, split), self.monitor)] * len(runs)
        title = f"{metric} and recall per run (0: {self.baseline.name}, then {runs[-1].kind}s)"
        plot_curves(path, list(range(len(runs))), curves, title)

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``report.json``, ``report.md``, ``accepted.csv``, ``runs.png``, confusion PNGs and ``classifier.pt``.

        Every file is written atomically. ``runs.png`` plots the validation and test ``monitor`` and each class's
        test recall run by run. ``confusion_selected.png`` (and ``confusion_baseline.png`` when another
        run was selected) show the test set, or the validation set without one. ``classifier.pt`` holds the
        selected classifier (see :func:`load_classifier`).

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
        atomic_write(out / "report.json", lambda f: f.write(text.encode("utf-8")))
        markdown = self.to_markdown()
        atomic_write(out / "report.md", lambda f: f.write(markdown.encode("utf-8")))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["source", "label", "confidence", "stage"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.accepted)
        atomic_write(out / "accepted.csv", lambda f: f.write(buffer.getvalue().encode("utf-8")))
        split = self._scored_set()
        self._plot(out / "runs.png", split)
        save_confusion_png(getattr(self.selected_stage, split), out / "confusion_selected.png")
        if self.selected != 0:
            save_confusion_png(getattr(self.baseline, split), out / "confusion_baseline.png")
        if self.model is not None:
            checkpoint = {
                "format": CLASSIFIER_FORMAT,
                "model": self.config["model"],
                "class_names": list(self.class_names),
                "in_chans": self.data["real"]["num_channels"],
                "image_size": self.config["train"]["image_size"] or self.data["real"]["resolution"],
                "stage": self.selected_stage.name,
                "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            }
            atomic_write(out / "classifier.pt", lambda f: torch.save(checkpoint, f))
        return out


def load_classifier(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Load a classifier written by :meth:`SelfTrainResult.save`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``classifier.pt`` file.

    Returns
    -------
    (torch.nn.Module, dict)
        The timm classifier in eval mode on the CPU, and its metadata: ``model``, ``class_names``, ``in_chans``,
        ``image_size`` (the side its input images had) and ``stage``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier file {path} does not exist")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") != CLASSIFIER_FORMAT:
        raise ValueError(f"classifier file {path}: not a {CLASSIFIER_FORMAT} file written by SelfTrainResult.save")
    meta = {key: saved[key] for key in ("model", "class_names", "in_chans", "image_size", "stage")}
    model = create_classifier(meta["model"], len(meta["class_names"]), int(meta["in_chans"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), meta
