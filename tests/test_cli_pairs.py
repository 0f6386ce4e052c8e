"""Image + mask pairs through the command line: slice with label volumes, train on pairs, generate pairs."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from medgan_aug.cli import main
from medgan_aug.data import PairedImageFolderDataset, Volume, read_manifest, write_nrrd


def write_volumes(root, count: int = 2, size: int = 24) -> list[str]:
    """Volumes with a bright box and its label volume (case<k>_seg.nrrd beside case<k>.nrrd)."""
    root.mkdir(parents=True)
    paths = []
    rng = np.random.default_rng(0)
    for k in range(count):
        label = np.zeros((size, size, size), np.float32)
        label[6 + k : 14 + k, 4:12, 8:20] = 1
        data = (label * 0.8 + rng.random(label.shape, dtype=np.float32) * 0.2).astype(np.float32)
        geometry = {"spacing": (1.0, 1.0, 1.0), "directions": np.eye(3), "origin": (0.0, 0.0, 0.0)}
        write_nrrd(Volume(data=data, source=f"case{k}", **geometry), root / f"case{k}.nrrd")
        write_nrrd(Volume(data=label, source=f"case{k}_seg", **geometry), root / f"case{k}_seg.nrrd")
        paths.append(str(root / f"case{k}.nrrd"))
    return paths


def test_slice_train_and_generate_pairs(tmp_path, capsys):
    volumes = write_volumes(tmp_path / "volumes")
    sliced = tmp_path / "tiles"
    args = ["slice", *volumes, "--out", str(sliced), "--views", "axial", "--size", "24", "--tile", "16"]
    args += ["--overlap", "8", "--mask-suffix", "_seg", "--write-masks", "--no-progress"]
    assert main(args) == 0
    rows = read_manifest(sliced / "manifest.csv")
    assert rows and all(row["mask"].startswith("masks/") and row["file"].startswith("images/") for row in rows)
    for row in rows[:10]:
        image = np.asarray(Image.open(sliced / row["file"]))
        mask = np.asarray(Image.open(sliced / row["mask"]))
        assert set(np.unique(mask)) <= {0, 255} and image.shape == mask.shape
        # The box is bright: every foreground pixel is brighter than every background pixel.
        if 0 < mask.mean() < 255:
            assert image[mask == 255].min() > image[mask == 0].max()

    run = tmp_path / "run"
    train = ["train", "--data", str(sliced / "images"), "--masks", str(sliced / "masks"), "--outdir", str(run)]
    train += ["--resolution", "16", "--arch", "dcgan", "--cmax", "16", "--batch", "4", "--kimg", "0.008"]
    train += ["--tick", "0.004", "--snap", "1", "--workers", "0"]
    assert main(train) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["mask_channels"] == 1 and config["dataset"]["mask_channels"] == 1
    assert Image.open(run / "reals.png").size[0] == 16 * 16  # 8 image + mask pairs per row

    checkpoint = sorted(run.glob("training-*.pt"))[-1]
    out = tmp_path / "synthetic"
    capsys.readouterr()
    assert main(["generate", "--network", str(checkpoint), "--n", "3", "--out", str(out), "--no-progress"]) == 0
    assert "image + mask pairs" in capsys.readouterr().out
    pairs = PairedImageFolderDataset(out / "images", out / "masks", 16)
    assert len(pairs) == 3 and pairs.mask_channels == 1


def test_pair_errors_on_the_command_line(tmp_path, capsys):
    volumes = write_volumes(tmp_path / "volumes", count=1)
    assert main(["slice", *volumes, "--out", str(tmp_path / "t"), "--write-masks", "--no-progress"]) == 1
    assert "--write-masks needs the label volumes: give --mask-suffix" in capsys.readouterr().err
    images, masks = tmp_path / "images" / "a", tmp_path / "masks" / "a"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(images / "x.png")
    levels = np.array([0, 100, 200], np.uint8)[np.arange(16) % 3]
    Image.fromarray(np.tile(levels, (16, 1))).save(masks / "x.png")
    args = ["train", "--data", str(tmp_path / "images"), "--masks", str(tmp_path / "masks")]
    args += ["--outdir", str(tmp_path / "run"), "--resolution", "16", "--arch", "dcgan", "--kimg", "0.004"]
    assert main(args) == 1
    assert "masks/a/x.png is not binary: values 0, 100, 200" in capsys.readouterr().err
