"""examples/score_any_generator.py, run as a user runs it: a generator and a classifier that are not the library's."""

from __future__ import annotations

import json
from pathlib import Path

from medgan_aug.data import read_manifest
from tests.test_examples_2d import run_example


def test_smoke_run_goes_through_synthesize_score_and_selftrain(tmp_path: Path) -> None:
    done = run_example("score_any_generator", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = read_manifest(tmp_path / "synthetic" / "manifest.csv")
    assert len(rows) == 32 and {row["generator"] for row in rows} == {"ConditionalDecoder 16x16"}
    assert sorted({row["label"] for row in rows}) == ["class0", "class1"]
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["n_fake"] == scores["n_real"] == 32 and scores["fid"] > scores["fid_real_floor"]
    report = json.loads((tmp_path / "selftrain" / "report.json").read_text())
    assert report["config"]["model"] == "model_factory:SmallCNN"
    assert [stage["name"] for stage in report["stages"]] == ["real 100%", "mix x1"]
    assert "FID" in done.stdout and "test balanced accuracy" in done.stdout


def test_bad_input(tmp_path: Path) -> None:
    done = run_example("score_any_generator", "--data", str(tmp_path / "missing"), "--out", str(tmp_path))
    assert done.returncode == 2 and "--generator-weights is required with --data" in done.stderr
    weights = tmp_path / "g.pt"
    weights.write_bytes(b"")
    done = run_example(
        "score_any_generator",
        "--data",
        str(tmp_path / "missing"),
        "--generator-weights",
        str(weights),
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 1 and f"dataset folder {tmp_path / 'missing'} does not exist" in done.stderr
