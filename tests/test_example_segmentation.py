"""examples/segmentation_pairs.py, run as a user runs it: the smoke run end to end and its bad-input errors."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medgan_aug.data import read_volume

REPO = Path(__file__).parents[1]
RUNS = ("real", "real+synthetic")
SCORES = ("mean_jaccard", "mean_dice", "mean_voc", "micro_jaccard", "micro_dice")


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    # One OpenMP thread: beside other busy processes, spinning OpenMP threads make the tiny networks many times
    # slower, and the kernels are too small to gain from a second thread.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "examples" / "segmentation_pairs.py"), *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("em")
    return out, run_example("--smoke", "--out", str(out))


def test_smoke_run_writes_phantom_tiles_split_by_stack(smoke):
    out, done = smoke
    assert done.returncode == 0, done.stderr
    # Mitochondria are added to a stack until they fill 5 % of it; the last one overshoots by at most its own volume,
    # 4/3 pi (4 * 0.08 * 64) (0.08 * 64) (1.2 * 0.08 * 64) voxels = 2.75 % of a 128 x 128 x 6 smoke stack.
    labels = sorted((out / "volumes").glob("*_seg.nrrd"))
    assert len(labels) == 4
    for path in labels:
        fraction = float(np.mean(read_volume(path).data != 0))
        assert 0.05 <= fraction < 0.0775, (path, fraction)

    rows = list(csv.DictReader((out / "tiles" / "manifest.csv").open()))
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["patient_id"], row["split"]) == row["split"]  # one stack, one split
    assert sorted(split_of.values()) == ["test", "train", "train", "val"]

    # Tile foreground measured from the mask PNGs on disk: about the stacks' 5 %.
    masks = [read_png(out / "tiles" / row["mask"]) for row in rows if row["split"] == "train"]
    fractions = np.array([np.mean(mask != 0) for mask in masks], dtype=np.float64)
    assert all(mask.shape == (64, 64) for mask in masks)
    assert 0.01 < fractions.mean() < 0.15
    report = json.loads((out / "report.json").read_text())
    assert report["foreground"]["real train"]["mean_foreground"] == pytest.approx(fractions.mean(), abs=1e-4)
    assert report["data"]["tiles"] == {s: sum(row["split"] == s for row in rows) for s in ("train", "val", "test")}


def test_smoke_run_generates_binary_pairs_with_the_paired_gan(smoke):
    out, done = smoke
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    config = json.loads((out / "gan" / "config.json").read_text())["config"]
    assert (config["img_channels"], config["mask_channels"], config["arch"]) == (1, 1, "stylegan2")

    images = sorted((out / "synthetic" / "images" / "generated").glob("seed*.png"))
    masks = sorted((out / "synthetic" / "masks" / "generated").glob("seed*.png"))
    assert [p.name for p in images] == [p.name for p in masks]
    assert len(images) == report["synthetic_pairs"] == report["data"]["tiles"]["train"]  # one per real tile
    fractions = []
    for image_path, mask_path in zip(images, masks, strict=True):
        image, mask = read_png(image_path), read_png(mask_path)
        assert image.shape == mask.shape == (64, 64)
        assert set(np.unique(mask).tolist()) <= {0, 255}
        fractions.append(np.mean(mask != 0))
    assert report["foreground"]["synthetic"]["mean_foreground"] == pytest.approx(np.mean(fractions), abs=1e-4)

    # The sample grids show each image beside its mask: twice as many columns of 64 px tiles as pairs per row.
    grid = Path(report["paths"]["generated sample grid (image beside mask)"])
    assert grid.parent == out / "gan" and read_png(grid).shape[1] == 16 * 64
    assert (out / "gan" / "reals.png").is_file()


def test_smoke_run_scores_both_segmenters_on_the_test_tiles(smoke):
    out, done = smoke
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    seg = report["segmentation"]
    assert (seg["threshold"], seg["empty_policy"]) == (0.5, "skip")
    runs = seg["runs"]
    assert list(runs) == list(RUNS)
    n_train, n_test = report["data"]["tiles"]["train"], report["data"]["tiles"]["test"]
    assert runs["real"]["training_pairs"] == n_train
    assert runs["real+synthetic"]["training_pairs"] == n_train + report["synthetic_pairs"]
    assert runs["real"]["steps"] == runs["real+synthetic"]["steps"] > 0  # the same training length

    md = (out / "report.md").read_text()
    lines = done.stdout.splitlines()
    header = next(
        i
        for i, line in enumerate(lines)
        if line.split() == ["run", "Jaccard", "Dice", "VOC", "J", "pooled", "D", "pooled"]
    )
    printed = dict(zip(RUNS, lines[header + 1 : header + 3], strict=True))
    assert "| run | training pairs | Jaccard (IoU) | Dice | VOC | Jaccard pooled | Dice pooled | test tiles |" in md
    for name in RUNS:
        test = runs[name]["test"]
        assert (test["per"], test["n_items"]) == ("image", n_test)  # every test tile is one item
        for key in SCORES:
            assert 0.0 <= test[key] <= 1.0, (name, key)
        jaccard = np.array([math.nan if v is None else v for v in test["jaccard"]], dtype=np.float64)
        dice = np.array([math.nan if v is None else v for v in test["dice"]], dtype=np.float64)
        # "skip": exactly the tiles where mask and prediction are both empty are left out.
        assert np.array_equal(np.isnan(jaccard), np.array(test["empty"]))
        np.testing.assert_allclose(dice, 2 * jaccard / (1 + jaccard), rtol=1e-12)  # Dice = 2 J / (1 + J) per tile
        assert test["mean_jaccard"] == pytest.approx(np.nanmean(jaccard), rel=1e-12)
        cells = " | ".join(f"{test[key]:.3f}" for key in SCORES)
        assert f"| {name} | {runs[name]['training_pairs']} | {cells} |" in md
        row = printed[name].split()
        assert row[0] == name and [float(v) for v in row[1:]] == [round(test[key], 3) for key in SCORES]


def test_missing_data_folder_is_refused(tmp_path):
    done = run_example("--data", str(tmp_path / "absent"), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert f"--data folder {tmp_path / 'absent'} does not exist" in done.stderr
    assert not (tmp_path / "out").exists()


def test_data_folder_without_masks_is_refused(tmp_path):
    for split in ("train", "test"):
        (tmp_path / "em" / split / "images").mkdir(parents=True)
    (tmp_path / "em" / "test" / "masks").mkdir()
    done = run_example("--data", str(tmp_path / "em"), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert f"{tmp_path / 'em' / 'train' / 'masks'} does not exist" in done.stderr
    assert not (tmp_path / "out").exists()
