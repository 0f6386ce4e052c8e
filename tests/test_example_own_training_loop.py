"""examples/own_training_loop.py, run as a user runs it: the networks and ADA in a loop without GANTrainer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from PIL import Image

from medgan_aug.nets import StyleGenerator
from tests.test_examples_2d import run_example


def test_smoke_run_trains_and_writes_a_generator(tmp_path: Path) -> None:
    done = run_example("own_training_loop", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines()]
    assert [row["kimg"] for row in rows] == [0.016, 0.032, 0.048, 0.064]
    assert all(math.isfinite(row["loss_G"]) and math.isfinite(row["loss_D"]) for row in rows)
    assert all(math.isfinite(row["r1_penalty"]) and row["r1_penalty"] >= 0 for row in rows)
    # The controller measured r_t from the discriminator's outputs on the real images.
    assert rows[-1]["r_t"] is not None and -1 <= rows[-1]["r_t"] <= 1 and 0 <= rows[-1]["p"] <= 1
    G = StyleGenerator.from_checkpoint(tmp_path / "G_ema.pt")
    with torch.no_grad():
        images = G(torch.randn(2, G.z_dim), None)
    assert images.shape == (2, 1, 16, 16) and torch.isfinite(images).all()
    with Image.open(tmp_path / "fakes.png") as grid:
        assert grid.size == (64, 64)


def test_missing_data_folder(tmp_path: Path) -> None:
    done = run_example("own_training_loop", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and f"{tmp_path / 'missing'}" in done.stderr
