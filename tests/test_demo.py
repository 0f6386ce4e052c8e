"""The demo workflow: phantom volumes and ``medgan-aug demo`` end to end on the smoke preset."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from medgan_aug import read_volume, threads
from medgan_aug.cli import main
from medgan_aug.data import VolumeSlicer
from medgan_aug.demo import (
    PHANTOM_SPACING,
    PHANTOM_VENTRICLE_CENTRES,
    DemoSettings,
    make_phantom_volumes,
    run_demo,
)
from medgan_aug.threads import CpuLoad, CpuLoadMeter


def _around(data: np.ndarray, x: float, y: float, z: float) -> float:
    """Mean intensity near head coordinates ``(x, y, z)`` (-1 to 1 across each axis)."""
    i, j, k = (round((u + 1) / 2 * (n - 1)) for u, n in zip((x, y, z), data.shape, strict=True))
    # One voxel in x (the ventricles are narrow there), 3 x 3 in y and z to average the speckle down.
    return float(data[i, j - 1 : j + 2, k - 1 : k + 2].mean())


def test_phantom_geometry_round_trips_through_nrrd(tmp_path: Path) -> None:
    paths = make_phantom_volumes(tmp_path / "volumes", n=2, size=30, seed=1)
    assert [p.name for p in paths] == ["patient000.nrrd", "patient001.nrrd"]
    volume = read_volume(paths[1])
    # 30 voxels of 0.6 mm across, and the same 18 mm in 0.9 mm voxels along axis 2.
    assert volume.shape == (30, 30, 20)
    np.testing.assert_allclose(volume.spacing, PHANTOM_SPACING)
    assert volume.data.dtype == np.float32
    assert volume.data.min() >= 0.0 and volume.data.max() <= 1.0


def test_phantoms_are_in_the_patient_frame(tmp_path: Path) -> None:
    # Axis 0 runs to the patient's right (the larger, left ventricle is at negative x), 1 anterior, 2 superior.
    volume = read_volume(make_phantom_volumes(tmp_path, n=1, size=16, seed=0)[0])
    assert volume.space == "RAS" and volume.orientation_code() == "RAS"
    slicer = VolumeSlicer(["coronal", "sagittal"], size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        planes = list(slicer.planes(volume))
    assert {(p.view, p.normal, p.orientation) for p in planes} == {("coronal", "P", "RAS"), ("sagittal", "L", "RAS")}


def test_phantoms_are_deterministic_per_seed(tmp_path: Path) -> None:
    first = read_volume(make_phantom_volumes(tmp_path / "a", n=1, size=20, seed=5)[0]).data
    again = read_volume(make_phantom_volumes(tmp_path / "b", n=1, size=20, seed=5)[0]).data
    other = read_volume(make_phantom_volumes(tmp_path / "c", n=1, size=20, seed=6)[0]).data
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 0.01


def test_ventricles_are_darker_than_brain_tissue(tmp_path: Path) -> None:
    for path in make_phantom_volumes(tmp_path, n=4, size=48, seed=2):
        data = read_volume(path).data
        tissue = _around(data, 0.25, 0.0, -0.25)
        for centre in PHANTOM_VENTRICLE_CENTRES:
            assert _around(data, *centre) < 0.5 * tissue, (path.name, centre)
        # Outside the head the corner is background, darker still than tissue.
        assert data[:3, :3, :3].mean() < 0.5 * tissue


def test_coronal_and_sagittal_planes_differ(tmp_path: Path) -> None:
    volume = read_volume(make_phantom_volumes(tmp_path, n=1, size=48, seed=0)[0])
    slicer = VolumeSlicer(["coronal", "sagittal"], size=32)
    coronal = slicer.sample(volume, "coronal")
    sagittal = slicer.sample(volume, "sagittal")
    mid_c, mid_s = len(coronal) // 2, len(sagittal) // 2
    across_views = np.abs(coronal[mid_c] - sagittal[mid_s]).mean()
    # Neighbouring planes of one view differ by speckle and a little anatomy only.
    within_view = np.abs(coronal[mid_c] - coronal[mid_c + 1]).mean()
    assert across_views > 1.5 * within_view


def test_phantom_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n must be"):
        make_phantom_volumes(tmp_path, n=0)
    with pytest.raises(ValueError, match="size must be"):
        make_phantom_volumes(tmp_path, size=8)


def _metric(output: str, name: str) -> float:
    match = re.search(rf"^\| {re.escape(name)}[^|]*\| ([^|]+) \|$", output, flags=re.MULTILINE)
    assert match is not None, f"{name} not in the printed table"
    return float(match.group(1))


def test_smoke_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run")
    assert main(["demo", "--preset", "smoke", "--out", str(out), "--no-progress", "--overwrite"]) == 0
    printed = capsys.readouterr().out

    assert not (out / "stale.txt").exists()
    for split in ("train", "val", "test"):
        assert sorted(p.name for p in (out / "planes" / split).iterdir() if p.is_dir()) == [
            "coronal",
            "noise",
            "sagittal",
        ]
    synthetic = sorted(p.name for p in (out / "synthetic").iterdir() if p.is_dir())
    assert synthetic == ["class0", "class1", "class2"]
    for folder in synthetic:
        assert len(list((out / "synthetic" / folder).glob("*.png"))) == 12
    for name in ("reals.png", "loss.png", "augment.png"):
        assert (out / "training" / name).is_file()
    report = json.loads((out / "selftrain" / "report.json").read_text())
    assert report["class_names"] == ["coronal", "noise", "sagittal"]

    fid = _metric(printed, "FID synthetic vs real test")
    kid = _metric(printed, "KID synthetic vs real test (mean)")
    assert math.isfinite(fid) and fid >= 0 and math.isfinite(kid)
    # FID is read against its interval and the real-vs-real floor at one size.
    low, high = (
        _metric(printed, "FID 95% bootstrap interval, low"),
        _metric(printed, "FID 95% bootstrap interval, high"),
    )
    assert 0 <= low <= high and _metric(printed, "FID real vs real (two halves of real test): the floor") >= 0
    assert _metric(printed, "images per side of the floor") >= 2
    # The copying audit sits beside them: a z-score and two fractions, the held-out one its floor.
    zu = _metric(printed, "data-copying Z_U vs the GAN's training planes")
    flagged = _metric(printed, "synthetic images flagged as likely copies of training planes")
    floor = _metric(printed, "held-out (val) planes the same rule flags: the floor")
    assert math.isfinite(zu) and 0 <= flagged <= 1 and 0 <= floor <= 1
    # Self-training: every stage with the preset's seeds, the baseline as their mean, the verdict with its interval.
    assert report["config"]["repeats"] == 2 and all(len(st["per_seed"]) == 2 for st in report["stages"] if st["val"])
    baseline = _metric(printed, "baseline (real-only) test balanced accuracy, mean over seeds")
    assert baseline == pytest.approx(report["stages"][0]["summary"]["test"]["balanced_accuracy"]["mean"], abs=5e-4)
    comparison = report["comparison"]
    if comparison is not None:
        assert comparison["verdict"] in ("helped", "hurt", "no_difference")
        assert _metric(printed, "its 95% bootstrap interval (patients and seeds), low") == pytest.approx(
            comparison["ci_low"], abs=5e-4
        )
    assert report["verdict"].split(":")[0] in printed
    assert f"report: {out / 'selftrain' / 'report.md'}" in printed
    assert (out / "summary.md").read_text().count("FID") >= 2


class _OneCoreTaken(CpuLoadMeter):
    """Another process keeps one of two cores busy all along."""

    def __init__(self) -> None:
        pass

    @property
    def available(self) -> bool:
        return True

    def read(self) -> CpuLoad:
        return CpuLoad(2, 1.0, 1.9, 0.3)


def test_busy_machine_warning_expected_duration_and_threads_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(threads, "CpuLoadMeter", _OneCoreTaken)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        summary = run_demo(DemoSettings.preset("smoke", tmp_path / "demo"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    printed = capsys.readouterr().err
    busy, expected, used = summary.notes
    assert busy.startswith("this machine is busy: other processes use 1.0 of 2 cores (load average 1.9)")
    assert "uses 1 torch thread(s)" in busy
    assert re.match(r"expected duration on this machine: about \d+ s in all \(GAN training at \d+ img/s on 1", expected)
    assert used == "torch threads: auto, 1"
    # Shown as they happen, and kept in the summary file.
    assert f"medgan-aug demo: {busy}" in printed and f"medgan-aug demo: {expected}" in printed
    assert all(note in (tmp_path / "demo" / "summary.md").read_text() for note in summary.notes)


def test_non_empty_out_dir_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["demo", "--preset", "smoke", "--out", str(tmp_path), "--no-progress"]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_overwrite_refuses_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="working directory"):
        run_demo(DemoSettings.preset("smoke", ".", overwrite=True, progress=False))
    assert (tmp_path / "keep.txt").is_file()


def test_bad_presets_and_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="preset must be one of smoke, default, large"):
        DemoSettings.preset("huge", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--preset", "huge", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="image_size must be a power of two"):
        DemoSettings.preset("smoke", tmp_path, image_size=24)
    with pytest.raises(ValueError, match="unknown DemoSettings fields"):
        DemoSettings.preset("smoke", tmp_path, epochs=3)
    with pytest.raises(ValueError, match="kimg must be a positive number"):
        DemoSettings.preset("smoke", tmp_path, kimg=0)
    with pytest.raises(ValueError, match="threads must be a positive integer or 'auto'"):
        DemoSettings.preset("smoke", tmp_path, threads=0)
    assert DemoSettings.preset("large", tmp_path, seed=4).image_size == 64
