"""SelfTrainer: rounds of confidence-thresholded pseudo-labelling, or fixed real/synthetic mixes, against baselines.

Every stage trains fresh classifiers, one per seed (seed ``s`` has the same initialisation and training order in
every stage), so that the stages differ only in their training data: the real-only baseline at the chosen real
fraction, optionally real-only at 100 %, then one stage per self-training round (or per mixing ratio). Each is
scored on the validation set, whose mean over seeds chooses the selected run, and on the held-out test set, where
the selected run is compared with the baseline with confidence intervals (:class:`~medgan_aug.selftrain.Comparison`).
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset, Subset
from tqdm.auto import tqdm

from ..data.dataset_writer import DatasetWriter
from ..formats import CLASSIFIER_FORMAT
from ..nets.classifiers import CUSTOM_MODEL_PREFIX, check_model_name, create_classifier
from .acceptance import accept_pseudo_labels
from .classifier import TrainSettings, predict, train_classifier
from .pool import DatasetPool, FolderPool, GeneratorPool
from .report import ClassificationReport, classification_report
from .result import SeedRun, SelfTrainResult, Stage
from .splits import RealSplits, _manifest_rows
from .statistics import MIN_RESAMPLES

__all__ = ["MODES", "MONITORS", "ModelFactory", "SelfTrainConfig", "SelfTrainer", "TrainFunction"]

MODES: tuple[str, ...] = ("pseudo", "mix")
"""Accepted values of :attr:`SelfTrainConfig.mode`."""

MONITORS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1")
"""Validation metrics that :attr:`SelfTrainConfig.monitor` may select runs by."""

Pool = FolderPool | DatasetPool | GeneratorPool

ModelFactory = Callable[[int, int], nn.Module]
"""``model_factory(num_classes, num_channels)``: a fresh classifier mapping ``[B, C, H, W]`` images in [-1, 1] to
``[B, num_classes]`` logits."""

TrainFunction = Callable[..., list[dict[str, float]]]
"""``train_fn(model, train, settings, *, val, progress)``: trains ``model`` in place, as
:func:`~medgan_aug.selftrain.train_classifier` does, and returns per-epoch rows (possibly none)."""


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def _check_int(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass
class SelfTrainConfig:
    """What :class:`SelfTrainer` trains and how it accepts synthetic images.

    Parameters
    ----------
    model : str
        timm model name, e.g. ``"convnext_tiny"`` or ``"resnet18"``.
    weights : str or os.PathLike, optional
        Local weights for ``model`` (see :func:`~medgan_aug.selftrain.create_classifier`), e.g. ImageNet weights
        saved with ``torch.save``; None trains from scratch. A classifier file written by :meth:`SelfTrainResult.save`
        must have been trained on the same class names.
    mode : {"pseudo", "mix"}
        ``"pseudo"``: rounds of pseudo-labelling an unlabelled pool. ``"mix"``: the pool's own labels (a conditional
        generator or a synthetic folder with class subfolders) are used as they are, one run per ``mix_ratios``
        entry.
    real_fraction : float
        In (0, 1]: share of the real training split used, per class (nested: a smaller fraction with the same
        seed uses a subset of a larger one's images).
    threshold : float
        In (0, 1]: a pool image becomes a candidate when its top class probability under the previous stage's seed
        ensemble (the mean softmax of its ``repeats`` classifiers) is at least this. An ensemble is less
        overconfident than one classifier, so fewer images may pass a given threshold than with ``repeats=1``.
    max_ratio : float
        Per-class cap: over all rounds, class ``k`` accepts at most ``floor(max_ratio * real_k)`` synthetic images,
        ``real_k`` being its real training images; ``math.inf`` removes the cap.
    rounds : int
        Maximum number of pseudo-labelling rounds.
    patience : int
        Stop after this many consecutive rounds without a better validation ``monitor`` score.
    monitor : {"accuracy", "balanced_accuracy", "macro_f1"}
        Validation metric that selects the run and drives the early stop. Balanced accuracy, the default, cannot
        be raised by favouring the majority class.
    mix_ratios : sequence of float
        Mix mode: synthetic images per real training image, per class (e.g. ``(0.5, 1, 2)``), one run each.
    positive_class : str, optional
        Required for two classes: the class whose recall is the sensitivity and whose probability ranks the ROC
        curve (the disease class). Not allowed for more classes.
    full_baseline : bool
        Also train on 100 % of the real training split (skipped when ``real_fraction`` is 1).
    train : TrainSettings
        Epochs, batch size, optimiser, augmentation, workers, seed and device of every classifier.
    predict_batch_size : int
        Images per forward pass when scoring the pool and the evaluation sets.
    repeats : int
        Classifiers per stage, >= 1, with seeds ``train.seed``, ``train.seed + 1``, ...: the report gives every
        seed's scores, their mean and standard deviation, and the comparison's interval includes the spread between
        seeds. One seed cannot show that synthetic data made a difference, and the report says so.
    resample_real : bool
        With ``real_fraction`` < 1: each seed also draws its own real subset (``class_fraction`` with its seed), so
        the interval covers which real images were kept too; otherwise every seed trains on the same subset.
    bootstrap : int
        Resamples of the comparison's bootstrap intervals, >= 100.
    """

    model: str = "convnext_tiny"
    weights: str | os.PathLike[str] | None = None
    mode: Literal["pseudo", "mix"] = "pseudo"
    real_fraction: float = 1.0
    threshold: float = 0.9
    max_ratio: float = 1.0
    rounds: int = 5
    patience: int = 1
    monitor: Literal["accuracy", "balanced_accuracy", "macro_f1"] = "balanced_accuracy"
    mix_ratios: Sequence[float] = (1.0,)
    positive_class: str | None = None
    full_baseline: bool = True
    train: TrainSettings = field(default_factory=TrainSettings)
    predict_batch_size: int = 64
    repeats: int = 3
    resample_real: bool = False
    bootstrap: int = 2000

    def __post_init__(self) -> None:
        """Reject invalid settings."""
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a timm model name, got {self.model!r}")
        check_model_name(self.model)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not _is_number(self.real_fraction) or not 0 < self.real_fraction <= 1:
            raise ValueError(f"real_fraction must be in (0, 1], got {self.real_fraction!r}")
        if not _is_number(self.threshold) or not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold!r}")
        if not _is_number(self.max_ratio) or not self.max_ratio > 0:
            raise ValueError(f"max_ratio must be a positive number (math.inf for no cap), got {self.max_ratio!r}")
        _check_int(self.rounds, "rounds", 1)
        _check_int(self.patience, "patience", 1)
        _check_int(self.predict_batch_size, "predict_batch_size", 1)
        _check_int(self.repeats, "repeats", 1)
        _check_int(self.bootstrap, "bootstrap", MIN_RESAMPLES)
        if not isinstance(self.resample_real, bool):
            raise ValueError(f"resample_real must be a bool, got {self.resample_real!r}")
        if self.resample_real and self.real_fraction == 1:
            raise ValueError(
                "resample_real needs real_fraction < 1: with every real image kept there is nothing to draw"
            )
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {MONITORS}, got {self.monitor!r}")
        ratios = [self.mix_ratios] if _is_number(self.mix_ratios) else list(self.mix_ratios)
        if not ratios or not all(_is_number(r) and math.isfinite(r) and r > 0 for r in ratios):
            raise ValueError(f"mix_ratios must be positive finite numbers, got {self.mix_ratios!r}")
        self.mix_ratios = tuple(float(r) for r in ratios)
        if not isinstance(self.train, TrainSettings):
            raise TypeError(f"train must be a TrainSettings, got {type(self.train).__name__}")
        if self.positive_class is not None and not isinstance(self.positive_class, str):
            raise ValueError(f"positive_class must be a class name (str), got {self.positive_class!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as JSON-serialisable built-in types."""
        values = asdict(self)
        values["weights"] = None if self.weights is None else str(self.weights)
        values["mix_ratios"] = list(self.mix_ratios)
        if math.isinf(self.max_ratio):
            values["max_ratio"] = "inf"
        return values


def _saved_class_names(path: Path) -> list[str] | None:
    """The class names stored in a classifier file written by :meth:`SelfTrainResult.save`, else None."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None  # create_classifier reports unreadable files with its own message
    if isinstance(saved, dict) and saved.get("format") == CLASSIFIER_FORMAT:
        return [str(name) for name in saved.get("class_names", [])]
    return None


class _Labelled(Dataset):
    """Pool images with the labels given to them, as ``(image, int64 label)`` training items."""

    def __init__(self, pool: Dataset, indices: np.ndarray, labels: np.ndarray) -> None:
        self.pool = pool
        self.indices = indices
        self.labels = labels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pool[int(self.indices[index])], torch.tensor(int(self.labels[index]), dtype=torch.int64)


class SelfTrainer:
    """Self-training of a timm classifier on real images plus pseudo-labelled (or labelled) synthetic images.

    Pseudo mode, as in the neonatal-ultrasound study this library serves: train on the real images (at
    ``real_fraction``), predict the pool, accept images whose top probability reaches ``threshold`` with their
    predicted labels (at most ``max_ratio`` times each class's real count over all rounds, most confident
    first, so that one class cannot swallow the pool), train a fresh classifier on real + accepted, and repeat
    with the new classifier until the pool is used up, a round accepts nothing, ``rounds`` are done, or the
    validation ``monitor`` has not improved for ``patience`` rounds. Mix mode trains on real plus the pool's own
    labels at each of ``mix_ratios``. The baselines real-only at ``real_fraction`` and at 100 % are trained the
    same way. Every stage is trained ``repeats`` times with different seeds (the pool is pseudo-labelled by the
    previous stage's seed ensemble), and the selected run is compared with the baseline on the test set with a
    bootstrap interval over patients and seeds (:meth:`SelfTrainResult.comparison`): the verdict says helped, hurt
    or no detectable difference, with the numbers.

    Parameters
    ----------
    config : SelfTrainConfig, optional
        The settings; keyword arguments override its fields (``SelfTrainer(model="resnet18", rounds=3)``).
    model_factory : callable, optional
        ``model_factory(num_classes, num_channels)`` returns a fresh classifier of your own
        (:data:`ModelFactory`), called under the same seed for every stage, instead of the timm ``model`` of the
        config (which is then not used; ``weights`` must be None: load your weights in the factory).
    train_fn : callable, optional
        Trains each classifier instead of :func:`~medgan_aug.selftrain.train_classifier`, with the same arguments
        (:data:`TrainFunction`); ``settings`` is the config's ``train`` with the run's seed.
    **overrides
        Fields of :class:`SelfTrainConfig`.

    Examples
    --------
    >>> from medgan_aug.selftrain import FolderPool, SelfTrainer, TrainSettings, load_real_splits
    >>> real = load_real_splits("data/real", 128)  # doctest: +SKIP
    >>> pool = FolderPool("data/synthetic", 128, num_channels=real.num_channels)  # doctest: +SKIP
    >>> trainer = SelfTrainer(model="convnext_tiny", real_fraction=0.3, positive_class="cancer",
    ...                       train=TrainSettings(epochs=20))  # doctest: +SKIP
    >>> result = trainer.run(real, pool, out_dir="runs/selftrain")  # doctest: +SKIP
    >>> print(result.verdict())  # doctest: +SKIP
    """

    def __init__(
        self,
        config: SelfTrainConfig | None = None,
        *,
        model_factory: ModelFactory | None = None,
        train_fn: TrainFunction | None = None,
        **overrides: Any,
    ) -> None:
        if config is None:
            config = SelfTrainConfig(**overrides)
        elif not isinstance(config, SelfTrainConfig):
            raise TypeError(f"config must be a SelfTrainConfig, got {type(config).__name__}")
        elif overrides:
            config = replace(config, **overrides)
        for value, name in ((model_factory, "model_factory"), (train_fn, "train_fn")):
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be callable, got {type(value).__name__}")
        if model_factory is not None and config.weights is not None:
            raise ValueError("weights applies to the config's timm model; with a model_factory, load weights in it")
        self.config = config
        self.model_factory = model_factory
        self.train_fn = train_fn

    # --- checks ---------------------------------------------------------------------------------

    def _check_inputs(self, real: RealSplits, pool: Pool) -> None:
        cfg = self.config
        names = list(real.class_names)
        k = len(names)
        if k == 2 and cfg.positive_class is None:
            raise ValueError(f"positive_class is required for a binary task; choose one of {names}")
        if cfg.positive_class is not None and cfg.positive_class not in names:
            raise ValueError(f"positive_class {cfg.positive_class!r} is not one of the real classes {names}")
        if k != 2 and cfg.positive_class is not None:
            raise ValueError(f"positive_class applies to binary tasks only, but the real set has {k} classes")
        if len(pool) == 0:
            raise ValueError("the synthetic pool is empty")
        if pool.num_channels != real.num_channels:
            raise ValueError(
                f"the synthetic pool has {pool.num_channels}-channel images but the real images have "
                f"{real.num_channels}; build the pool with num_channels={real.num_channels}"
            )
        if pool.resolution != real.resolution:
            raise ValueError(
                f"the synthetic pool has {pool.resolution} px images but the real images are loaded at "
                f"{real.resolution} px; build the pool with resolution={real.resolution}"
            )
        if pool.class_names is not None and tuple(pool.class_names) != tuple(names):
            raise ValueError(
                f"the synthetic pool's classes {list(pool.class_names)} disagree with the real classes {names}"
            )
        if isinstance(pool, GeneratorPool) and pool.G.c_dim not in (0, k):
            raise ValueError(
                f"the generator is conditional on {pool.G.c_dim} classes but the real set has {k} ({names}); "
                "its class K must be the K-th real class"
            )
        if cfg.mode == "mix":
            if pool.labels is None:
                raise ValueError(
                    "mode='mix' needs a labelled pool: a conditional generator, or a synthetic folder with class "
                    "subfolders (FolderPool(..., class_names=...))"
                )
            labels = np.asarray(pool.labels)
            if labels.size and (labels.min() < 0 or labels.max() >= k):
                raise ValueError(f"the pool's labels must lie in [0, {k - 1}] for the {k} real classes {names}")
        scored, what = (real.test_labels, "real.test") if real.test is not None else (real.val_labels, "real.val")
        if np.unique(scored).size < 2:
            raise ValueError(
                f"{what} holds images of one class only ({names[int(scored[0])]}): comparing runs on it needs 2 or "
                "more classes"
            )
        if cfg.weights is not None:
            saved = _saved_class_names(Path(cfg.weights))
            if saved is not None and saved != names:
                raise ValueError(
                    f"weights file {cfg.weights}: the classifier was trained on classes {saved}, but the real set "
                    f"has classes {names}"
                )

    def _describe_config(self) -> dict[str, Any]:
        """The config as the report records it: a model_factory or train_fn replaces the timm name."""
        described = self.config.to_dict()
        if self.model_factory is not None:
            described["model"] = f"{CUSTOM_MODEL_PREFIX}{_callable_name(self.model_factory)}"
        if self.train_fn is not None:
            described["train_fn"] = _callable_name(self.train_fn)
        return described

    # --- one stage -----------------------------------------------------------------------------

    def _predict(self, model: nn.Module, data: Dataset, workers_limit: int | None = None) -> np.ndarray:
        settings = self.config.train
        workers = settings.num_workers if workers_limit is None else min(settings.num_workers, workers_limit)
        return predict(
            model,
            data,
            batch_size=self.config.predict_batch_size,
            num_workers=workers,
            device=settings.device,
            image_size=settings.image_size,
        )

    def _ensemble_predict(self, models: Sequence[nn.Module], data: Dataset, workers_limit: int | None) -> np.ndarray:
        """Mean softmax output of ``models`` over ``data``: the seed ensemble pseudo-labels the pool."""
        return np.mean([self._predict(model, data, workers_limit) for model in models], axis=0)

    def _report(self, probs: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> ClassificationReport:
        return classification_report(labels, probs, names, positive_class=self.config.positive_class)

    def _fit(
        self, train_set: Dataset, real: RealSplits, settings: TrainSettings, progress: bool, quiet: bool
    ) -> tuple[nn.Module, list[dict[str, float]]]:
        cfg = self.config
        # Seed s gives the same initial weights in every stage, so that stages differ only in their training data.
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            if quiet:  # create_classifier's warnings about the weights were shown for the first classifier already
                warnings.simplefilter("ignore", UserWarning)
            torch.manual_seed(settings.seed)
            if self.model_factory is None:
                model = create_classifier(cfg.model, len(real.class_names), real.num_channels, weights=cfg.weights)
            else:
                model = self.model_factory(len(real.class_names), real.num_channels)
                if not isinstance(model, nn.Module):
                    raise TypeError(f"model_factory must return a torch.nn.Module, got {type(model).__name__}")
        train = train_classifier if self.train_fn is None else self.train_fn
        history = train(model, train_set, settings, val=real.val, progress=progress)
        return model, list(history or [])

    def _stage(
        self,
        name: str,
        kind: str,
        reals: Sequence[RealSplits],
        synthetic: _Labelled | None,
        bar: tqdm,
        progress: bool,
        **fields: Any,
    ) -> tuple[Stage, list[nn.Module]]:
        """Train and score one classifier per seed: seed ``train.seed + r`` on ``reals[r].train`` plus ``synthetic``."""
        cfg = self.config
        names = reals[0].class_names
        held_out = {"val": reals[0].val, "test": reals[0].test}
        runs, models = [], []
        for r, real_r in enumerate(reals):
            train_set = real_r.train if synthetic is None else ConcatDataset([real_r.train, synthetic])
            settings = replace(cfg.train, seed=cfg.train.seed + r)
            bar.set_postfix_str(f"{name}, seed {settings.seed}: training on {len(train_set)} images")
            model, history = self._fit(train_set, real_r, settings, progress, quiet=kind != "baseline" or r > 0)
            probs = {split: self._predict(model, data) for split, data in held_out.items() if data is not None}
            runs.append(
                SeedRun(
                    seed=settings.seed,
                    val=self._report(probs["val"], real_r.val_labels, names),
                    test=None if "test" not in probs else self._report(probs["test"], real_r.test_labels, names),
                    history=tuple(history),
                    probs=probs,
                )
            )
            models.append(model)
            bar.update(1)
        ensemble = {split: np.mean([run.probs[split] for run in runs], axis=0) for split in runs[0].probs}
        k = len(names)
        synthetic_labels = np.zeros(0, dtype=np.int64) if synthetic is None else synthetic.labels
        stage = Stage(
            name=name,
            kind=kind,
            real_images=len(reals[0].train),
            synthetic_per_class=tuple(int(c) for c in np.bincount(synthetic_labels, minlength=k)),
            added_per_class=fields.pop("added", (0,) * k),
            capped=fields.pop("capped", (0,) * k),
            below_threshold=fields.pop("below_threshold", None),
            pool_remaining=fields.pop("pool_remaining", None),
            val=self._report(ensemble["val"], reals[0].val_labels, names),
            test=None if "test" not in ensemble else self._report(ensemble["test"], reals[0].test_labels, names),
            runs=tuple(runs),
        )
        return stage, models

    # --- the run --------------------------------------------------------------------------------

    def run(
        self,
        real: RealSplits,
        pool: Pool | Dataset,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        progress: bool = True,
        generator_training: str | os.PathLike[str] | None = None,
    ) -> SelfTrainResult:
        """Train the baselines and the rounds (or mixes), compare with the baseline, and report.

        Parameters
        ----------
        real : RealSplits
            The real images split into train / val / (test), e.g. from
            :func:`~medgan_aug.selftrain.load_real_splits`; ``real_fraction`` is applied to its train split. Test
            (or, without a test set, validation) images with patient ids are resampled by patient in the
            comparison.
        pool : FolderPool, GeneratorPool, DatasetPool or torch.utils.data.Dataset
            The synthetic images; a plain dataset is wrapped in a :class:`DatasetPool` (unlabelled).
        out_dir : str or os.PathLike, optional
            Where to write the report (see :meth:`SelfTrainResult.save`), updated after every stage so that an
            interrupted run keeps what it finished; for a generator pool the images trained on by the selected
            run are also written to ``out_dir/accepted`` as a dataset folder with a manifest.
        progress : bool
            Show a progress bar over the classifiers, and one per training epoch.
        generator_training : str or os.PathLike, optional
            The folder the generator was trained on. Its manifest's patient ids are checked against the test (or
            validation) images': a patient in both means the comparison is not held out from the generator, and
            the report says so at the top. Without patient ids on either side the report says it could not check.

        Returns
        -------
        SelfTrainResult
        """
        if not isinstance(real, RealSplits):
            raise TypeError(f"real must be a RealSplits (see load_real_splits), got {type(real).__name__}")
        if not isinstance(pool, (FolderPool, DatasetPool, GeneratorPool)):
            pool = DatasetPool(pool)
        self._check_inputs(real, pool)
        cfg = self.config
        if isinstance(pool, GeneratorPool):
            # Generated once: every round scores the pool, and DataLoader workers then read a filled cache.
            pool.generate_all()

        seeds = [cfg.train.seed + r for r in range(cfg.repeats)]
        if cfg.real_fraction < 1:
            used = [
                real.with_train_fraction(cfg.real_fraction, seed=s if cfg.resample_real else seeds[0]) for s in seeds
            ]
        else:
            used = [real] * cfg.repeats
        leak = None if generator_training is None else _shared_patients(Path(generator_training), real)
        flags = _copy_flags(pool)
        held_out = {"val": (real.val_labels, real.val.groups)}
        if real.test is not None:
            held_out["test"] = (real.test_labels, real.test.groups)
        result = SelfTrainResult(
            class_names=tuple(real.class_names),
            positive_class=cfg.positive_class,
            monitor=cfg.monitor,
            config=self._describe_config(),
            data={
                "real": _describe_real(real, used[0]),
                "pool": {
                    "size": len(pool),
                    "kind": type(pool).__name__,
                    "labelled": pool.labels is not None,
                    **({} if flags is None else {"copy_flagged": int(flags.sum())}),
                },
                **({} if leak is None else {"generator_training": leak}),
            },
            stages=[],
            stop_reason="running",
            selected=0,
            accepted=[],
            held_out=held_out,
        )
        plan = 1 + int(cfg.full_baseline and cfg.real_fraction < 1)
        plan += cfg.rounds if cfg.mode == "pseudo" else len(cfg.mix_ratios)
        with tqdm(total=plan * cfg.repeats, desc="self-training", unit="classifier", disable=not progress) as bar:
            baseline_name = f"real {_percent(cfg.real_fraction)}"
            stage, models = self._stage(baseline_name, "baseline", used, None, bar, progress)
            result.model = _cpu_copy(models[0])
            self._add(result, stage, bar, out_dir)
            if cfg.full_baseline and cfg.real_fraction < 1:
                full, _ = self._stage("real 100%", "full", [real] * cfg.repeats, None, bar, progress)
                self._add(result, full, bar, out_dir)
            if cfg.mode == "pseudo":
                result.stop_reason = self._pseudo_rounds(result, used, pool, models, bar, out_dir, progress)
            else:
                result.stop_reason = self._mixes(result, used, pool, bar, out_dir, progress)
        if out_dir is not None:
            result.save(out_dir)
            if isinstance(pool, GeneratorPool):
                _write_accepted_images(result, pool, Path(out_dir) / "accepted")
        return result

    def _add(
        self, result: SelfTrainResult, stage: Stage, bar: tqdm, out_dir: Any, models: Sequence[nn.Module] = ()
    ) -> bool:
        """Record a stage and refresh the report on disk; return whether it became the selected run.

        Only stages given with their ``models`` compete for selection, by their mean validation ``monitor`` over
        seeds; the selected stage's first-seed model is kept.
        """
        result.stages.append(stage)
        selected = False
        if stage.trained:
            score = stage.mean("val", self.config.monitor)
            bar.set_postfix_str(f"{stage.name}: mean val {self.config.monitor} {score:.3f}")
            best = result.selected_stage.mean("val", self.config.monitor)
            if models and score > best:
                result.selected = len(result.stages) - 1
                result.model = _cpu_copy(models[0])
                selected = True
        if out_dir is not None:
            result.save(out_dir)
        return selected

    def _pseudo_rounds(
        self,
        result: SelfTrainResult,
        used: Sequence[RealSplits],
        pool: Pool,
        models: Sequence[nn.Module],
        bar: tqdm,
        out_dir: Any,
        progress: bool,
    ) -> str:
        """Run the pseudo-labelling rounds; return why they stopped."""
        cfg = self.config
        k = len(used[0].class_names)
        # class_fraction keeps the same count per class whatever its seed, so every seed has these real counts.
        real_counts = np.bincount(used[0].train_labels, minlength=k)
        remaining = np.arange(len(pool), dtype=np.int64)
        taken = np.zeros(0, dtype=np.int64)
        taken_labels = np.zeros(0, dtype=np.int64)
        since_best = 0
        for round_index in range(1, cfg.rounds + 1):
            name = f"round {round_index}"
            bar.set_postfix_str(f"{name}: scoring {remaining.size} pool images")
            probs = self._ensemble_predict(models, Subset(pool, remaining.tolist()), pool.num_workers_limit)
            so_far = np.bincount(taken_labels, minlength=k)
            accept = accept_pseudo_labels(
                probs, cfg.threshold, real_counts, max_ratio=cfg.max_ratio, already_accepted=so_far
            )
            if accept.indices.size == 0:
                empty = Stage(name, "round", len(used[0].train), tuple(so_far.tolist()), (0,) * k, accept.capped,
                              accept.below_threshold, int(remaining.size), None, None)  # fmt: skip
                bar.update(cfg.repeats)
                self._add(result, empty, bar, out_dir)
                if any(accept.capped):
                    return f"{name} accepted nothing: every class with confident images reached its cap"
                return f"{name} accepted nothing: no remaining pool image reached the threshold {cfg.threshold}"
            chosen = remaining[accept.indices]
            confidence = probs[accept.indices].max(axis=1)
            result.accepted += [
                {
                    "source": pool.source(int(i)),
                    "label": used[0].class_names[int(c)],
                    "confidence": float(p),
                    "stage": name,
                    **_copy_field(pool, int(i)),
                }
                for i, c, p in zip(chosen, accept.labels, confidence, strict=True)
            ]
            taken = np.concatenate([taken, chosen])
            taken_labels = np.concatenate([taken_labels, accept.labels])
            remaining = np.delete(remaining, accept.indices)
            stage, models = self._stage(
                name, "round", used, _Labelled(pool, taken, taken_labels), bar, progress,
                added=accept.per_class, capped=accept.capped, below_threshold=accept.below_threshold,
                pool_remaining=int(remaining.size),
            )  # fmt: skip
            since_best = 0 if self._add(result, stage, bar, out_dir, models) else since_best + 1
            if since_best >= cfg.patience:
                return f"no mean validation {cfg.monitor.replace('_', ' ')} gain in {cfg.patience} round(s)"
            if remaining.size == 0:
                return "the pool is used up"
        return f"reached the maximum of {cfg.rounds} round(s)"

    def _mixes(
        self,
        result: SelfTrainResult,
        used: Sequence[RealSplits],
        pool: Pool,
        bar: tqdm,
        out_dir: Any,
        progress: bool,
    ) -> str:
        """Train one stage per mixing ratio on real + the pool's own labels; return the stop reason."""
        cfg = self.config
        k = len(used[0].class_names)
        real_counts = np.bincount(used[0].train_labels, minlength=k)
        labels = np.asarray(pool.labels, dtype=np.int64)
        rng = np.random.default_rng(cfg.train.seed)
        # One shuffled order per class: every ratio takes a prefix, so larger mixes contain the smaller ones.
        order = [rng.permutation(np.flatnonzero(labels == c)) for c in range(k)]
        first_stage: dict[int, str] = {}
        for ratio in cfg.mix_ratios:
            name = f"mix x{ratio:g}"
            wanted = [round(ratio * int(n)) for n in real_counts]
            counts = [min(w, len(o)) for w, o in zip(wanted, order, strict=True)]
            chosen = np.concatenate([o[:n] for o, n in zip(order, counts, strict=True)]).astype(np.int64)
            for i in chosen.tolist():
                first_stage.setdefault(i, name)
            stage, models = self._stage(
                name, "mix", used, _Labelled(pool, chosen, labels[chosen]), bar, progress,
                added=tuple(counts), capped=tuple(w - n for w, n in zip(wanted, counts, strict=True)),
                pool_remaining=len(pool) - int(chosen.size),
            )  # fmt: skip
            result.accepted = [
                {
                    "source": pool.source(i),
                    "label": used[0].class_names[int(labels[i])],
                    "confidence": None,
                    "stage": s,
                    **_copy_field(pool, i),
                }
                for i, s in first_stage.items()
            ]
            self._add(result, stage, bar, out_dir, models)
        return f"trained every mix ratio ({', '.join(f'{r:g}' for r in cfg.mix_ratios)})"


def _copy_flags(pool: Dataset) -> np.ndarray | None:
    """The pool's copying flags (a FolderPool whose manifest has them), or None."""
    return getattr(pool, "copy_flagged", None)


def _copy_field(pool: Dataset, index: int) -> dict[str, bool]:
    flags = _copy_flags(pool)
    return {} if flags is None else {"copy_flagged": bool(flags[index])}


def _shared_patients(folder: Path, real: RealSplits) -> dict[str, Any]:
    """The scored split's patients that are also in the generator's training folder, from both manifests."""
    if not folder.is_dir():
        raise FileNotFoundError(f"generator_training folder {folder} does not exist")
    scored = real.test if real.test is not None else real.val
    split = "test" if real.test is not None else "val"
    found = _manifest_rows(folder)
    trained = None
    if found is not None:
        trained = {str(row["patient_id"]) for row in found[1] if row.get("patient_id") not in (None, "")}
    entry: dict[str, Any] = {"folder": str(folder), "shared_patients": []}
    if not trained:
        entry["note"] = "its manifest gives no patient ids, so the held-out patients could not be checked against it"
    elif scored.groups is None:
        entry["note"] = f"the {split} images have no patient ids, so they could not be checked against it"
    else:
        entry["shared_patients"] = sorted(set(map(str, scored.groups.tolist())) & trained)
        entry["note"] = f"none of its {len(trained)} patients is among the {split} patients"
    return entry


def _callable_name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or type(function).__qualname__


def _percent(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def _cpu_copy(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).cpu().eval()


def _describe_real(real: RealSplits, used: RealSplits) -> dict[str, Any]:
    described = real.describe()
    counts = {
        "train": len(real.train),
        "train_used": len(used.train),
        "val": len(real.val),
        "test": 0 if real.test is None else len(real.test),
    }
    return {**described, "counts": counts}


def _write_accepted_images(result: SelfTrainResult, pool: GeneratorPool, folder: Path) -> None:
    """The generated images the selected run trained on, as a dataset folder (class subfolders + manifest)."""
    rows = result.selected_synthetic()
    if not rows:
        return
    index = {f"seed{int(seed)}": i for i, seed in enumerate(pool.seeds)}
    with DatasetWriter(folder, overwrite=True) as writer:
        for row in rows:
            i = index[row["source"]]
            writer.add(
                pool.pixels(i),
                row["label"],
                f"seed{int(pool.seeds[i]):08d}",
                seed=int(pool.seeds[i]),
                confidence=row["confidence"],
                stage=row["stage"],
            )
