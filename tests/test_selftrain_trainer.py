"""SelfTrainer end to end on tiny image folders: rounds, class caps, stop rules, mix mode, reports, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medgan_aug.selftrain import (
    DatasetPool,
    FolderPool,
    GeneratorPool,
    SelfTrainConfig,
    SelfTrainer,
    TrainSettings,
    classification_report,
    load_classifier,
    load_real_splits,
    predict,
    train_classifier,
)

SIZE = 16
NAMES = ("benign", "malignant")  # benign images are dark, malignant bright


def write_image(path: Path, bright: bool, rng: np.random.Generator, level: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mean = level if level is not None else (0.8 if bright else 0.2)
    pixels = np.clip(mean + 0.05 * rng.standard_normal((SIZE, SIZE)), 0, 1)
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train / val / test folders (the split layout), 12 / 6 / 6 images per class."""
    root = tmp_path_factory.mktemp("real")
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("val", 6), ("test", 6)):
        for k, name in enumerate(NAMES):
            for i in range(n):
                write_image(root / split / name / f"{i:03d}.png", bool(k), rng)
    return root


@pytest.fixture(scope="module")
def pool_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unlabelled pool: 30 bright images and 10 dark ones (skewed towards one class), names tell the truth."""
    root = tmp_path_factory.mktemp("pool")
    rng = np.random.default_rng(1)
    for i in range(30):
        write_image(root / f"bright{i:03d}.png", True, rng)
    for i in range(10):
        write_image(root / f"dark{i:03d}.png", False, rng)
    return root


def settings(**overrides: object) -> TrainSettings:
    values: dict[str, object] = {"epochs": 3, "batch_size": 8, "lr": 1e-2, "num_workers": 0, "seed": 0}
    values.update(overrides)
    return TrainSettings(**values)


def trainer(**overrides: object) -> SelfTrainer:
    values: dict[str, object] = {
        "model": "test_efficientnet",
        "positive_class": "malignant",
        "threshold": 0.6,
        "train": settings(),
        "predict_batch_size": 16,
        "repeats": 2,
        "bootstrap": 200,
    }
    values.update(overrides)
    return SelfTrainer(SelfTrainConfig(**values))


def monitor_scores(result) -> list[float | None]:
    """Each stage's mean validation score over its seeds, the score runs are selected by."""
    return [s.mean("val", result.monitor) for s in result.stages]


def test_pseudo_rounds_respect_the_class_cap_and_report(real_root: Path, pool_root: Path, tmp_path: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    pool = FolderPool(pool_root, SIZE)
    out = tmp_path / "run"
    # Cap 0.5 x 12 real images = 6 per class over all rounds, although 30 bright images are confident.
    result = trainer(max_ratio=0.5, rounds=3, patience=3).run(real, pool, out_dir=out, progress=False)

    assert [s.name for s in result.stages[:1]] == ["real 100%"]
    rounds = [s for s in result.stages if s.kind == "round"]
    assert rounds, "at least one round ran"
    totals = np.zeros(2, dtype=int)
    for stage in rounds:
        totals += np.asarray(stage.added_per_class)
        assert tuple(totals) == stage.synthetic_per_class
        assert stage.real_images == 24
    assert np.all(totals <= 6)

    # Every accepted image is listed once, with its confidence over the threshold and the class its name implies.
    sources = [row["source"] for row in result.accepted]
    assert len(sources) == len(set(sources)) == totals.sum()
    for row in result.accepted:
        assert row["confidence"] >= 0.6
        assert row["label"] == ("malignant" if row["source"].startswith("bright") else "benign")

    # Pool bookkeeping: what is left is the pool minus what was taken.
    last_trained = [s for s in rounds if s.trained][-1]
    assert last_trained.pool_remaining == len(pool) - sum(last_trained.synthetic_per_class)

    # The selected run is the earliest best mean validation score (the full baseline is never selected).
    scores = monitor_scores(result)
    candidates = [i for i, s in enumerate(result.stages) if s.kind != "full" and s.trained]
    best = max(scores[i] for i in candidates)
    assert result.selected == min(i for i in candidates if scores[i] == best)

    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] == result.stop_reason != "running"
    assert [s["name"] for s in report["stages"]] == [s.name for s in result.stages]
    for stage in report["stages"]:
        if stage["test"] is not None:
            assert np.asarray(stage["test"]["confusion"]).sum() == 12
            assert [run["seed"] for run in stage["per_seed"]] == [0, 1]
    markdown = (out / "report.md").read_text()
    assert "test sensitivity" in markdown and "| round 1" in markdown
    assert (out / "confusion_selected.png").is_file() and (out / "runs.png").is_file()
    lines = (out / "accepted.csv").read_text().splitlines()
    assert lines[0] == "source,label,confidence,stage" and len(lines) == 1 + totals.sum()


def test_classifier_file_reproduces_the_selected_scores(real_root: Path, pool_root: Path, tmp_path: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    result = trainer(rounds=1).run(real, FolderPool(pool_root, SIZE), out_dir=tmp_path, progress=False)
    model, meta = load_classifier(tmp_path / "classifier.pt")
    assert meta["class_names"] == list(NAMES) and meta["stage"] == result.selected_stage.name
    assert meta["seed"] == 0
    probs = predict(model, real.test, num_workers=0)
    again = classification_report(real.test_labels, probs, NAMES, positive_class="malignant")
    first_seed = result.selected_stage.runs[0]
    assert first_seed.seed == 0 and again.accuracy == first_seed.test.accuracy
    np.testing.assert_array_equal(again.confusion, first_seed.test.confusion)


def test_fraction_baselines_and_a_used_up_pool(real_root: Path, tmp_path: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    rng = np.random.default_rng(2)
    for i in range(6):
        write_image(tmp_path / "pool" / f"x{i}.png", bool(i % 2), rng)
    # With two classes the top probability is always >= 0.5: threshold 0.5 and no cap accept the whole pool.
    result = trainer(real_fraction=0.5, threshold=0.5, max_ratio=math.inf, rounds=4, patience=4).run(
        real, FolderPool(tmp_path / "pool", SIZE), progress=False
    )
    kinds = [s.kind for s in result.stages]
    assert kinds == ["baseline", "full", "round"]
    assert result.stages[0].name == "real 50%" and result.stages[0].real_images == 12
    assert result.stages[1].name == "real 100%" and result.stages[1].real_images == 24
    assert sum(result.stages[2].added_per_class) == 6 and result.stages[2].pool_remaining == 0
    assert result.stop_reason == "the pool is used up"


def test_rounds_stop_when_validation_does_not_improve(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    result = trainer(max_ratio=0.25, rounds=5, patience=1).run(real, FolderPool(pool_root, SIZE), progress=False)
    scores = monitor_scores(result)
    trained_rounds = [i for i, s in enumerate(result.stages) if s.kind == "round" and s.trained]
    if result.stop_reason.startswith("no mean validation"):
        # The last round did not beat the best score before it.
        last = trained_rounds[-1]
        assert scores[last] <= max(scores[i] for i in range(last) if scores[i] is not None)
    else:
        # Otherwise every round improved, until the caps were reached or the rounds ran out.
        for i in trained_rounds:
            assert scores[i] > max(scores[j] for j in range(i) if scores[j] is not None)
        assert "cap" in result.stop_reason or "maximum" in result.stop_reason


def test_a_threshold_nobody_reaches_stops_after_scoring(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    # A threshold of 1 is out of reach for a classifier trained a few epochs: nothing is accepted.
    result = trainer(threshold=1.0, rounds=2, repeats=1).run(real, FolderPool(pool_root, SIZE), progress=False)
    last = result.stages[-1]
    assert last.kind == "round" and not last.trained and sum(last.added_per_class) == 0
    probs = predict(result.model, FolderPool(pool_root, SIZE), num_workers=0)
    assert last.below_threshold == int((probs.max(axis=1) < 1.0).sum())
    assert result.selected == 0 and result.stop_reason.startswith("round 1 accepted nothing")
    assert result.comparison() is None
    assert result.verdict().startswith("No classifier was trained with synthetic images")


def test_same_seed_same_report(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    runs = [trainer(rounds=1).run(real, FolderPool(pool_root, SIZE), progress=False).to_dict() for _ in range(2)]
    assert runs[0] == runs[1]


def test_mix_mode_uses_the_pool_labels_at_each_ratio(real_root: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for i in range(20):
        write_image(tmp_path / "syn" / "class1" / f"b{i}.png", True, rng)
    for i in range(4):
        write_image(tmp_path / "syn" / "benign" / f"d{i}.png", False, rng)
    real = load_real_splits(real_root, SIZE)
    pool = FolderPool(tmp_path / "syn", SIZE, class_names=real.class_names)
    result = trainer(mode="mix", mix_ratios=(0.5, 1.0)).run(real, pool, progress=False)
    mixes = [s for s in result.stages if s.kind == "mix"]
    assert [s.name for s in mixes] == ["mix x0.5", "mix x1"]
    # 12 real per class: 6 then 12 wanted; only 4 benign exist.
    assert mixes[0].added_per_class == (4, 6) and mixes[0].capped == (2, 0)
    assert mixes[1].added_per_class == (4, 12) and mixes[1].capped == (8, 0)
    first = {row["source"] for row in result.accepted if row["stage"] == "mix x0.5"}
    assert len(first) == 10 and len(result.accepted) == 16
    for row in result.accepted:
        assert row["label"] == ("malignant" if row["source"].startswith("class1/") else "benign")
        assert row["confidence"] is None


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5, float("nan")])
def test_threshold_outside_0_1(threshold: float) -> None:
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\]"):
        SelfTrainConfig(threshold=threshold)


def test_empty_pool(real_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    empty = torch.utils.data.TensorDataset(torch.zeros(0, 1, SIZE, SIZE))
    with pytest.raises(ValueError, match="pool is empty"):
        trainer().run(real, empty, progress=False)


def test_pool_classes_disagree_with_the_real_classes(real_root: Path, tmp_path: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    write_image(tmp_path / "syn" / "cyst" / "a.png", True, np.random.default_rng(0))
    with pytest.raises(ValueError, match="cyst"):
        trainer(mode="mix").run(real, FolderPool(tmp_path / "syn", SIZE, class_names=real.class_names))
    other = DatasetPool(torch.zeros(3, 1, SIZE, SIZE), class_names=("a", "b"), labels=[0, 1, 0])
    with pytest.raises(ValueError, match=r"classes \['a', 'b'\] disagree with the real classes"):
        trainer(mode="mix").run(real, other, progress=False)


def test_classifier_trained_on_other_classes(real_root: Path, pool_root: Path, tmp_path: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    trainer(rounds=1).run(real, FolderPool(pool_root, SIZE), out_dir=tmp_path / "first", progress=False)
    saved = torch.load(tmp_path / "first" / "classifier.pt", weights_only=True)
    saved["class_names"] = ["normal", "cancer"]
    torch.save(saved, tmp_path / "renamed.pt")
    with pytest.raises(ValueError, match=r"trained on classes \['normal', 'cancer'\]"):
        trainer(weights=tmp_path / "renamed.pt").run(real, FolderPool(pool_root, SIZE), progress=False)


def test_binary_tasks_need_an_explicit_positive_class(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    with pytest.raises(ValueError, match="positive_class is required"):
        trainer(positive_class=None).run(real, FolderPool(pool_root, SIZE), progress=False)
    with pytest.raises(ValueError, match="'cancer' is not one of the real classes"):
        trainer(positive_class="cancer").run(real, FolderPool(pool_root, SIZE), progress=False)


def test_mix_mode_needs_labels(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    with pytest.raises(ValueError, match="mode='mix' needs a labelled pool"):
        trainer(mode="mix").run(real, FolderPool(pool_root, SIZE), progress=False)


def test_pool_size_or_channels_differ(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    with pytest.raises(ValueError, match="resolution=16"):
        trainer().run(real, FolderPool(pool_root, 8), progress=False)
    with pytest.raises(ValueError, match="num_channels=1"):
        trainer().run(real, FolderPool(pool_root, SIZE, num_channels=3), progress=False)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("real_fraction", 0, r"real_fraction must be in \(0, 1\]"),
        ("real_fraction", 1.2, r"real_fraction must be in \(0, 1\]"),
        ("rounds", 0, "rounds must be an integer >= 1"),
        ("max_ratio", 0, "max_ratio must be a positive number"),
        ("monitor", "auc", "monitor must be one of"),
        ("mode", "semi", "mode must be one of"),
        ("mix_ratios", (1.0, -1.0), "mix_ratios must be positive"),
        ("repeats", 0, "repeats must be an integer >= 1"),
        ("repeats", 1.5, "repeats must be an integer >= 1"),
        ("bootstrap", 99, "bootstrap must be an integer >= 100"),
        ("resample_real", True, "resample_real needs real_fraction < 1"),
    ],
)
def test_invalid_config(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SelfTrainConfig(**{field: value})


def test_local_weights_start_every_run(real_root: Path, pool_root: Path, tmp_path: Path) -> None:
    from medgan_aug.selftrain import create_classifier

    torch.manual_seed(5)
    pretrained = create_classifier("test_efficientnet", 5, 1).state_dict()
    torch.save(pretrained, tmp_path / "pretrained.pt")
    real = load_real_splits(real_root, SIZE)
    with pytest.warns(UserWarning, match="dropped the classifier-head") as caught:
        result = trainer(weights=tmp_path / "pretrained.pt", rounds=1, train=settings(epochs=1, lr=1e-9)).run(
            real, FolderPool(pool_root, SIZE), progress=False
        )
    assert sum("classifier-head" in str(w.message) for w in caught) == 1  # said once, not once per run
    # With a vanishing learning rate the selected classifier keeps the saved body weights (BatchNorm statistics
    # still move, so parameters are compared).
    params = dict(result.model.named_parameters())
    body = [k for k in params if not k.startswith("classifier.")]
    assert body and all(torch.allclose(params[k].detach(), pretrained[k], atol=1e-5) for k in body)


# --- repeats and the comparison -----------------------------------------------------------------------------


def classifier_by_hand(train_set, real, seed: int) -> np.ndarray:
    """Test-set softmax of a classifier trained outside SelfTrainer with ``seed``, as a stage's seed should be."""
    from medgan_aug.selftrain import create_classifier, train_classifier

    torch.manual_seed(seed)
    model = create_classifier("test_efficientnet", 2, 1)
    train_classifier(model, train_set, settings(seed=seed), val=real.val, progress=False)
    return predict(model, real.test, num_workers=0)


def test_every_seed_is_the_classifier_of_that_seed_on_the_same_data(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    result = trainer(rounds=1, repeats=3).run(real, FolderPool(pool_root, SIZE), progress=False)
    base = result.baseline
    assert [run.seed for run in base.runs] == [0, 1, 2]
    np.testing.assert_allclose(base.runs[2].probs["test"], classifier_by_hand(real.train, real, 2), atol=1e-6)
    # The stage's own report is the seed ensemble's; mean and spread are over the seeds' reports.
    ensemble = np.mean([run.probs["test"] for run in base.runs], axis=0)
    expected = classification_report(real.test_labels, ensemble, NAMES, positive_class="malignant")
    np.testing.assert_array_equal(base.test.confusion, expected.confusion)
    per_seed = [run.test.balanced_accuracy for run in base.runs]
    np.testing.assert_allclose(base.per_seed("test", "balanced_accuracy"), per_seed)
    assert base.mean("test", "balanced_accuracy") == pytest.approx(np.mean(per_seed))
    assert base.std("test", "balanced_accuracy") == pytest.approx(np.std(per_seed, ddof=1))


@pytest.mark.parametrize("resample_real", [False, True])
def test_resample_real_gives_each_seed_its_own_real_subset(real_root: Path, pool_root: Path, resample_real) -> None:
    real = load_real_splits(real_root, SIZE)
    run = trainer(real_fraction=0.5, rounds=1, full_baseline=False, resample_real=resample_real)
    result = run.run(real, FolderPool(pool_root, SIZE), progress=False)
    subset_seed = 1 if resample_real else 0
    by_hand = classifier_by_hand(real.with_train_fraction(0.5, seed=subset_seed).train, real, 1)
    np.testing.assert_allclose(result.baseline.runs[1].probs["test"], by_hand, atol=1e-6)
    assert result.config["resample_real"] is resample_real


def write_patient_dataset(root: Path) -> dict[str, str]:
    """A DatasetWriter split by patient: 8 patients, 6 images each, of one class per patient."""
    from medgan_aug.data import DatasetWriter

    rng = np.random.default_rng(7)
    patients = {f"p{i}": NAMES[i % 2] for i in range(8)}
    split = dict(zip(patients, ["train"] * 4 + ["val"] * 2 + ["test"] * 2, strict=True))
    with DatasetWriter(root, split=split) as writer:
        for pid, label in patients.items():
            for j in range(6):
                level = 0.75 if label == "malignant" else 0.25
                pixels = np.clip(level + 0.05 * rng.standard_normal((SIZE, SIZE)), 0, 1)
                writer.add(np.round(pixels * 255).astype(np.uint8), label, f"{pid}_{j}", patient_id=pid)
    return split


def test_report_compares_the_selected_run_by_patient(pool_root: Path, tmp_path: Path) -> None:
    from medgan_aug.selftrain import compare_runs

    write_patient_dataset(tmp_path / "real")
    real = load_real_splits(tmp_path / "real", SIZE)
    assert real.method == "folders" and sorted(set(real.test_groups)) == ["p6", "p7"]
    out = tmp_path / "run"
    result = trainer(rounds=1).run(real, FolderPool(pool_root, SIZE), out_dir=out, progress=False)

    comparison = result.comparison()
    compared = next(s for s in result.stages if s.name == comparison.compared)
    direct = compare_runs(
        real.test_labels, result.baseline.probs("test"), compared.probs("test"), metric="balanced_accuracy",
        class_names=NAMES, baseline=result.baseline.name, compared=compared.name,
        selected=compared is result.selected_stage, groups=real.test_groups, positive_class="malignant",
        resamples=200, seed=0,
    )  # fmt: skip
    assert comparison == direct
    report = json.loads((out / "report.json").read_text())
    record = report["comparison"]
    for key in ("metric", "difference", "ci_low", "ci_high", "p_mcnemar", "p_delong", "n_test_images",
                "n_test_patients", "verdict"):  # fmt: skip
        assert key in record, key
    assert record["n_test_images"] == 12 and record["n_test_patients"] == 2
    assert record["verdict"] == comparison.verdict and report["verdict"] == comparison.sentence()
    assert any("only 2 test patient(s)" in w for w in record["warnings"])
    for stage in report["stages"]:
        if stage["val"] is not None:
            assert [run["seed"] for run in stage["per_seed"]] == [0, 1]
            summary = stage["summary"]["test"]["balanced_accuracy"]
            assert summary["mean"] == pytest.approx(
                np.mean([r["test"]["balanced_accuracy"] for r in stage["per_seed"]])
            )
    # report.md leads with the verdict and the comparison's numbers.
    head = (out / "report.md").read_text().splitlines()[:6]
    assert head[2] == f"**{comparison.sentence()}**"
    assert head[4].startswith("- compared on the test set") and "95% bootstrap interval" in head[5]
    assert Image.open(out / "runs.png").size == (640, 360)


def test_one_seed_says_it_cannot_show_a_difference(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    result = trainer(rounds=1, repeats=1).run(real, FolderPool(pool_root, SIZE), progress=False)
    assert all(len(stage.runs) == 1 for stage in result.stages if stage.trained)
    assert "One classifier seed per run cannot show a difference" in result.verdict()


def test_a_test_set_of_one_class_is_refused_before_training(real_root: Path, pool_root: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    benign_only = real.test.subset(np.flatnonzero(real.test_labels == 0))
    with pytest.raises(ValueError, match=r"real.test holds images of one class only \(benign\)"):
        trainer().run(dataclasses.replace(real, test=benign_only), FolderPool(pool_root, SIZE), progress=False)


class TinyClassifier(torch.nn.Module):
    """A classifier written by a user, not a timm model."""

    def __init__(self, num_classes: int, num_channels: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(num_channels, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class Recorder:
    """A model_factory and a train_fn that record their calls; train_fn delegates to train_classifier."""

    def __init__(self) -> None:
        self.built: list[tuple[int, int, torch.Tensor]] = []
        self.trained: list[tuple[int, int]] = []

    def make(self, num_classes: int, num_channels: int) -> torch.nn.Module:
        model = TinyClassifier(num_classes, num_channels)
        self.built.append((num_classes, num_channels, model.conv.weight.detach().clone()))
        return model

    def train(self, model, train, settings, *, val=None, progress=True):
        self.trained.append((len(train), settings.seed))
        return train_classifier(model, train, settings, val=val, progress=progress)


def test_a_model_factory_and_train_fn_replace_timm(real_root: Path, pool_root: Path, tmp_path: Path) -> None:
    real = load_real_splits(real_root, SIZE)
    recorder = Recorder()
    config = SelfTrainConfig(
        positive_class="malignant",
        threshold=0.6,
        train=settings(epochs=12, lr=5e-2),
        repeats=2,
        bootstrap=200,
        rounds=2,
        patience=2,
    )
    runner = SelfTrainer(config, model_factory=recorder.make, train_fn=recorder.train)
    result = runner.run(real, FolderPool(pool_root, SIZE), out_dir=tmp_path / "run", progress=False)

    classifiers = sum(len(stage.runs) for stage in result.stages if stage.trained)
    assert len(recorder.built) == len(recorder.trained) == classifiers
    assert {(k, c) for k, c, _ in recorder.built} == {(2, 1)}
    # Every stage starts seed s from the same weights; the two seeds start apart.
    seed0 = [w for (_, _, w), (_, seed) in zip(recorder.built, recorder.trained, strict=True) if seed == 0]
    seed1 = [w for (_, _, w), (_, seed) in zip(recorder.built, recorder.trained, strict=True) if seed == 1]
    assert all(torch.equal(w, seed0[0]) for w in seed0) and all(torch.equal(w, seed1[0]) for w in seed1)
    assert not torch.equal(seed0[0], seed1[0])
    # Rounds train on real plus accepted images: more than the 24 real ones.
    assert max(n for n, _ in recorder.trained) > 24 == min(n for n, _ in recorder.trained)
    assert isinstance(result.model, TinyClassifier)

    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["config"]["model"] == "model_factory:Recorder.make"
    assert report["config"]["train_fn"] == "Recorder.train"
    with pytest.raises(ValueError, match=r"made by model_factory:Recorder.make: build it with that factory"):
        load_classifier(tmp_path / "run" / "classifier.pt")
    state = torch.load(tmp_path / "run" / "classifier.pt", weights_only=True)["state_dict"]
    rebuilt = TinyClassifier(2, 1)
    rebuilt.load_state_dict(state)
    probs = predict(rebuilt.eval(), real.test, num_workers=0)
    again = classification_report(real.test_labels, probs, NAMES, positive_class="malignant")
    assert again.accuracy == result.selected_stage.runs[0].test.accuracy


def test_bad_model_factory_and_train_fn(real_root: Path, pool_root: Path, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="model_factory must be callable, got int"):
        SelfTrainer(model_factory=3)
    with pytest.raises(TypeError, match="train_fn must be callable, got str"):
        SelfTrainer(train_fn="adam")
    with pytest.raises(ValueError, match="with a model_factory, load weights in it"):
        SelfTrainer(weights=tmp_path / "w.pt", model_factory=TinyClassifier)
    real = load_real_splits(real_root, SIZE)
    runner = SelfTrainer(
        SelfTrainConfig(positive_class="malignant", train=settings(), repeats=1, rounds=1),
        model_factory=lambda k, c: "not a module",
    )
    with pytest.raises(TypeError, match=r"model_factory must return a torch\.nn\.Module, got str"):
        runner.run(real, FolderPool(pool_root, SIZE), progress=False)


@pytest.mark.filterwarnings("ignore:FID from")
def test_a_users_generator_and_classifier_go_through_generate_score_selftrain(real_root: Path, tmp_path: Path) -> None:
    from medgan_aug.generate import synthesize
    from medgan_aug.metrics import FIDScorer
    from tests.test_generator_like import LinearGenerator
    from tests.test_metrics import METRICS_NO_ISC, TinyFeatures

    G = LinearGenerator(resolution=SIZE).eval()
    folder = synthesize(G, 20, tmp_path / "synthetic", progress=False)
    scorer = FIDScorer(METRICS_NO_ISC, extractor=TinyFeatures(), kid_subset_size=8, device="cpu")
    from_folder = scorer.score(real_root / "train", folder)
    in_memory = scorer.score_generator(G, real_root / "train", 20, seed=0)
    assert in_memory["fid"] == pytest.approx(from_folder["fid"], rel=1e-5)

    real = load_real_splits(real_root, SIZE)
    config = SelfTrainConfig(positive_class="malignant", train=settings(), repeats=2, bootstrap=200, rounds=1)
    for pool in (FolderPool(folder, SIZE), GeneratorPool(G, 20, progress=False)):
        result = SelfTrainer(config, model_factory=TinyClassifier).run(real, pool, progress=False)
        assert result.data["pool"]["size"] == 20 and isinstance(result.model, TinyClassifier)
        assert result.config["model"] == "model_factory:TinyClassifier"
        assert result.verdict()
