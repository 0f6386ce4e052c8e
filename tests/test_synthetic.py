"""Synthetic image folders from a generator: seeds, layout, manifest, seed bookkeeping, checkpoints, CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from medgan_aug.cli import main
from medgan_aug.data import ImageFolderDataset, read_manifest
from medgan_aug.generate import SEED_REGISTRY, checkpoint_hash, load_generator, synthesize
from medgan_aug.nets import StyleDiscriminator, StyleGenerator
from medgan_aug.nets.errors import CheckpointError
from medgan_aug.train.trainer import TRAINING_FORMAT
from tests.conftest import SG2ADA

SMALL = {
    "z_dim": 32,
    "w_dim": 32,
    "img_resolution": 16,
    "mapping_kwargs": {"num_layers": 2},
    "synthesis_kwargs": {"channel_base": 128, "channel_max": 16},
}


def make_generator(c_dim: int = 0, img_channels: int = 1, seed: int = 0) -> StyleGenerator:
    """A tiny generator with every tensor moved off its initial value (so truncation and labels matter)."""
    torch.manual_seed(seed)
    G = StyleGenerator(c_dim=c_dim, img_channels=img_channels, **SMALL)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*G.named_parameters(), *G.named_buffers()]:
            if not name.endswith("resample_filter"):
                tensor.add_(0.3 * torch.randn(tensor.shape, generator=gen))
    return G.eval()


def reference_image(G: StyleGenerator, seed: int, k: int | None, psi: float) -> np.ndarray:
    """G called directly on StyleGAN2-ADA generate.py's latent for ``seed``, mapped to [0, 1], float64."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).float()
    c = None if k is None else torch.nn.functional.one_hot(torch.tensor([k]), G.c_dim).float()
    with torch.no_grad():
        x = G(z, c, truncation_psi=psi, noise_mode="const")[0].double()
    return (x * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy()


def read_png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def seeds_of(folder) -> list[int]:
    return [int(row["seed"]) for row in read_manifest(folder / "manifest.csv")]


@pytest.fixture(scope="module")
def G_cond() -> StyleGenerator:
    return make_generator(c_dim=3)


@pytest.fixture(scope="module")
def G_uncond() -> StyleGenerator:
    return make_generator(c_dim=0, seed=1)


# --- images ------------------------------------------------------------------------------------


def test_each_image_is_the_generator_output_for_its_seed_and_class(tmp_path, G_cond):
    seeds = [7, 3, 11, 100, 2**32 - 1]
    out = synthesize(
        G_cond,
        5,
        tmp_path / "syn",
        classes=[0, 2],
        seeds=seeds,
        truncation_psi=0.7,
        bits=16,
        batch_size=2,
        progress=False,
    )
    rows = read_manifest(out / "manifest.csv")
    # n // 2 per class, the remainder to the first class, in the order the seeds are given.
    assert [(int(r["seed"]), r["label"]) for r in rows] == [
        (7, "class0"),
        (3, "class0"),
        (11, "class0"),
        (100, "class2"),
        (2**32 - 1, "class2"),
    ]
    for row in rows:
        seed, k = int(row["seed"]), int(row["class_index"])
        pixels = read_png(out / row["file"])
        assert pixels.dtype == np.uint16 and pixels.shape == (16, 16)
        expected = reference_image(G_cond, seed, k, 0.7)[:, :, 0]
        # One 16-bit level for the rounding, plus float noise between batched and single calls.
        np.testing.assert_allclose(pixels / 65535, expected, atol=1.5 / 65535, rtol=0)
    # The label and truncation really reach the generator: other settings give other images.
    first = read_png(out / rows[0]["file"]) / 65535
    assert np.abs(first - reference_image(G_cond, 7, 1, 0.7)[:, :, 0]).max() > 0.01
    assert np.abs(first - reference_image(G_cond, 7, 0, 1.0)[:, :, 0]).max() > 0.01


def test_same_seeds_reproduce_the_same_files(tmp_path, G_cond):
    a = synthesize(G_cond, 4, tmp_path / "one" / "a", classes=1, seeds=[5, 6, 7, 8], batch_size=3, progress=False)
    b = synthesize(G_cond, 4, tmp_path / "two" / "b", classes=1, seeds=[5, 6, 7, 8], batch_size=3, progress=False)
    for name in ("seed00000005", "seed00000008"):
        assert (a / "class1" / f"{name}.png").read_bytes() == (b / "class1" / f"{name}.png").read_bytes()
    # Another batch size may move a pixel by one level, no more.
    c = synthesize(G_cond, 1, tmp_path / "three" / "c", classes=1, seeds=[8], batch_size=1, progress=False)
    diff = read_png(a / "class1/seed00000008.png").astype(int) - read_png(c / "class1/seed00000008.png").astype(int)
    assert np.abs(diff).max() <= 1


def test_folder_layout_and_manifest_fields(tmp_path, G_uncond):
    ckpt = G_uncond.save(tmp_path / "g.pt")
    out = synthesize(
        G_uncond, 3, tmp_path / "sets" / "syn", truncation_psi=0.5, checkpoint=ckpt, noise_mode="none", progress=False
    )
    assert out == (tmp_path / "sets" / "syn").absolute()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "images",
        "images/seed00000000.png",
        "images/seed00000001.png",
        "images/seed00000002.png",
        "manifest.csv",
    ]
    expected_hash = hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16]
    assert read_manifest(out / "manifest.csv")[0] == {
        "file": "images/seed00000000.png",
        "label": "images",
        "seed": "0",
        "class_index": "",
        "psi": "0.5",
        "noise_mode": "none",
        "checkpoint": expected_hash,
        "generator": "StyleGenerator 16x16",
    }
    assert not list(out.parent.glob(".syn.tmp-*"))
    dataset = ImageFolderDataset(out, 16, labels=None)
    assert len(dataset) == 3 and dataset.num_channels == 1


def test_json_manifest_and_class_folders_load_as_a_labelled_dataset(tmp_path, G_cond):
    out = synthesize(G_cond, 6, tmp_path / "syn", classes=[2, 0], manifest="json", progress=False)
    rows = read_manifest(out / "manifest.json")
    assert [(row["seed"], row["class_index"]) for row in rows] == [(0, 2), (1, 2), (2, 2), (3, 0), (4, 0), (5, 0)]
    dataset = ImageFolderDataset(out, 16, labels="folders")
    assert dataset.class_names == ["class0", "class2"]


def test_a_single_class_for_every_image(tmp_path, G_cond):
    out = synthesize(G_cond, 4, tmp_path / "syn", classes=2, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["class2", "manifest.csv"]
    assert len(list((out / "class2").iterdir())) == 4


def test_rgb_output_repeats_the_grayscale_image(tmp_path, G_uncond):
    gray = synthesize(G_uncond, 2, tmp_path / "a" / "gray", progress=False)
    rgb = synthesize(G_uncond, 2, tmp_path / "b" / "rgb", rgb=True, progress=False)
    pixels = read_png(rgb / "images/seed00000001.png")
    assert pixels.shape == (16, 16, 3) and pixels.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(pixels[:, :, channel], read_png(gray / "images/seed00000001.png"))


def test_colour_generator_writes_colour_images(tmp_path):
    G = make_generator(img_channels=3, seed=2)
    out = synthesize(G, 2, tmp_path / "syn", seeds=[4, 9], progress=False)
    pixels = read_png(out / "images/seed00000009.png")
    assert pixels.shape == (16, 16, 3)
    np.testing.assert_allclose(pixels / 255, reference_image(G, 9, None, 1.0), atol=1.5 / 255, rtol=0)
    with pytest.raises(ValueError, match="bits=16 needs grayscale"):
        synthesize(G, 2, tmp_path / "syn16", bits=16, progress=False)


def test_sixteen_bits_agrees_with_eight_bits(tmp_path, G_uncond):
    eight = synthesize(G_uncond, 1, tmp_path / "a" / "s", progress=False)
    sixteen = synthesize(G_uncond, 1, tmp_path / "b" / "s", bits=16, progress=False)
    wide = read_png(sixteen / "images/seed00000000.png")
    assert wide.dtype == np.uint16
    # Finer levels: the 16-bit image rounds to the 8-bit one.
    assert len(np.unique(wide)) > len(np.unique(read_png(eight / "images/seed00000000.png")))
    np.testing.assert_allclose(wide / 65535, read_png(eight / "images/seed00000000.png") / 255, atol=0.5 / 255 + 1e-4)


# --- seed bookkeeping ---------------------------------------------------------------------------


def test_sets_side_by_side_get_disjoint_seeds(tmp_path, G_uncond):
    ckpt = G_uncond.save(tmp_path / "g.pt")
    train = synthesize(G_uncond, 5, tmp_path / "sets" / "train", checkpoint=ckpt, batch_size=2, progress=False)
    test = synthesize(G_uncond, 3, tmp_path / "sets" / "test", checkpoint=ckpt, progress=False)
    assert seeds_of(train) == [0, 1, 2, 3, 4]
    assert seeds_of(test) == [5, 6, 7]
    registry = json.loads((tmp_path / "sets" / SEED_REGISTRY).read_text())
    key = checkpoint_hash(ckpt)
    assert registry["folders"] == {"train": {key: [[0, 5]]}, "test": {key: [[5, 8]]}}
    # Another checkpoint has its own seeds; a set of unknown origin too.
    other = make_generator(seed=5)
    other_ckpt = other.save(tmp_path / "other.pt")
    assert seeds_of(synthesize(other, 2, tmp_path / "sets" / "o", checkpoint=other_ckpt, progress=False)) == [0, 1]
    assert seeds_of(synthesize(G_uncond, 2, tmp_path / "sets" / "anon", progress=False)) == [0, 1]
    # Regenerating a folder frees its old seeds and still avoids its siblings'.
    again = synthesize(G_uncond, 2, train, checkpoint=ckpt, overwrite=True, progress=False)
    assert seeds_of(again) == [8, 9]
    registry = json.loads((tmp_path / "sets" / SEED_REGISTRY).read_text())
    assert registry["folders"]["train"] == {key: [[8, 10]]}
    assert registry["folders"]["test"] == {key: [[5, 8]]}


def test_explicit_seeds_used_by_a_sibling_are_refused(tmp_path, G_uncond):
    synthesize(G_uncond, 10, tmp_path / "train", progress=False)
    with pytest.raises(ValueError, match=r"seeds 8-9 \(2 seeds\).*'.*train'.*allow_seed_reuse"):
        synthesize(G_uncond, 4, tmp_path / "test", seeds=[20, 8, 9, 30], progress=False)
    assert not (tmp_path / "test").exists()
    out = synthesize(G_uncond, 4, tmp_path / "test", seeds=[20, 8, 9, 30], allow_seed_reuse=True, progress=False)
    assert seeds_of(out) == [20, 8, 9, 30]
    folders = json.loads((tmp_path / SEED_REGISTRY).read_text())["folders"]
    assert folders["test"] == {"": [[8, 10], [20, 21], [30, 31]]}
    # Default seeds continue after the highest seed in use.
    assert seeds_of(synthesize(G_uncond, 2, tmp_path / "more", progress=False)) == [31, 32]


def test_a_failed_run_leaves_no_folder_and_no_seed_record(tmp_path, G_uncond, monkeypatch):
    calls = []
    forward = G_uncond.forward

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return forward(*args, **kwargs)

    monkeypatch.setattr(G_uncond, "forward", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        synthesize(G_uncond, 4, tmp_path / "syn", batch_size=2, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_damaged_registry_is_reported_not_overwritten(tmp_path, G_uncond):
    (tmp_path / SEED_REGISTRY).write_text("{not json")
    with pytest.raises(ValueError, match=r"seed registry .* is damaged"):
        synthesize(G_uncond, 1, tmp_path / "syn", progress=False)
    assert (tmp_path / SEED_REGISTRY).read_text() == "{not json"


# --- bad arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": 1}, "unconditional"),
        ({"n": 0}, "n must be a positive integer"),
        ({"seeds": [1, 2]}, "2 seeds for n=3"),
        ({"seeds": [1, 2, 1]}, "distinct; repeated: \\[1\\]"),
        ({"seeds": [1, 2, -3]}, "seeds must be integers in"),
        ({"seeds": [1, 2, 2**32]}, "seeds must be integers in"),
        ({"noise_mode": "fixed"}, "noise_mode"),
        ({"batch_size": 0}, "batch_size"),
        ({"truncation_psi": float("nan")}, "truncation_psi"),
        ({"bits": 12}, "bits must be 8 or 16"),
        ({"bits": 16, "rgb": True}, "bits=16 needs grayscale"),
    ],
)
def test_bad_arguments_raise_before_writing(tmp_path, G_uncond, kwargs, message):
    args = {"n": 3, **kwargs}
    n = args.pop("n")
    with pytest.raises(ValueError, match=message):
        synthesize(G_uncond, n, tmp_path / "syn", progress=False, **args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (None, "conditional \\(c_dim=3\\): pass classes"),
        (3, "class 3 is out of range"),
        ([0, -1], "class -1"),
        ([], "empty"),
    ],
)
def test_bad_classes_for_a_conditional_generator(tmp_path, G_cond, classes, message):
    with pytest.raises(ValueError, match=message):
        synthesize(G_cond, 2, tmp_path / "syn", classes=classes, progress=False)


def test_non_empty_output_folder_needs_overwrite(tmp_path, G_uncond):
    (tmp_path / "syn").mkdir()
    (tmp_path / "syn" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        synthesize(G_uncond, 1, tmp_path / "syn", progress=False)
    assert (tmp_path / "syn" / "keep.txt").exists()


# --- checkpoints ------------------------------------------------------------------------------------


def test_checkpoint_hash_is_the_start_of_the_sha256(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(bytes(range(256)) * 5000)
    assert checkpoint_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    with pytest.raises(FileNotFoundError, match=r"missing.pt"):
        checkpoint_hash(tmp_path / "missing.pt")


def same_images(a: StyleGenerator, b: StyleGenerator, c_dim: int) -> bool:
    z = torch.randn(3, a.z_dim, generator=torch.Generator().manual_seed(0))
    c = torch.eye(c_dim)[[0, 1, 2]] if c_dim else None
    with torch.no_grad():
        return torch.equal(a(z, c, noise_mode="const"), b(z, c, noise_mode="const"))


def test_load_generator_from_a_network_checkpoint(tmp_path, G_cond):
    loaded = load_generator(G_cond.save(tmp_path / "g.pt"))
    assert isinstance(loaded, StyleGenerator) and not loaded.training
    assert same_images(loaded, G_cond, 3)


def test_load_generator_from_a_training_checkpoint_takes_g_ema(tmp_path, G_cond):
    trained = make_generator(c_dim=3, seed=9)
    # The keys GANTrainer.state_dict() writes for the generators (the rest is not needed to generate).
    state = {
        "format": TRAINING_FORMAT,
        "version": 1,
        "G": trained.state_dict(),
        "G_ema": G_cond.state_dict(),
        "G_init_kwargs": G_cond.init_kwargs,
        "cur_nimg": 4000,
    }
    torch.save(state, tmp_path / "training-000004.pt")
    loaded = load_generator(tmp_path / "training-000004.pt")
    assert same_images(loaded, G_cond, 3)
    assert not same_images(loaded, trained, 3)

    del state["G_ema"]
    torch.save(state, tmp_path / "training-broken.pt")
    with pytest.raises(CheckpointError, match=r"training-broken.pt.*lacks G_ema"):
        load_generator(tmp_path / "training-broken.pt")
    state["G_ema"] = G_cond.state_dict()
    state["G_init_kwargs"] = {**G_cond.init_kwargs, "img_resolution": 32}
    torch.save(state, tmp_path / "training-mismatch.pt")
    with pytest.raises(CheckpointError, match=r"training-mismatch.pt.*cannot rebuild G_ema"):
        load_generator(tmp_path / "training-mismatch.pt")


def test_load_generator_from_a_stylegan2_ada_snapshot_reproduces_the_reference():
    pkl, reference = SG2ADA / "g32.pkl", SG2ADA / "g32.pt"
    if not (pkl.is_file() and reference.is_file()):
        pytest.skip(f"{SG2ADA} is absent")
    data = torch.load(reference, weights_only=True)
    G = load_generator(pkl)
    with torch.no_grad():
        img = G(data["z"], data["c"], truncation_psi=0.7, noise_mode="const")
    # img_psi07 was computed by the StyleGAN2-ADA code itself.
    assert (img.double() - data["img_psi07"].double()).abs().max().item() < 1e-4


def test_load_generator_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing.pt"):
        load_generator(tmp_path / "nothing.pt")
    D = StyleDiscriminator(c_dim=0, img_resolution=16, img_channels=1, channel_base=128, channel_max=16)
    with pytest.raises(CheckpointError, match=r"d.pt.*holds no generator.*got StyleDiscriminator"):
        load_generator(D.save(tmp_path / "d.pt"))
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match=r"cannot read .*text.pt"):
        load_generator(tmp_path / "text.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"other.pt.*format 'something-else'"):
        load_generator(tmp_path / "other.pt")


# --- command line -------------------------------------------------------------------------------------


def test_generate_command_end_to_end(tmp_path, G_cond, capsys):
    ckpt = str(G_cond.save(tmp_path / "g.pt"))
    out = tmp_path / "sets" / "train"
    common = ["generate", "--network", ckpt, "--psi", "0.7", "--no-progress"]
    assert main([*common, "--n", "5", "--classes", "0,2", "--out", str(out), "--batch", "2"]) == 0
    assert "wrote 5 images" in capsys.readouterr().out
    rows = read_manifest(out / "manifest.csv")
    assert [(r["seed"], r["label"], r["psi"]) for r in rows][-1] == ("4", "class2", "0.7")
    assert [r["label"] for r in rows] == ["class0"] * 3 + ["class2"] * 2
    assert {r["checkpoint"] for r in rows} == {checkpoint_hash(ckpt)}

    test = str(tmp_path / "sets" / "test")
    assert main([*common, "--class", "1", "--seeds", "3-5", "--out", test]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: seeds 3-4 (2 seeds)") and "train" in err
    assert main([*common, "--class", "1", "--seeds", "3-5,9", "--out", test, "--allow-seed-reuse", "--bits", "16"]) == 0
    assert seeds_of(tmp_path / "sets" / "test") == [3, 4, 5, 9]
    assert read_png(tmp_path / "sets" / "test" / "class1" / "seed00000009.png").dtype == np.uint16

    assert main([*common, "--class", "1", "--out", str(tmp_path / "sets" / "more"), "--n", "2", "--rgb"]) == 0
    assert seeds_of(tmp_path / "sets" / "more") == [10, 11]


def test_generate_command_errors(tmp_path, G_cond, capsys):
    ckpt = str(G_cond.save(tmp_path / "g.pt"))
    out = str(tmp_path / "syn")
    assert main(["generate", "--network", ckpt, "--n", "3", "--class", "1", "--seeds", "1,2", "--out", out]) == 1
    assert "error: --n 3 does not match the 2 seeds" in capsys.readouterr().err
    assert main(["generate", "--network", ckpt, "--class", "1", "--out", out]) == 1
    assert "error: give the number of images with --n" in capsys.readouterr().err
    assert main(["generate", "--network", ckpt, "--n", "2", "--out", out]) == 1
    assert "error: the generator is conditional" in capsys.readouterr().err
    assert main(["generate", "--network", str(tmp_path / "none.pt"), "--n", "2", "--out", out]) == 1
    assert "none.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "--network", ckpt, "--seeds", "5-2", "--out", out])
    assert "must be non-negative and increasing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "--network", ckpt, "--class", "0", "--classes", "0,1", "--out", out])
    assert not (tmp_path / "syn").exists()


def test_class_folders_sort_in_class_order(tmp_path):
    # ImageFolderDataset numbers classes by sorted folder name: class10 must not come before class2.
    out = synthesize(make_generator(c_dim=12), 12, tmp_path / "s", classes=list(range(12)), progress=False)
    assert sorted(p.name for p in out.iterdir() if p.is_dir())[:3] == ["class00", "class01", "class02"]
    dataset = ImageFolderDataset(out, 16, labels="folders")
    assert [int(name[5:]) for name in dataset.class_names] == list(range(12))
