"""``medgan-aug selftrain`` on tiny folders and a tiny generator: the files it writes and the errors it reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medgan_aug.cli import main
from medgan_aug.nets import StyleGenerator

SIZE = 16
FAST = ["--model", "test_efficientnet", "--size", str(SIZE), "--epochs", "2", "--batch", "8", "--workers", "0",
        "--repeats", "2", "--bootstrap", "200"]  # fmt: skip


def write_image(path: Path, level: float, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(level + 0.05 * rng.standard_normal((SIZE, SIZE)), 0, 1)
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """real/ (class subfolders, 16 per class), test/ (6 per class), pool/ (unlabelled) and syn/ (labelled)."""
    root = tmp_path_factory.mktemp("selftrain_cli")
    rng = np.random.default_rng(0)
    for k, name in enumerate(("normal", "tumour")):
        level = 0.25 + 0.5 * k
        for i in range(16):
            write_image(root / "real" / name / f"{i}.png", level, rng)
        for i in range(6):
            write_image(root / "test" / name / f"{i}.png", level, rng)
        for i in range(8):
            write_image(root / "pool" / f"{name}{i}.png", level, rng)
            write_image(root / "syn" / f"class{k}" / f"{i}.png", level, rng)
    return root


def test_pseudo_labelling_run_writes_the_reports(folders: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    argv = ["selftrain", "--real", str(folders / "real"), "--synthetic", str(folders / "pool"), "--test",
            str(folders / "test"), "--out", str(out), "--real-fraction", "0.5", "--threshold", "0.5", "--rounds", "2",
            "--positive-class", "tumour", "--no-progress", *FAST]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "stopped:" in printed and "report.md" in printed
    report = json.loads((out / "report.json").read_text())
    comparison = report["comparison"]
    # The verdict and its interval are printed, as the report holds them.
    assert comparison["sentence"] in printed and "95% bootstrap interval" in printed
    assert comparison["verdict"] in ("helped", "hurt", "no_difference") and comparison["n_test_images"] == 12
    assert report["config"]["repeats"] == 2 and report["config"]["bootstrap"] == 200
    assert [len(stage["per_seed"]) for stage in report["stages"][:2]] == [2, 2]
    assert report["config"]["real_fraction"] == 0.5 and report["config"]["threshold"] == 0.5
    assert report["positive_class"] == "tumour" and report["data"]["real"]["method"] == "stratified"
    names = [stage["name"] for stage in report["stages"]]
    assert names[:2] == ["real 50%", "real 100%"] and names[2] == "round 1"
    # --test is the test set: all 12 images are scored, and the real folder is split into train and val only.
    assert np.asarray(report["stages"][0]["test"]["confusion"]).sum() == 12
    counts = report["data"]["real"]["counts"]
    assert counts["train"] + counts["val"] == 32 and counts["test"] == 12
    for name in ("report.md", "accepted.csv", "confusion_selected.png", "classifier.pt"):
        assert (out / name).is_file(), name


def test_mix_mode_from_a_labelled_folder(folders: Path, tmp_path: Path) -> None:
    out = tmp_path / "mix"
    argv = ["selftrain", "--real", str(folders / "real"), "--synthetic", str(folders / "syn"), "--out", str(out),
            "--mode", "mix", "--mix-ratios", "0.25,0.5", "--positive-class", "tumour", "--no-full-baseline",
            "--no-progress", *FAST]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["real 100%", "mix x0.25", "mix x0.5"]
    train_per_class = report["data"]["real"]["splits"]["train"]["per_class"]
    wanted = [min(round(0.5 * n), 8) for n in train_per_class]
    assert report["stages"][2]["added_per_class"] == wanted


def test_pool_sampled_from_a_generator(folders: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    small = {"mapping_kwargs": {"num_layers": 1}, "synthesis_kwargs": {"channel_base": 64, "channel_max": 8}}
    G = StyleGenerator(z_dim=8, w_dim=8, c_dim=0, img_resolution=SIZE, img_channels=1, **small)
    network = G.save(tmp_path / "g.pt")
    out = tmp_path / "gen"
    argv = ["selftrain", "--real", str(folders / "real"), "--network", str(network), "--pool-size", "10",
            "--pool-seed", "100", "--out", str(out), "--threshold", "0.5", "--max-ratio", "0", "--rounds", "1",
            "--positive-class", "tumour", "--no-progress", *FAST]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["pool"] == {"size": 10, "kind": "GeneratorPool", "labelled": False}
    # Threshold 0.5 with two classes and no cap: the whole pool is accepted in round 1.
    assert sorted(row["source"] for row in report["accepted"]) == sorted(f"seed{s}" for s in range(100, 110))
    # The images the selected run trained on become a dataset folder; none when the baseline stayed best.
    selected = next(stage for stage in report["stages"] if stage["name"] == report["selected"])
    if selected["kind"] == "round":
        rows = (out / "accepted" / "manifest.csv").read_text().splitlines()
        assert len(rows) == 11 and len(list((out / "accepted").rglob("seed*.png"))) == 10
    else:
        assert not (out / "accepted").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threshold", "1.5"], r"threshold must be in \(0, 1\]"),
        (["--threshold", "0"], r"threshold must be in \(0, 1\]"),
        (["--model", "resnt18", "--positive-class", "tumour"], "timm has no model named 'resnt18'"),
        ([], "positive_class is required"),
        (["--positive-class", "tumour", "--pool-size", "5"], "--pool-size applies to --network only"),
        (["--positive-class", "tumour", "--repeats", "0"], "repeats must be an integer >= 1"),
        (["--positive-class", "tumour", "--bootstrap", "50"], "bootstrap must be an integer >= 100"),
        (["--positive-class", "tumour", "--resample-real"], "resample_real needs real_fraction < 1"),
    ],
)
def test_bad_arguments_fail_with_a_message(folders: Path, tmp_path: Path, capsys, extra: list[str], message: str):
    argv = ["selftrain", "--real", str(folders / "real"), "--synthetic", str(folders / "pool"),
            "--out", str(tmp_path / "out"), "--no-progress", *FAST, *extra]  # fmt: skip
    assert main(argv) == 1
    assert re.search(message, capsys.readouterr().err)


def test_test_folder_with_other_classes(folders: Path, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(1)
    for name in ("normal", "cyst"):
        write_image(tmp_path / "other" / name / "0.png", 0.5, rng)
    argv = ["selftrain", "--real", str(folders / "real"), "--synthetic", str(folders / "pool"), "--test",
            str(tmp_path / "other"), "--out", str(tmp_path / "out"), "--positive-class", "tumour", "--no-progress",
            *FAST]  # fmt: skip
    assert main(argv) == 1
    assert "cyst" in capsys.readouterr().err


def test_empty_pool_folder(folders: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    argv = ["selftrain", "--real", str(folders / "real"), "--synthetic", str(tmp_path / "empty"),
            "--out", str(tmp_path / "out"), "--positive-class", "tumour", "--no-progress", *FAST]  # fmt: skip
    assert main(argv) == 1
    assert "is empty" in capsys.readouterr().err
