"""Writing synthetic sets without the images that copy training images: CopyScreen through synthesize."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from medgan_aug.cli import main
from medgan_aug.data import read_manifest
from medgan_aug.generate import SEED_REGISTRY, Screening, synthesize
from medgan_aug.metrics import CopyScreen, FIDScorer
from tests.test_synthetic import make_generator

SIDE = 8
TRAIN = torch.rand(40, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0)) * 2 - 1


class SometimesCopies:
    """A conditional generator that returns a training image (plus faint noise) when its latent's first value is
    positive, and a new image made from the latent otherwise: about half of all seeds give copies."""

    z_dim, c_dim, img_resolution, img_channels = 80, 2, SIDE, 1

    def __init__(self, always: bool = False) -> None:
        self.always = always

    def __call__(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        fresh = torch.tanh(z[:, 1 : 1 + SIDE * SIDE]).reshape(-1, 1, SIDE, SIDE)
        index = (z[:, 1].abs() * 1000).long() % len(TRAIN)
        copies = (TRAIN[index] + 0.01 * z[:, 2 : 2 + SIDE * SIDE].reshape(-1, 1, SIDE, SIDE)).clamp(-1, 1)
        copy = torch.ones(len(z), dtype=torch.bool) if self.always else z[:, 0] > 0
        return torch.where(copy[:, None, None, None], copies, fresh)


@pytest.fixture(scope="module")
def screen() -> CopyScreen:
    return CopyScreen(TRAIN, FIDScorer(extractor="pixels"))


def seeds_copying(seeds) -> list[bool]:
    return [bool(np.random.RandomState(seed).randn(1, 80)[0, 0] > 0) for seed in seeds]


def test_copies_are_dropped_and_replaced_within_their_class(tmp_path, screen):
    out = synthesize(SometimesCopies(), 12, tmp_path / "sets" / "synthetic", classes=[0, 1], screen=screen,
                     batch_size=5, progress=False)  # fmt: skip
    rows = read_manifest(out / "manifest.csv")
    kept = [row for row in rows if row["dropped"] == "False"]
    dropped = [row for row in rows if row["dropped"] == "True"]
    assert len(kept) == 12 and dropped
    assert Counter(row["class_index"] for row in kept) == {"0": 6, "1": 6}
    # Exactly the seeds whose latent makes a copy were dropped; their rows name no file.
    seeds = [int(row["seed"]) for row in rows]
    assert [row["dropped"] == "True" for row in rows] == seeds_copying(seeds)
    assert all(row["file"] == "" for row in dropped) and all((out / row["file"]).is_file() for row in kept)
    assert all(float(row["copy_ratio"]) < 0.5 for row in dropped)
    assert all(float(row["copy_ratio"]) >= 0.5 for row in kept)
    assert all(row["nearest_train"].startswith("#") and float(row["nearest_train_distance"]) >= 0 for row in rows)
    # Every seed drawn, kept or dropped, is recorded: the next set starts after them.
    assert sorted(seeds) == list(range(len(rows)))
    registry = json.loads((tmp_path / "sets" / SEED_REGISTRY).read_text())
    assert registry["folders"]["synthetic"] == {"": [[0, len(rows)]]}
    sibling = synthesize(make_generator(), 2, tmp_path / "sets" / "next", progress=False)
    assert [int(row["seed"]) for row in read_manifest(sibling / "manifest.csv")] == [len(rows), len(rows) + 1]


def test_a_generator_that_only_copies_writes_nothing(tmp_path, screen):
    with pytest.raises(ValueError, match=r"dropped 40 of the 40 images generated so far, before 10 passed"):
        synthesize(SometimesCopies(always=True), 10, tmp_path / "synthetic", classes=0, screen=screen,
                   batch_size=10, progress=False)  # fmt: skip
    assert not (tmp_path / "synthetic").exists() and not (tmp_path / SEED_REGISTRY).exists()


def test_screens_are_checked(tmp_path, screen):
    with pytest.raises(ValueError, match="leave seeds to their default"):
        synthesize(SometimesCopies(), 2, tmp_path / "a", classes=0, seeds=[1, 2], screen=screen, progress=False)

    def keeps_nothing_properly(images: torch.Tensor) -> Screening:
        return Screening(keep=np.ones(len(images) + 1, dtype=bool))

    with pytest.raises(ValueError, match="must return keep as a bool array of 2 values"):
        synthesize(SometimesCopies(), 2, tmp_path / "b", classes=0, batch_size=2, screen=keeps_nothing_properly,
                   progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="the training set has 1 image"):
        CopyScreen(TRAIN[:1], FIDScorer(extractor="pixels"))
    with pytest.raises(TypeError, match="scorer must be a FIDScorer"):
        CopyScreen(TRAIN, "pixels")
    wide = CopyScreen(torch.rand(5, 1, 16, 16) * 2 - 1, FIDScorer(extractor="pixels"))
    with pytest.raises(ValueError, match="give 192 features but the training images 768"):
        wide(torch.zeros(2, 1, SIDE, SIDE, dtype=torch.uint8))


def test_command_line_generate_excludes_copies(tmp_path, capsys):
    G = make_generator()
    checkpoint = G.save(tmp_path / "G.pt")
    train = tmp_path / "train.pt"
    torch.save(torch.rand(30, 1, G.img_resolution, G.img_resolution) * 2 - 1, train)
    out = tmp_path / "synthetic"
    base = ["generate", "--network", str(checkpoint), "--n", "6", "--out", str(out), "--no-progress"]
    assert main([*base, "--exclude-copies"]) == 1
    assert "--exclude-copies needs --train" in capsys.readouterr().err
    assert main([*base, "--train", str(train)]) == 1
    assert "--train apply to --exclude-copies only" in capsys.readouterr().err
    assert main([*base, "--exclude-copies", "--train", str(train), "--extractor", "pixels"]) == 0
    rows = read_manifest(out / "manifest.csv")
    kept = [row for row in rows if row["dropped"] == "False"]
    assert len(kept) == 6 and {"nearest_train", "nearest_train_distance", "copy_ratio"} <= set(rows[0])
