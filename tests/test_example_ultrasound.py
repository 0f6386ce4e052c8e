"""examples/ultrasound_volumes.py runs end to end as a user would run it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ultrasound_volumes.py"


def run_example(*args: str) -> subprocess.CompletedProcess:
    # One OpenMP thread: with other test processes on the same cores, torch's spinning worker threads slow the
    # tiny networks down by an order of magnitude; the results are the same.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(EXAMPLE), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_smoke_run_slices_trains_and_self_trains(tmp_path):
    done = run_example("--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr

    planes = tmp_path / "planes"
    rows = list(csv.DictReader((planes / "manifest.csv").open()))
    # Five phantom patients split 3 / 1 / 1, every plane of a patient in one split.
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["patient_id"], row["split"]) == row["split"]
    assert sorted(split_of.values()) == ["test", "train", "train", "train", "val"]
    for split in ("train", "val", "test"):
        classes = sorted(p.name for p in (planes / split).iterdir() if p.is_dir())
        assert classes == ["coronal", "noise", "sagittal"], split
        for name in classes:
            assert any((planes / split / name).glob("*.png")), (split, name)
    # The noise class holds the first and last 4 slices of each sweep (plus nearly empty planes), no fewer.
    for row in rows:
        index, count = int(row["slice_index"]), int(row["num_slices"])
        if index < 4 or index >= count - 4:
            assert row["label"] == "noise", row

    gan = tmp_path / "gan"
    assert list(gan.glob("training-*.pt")) and (gan / "stats.jsonl").is_file()
    assert json.loads((gan / "config.json").read_text())["config"]["c_dim"] == 0  # unconditional

    report = json.loads((tmp_path / "selftrain" / "report.json").read_text())
    assert report["class_names"] == ["coronal", "noise", "sagittal"]
    assert report["config"]["mode"] == "pseudo" and report["config"]["real_fraction"] == 0.5
    assert report["data"]["pool"]["kind"] == "GeneratorPool"
    rounds = [stage for stage in report["stages"] if stage["kind"] == "round"]
    assert rounds
    assert report["verdict"] in done.stdout
    for stage in rounds:
        counts = ", ".join(f"{c} {n}" for c, n in zip(report["class_names"], stage["added_per_class"], strict=True))
        assert f"{stage['name']}: accepted {counts}" in done.stdout


def test_a_folder_without_nrrd_volumes_is_refused(tmp_path):
    empty = tmp_path / "scans"
    empty.mkdir()
    (empty / "notes.txt").write_text("no volumes here")
    done = run_example(str(empty), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    assert f"no NRRD volumes (.nrrd, .nhdr) in {empty}" in done.stderr
    assert not (tmp_path / "out").exists()
