"""synthesize with a generator that also makes segmentation masks: the paired image + mask layout."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from medgan_aug.data import PairedImageFolderDataset, read_manifest
from medgan_aug.generate import SEED_REGISTRY, generator_inputs, synthesize
from medgan_aug.nets import DCGANGenerator, StyleGenerator
from tests.test_synthetic import SMALL, make_generator


def make_mask_generator(
    c_dim: int = 0, img_channels: int = 2, mask_channels: int = 1, seed: int = 0, arch: str = "dcgan"
) -> DCGANGenerator | StyleGenerator:
    """A tiny generator whose last ``mask_channels`` of ``img_channels`` outputs are masks, its parameters moved off
    their initial values so that images vary and masks are neither empty nor full."""
    torch.manual_seed(seed)
    if arch == "dcgan":
        G = DCGANGenerator(
            z_dim=8, c_dim=c_dim, img_resolution=16, img_channels=img_channels, mask_channels=mask_channels
        )
        # Parameters only: BatchNorm's running variances must stay positive.
        tensors, scale = list(G.named_parameters()), 0.1
    else:
        G = StyleGenerator(c_dim=c_dim, img_channels=img_channels, mask_channels=mask_channels, **SMALL)
        tensors, scale = [*G.named_parameters(), *G.named_buffers()], 0.3
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in tensors:
            if not name.endswith("resample_filter"):
                tensor.add_(scale * torch.randn(tensor.shape, generator=gen))
    return G.eval()


def output_of(G, seeds, labels, psi: float = 1.0) -> torch.Tensor:
    """G's raw float32 output for ``seeds`` in one call, as synthesize makes it with ``batch_size >= len(seeds)``."""
    z, c = generator_inputs(G, seeds, labels, "cpu")
    with torch.no_grad():
        return G(z, c, truncation_psi=psi, noise_mode="const", update_w_avg=False)


def encoded(x: torch.Tensor, levels: int = 255) -> np.ndarray:
    """``clip(x * 0.5 + 0.5, 0, 1)`` (float32, as documented) rounded to ``levels`` in float64, ``[H, W(, 3)]``."""
    unit = np.clip((x.float() * 0.5 + 0.5).numpy(), 0, 1).astype(np.float64)
    pixels = np.rint(unit * levels)
    return pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)


def read_png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def files_under(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("arch", "c_dim", "classes", "psi"),
    [("dcgan", 0, None, 1.0), ("dcgan", 3, [2, 0], 0.7), ("stylegan2", 0, None, 0.7)],
)
def test_pairs_are_the_generator_image_and_thresholded_mask(tmp_path, arch, c_dim, classes, psi):
    G = make_mask_generator(c_dim=c_dim, arch=arch)
    seeds = [7, 3, 11, 100, 2**32 - 1]
    out = synthesize(
        G, 5, tmp_path / "syn", classes=classes, seeds=seeds, truncation_psi=psi, batch_size=5, progress=False
    )
    labels = [None] * 5 if classes is None else [2, 2, 2, 0, 0]
    x = output_of(G, seeds, labels, psi)
    folders = ["generated/" if k is None else f"class{k}/" for k in labels]
    tails = [f"{folder}seed{seed:08d}.png" for folder, seed in zip(folders, seeds, strict=True)]
    # Image and mask mirror each other under images/ and masks/, nothing else is written.
    assert files_under(out) == sorted(["manifest.csv"] + [f"images/{t}" for t in tails] + [f"masks/{t}" for t in tails])

    rows = read_manifest(out / "manifest.csv")
    with open(out / "manifest.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == [
        *("file", "label", "mask", "seed", "class_index", "psi", "noise_mode", "checkpoint", "generator"),
        "foreground",
    ]
    foregrounds = []
    for i, (row, tail, seed, k) in enumerate(zip(rows, tails, seeds, labels, strict=True)):
        image, mask = read_png(out / "images" / tail), Image.open(out / "masks" / tail)
        assert image.dtype == np.uint8 and image.shape == (16, 16)
        np.testing.assert_array_equal(image, encoded(x[i, :1]))
        assert mask.mode == "L"
        expected_mask = (x[i, 1] > 0).numpy()
        np.testing.assert_array_equal(np.asarray(mask), expected_mask.astype(np.uint8) * 255)
        foregrounds.append(expected_mask.mean())
        assert row == {
            "file": f"images/{tail}",
            "label": "generated" if k is None else f"class{k}",
            "seed": str(seed),
            "class_index": "" if k is None else str(k),
            "psi": str(psi),
            "noise_mode": "const",
            "checkpoint": "",
            "generator": f"{type(G).__name__} 16x16",
            "mask": f"masks/{tail}",
            "foreground": row["foreground"],
        }
        assert float(row["foreground"]) == pytest.approx(expected_mask.mean(), abs=5e-5)
    # Real masks: neither empty nor full, and different between seeds.
    assert all(0 < f < 1 for f in foregrounds) and len(set(foregrounds)) > 1


def test_rgb_and_sixteen_bits_apply_to_the_image_only(tmp_path):
    G = make_mask_generator(seed=1)
    x = output_of(G, [0, 1], [None, None])
    rgb = synthesize(G, 2, tmp_path / "a" / "rgb", rgb=True, progress=False)
    wide = synthesize(G, 2, tmp_path / "b" / "wide", bits=16, progress=False)
    for i in range(2):
        name = f"generated/seed{i:08d}.png"
        image = read_png(rgb / "images" / name)
        assert image.shape == (16, 16, 3) and image.dtype == np.uint8
        for channel in range(3):
            np.testing.assert_array_equal(image[:, :, channel], encoded(x[i, :1]))
        image16 = read_png(wide / "images" / name)
        assert image16.dtype == np.uint16
        np.testing.assert_array_equal(image16, encoded(x[i, :1], 65535))
        for folder in (rgb, wide):
            mask = Image.open(folder / "masks" / name)
            assert mask.mode == "L"
            np.testing.assert_array_equal(np.asarray(mask), (x[i, 1] > 0).numpy().astype(np.uint8) * 255)


def test_several_masks_go_to_numbered_folders_and_columns(tmp_path):
    # A colour image and two masks: five outputs.
    G = make_mask_generator(img_channels=5, mask_channels=2, seed=2)
    x = output_of(G, [4, 9], [None, None])
    out = synthesize(G, 2, tmp_path / "syn", seeds=[4, 9], manifest="json", progress=False)
    names = ["generated/seed00000004.png", "generated/seed00000009.png"]
    assert files_under(out) == sorted(
        ["manifest.json"] + [f"{top}/{name}" for top in ("images", "masks", "masks_1") for name in names]
    )
    rows = json.loads((out / "manifest.json").read_text())
    for i, (row, name) in enumerate(zip(rows, names, strict=True)):
        np.testing.assert_array_equal(read_png(out / "images" / name), encoded(x[i, :3]))
        for m, top in enumerate(("masks", "masks_1")):
            suffix = f"_{m}" if m else ""
            expected = (x[i, 3 + m] > 0).numpy()
            np.testing.assert_array_equal(read_png(out / top / name), expected.astype(np.uint8) * 255)
            assert row[f"mask{suffix}"] == f"{top}/{name}"
            assert row[f"foreground{suffix}"] == pytest.approx(expected.mean(), abs=5e-5)
        assert list(row)[:4] == ["file", "label", "mask", "mask_1"]
        assert list(row)[-2:] == ["foreground", "foreground_1"]
    # The two masks are different channels, not one written twice.
    assert not np.array_equal(read_png(out / "masks" / names[0]), read_png(out / "masks_1" / names[0]))


def test_pairs_share_the_seed_registry_and_are_written_all_or_nothing(tmp_path, monkeypatch):
    G = make_mask_generator(c_dim=2, seed=3)
    first = synthesize(G, 3, tmp_path / "sets" / "train", classes=1, progress=False)
    second = synthesize(G, 2, tmp_path / "sets" / "test", classes=1, progress=False)
    assert [int(r["seed"]) for r in read_manifest(second / "manifest.csv")] == [3, 4]
    with pytest.raises(ValueError, match="already used"):
        synthesize(G, 1, tmp_path / "sets" / "other", classes=1, seeds=[2], progress=False)

    # A failure in the second batch leaves the existing folder and the registry as they were.
    before = files_under(first), (tmp_path / "sets" / SEED_REGISTRY).read_text()
    calls = []
    real_forward = G.forward

    def failing_forward(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(G, "forward", failing_forward)
    with pytest.raises(RuntimeError, match="out of memory"):
        synthesize(G, 4, first, classes=0, batch_size=2, overwrite=True, progress=False)
    assert (files_under(first), (tmp_path / "sets" / SEED_REGISTRY).read_text()) == before
    assert not list((tmp_path / "sets").glob(".train.tmp-*"))


def test_bad_mask_generators_are_refused(tmp_path):
    two_channel_image = make_mask_generator(img_channels=3, mask_channels=1)
    with pytest.raises(ValueError, match=r"2-channel images \(besides 1 mask channel\(s\)\); only 1 or 3"):
        synthesize(two_channel_image, 1, tmp_path / "a", progress=False)
    colour = make_mask_generator(img_channels=4, mask_channels=1)
    with pytest.raises(ValueError, match="bits=16 needs grayscale"):
        synthesize(colour, 1, tmp_path / "b", bits=16, progress=False)
    assert not list(tmp_path.iterdir())


def test_image_only_generators_keep_the_flat_layout(tmp_path):
    G = make_generator(c_dim=2)
    out = synthesize(G, 2, tmp_path / "syn", classes=[1], progress=False)
    assert files_under(out) == ["class1/seed00000000.png", "class1/seed00000001.png", "manifest.csv"]
    assert "mask" not in read_manifest(out / "manifest.csv")[0]


def test_generated_pairs_read_back_as_a_paired_dataset(tmp_path):
    G = make_mask_generator(c_dim=2, seed=4)
    seeds = [5, 6, 7, 8]
    out = synthesize(G, 4, tmp_path / "syn", classes=[0, 1], seeds=seeds, progress=False)
    dataset = PairedImageFolderDataset(out / "images", out / "masks", 16)
    assert dataset.mask_channels == 1 and dataset.class_names == ["class0", "class1"]
    x = output_of(G, seeds, [0, 0, 1, 1])
    for i in range(4):
        item, label = dataset[i]
        assert torch.equal(item[1], torch.where(x[i, 1] > 0, 1.0, -1.0))
        assert int(label.argmax()) == [0, 0, 1, 1][i]
