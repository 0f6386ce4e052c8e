"""The ``medgan-aug demo`` workflow: phantom ultrasound volumes to a scored, self-trained synthetic set, offline.

:func:`run_demo` runs the README's whole job on data it makes itself, with nothing downloaded: phantom neonatal
cranial ultrasound volumes (:func:`make_phantom_volumes`), sliced into coronal, sagittal and ``noise`` planes,
a small class-conditional StyleGAN2 trained with ADA, a synthetic set, FID/KID in the feature space of a classifier
trained on the real planes, and self-training against the real-only baseline. :class:`DemoSettings` has presets
from a seconds-long smoke run to a bigger one for a real machine.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from scipy import ndimage

from ._files import atomic_write_text
from .data.volume import Volume, write_nrrd
from .threads import CpuLoad, ThreadPolicy, ThreadSetting, check_thread_setting
from .train.callbacks import TrainerCallback

if TYPE_CHECKING:
    from .train import GANTrainer

__all__ = [
    "DEMO_PRESETS",
    "PHANTOM_SPACING",
    "PHANTOM_VENTRICLE_CENTRES",
    "DemoSettings",
    "DemoSummary",
    "make_phantom_volumes",
    "run_demo",
]

PHANTOM_SPACING: tuple[float, float, float] = (0.6, 0.6, 0.9)
"""Voxel size (mm) of the phantom volumes along axes 0 (left-right), 1 (anterior-posterior), 2 (inferior-superior)."""

PHANTOM_VENTRICLE_CENTRES: tuple[tuple[float, float, float], tuple[float, float, float]] = (
    (-0.3, 0.05, 0.15),
    (0.3, 0.05, 0.15),
)
"""Nominal centres of the two lateral ventricles in head coordinates (-1 to 1 across the field of view per axis).
The per-patient jitter moves them by less than their smallest radius, so these points always lie inside them."""

# Grey levels before speckle: the ultrasound look of a neonatal head (bright bone and falx, dark fluid).
_BACKGROUND = 0.06
_TISSUE = 0.45
_SKULL = 0.9
_FALX = 0.75
_FLUID = 0.08


def _ellipsoid(grid: tuple[np.ndarray, ...], centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Squared normalised radius of every voxel w.r.t. an axis-aligned ellipsoid (< 1 inside)."""
    return sum(((axis - c) / r) ** 2 for axis, c, r in zip(grid, centre, radii, strict=True))


def _phantom(size: int, depth: int, rng: np.random.Generator) -> np.ndarray:
    """One ``[size, size, depth]`` phantom head in [0, 1]."""
    grid = np.meshgrid(
        np.linspace(-1.0, 1.0, size), np.linspace(-1.0, 1.0, size), np.linspace(-1.0, 1.0, depth), indexing="ij"
    )
    head_centre = rng.uniform(-0.04, 0.04, 3)
    head_radii = np.array([0.78, 0.86, 0.74]) * rng.uniform(0.92, 1.05)
    head = _ellipsoid(grid, head_centre, head_radii)
    # The inner surface of the skull, as a fraction of its outer radii.
    inner = head_radii * 0.88
    brain = _ellipsoid(grid, head_centre, inner) < 1.0

    image = np.full(grid[0].shape, _BACKGROUND, dtype=np.float64)
    image[head < 1.0] = _SKULL
    image[brain] = _TISSUE
    # Slow tissue texture so planes of one patient are not all alike.
    texture = ndimage.gaussian_filter(rng.standard_normal(image.shape), sigma=size / 12)
    image[brain] += 0.1 * texture[brain] / max(float(np.abs(texture).max()), 1e-6)

    falx = brain & (np.abs(grid[0] - head_centre[0]) < 0.025) & (grid[2] > head_centre[2] - 0.2)
    image[falx] = _FALX

    # The left ventricle is larger than the right and both run anterior-posterior and tilt upwards, so coronal
    # planes show two small dark ovals and sagittal planes one long crescent.
    for side, (centre, scale) in enumerate(zip(PHANTOM_VENTRICLE_CENTRES, (1.25, 1.0), strict=True)):
        jitter = rng.uniform(-0.02, 0.02, 3)
        centre_ = np.asarray(centre) + head_centre * 0.5 + jitter
        radii = np.array([0.09, 0.42, 0.13]) * scale * rng.uniform(0.9, 1.15)
        ventricle = _ellipsoid(grid, centre_, radii) < 1.0
        horn = _ellipsoid(grid, centre_ + np.array([0.03 * (2 * side - 1), 0.35, -0.12]), radii * 0.45) < 1.0
        image[brain & (ventricle | horn)] = _FLUID

    # Speckle: multiplicative gamma noise with the correlation length of a few voxels, as in B-mode images.
    speckle = ndimage.gaussian_filter(rng.gamma(4.0, 0.25, image.shape), sigma=0.8)
    image *= speckle / speckle.mean()
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def make_phantom_volumes(folder: str | os.PathLike[str], n: int = 6, size: int = 48, *, seed: int = 0) -> list[Path]:
    """Write phantom neonatal cranial ultrasound volumes as NRRD files.

    Each volume has ``size x size x round(size * 0.6 / 0.9)`` voxels of :data:`PHANTOM_SPACING` mm (a cube of
    ``0.6 * size`` mm), axis 0 left-right, 1 anterior-posterior, 2 inferior-superior: an ellipsoidal bright skull
    shell, brain tissue with a slow texture, a bright midline falx and two dark, asymmetric lateral ventricles
    (near :data:`PHANTOM_VENTRICLE_CENTRES`), with per-patient jitter of size and position and multiplicative
    speckle. Values are float32 in [0, 1]; the first and last planes of every view are background only, as the
    ``noise`` class expects. The files are in RAS (``space: right-anterior-superior``, identity directions: the
    axes point to the patient's right, anterior and superior), so their views are cut in the patient frame.

    Parameters
    ----------
    folder : str or os.PathLike
        Output folder, created if missing; existing files of the same names are replaced.
    n : int, optional
        Number of volumes (patients), >= 1.
    size : int, optional
        Voxels along axes 0 and 1, >= 16.
    seed : int, optional
        Random seed; the same seed gives the same volumes.

    Returns
    -------
    list of pathlib.Path
        ``folder/patient000.nrrd``, ... sorted.

    Raises
    ------
    ValueError
        If ``n`` or ``size`` is too small.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    depth = max(round(size * PHANTOM_SPACING[0] / PHANTOM_SPACING[2]), 8)
    rngs = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(int(n))]
    paths = []
    for index, rng in enumerate(rngs):
        # +x runs to the patient's right (the larger, left ventricle is at negative x): identity directions in RAS.
        volume = Volume.from_array(_phantom(int(size), depth, rng), spacing=PHANTOM_SPACING, space="RAS")
        paths.append(write_nrrd(volume, folder / f"patient{index:03d}.nrrd"))
    return sorted(paths)


DEMO_PRESETS: tuple[str, ...] = ("smoke", "default", "large")
"""Names accepted by :meth:`DemoSettings.preset`."""

# Tilts of every view and the patient split of the planes, as in the ultrasound workflow of the README. A third of
# the patients are held out for testing: self-training's verdict resamples test patients, and fewer than 5 cannot
# carry an interval (16 volumes give 8 / 3 / 5).
_TILTS = (-10.0, 0.0, 10.0)
_SPLIT = (0.5, 0.2, 0.3)
# Self-training: half of the real training planes, pseudo-labels at the README's confidence threshold.
_REAL_FRACTION = 0.5
_THRESHOLD = 0.9
# ADA's speed in kimg for p to go from 0 to 1: the trainer's default (500) suits runs of thousands of kimg; a
# demo of a few kimg needs a faster controller to show p reacting to the discriminator's overfitting.
_ADA_KIMG = 20.0


@dataclass
class DemoSettings:
    """What :func:`run_demo` builds and how big.

    Start from a preset with :meth:`preset`; every field can be overridden.

    Parameters
    ----------
    out_dir : pathlib.Path
        Folder for everything the demo writes; it must not exist or be empty, unless ``overwrite``.
    volumes : int
        Phantom volumes (patients), >= 3 (train, validation and test each get at least one).
    volume_size : int
        Voxels of a phantom along its left-right and anterior-posterior axes, >= 16.
    image_size : int
        Side of the planes and of the generator's images, a power of two >= 8.
    kimg : float
        GAN training length in thousands of real images shown to the discriminator, > 0.
    cbase, cmax : int
        Channel base and maximum channels of the generator and discriminator; the latent and style vectors
        have ``cmax`` entries too.
    batch : int
        GAN minibatch size.
    synthetic_per_class : int
        Synthetic images generated per class, >= 2.
    classifier : str
        timm model of the feature classifier and of self-training (random initialisation, nothing downloaded).
    classifier_epochs : int
        Training epochs of every classifier.
    selftrain_rounds : int
        Maximum pseudo-labelling rounds.
    selftrain_repeats : int
        Classifier seeds per self-training run (the verdict's interval covers their spread).
    slice_every : int
        Keep every ``slice_every``-th slice of each sweep: more patients for the same number of planes.
    seed : int
        Seed of the phantoms, the split, the GAN, the synthetic set and the classifiers.
    device : str, optional
        ``"cpu"`` or a CUDA device; default CUDA when available.
    threads : int or "auto"
        Torch's CPU threads: a number, or ``"auto"`` (default) to match them to the cores other processes leave
        free, re-checked every few seconds (:class:`~medgan_aug.threads.ThreadPolicy`).
    progress : bool
        Print the steps and the underlying tools' progress bars to stderr.
    overwrite : bool
        Replace a non-empty ``out_dir``.
    """

    out_dir: Path
    volumes: int
    volume_size: int
    image_size: int
    kimg: float
    cbase: int
    cmax: int
    batch: int
    synthetic_per_class: int
    classifier: str
    classifier_epochs: int
    selftrain_rounds: int
    selftrain_repeats: int
    slice_every: int
    seed: int = 0
    device: str | None = None
    threads: ThreadSetting = "auto"
    progress: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        """Reject invalid settings."""
        self.out_dir = Path(self.out_dir)
        minimums = {
            "volumes": 3,
            "volume_size": 16,
            "image_size": 8,
            "cbase": 1,
            "cmax": 1,
            "batch": 1,
            "synthetic_per_class": 2,
            "classifier_epochs": 1,
            "selftrain_rounds": 1,
            "selftrain_repeats": 1,
            "slice_every": 1,
        }
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two, got {self.image_size}")
        if isinstance(self.kimg, bool) or not isinstance(self.kimg, (int, float)) or not 0 < self.kimg < math.inf:
            raise ValueError(f"kimg must be a positive number, got {self.kimg!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        check_thread_setting(self.threads)
        if not isinstance(self.classifier, str) or not self.classifier:
            raise ValueError(f"classifier must be a timm model name, got {self.classifier!r}")

    @classmethod
    def preset(
        cls, name: Literal["smoke", "default", "large"], out_dir: str | os.PathLike[str], **overrides: Any
    ) -> DemoSettings:
        """Settings of a preset, with any field overridden.

        Parameters
        ----------
        name : {"smoke", "default", "large"}
            ``"smoke"``: seconds, 16 px, for tests. ``"default"``: a few minutes on a 2-core CPU, 32 px.
            ``"large"``: 64 px, more patients and 100 kimg, for a GPU or a long CPU run.
        out_dir : str or os.PathLike
            The output folder.
        **overrides
            Fields of :class:`DemoSettings`.

        Returns
        -------
        DemoSettings

        Raises
        ------
        ValueError
            For an unknown preset or field, or an invalid value.
        """
        if name not in _PRESET_VALUES:
            raise ValueError(f"preset must be one of {', '.join(DEMO_PRESETS)}, got {name!r}")
        known = {f.name for f in dataclasses.fields(cls)} - {"out_dir"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown DemoSettings fields {unknown}; known: {sorted(known)}")
        return cls(out_dir=Path(out_dir), **{**_PRESET_VALUES[name], **overrides})


_PRESET_VALUES: dict[str, dict[str, Any]] = {
    "smoke": {
        "volumes": 3,
        "volume_size": 24,
        "image_size": 16,
        "kimg": 0.032,
        "cbase": 128,
        "cmax": 16,
        "batch": 8,
        "synthetic_per_class": 12,
        "classifier": "test_resnet",
        "classifier_epochs": 1,
        "selftrain_rounds": 1,
        "selftrain_repeats": 2,
        "slice_every": 1,
    },
    "default": {
        "volumes": 16,
        "volume_size": 48,
        "image_size": 32,
        "kimg": 8.0,
        "cbase": 2048,
        "cmax": 64,
        "batch": 32,
        "synthetic_per_class": 200,
        "classifier": "test_resnet",
        "classifier_epochs": 4,
        "selftrain_rounds": 2,
        "selftrain_repeats": 3,
        "slice_every": 2,
    },
    "large": {
        "volumes": 24,
        "volume_size": 96,
        "image_size": 64,
        "kimg": 100.0,
        "cbase": 8192,
        "cmax": 256,
        "batch": 32,
        "synthetic_per_class": 1000,
        "classifier": "resnet18",
        "classifier_epochs": 10,
        "selftrain_rounds": 3,
        "selftrain_repeats": 5,
        "slice_every": 1,
    },
}


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`run_demo` did and measured.

    Attributes
    ----------
    steps : list of tuple
        ``(step, seconds, result)`` per step, in order.
    metrics : dict of str to float
        ``fid`` (with its bootstrap interval ``fid_ci_low``/``fid_ci_high``) and ``kid_mean``/``kid_std`` of the
        synthetic set against the real test planes; ``fid_matched`` and ``fid_real_floor``, synthetic against real
        and real against real at ``fid_floor_images`` images per side (the floor to read FID against);
        ``copying_zu``, ``copying_flagged_fraction`` and ``copying_test_flagged_fraction`` of the data-copying
        audit against the GAN's training planes (validation planes held out);
        ``feature_classifier_test_accuracy``, ``ada_p`` (final augmentation probability), ``accepted``
        (pseudo-labelled images trained on by the selected run); ``baseline``/``full``/``selected``
        ``_test_balanced_accuracy`` of self-training (mean over seeds, and ``_std``), and ``selftrain_difference``
        with its 95 % interval ``selftrain_ci_low``/``selftrain_ci_high`` (absent when no run used synthetic
        images).
    paths : dict of str to pathlib.Path
        The folders, sample grids, plots (when matplotlib is installed) and reports.
    notes : list of str
        The run's expected duration as estimated after the GAN's first tick, the thread counts used, and a
        warning when other processes kept the machine busy.
    """

    steps: list[tuple[str, float, str]]
    metrics: dict[str, float]
    paths: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """Markdown tables of the steps (with their times) and the metrics."""
        lines = ["| step | seconds | result |", "|---|---:|---|"]
        lines += [f"| {step} | {seconds:.1f} | {result} |" for step, seconds, result in self.steps]
        total = sum(seconds for _, seconds, _ in self.steps)
        lines += [f"| total | {total:.1f} | |", "", "| metric | value |", "|---|---:|"]
        lines += [f"| {_METRIC_NAMES.get(key, key)} | {value:.4g} |" for key, value in self.metrics.items()]
        return "\n".join(lines)


_COPYING_KEYS = ("copying_zu", "copying_flagged_fraction", "copying_test_flagged_fraction")

_METRIC_NAMES = {
    "fid": "FID synthetic vs real test (classifier features)",
    "fid_ci_low": "FID 95% bootstrap interval, low",
    "fid_ci_high": "FID 95% bootstrap interval, high",
    "fid_matched": "FID synthetic vs half of real test, at the floor's size",
    "fid_real_floor": "FID real vs real (two halves of real test): the floor",
    "fid_floor_images": "images per side of the floor",
    "kid_mean": "KID synthetic vs real test (mean)",
    "kid_std": "KID synthetic vs real test (std)",
    "copying_zu": "data-copying Z_U vs the GAN's training planes (held out: val; below -3: copying)",
    "copying_flagged_fraction": "synthetic images flagged as likely copies of training planes",
    "copying_test_flagged_fraction": "held-out (val) planes the same rule flags: the floor",
    "feature_classifier_test_accuracy": "feature classifier test accuracy",
    "ada_p": "ADA p at the end of training",
    "accepted": "pseudo-labelled images used by the selected run",
    "baseline_test_balanced_accuracy": "baseline (real-only) test balanced accuracy, mean over seeds",
    "baseline_test_balanced_accuracy_std": "baseline (real-only) test balanced accuracy, std over seeds",
    "full_test_balanced_accuracy": "real 100% test balanced accuracy, mean over seeds",
    "full_test_balanced_accuracy_std": "real 100% test balanced accuracy, std over seeds",
    "selected_test_balanced_accuracy": "selected run test balanced accuracy, mean over seeds",
    "selected_test_balanced_accuracy_std": "selected run test balanced accuracy, std over seeds",
    "selftrain_difference": "compared run minus baseline, test balanced accuracy",
    "selftrain_ci_low": "its 95% bootstrap interval (patients and seeds), low",
    "selftrain_ci_high": "its 95% bootstrap interval (patients and seeds), high",
}

_T = TypeVar("_T")


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Create ``out_dir`` empty, replacing a non-empty one only with ``overwrite``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"out_dir {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"out_dir {out_dir} is not empty; choose another folder or pass overwrite=True")
        resolved = out_dir.resolve()
        # A mistyped --out must not wipe the working directory, a parent of it, the home folder or a root.
        protected = {Path.home().resolve(), Path(resolved.anchor)}
        if resolved in protected or Path.cwd().resolve().is_relative_to(resolved):
            raise ValueError(f"out_dir {out_dir} is the working directory, a parent of it, home or a root")
        shutil.rmtree(resolved)
    out_dir.mkdir(parents=True, exist_ok=True)


def _last_file(folder: Path, pattern: str) -> Path:
    """The last file (in name order) matching ``pattern`` in ``folder``."""
    found = sorted(folder.glob(pattern))
    if not found:
        raise FileNotFoundError(f"no {pattern} in {folder}")
    return found[-1]


# Seconds of the steps after GAN training per second of GAN training, in the default preset on an idle 2-core
# CPU (benchmarks/threads_bench.py --demo): the expected duration scales them with the GAN's measured speed.
_AFTER_GAN_SHARE = 0.46


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _busy_warning(load: CpuLoad, policy: ThreadPolicy) -> str:
    return (
        f"this machine is busy: {load.describe()}; the demo takes longer than on a quiet machine and uses "
        f"{policy.threads} torch thread(s) meanwhile (--threads auto re-checks every {policy.interval:g} s)"
    )


def _threads_note(policy: ThreadPolicy, setting: ThreadSetting) -> str:
    """``"torch threads: auto, 2; 1 from 1.2 min (other processes use 1.0 of 2 cores)"``."""
    if not policy.history:
        return f"torch threads: {setting}"
    first = policy.history[0]
    parts = [f"torch threads: {setting}, {first.threads}"]
    for change in policy.history[1:]:
        why = f" ({change.load.describe()})" if change.load is not None else ""
        parts.append(f"{change.threads} from {_minutes(change.time - first.time)}{why}")
    return "; ".join(parts)


class _DurationEstimate(TrainerCallback):
    """After the GAN's first full tick: the demo's expected duration at the measured speed, and a busy warning."""

    def __init__(self, started: float, policy: ThreadPolicy, note: Callable[[str], None]) -> None:
        self.started = started
        self.training_started = time.perf_counter()
        self.policy = policy
        self.note = note

    def on_tick(self, trainer: GANTrainer, stats: dict[str, Any]) -> None:
        if stats["tick"] != 1 or stats["img_per_sec"] <= 0:
            return
        now = time.perf_counter()
        remaining = max(trainer.config.kimg * 1000 - trainer.cur_nimg, 0) / stats["img_per_sec"]
        training = now - self.training_started + remaining
        expected = now - self.started + remaining + training * _AFTER_GAN_SHARE
        self.note(
            f"expected duration on this machine: about {_minutes(expected)} in all (GAN training at "
            f"{stats['img_per_sec']:.0f} img/s on {self.policy.threads} thread(s), {_minutes(remaining)} to go; "
            "the later steps scaled from a quiet 2-core run)"
        )
        load = self.policy.last_load
        first = self.policy.history[0].load if self.policy.history else None
        if load is not None and load.busy and not (first is not None and first.busy):
            self.note(_busy_warning(load, self.policy))


def run_demo(settings: DemoSettings) -> DemoSummary:
    """Run the whole workflow on phantom data: slice, train a conditional GAN with ADA, generate, score, self-train.

    Steps, each timed, with everything written under ``settings.out_dir``:

    1. ``volumes/``: :func:`make_phantom_volumes`.
    2. ``planes/``: coronal and sagittal planes (every ``slice_every``-th slice) tilted by -10, 0 and 10 degrees,
       the first and last eighth of every view's slices labelled ``noise``, split by patient into
       ``train``/``val``/``test`` (half, a fifth and three tenths of the patients; :class:`VolumeSlicer`).
    3. ``training/``: a small class-conditional StyleGAN2 trained with ADA on ``planes/train``
       (:class:`GANTrainer`): sample grids ``reals.png`` and ``fakes-*.png``, ``loss.png``, ``augment.png``,
       ``stats.jsonl`` and the final ``training-*.pt``.
    4. ``synthetic/``: ``synthetic_per_class`` images per class from the final EMA generator (:func:`synthesize`).
    5. A classifier trained on the real training planes, whose pre-logits features
       (:class:`~medgan_aug.metrics.ClassifierFeatures`) score FID (with its bootstrap interval and the
       real-vs-real floor) and KID of the synthetic set against the real test planes, and the data-copying
       audit of the synthetic set against the GAN's training planes, with the validation planes held out.
    6. ``selftrain/``: :class:`~medgan_aug.selftrain.SelfTrainer` in pseudo mode on the synthetic folder as an
       unlabelled pool, with half of the real training planes, ``selftrain_repeats`` classifier seeds per run,
       against the real-only baselines, and its verdict with a patient-level bootstrap interval (``report.md``,
       ``report.json``, ``runs.png``, confusion PNGs, ``classifier.pt``).

    Parameters
    ----------
    settings : DemoSettings
        Sizes, seed and output folder.

    Returns
    -------
    DemoSummary
        The steps' times and results, the metrics and the output paths; also written to ``summary.md``.

    Raises
    ------
    FileExistsError
        If ``out_dir`` is not empty and ``overwrite`` is not set.
    ValueError
        If the classifier name is not a timm model, or a step rejects the settings.
    """
    from .nets.classifiers import check_model_name

    s = settings
    if not isinstance(s, DemoSettings):
        raise TypeError(f"settings must be a DemoSettings, got {type(s).__name__}")
    check_model_name(s.classifier)
    _prepare_out_dir(s.out_dir, s.overwrite)
    with ThreadPolicy(s.threads) as policy:
        return _run_workflow(s, policy)


def _run_workflow(s: DemoSettings, policy: ThreadPolicy) -> DemoSummary:
    """The steps of :func:`run_demo` in a prepared ``out_dir``, with ``policy`` setting the CPU threads."""
    import torch

    from .data import ImageFolderDataset, VolumeSlicer
    from .generate import load_generator, synthesize
    from .metrics import ClassifierFeatures, FIDScorer
    from .selftrain import (
        FolderPool,
        SelfTrainConfig,
        SelfTrainer,
        TrainSettings,
        create_classifier,
        load_real_splits,
        predict,
        train_classifier,
    )
    from .train import GANTrainer, read_stats, resolve_config

    started = time.perf_counter()
    out = s.out_dir
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if s.progress:
            print(f"medgan-aug demo: {text}", file=sys.stderr, flush=True)

    if policy.last_load is not None and policy.last_load.busy:
        note(_busy_warning(policy.last_load, policy))
    device = s.device or ("cuda" if torch.cuda.is_available() else "cpu")
    steps: list[tuple[str, float, str]] = []
    metrics: dict[str, float] = {}
    paths: dict[str, Path] = {}

    def timed(name: str, work: Callable[[], _T], describe: Callable[[_T], str]) -> _T:
        if s.progress:
            print(f"\n== {len(steps) + 1}. {name}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        value = work()
        steps.append((name, time.perf_counter() - start, describe(value)))
        return value

    # 1. Phantoms.
    volumes = timed(
        "phantom volumes",
        lambda: make_phantom_volumes(out / "volumes", s.volumes, s.volume_size, seed=s.seed),
        lambda found: f"{len(found)} NRRD volumes of {s.volume_size} px",
    )
    paths["volumes"] = out / "volumes"

    # 2. Planes.
    slicer = VolumeSlicer(
        ["coronal", "sagittal"],
        _TILTS,
        size=s.image_size,
        every=s.slice_every,
        noise_margin=max(s.volume_size // 8, 1),
    )
    planes = timed(
        "slice",
        lambda: slicer.write(volumes, out / "planes", split=_SPLIT, seed=s.seed, progress=s.progress),
        lambda folder: _describe_planes(folder),
    )
    paths["planes"] = planes

    # 3. GAN training.
    dataset = ImageFolderDataset(planes / "train", s.image_size, labels="auto")
    config = resolve_config(
        "auto", resolution=s.image_size, img_channels=1, c_dim=dataset.c_dim, batch=s.batch, kimg=s.kimg,
        channel_base=s.cbase, channel_max=s.cmax,
    )  # fmt: skip
    config.G_kwargs.update(z_dim=s.cmax, w_dim=s.cmax)
    training = out / "training"
    trainer = GANTrainer(
        config,
        dataset,
        training,
        augment="ada",
        ada_kimg=_ADA_KIMG,
        seed=s.seed,
        device=device,
        # About eight ticks: eight sample grids and points on the plots.
        kimg_per_tick=s.kimg / 8,
        snapshot_ticks=10**9,
        num_workers=0,
        progress=s.progress,
        callbacks=[_DurationEstimate(started, policy, note)],
    )
    checkpoint = timed(
        "train conditional GAN with ADA",
        trainer.train,
        lambda _: f"{s.kimg:g} kimg at {s.image_size} px, {dataset.c_dim} classes, batch {s.batch}",
    )
    stats = read_stats(training / "stats.jsonl")
    metrics["ada_p"] = float(stats[-1]["p"])
    paths.update(
        training=training,
        checkpoint=checkpoint,
        reals_grid=training / "reals.png",
        fakes_grid=_last_file(training, "fakes-*.png"),
    )
    plots = {"loss_plot": training / "loss.png", "augment_plot": training / "augment.png"}
    paths.update({name: path for name, path in plots.items() if path.exists()})

    # 4. Synthetic set.
    G = load_generator(checkpoint, device=device)
    classes = list(range(dataset.c_dim))
    synthetic = timed(
        "generate synthetic set",
        lambda: synthesize(
            G,
            s.synthetic_per_class * len(classes),
            out / "synthetic",
            classes=classes,
            checkpoint=checkpoint,
            device=device,
            progress=s.progress,
        ),
        lambda folder: f"{s.synthetic_per_class} images per class for {', '.join(dataset.class_names)}",
    )
    paths["synthetic"] = synthetic

    # 5. Feature classifier, FID/KID and the copying audit.
    real = load_real_splits(planes, s.image_size, seed=s.seed)
    classifier_settings = TrainSettings(
        epochs=s.classifier_epochs, batch_size=32, num_workers=0, seed=s.seed, device=device
    )

    def score() -> dict[str, float]:
        torch.manual_seed(s.seed)
        model = create_classifier(s.classifier, len(real.class_names), real.num_channels)
        train_classifier(model, real.train, classifier_settings, val=real.val, progress=s.progress)
        probs = predict(model, real.test, num_workers=0, device=device)
        accuracy = float(np.mean(probs.argmax(axis=1) == real.test_labels))
        features = ClassifierFeatures(model, real.num_channels, s.image_size)
        smallest = min(len(real.test), s.synthetic_per_class * len(classes))
        scorer = FIDScorer(("fid", "kid"), extractor=features, device=device, kid_subset_size=smallest)
        results = scorer.score(planes / "test", synthetic)
        keys = ("fid", "fid_ci_low", "fid_ci_high", "fid_matched", "fid_real_floor", "fid_floor_images")
        # Does the generator copy its training planes? Against the validation planes, which it never saw.
        n_synthetic = s.synthetic_per_class * len(classes)
        auditor = FIDScorer(
            ["copying"], extractor=features, device=device, copying_min_cell_size=min(20, max(2, n_synthetic // 2))
        )
        copying = auditor.score(planes / "train", synthetic, test=planes / "val")
        return {
            **{key: results[key] for key in keys},
            "kid_mean": results["kid_mean"],
            "kid_std": results["kid_std"],
            **{key: copying[key] for key in _COPYING_KEYS},
            "feature_classifier_test_accuracy": accuracy,
        }

    metrics.update(
        timed(
            "score synthetic set (FID/KID/copying, classifier features)",
            score,
            lambda m: (
                f"FID {m['fid']:.4g} (95% CI {m['fid_ci_low']:.4g} to {m['fid_ci_high']:.4g}); at "
                f"{m['fid_floor_images']:.0f} images per side: synthetic {m['fid_matched']:.4g} vs real-vs-real "
                f"floor {m['fid_real_floor']:.4g}; KID {m['kid_mean']:.3g} +- {m['kid_std']:.2g}; copying Z_U "
                f"{m['copying_zu']:.2f}, {m['copying_flagged_fraction']:.0%} flagged (held-out "
                f"{m['copying_test_flagged_fraction']:.0%})"
            ),
        )
    )

    # 6. Self-training.
    config_st = SelfTrainConfig(
        model=s.classifier,
        mode="pseudo",
        real_fraction=_REAL_FRACTION,
        threshold=_THRESHOLD,
        rounds=s.selftrain_rounds,
        patience=s.selftrain_rounds,
        train=classifier_settings,
        repeats=s.selftrain_repeats,
    )
    pool = FolderPool(synthetic, real.resolution, num_channels=real.num_channels)
    selftrain = out / "selftrain"
    result = timed(
        "self-training vs real-only baseline",
        lambda: SelfTrainer(config_st).run(real, pool, out_dir=selftrain, progress=s.progress),
        lambda r: r.verdict(),
    )
    reported = {stage.kind: stage for stage in result.stages if stage.kind in ("baseline", "full")}
    reported["selected"] = result.selected_stage
    for stage_name, stage in reported.items():
        metrics[f"{stage_name}_test_balanced_accuracy"] = stage.mean("test", "balanced_accuracy")
        metrics[f"{stage_name}_test_balanced_accuracy_std"] = stage.std("test", "balanced_accuracy") or 0.0
    comparison = result.comparison()
    if comparison is not None:
        metrics["selftrain_difference"] = comparison.interval.estimate
        metrics["selftrain_ci_low"] = comparison.interval.low
        metrics["selftrain_ci_high"] = comparison.interval.high
    metrics["accepted"] = float(sum(result.selected_stage.synthetic_per_class))
    paths.update(
        selftrain=selftrain,
        report=selftrain / "report.md",
    )
    plots = {"runs_plot": selftrain / "runs.png", "confusion": selftrain / "confusion_selected.png"}
    paths.update({name: path for name, path in plots.items() if path.exists()})

    note(_threads_note(policy, s.threads))
    summary = DemoSummary(steps, metrics, {**paths, "summary": out / "summary.md"}, notes)
    listing = "\n".join(f"- {key}: {path}" for key, path in summary.paths.items())
    note_lines = "".join(f"- {text}\n" for text in summary.notes)
    text = f"# medgan-aug demo\n\n{summary.table()}\n\n{note_lines}\n{listing}\n"
    atomic_write_text(out / "summary.md", text)
    return summary


def _describe_planes(folder: Path) -> str:
    """``"N planes (train a, val b, test c); classes x, y, z"`` for a split dataset folder."""
    counts = {split: sum(1 for _ in (folder / split).rglob("*.png")) for split in ("train", "val", "test")}
    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    parts = ", ".join(f"{split} {n}" for split, n in counts.items())
    return f"{sum(counts.values())} planes ({parts}); classes {', '.join(classes)}"
