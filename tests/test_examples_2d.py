"""The mammography and dermoscopy examples, run as a user runs them: their smoke runs and their bad-input errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).parents[1]


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    # One OpenMP thread: beside other busy processes, spinning OpenMP threads make the tiny networks many times
    # slower, and the kernels are too small to gain from a second thread.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "examples" / f"{name}.py"), *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def check_study(out: Path, classes: list[str], channels: int, bits: int) -> dict:
    """The files every example promises; returns report.json."""
    prepared = out / "prepared"
    assert sorted(p.name for p in prepared.iterdir() if p.is_dir()) == classes
    assert (prepared / "manifest.csv").is_file()
    with Image.open(next((prepared / classes[0]).glob("*.png"))) as image:
        assert image.size == (32, 32)  # letterboxed or cropped to the square smoke size
        assert image.mode == {(1, 16): "I;16", (3, 8): "RGB"}[channels, bits]
    synthetic = out / "synthetic"
    folders = sorted(p.name for p in synthetic.iterdir() if p.is_dir())
    assert folders == [f"class{k}" for k in range(len(classes))]
    counts = [len(list((synthetic / folder).glob("*.png"))) for folder in folders]
    assert min(counts) == max(counts) > 0  # the same number for every class
    assert list((out / "gan").glob("training-*.pt"))
    report = json.loads((out / "selftrain" / "report.json").read_text())
    assert report["class_names"] == classes
    stages = [(stage["kind"], stage["name"]) for stage in report["stages"]]
    assert stages == [("baseline", "real 100%"), ("mix", "mix x1")]
    mix = report["stages"][1]
    # Mix mode adds labelled synthetic images: as many per class as the class has real training images.
    assert sum(mix["synthetic_per_class"]) == mix["real_images"]
    assert (out / "selftrain" / "classifier.pt").is_file()
    return report


def recall_of(report: dict, stage: str, name: str) -> float:
    chosen = next(s for s in report["stages"] if s["name"] == stage)
    return chosen["test"]["recall"][report["class_names"].index(name)]


def test_mammography_smoke(tmp_path: Path) -> None:
    done = run_example("mammography", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    data = tmp_path / "smoke-data"
    assert sorted(p.name for p in data.iterdir()) == ["Benign", "Cancer", "Normal"]
    with Image.open(next((data / "Cancer").glob("*/*.png"))) as raw:
        assert raw.mode == "I;16" and raw.size[0] != raw.size[1]  # 16-bit, non-square, like Mini-DDSM
    report = check_study(tmp_path, ["benign", "malignant", "normal"], channels=1, bits=16)
    lines = re.findall(r"sensitivity \(malignant recall, test\) (real only|selected) \[(.+)\]: ([0-9.]+)", done.stdout)
    assert [line[0] for line in lines] == ["real only", "selected"]
    for _, stage, value in lines:
        assert float(value) == round(recall_of(report, stage, "malignant"), 3)
    assert report["verdict"] in done.stdout


def test_dermoscopy_smoke(tmp_path: Path) -> None:
    done = run_example("dermoscopy", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = check_study(tmp_path, ["BCC", "MEL", "NV"], channels=3, bits=8)
    header = next(line for line in done.stdout.splitlines() if line.startswith("test recall"))
    assert header.split()[2:] == ["MEL", "BCC", "NV"]  # melanoma first
    row = next(line for line in done.stdout.splitlines() if line.startswith("selected"))
    stage = row.split("[")[1].rstrip("]")
    values = [float(v) for v in row.split("[")[0].split()[1:]]
    assert values == [round(recall_of(report, stage, name), 3) for name in ("MEL", "BCC", "NV")]
    options = json.loads((tmp_path / "gan" / "config.json").read_text())["options"]
    assert (options["augment"], options["color"]) == ("ada", False)  # ADA, without colour transforms


def test_mammography_without_class_folders(tmp_path: Path) -> None:
    data = tmp_path / "ddsm"
    (data / "scans").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 6), np.uint16)).save(data / "scans" / "a.png")
    done = run_example("mammography", "--data", str(data), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "expected class folders Normal, Benign, Cancer" in done.stderr and "['scans']" in done.stderr
    assert not (tmp_path / "out" / "prepared").exists()


def test_mammography_missing_folder(tmp_path: Path) -> None:
    done = run_example("mammography", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert f"--data folder {tmp_path / 'absent'} does not exist" in done.stderr


def test_dermoscopy_csv_without_image_column(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    table = tmp_path / "truth.csv"
    table.write_text("name,MEL,NV\nISIC_0000001,1.0,0.0\n")
    done = run_example("dermoscopy", "--data", str(tmp_path / "images"), "--labels", str(table), "--out", str(tmp_path))
    assert done.returncode == 1
    assert f"--labels file {table}: expected the columns ['image']" in done.stderr
