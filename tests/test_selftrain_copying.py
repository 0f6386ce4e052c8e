"""Self-training reports the likely copies it trained on and test patients the generator was trained on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medgan_aug.cli import main
from medgan_aug.data import DatasetWriter
from medgan_aug.selftrain import FolderPool, load_real_splits
from tests.test_selftrain_trainer import NAMES, SIZE, trainer


def pixels(bright: bool, rng: np.random.Generator) -> np.ndarray:
    mean = 0.8 if bright else 0.2
    return np.round(np.clip(mean + 0.05 * rng.standard_normal((SIZE, SIZE)), 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("copying")
    rng = np.random.default_rng(0)
    # Six patients a split, two images each, one class per patient.
    split = {f"p{i:02d}": ("train", "val", "test")[i // 6] for i in range(18)}
    with DatasetWriter(root / "real", split=split) as writer:
        for i, patient in enumerate(split):
            for j in range(2):
                writer.add(pixels(bool(i % 2), rng), NAMES[i % 2], f"{patient}-{j}", patient_id=patient)
    # The generator's training set: the real train patients, and by mistake one test patient (p12).
    with DatasetWriter(root / "gan-train") as writer:
        for patient in ("p00", "p01", "p12"):
            writer.add(pixels(True, rng), "images", patient, patient_id=patient)
    # A pool written with a copy screen that only marks: the first 10 bright images are flagged.
    with DatasetWriter(root / "pool") as writer:
        for i in range(40):
            bright = i < 30
            writer.add(pixels(bright, rng), "images", f"img{i:03d}", copy_flagged=bright and i < 10)
    return {"real": root / "real", "gan": root / "gan-train", "pool": root / "pool"}


def test_the_pool_reads_its_copy_flags(folders):
    pool = FolderPool(folders["pool"], SIZE)
    assert pool.copy_flagged is not None and int(pool.copy_flagged.sum()) == 10
    flagged = {pool.source(i) for i in np.flatnonzero(pool.copy_flagged)}
    assert flagged == {f"images/img{i:03d}.png" for i in range(10)}


def test_the_report_counts_flagged_images_and_warns_of_shared_patients(folders, tmp_path):
    real = load_real_splits(folders["real"], SIZE)
    result = trainer(rounds=1, repeats=1, threshold=0.5).run(
        real, FolderPool(folders["pool"], SIZE), progress=False, generator_training=folders["gan"]
    )
    assert result.data["pool"]["copy_flagged"] == 10
    used = result.selected_synthetic()
    assert all("copy_flagged" in row for row in result.accepted)
    hit = sum(row["copy_flagged"] for row in used)
    markdown = result.to_markdown()
    assert "10 of 40 pool images are flagged" in markdown
    assert f"the selected run trained on {hit} of them (of {len(used)} synthetic images)" in markdown
    assert "**Warning:** 1 test patient(s) were in the generator's training set" in markdown
    assert "p12" in markdown
    record = result.to_dict()
    assert record["data"]["generator_training"]["shared_patients"] == ["p12"]
    assert len(record["data_warnings"]) == 1


def test_without_patient_ids_the_report_says_it_could_not_check(folders, tmp_path):
    anonymous = tmp_path / "anonymous"
    with DatasetWriter(anonymous) as writer:
        writer.add(pixels(True, np.random.default_rng(1)), "images", "a")
    real = load_real_splits(folders["real"], SIZE)
    result = trainer(rounds=1, repeats=1).run(real, FolderPool(folders["pool"], SIZE), progress=False,
                                              generator_training=anonymous)  # fmt: skip
    assert "could not be checked" in result.to_markdown() and result.to_dict()["data_warnings"] == []
    with pytest.raises(FileNotFoundError, match="generator_training folder"):
        trainer(rounds=1, repeats=1).run(real, FolderPool(folders["pool"], SIZE), generator_training=tmp_path / "x")


def test_command_line_generator_training(folders, tmp_path):
    out = tmp_path / "run"
    args = ["selftrain", "--real", str(folders["real"]), "--synthetic", str(folders["pool"]), "--model",
            "test_efficientnet", "--image-size", str(SIZE), "--epochs", "1", "--rounds", "1", "--repeats", "1",
            "--positive-class", "malignant", "--workers", "0", "--out", str(out), "--no-progress",
            "--generator-training", str(folders["gan"])]  # fmt: skip
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["generator_training"]["shared_patients"] == ["p12"]
    assert "Warning:" in (out / "report.md").read_text()
