"""Synthetic image pools for pseudo-labelling: folders, user datasets and generators sampled on demand."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader

from medgan_aug.data import ImageFolderDataset
from medgan_aug.generate import generator_inputs, synthesize
from medgan_aug.nets import StyleGenerator
from medgan_aug.selftrain.pool import DatasetPool, FolderPool, GeneratorPool
from tests.test_synthetic import make_generator
from tests.test_synthetic_pairs import make_mask_generator


def count_calls(G: StyleGenerator) -> list[int]:
    """Batch sizes of every forward call of ``G`` from now on."""
    calls: list[int] = []
    G.register_forward_hook(lambda module, args, output: calls.append(output.shape[0]))
    return calls


def write_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def random_pixels(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def G_gray() -> StyleGenerator:
    return make_generator()


@pytest.fixture(scope="module")
def G_cond_rgb() -> StyleGenerator:
    return make_generator(c_dim=3, img_channels=3, seed=1)


# --- FolderPool ---------------------------------------------------------------------------------


def test_folder_pool_images_and_sources_are_those_of_the_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "b" / "x.png", random_pixels(rng, (16, 16)))
    write_png(tmp_path / "a" / "deep" / "y.png", random_pixels(rng, (10, 20)))
    write_png(tmp_path / "z.png", random_pixels(rng, (32, 32)))
    pool = FolderPool(tmp_path, 16, resize="center-crop")
    reference = ImageFolderDataset(tmp_path, 16, labels=None, resize="center-crop")
    assert len(pool) == 3
    assert (pool.resolution, pool.num_channels, pool.labels, pool.class_names) == (16, 1, None, None)
    assert pool.num_workers_limit is None
    assert [pool.source(i) for i in range(3)] == ["a/deep/y.png", "b/x.png", "z.png"]
    for i in range(3):
        assert pool[i].dtype == torch.float32
        assert torch.equal(pool[i], reference[i][0])
    assert torch.equal(pool[-1], pool[2])
    # num_workers_limit None promises that DataLoader worker processes can receive the pool.
    assert torch.equal(pickle.loads(pickle.dumps(pool))[1], pool[1])
    with pytest.raises(IndexError):
        pool[3]


def test_folder_pool_pixels_are_the_png_pixels_at_native_size(tmp_path):
    rng = np.random.default_rng(1)
    gray = random_pixels(rng, (16, 16))
    colour = random_pixels(rng, (16, 16, 3))
    write_png(tmp_path / "gray" / "g.png", gray)
    write_png(tmp_path / "colour" / "c.png", colour)
    assert np.array_equal(FolderPool(tmp_path / "gray", 16).pixels(0), gray)
    colour_pool = FolderPool(tmp_path / "colour", 16)
    assert colour_pool.num_channels == 3
    assert colour_pool.pixels(0).dtype == np.uint8
    assert np.array_equal(colour_pool.pixels(0), colour)


def test_folder_pool_labels_follow_class_names_order(tmp_path):
    rng = np.random.default_rng(2)
    for name, count in [("benign", 2), ("malignant", 3)]:
        for j in range(count):
            write_png(tmp_path / name / f"{j}.png", random_pixels(rng, (8, 8)))
    pool = FolderPool(tmp_path, 8, class_names=["malignant", "benign"])
    assert pool.class_names == ("malignant", "benign")
    expected = [1 if pool.source(i).startswith("benign/") else 0 for i in range(len(pool))]
    assert pool.labels.dtype == np.int64
    assert pool.labels.tolist() == expected == [1, 1, 0, 0, 0]


def test_folder_pool_maps_class_k_folders_to_the_kth_real_class(tmp_path):
    rng = np.random.default_rng(3)
    for folder, count in [("class0", 1), ("class2", 2)]:
        for j in range(count):
            write_png(tmp_path / folder / f"seed{j}.png", random_pixels(rng, (8, 8)))
    pool = FolderPool(tmp_path, 8, class_names=("a", "b", "c"))
    assert pool.labels.tolist() == [0, 2, 2]

    single = tmp_path / "single"
    write_png(single / "images" / "seed0.png", random_pixels(rng, (8, 8)))
    assert FolderPool(single, 8, class_names=["lesion"]).labels.tolist() == [0]


def test_folder_pool_rejects_unmatched_folders_and_loose_images(tmp_path):
    rng = np.random.default_rng(4)
    write_png(tmp_path / "set" / "other" / "a.png", random_pixels(rng, (8, 8)))
    with pytest.raises(ValueError, match=r"synthetic folder .*other.* matches no real class"):
        FolderPool(tmp_path / "set", 8, class_names=["a", "b"])
    write_png(tmp_path / "loose" / "a" / "a.png", random_pixels(rng, (8, 8)))
    write_png(tmp_path / "loose" / "x.png", random_pixels(rng, (8, 8)))
    with pytest.raises(ValueError, match=r"loose has images outside class subfolders \(e.g. 'x.png'\)"):
        FolderPool(tmp_path / "loose", 8, class_names=["a"])
    # Without class names the same folder is an unlabelled pool.
    assert len(FolderPool(tmp_path / "loose", 8)) == 2


def test_folder_pool_channels(tmp_path):
    rng = np.random.default_rng(5)
    gray = random_pixels(rng, (8, 8))
    write_png(tmp_path / "gray" / "g.png", gray)
    write_png(tmp_path / "colour" / "c.png", random_pixels(rng, (8, 8, 3)))
    pool = FolderPool(tmp_path / "gray", 8, num_channels=3)
    image = pool[0]
    assert image.shape == (3, 8, 8)
    expected = torch.from_numpy(gray.astype(np.float32) / np.float32(255)) * 2 - 1
    for channel in image:
        assert torch.equal(channel, expected)
    assert np.array_equal(pool.pixels(0), np.repeat(gray[:, :, None], 3, axis=2))
    with pytest.raises(ValueError, match=r"num_channels=1, but folder .*colour holds colour"):
        FolderPool(tmp_path / "colour", 8, num_channels=1)
    with pytest.raises(ValueError, match="num_channels must be 1, 3 or None"):
        FolderPool(tmp_path / "gray", 8, num_channels=2)


def test_folder_pool_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.raises(ValueError, match=r"synthetic pool folder .*empty is empty"):
        FolderPool(tmp_path / "empty", 8)
    with pytest.raises(FileNotFoundError, match=r"synthetic pool folder .*missing does not exist"):
        FolderPool(tmp_path / "missing", 8)


# --- DatasetPool --------------------------------------------------------------------------------


def test_dataset_pool_wraps_images_and_pairs():
    gen = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 8, 8, generator=gen) * 2.4 - 1.2 for _ in range(4)]
    pairs = [(image, k % 2) for k, image in enumerate(images)]
    pool = DatasetPool(pairs, labels=[0, 1, 0, 1], class_names=["a", "b"])
    assert (len(pool), pool.num_channels, pool.resolution, pool.num_workers_limit) == (4, 3, 8, None)
    assert pool.labels.dtype == np.int64 and pool.labels.tolist() == [0, 1, 0, 1]
    assert pool.class_names == ("a", "b")
    assert [pool.source(i) for i in range(4)] == ["item0", "item1", "item2", "item3"]
    for i, image in enumerate(images):
        assert torch.equal(pool[i], image)
        expected = np.rint(np.clip(image.double().numpy() * 0.5 + 0.5, 0, 1) * 255).astype(np.uint8)
        assert np.array_equal(pool.pixels(i), expected.transpose(1, 2, 0))

    bare = DatasetPool([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    assert bare.labels is None and bare.class_names is None
    assert bare.pixels(1).shape == (4, 4)
    assert np.array_equal(bare.pixels(0), np.full((4, 4), 128, np.uint8))  # 0.5 * 255 = 127.5 rounds to even


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        ([], {}, ValueError, "synthetic pool is empty"),
        ([torch.zeros(1, 4, 8)], {}, ValueError, r"item 0 must be an image \[C, R, R\].*\(1, 4, 8\)"),
        ([torch.zeros(2, 4, 4)], {}, ValueError, "C 1 or 3"),
        ([torch.zeros(4, 4)], {}, ValueError, "item 0 must be an image"),
        ([torch.zeros(1, 4, 4)] * 2, {"labels": [0]}, ValueError, r"one class index per item \(2\)"),
        ([torch.zeros(1, 4, 4)] * 2, {"labels": [0, 2], "class_names": ["a", "b"]}, ValueError, "up to 2"),
        ([torch.zeros(1, 4, 4)] * 2, {"labels": [0.5, 1.0]}, ValueError, "integer class indices"),
        ([torch.zeros(1, 4, 4)] * 2, {"labels": [-1, 0]}, ValueError, "must not be negative"),
        (object(), {}, TypeError, "map-style Dataset"),
    ],
)
def test_dataset_pool_errors(data, kwargs, error, message):
    with pytest.raises(error, match=message):
        DatasetPool(data, **kwargs)


def test_dataset_pool_rejects_an_item_of_another_shape():
    pool = DatasetPool([torch.zeros(1, 4, 4), torch.zeros(1, 8, 8)])
    with pytest.raises(ValueError, match=r"item 1 has shape \(1, 8, 8\), but item 0 has \(1, 4, 4\)"):
        pool[1]


# --- GeneratorPool ------------------------------------------------------------------------------


def test_generator_pool_images_are_the_pngs_synthesize_writes(tmp_path, G_gray):
    settings = {"truncation_psi": 0.7, "noise_mode": "const", "batch_size": 2}
    out = synthesize(G_gray, 5, tmp_path / "set", seeds=range(3, 8), progress=False, **settings)
    pool = GeneratorPool(G_gray, 5, seed_start=3, progress=False, **settings)
    assert pool.seeds.dtype == np.int64 and pool.seeds.tolist() == [3, 4, 5, 6, 7]
    assert (pool.labels, pool.class_names, pool.num_workers_limit) == (None, None, 0)
    folder = FolderPool(out, 16)
    for i, seed in enumerate(range(3, 8)):
        png = np.asarray(Image.open(out / "images" / f"seed{seed:08d}.png"))
        assert pool.source(i) == f"seed{seed}"
        assert np.array_equal(pool.pixels(i), png)
        # The classified image is exactly what a pool over the written folder would give.
        assert torch.equal(pool[i], folder[i])


def test_conditional_generator_pool_labels_and_pngs(tmp_path, G_cond_rgb):
    pool = GeneratorPool(G_cond_rgb, 7, batch_size=3, progress=False)
    assert pool.labels.dtype == np.int64 and pool.labels.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert pool.class_names is None
    assert GeneratorPool(G_cond_rgb, 2, classes=2, progress=False).labels.tolist() == [2, 2]

    pool = GeneratorPool(G_cond_rgb, 3, classes=[2, 0], seed_start=10, batch_size=2, progress=False)
    assert pool.labels.tolist() == [2, 2, 0]
    out = synthesize(G_cond_rgb, 3, tmp_path / "set", classes=[2, 0], seeds=[10, 11, 12], batch_size=2, progress=False)
    for i in range(3):
        png = np.asarray(Image.open(out / f"class{pool.labels[i]}" / f"seed{pool.seeds[i]:08d}.png"))
        assert pool.pixels(i).shape == (16, 16, 3)
        assert np.array_equal(pool.pixels(i), png)


def test_generator_pool_generates_lazily_one_batch_per_call(G_gray):
    G = make_generator(seed=2)
    calls = count_calls(G)
    pool = GeneratorPool(G, 7, batch_size=3, progress=False)
    assert calls == []
    first = pool[4].clone()
    assert calls == [3]  # images 3-5
    pool[3], pool[5], pool[4], pool.pixels(5), pool.source(6)
    assert calls == [3]
    pool[-1]
    assert calls == [3, 1]
    pool.generate_all()
    assert calls == [3, 1, 3]
    for i in range(7):
        pool[i]
    assert calls == [3, 1, 3]
    # Generating batch 1 first gives the same bytes as generating everything in order.
    fresh = GeneratorPool(G, 7, batch_size=3, progress=False)
    fresh.generate_all()
    assert torch.equal(fresh[4], first)


def test_generator_pool_reads_through_a_dataloader(G_gray):
    pool = GeneratorPool(G_gray, 5, batch_size=2, num_channels=3, progress=False)
    batches = list(DataLoader(pool, batch_size=4, num_workers=0))
    stacked = torch.cat(batches)
    assert stacked.shape == (5, 3, 16, 16)
    assert torch.equal(stacked, torch.stack([pool[i] for i in range(5)]))
    assert torch.equal(stacked[:, 0], stacked[:, 2])
    assert np.array_equal(pool.pixels(1), np.repeat(pool.pixels(1)[:, :, :1], 3, axis=2))
    assert stacked.min() >= -1 and stacked.max() <= 1


@pytest.mark.parametrize("resolution", [8, 24])
def test_generator_pool_resizes_the_8_bit_image(G_gray, resolution):
    native = GeneratorPool(G_gray, 3, batch_size=2, truncation_psi=0.5, progress=False)
    resized = GeneratorPool(G_gray, 3, batch_size=2, truncation_psi=0.5, resolution=resolution, progress=False)
    assert resized.resolution == resolution
    assert resized[0].shape == (1, resolution, resolution)
    for i in range(3):
        source = torch.from_numpy(native.pixels(i)).double()[None, None]
        reference = F.interpolate(source, size=(resolution, resolution), mode="bilinear", antialias=True)[0, 0]
        got = torch.from_numpy(resized.pixels(i)).double()
        # Rounding the float32 resampling: within half a level (plus float32 error) of the float64 one.
        assert (got - reference).abs().max() <= 0.5 + 1e-3
        assert torch.equal(resized[i][0], got.float() / 255 * 2 - 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"noise_mode": "random"}, "noise_mode='random'"),
        ({"noise_mode": "loud"}, "noise_mode must be one of"),
        ({"truncation_psi": float("nan")}, "truncation_psi must be a finite number"),
        ({"n": 0}, "n must be a positive integer"),
        ({"n": 2.0}, "n must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"seed_start": -1}, re.escape("must lie in [0, 2**32 - 1]")),
        ({"seed_start": 2**32 - 2, "n": 3}, r"seed_start=4294967294 to 4294967296"),
        ({"classes": 0}, "unconditional"),
        ({"num_channels": 2}, "num_channels must be 1, 3 or None"),
        ({"resolution": 0}, "resolution must be a positive integer"),
    ],
)
def test_generator_pool_errors(G_gray, kwargs, message):
    args = {"n": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        GeneratorPool(G_gray, args.pop("n"), progress=False, **args)


def test_generator_pool_errors_for_conditional_rgb(G_cond_rgb):
    with pytest.raises(ValueError, match="num_channels=1, but the generator makes colour"):
        GeneratorPool(G_cond_rgb, 2, num_channels=1)
    with pytest.raises(ValueError, match="class 3 is out of range"):
        GeneratorPool(G_cond_rgb, 2, classes=[0, 3])
    with pytest.raises(TypeError, match=r"G \(Identity\) has no attribute 'z_dim'"):
        GeneratorPool(torch.nn.Identity(), 2)
    # The last seed may be the largest numpy accepts.
    assert GeneratorPool(G_cond_rgb, 2, seed_start=2**32 - 2, progress=False).source(1) == "seed4294967295"


def test_mask_generator_pool_holds_the_image_channels_synthesize_writes(tmp_path):
    # Conditional, a colour image and two masks: the pool ignores the masks.
    G = make_mask_generator(c_dim=2, img_channels=5, mask_channels=2, seed=4)
    settings = {"truncation_psi": 0.8, "batch_size": 2}
    pool = GeneratorPool(G, 3, seed_start=6, classes=[1, 0], progress=False, **settings)
    assert (len(pool), pool.num_channels, pool.labels.tolist()) == (3, 3, [1, 1, 0])
    out = synthesize(G, 3, tmp_path / "set", classes=[1, 0], seeds=[6, 7, 8], progress=False, **settings)
    z, c = generator_inputs(G, [6, 7], [1, 1], "cpu")
    with torch.no_grad():
        first_batch = G(z, c, truncation_psi=0.8, noise_mode="const", update_w_avg=False)
    for i in range(3):
        png = np.asarray(Image.open(out / "images" / f"class{pool.labels[i]}" / f"seed{pool.seeds[i]:08d}.png"))
        assert pool[i].shape == (3, 16, 16)
        assert np.array_equal(pool.pixels(i), png)
        assert torch.equal(pool[i], torch.tensor(png).permute(2, 0, 1).float() / 255 * 2 - 1)
        if i < 2:
            # The image part of the output, not the masks: within half a level of G's first three channels.
            assert (pool[i] - first_batch[i, :3].clamp(-1, 1)).abs().max() <= 1 / 255 + 1e-6
    gray = make_mask_generator(img_channels=2, mask_channels=1)
    one, three = GeneratorPool(gray, 2, progress=False), GeneratorPool(gray, 2, num_channels=3, progress=False)
    assert one[1].shape == (1, 16, 16)
    assert torch.equal(three[1], one[1].repeat(3, 1, 1))
    with pytest.raises(ValueError, match=r"2-channel images \(besides 1 mask channel\(s\)\); a pool needs 1 or 3"):
        GeneratorPool(make_mask_generator(img_channels=3, mask_channels=1), 2)


def test_folder_pool_reads_a_paired_folder_from_its_images(tmp_path):
    G = make_mask_generator(c_dim=2, seed=5)
    out = synthesize(G, 4, tmp_path / "pairs", classes=[0, 1], progress=False)
    pool = FolderPool(out, 16, class_names=["benign", "malignant"])
    assert len(pool) == 4 and pool.root == out / "images"
    assert pool.labels.tolist() == [0, 0, 1, 1]
    expected = ImageFolderDataset(out / "images", 16, labels=None)
    for i in range(4):
        assert torch.equal(pool[i], expected[i][0])
