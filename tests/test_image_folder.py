"""Image decoding, square resizing and ImageFolderDataset on small images written to tmp_path."""

from __future__ import annotations

import json
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from medgan_aug.data import ImageFolderDataset, image_channels, load_image, resize_square

RAMP16 = np.array([[0, 1, 257, 32768, 65534, 65535, 1000, 40000]], dtype=np.uint16).repeat(8, axis=0)


def gray8(path: Path, size: tuple[int, int] = (8, 8), value: int = 128) -> Path:
    """Write a constant 8-bit grayscale PNG of ``size`` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)
    return path


def rgb(path: Path, size: tuple[int, int] = (8, 8), colour: tuple[int, int, int] = (200, 100, 50)) -> Path:
    """Write a constant RGB image (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, **({"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}))
    return path


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A minimal PNG (one IDAT chunk, filter 0 on every row), for layouts Pillow cannot write."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_json(root: Path, labels: object) -> None:
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))


# ---------------------------------------------------------------------------------------------------------------------
# load_image / image_channels


def test_16bit_png_scales_by_65535(tmp_path: Path) -> None:
    path = tmp_path / "ramp.png"
    Image.fromarray(RAMP16).save(path)
    with Image.open(path) as image:
        assert image.mode.startswith("I")
    array = load_image(path)
    assert array.dtype == np.float32 and array.shape == (1, 8, 8)
    np.testing.assert_array_equal(array[0], RAMP16.astype(np.float32) / np.float32(65535))
    assert image_channels(path) == 1


def test_16bit_big_endian_and_mode_i(tmp_path: Path) -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.int32)
    big = tmp_path / "big.tif"
    Image.frombytes("I;16B", (3, 1), values.astype(">u2").tobytes()).save(big)
    wide = tmp_path / "wide.tif"
    Image.fromarray(values).save(wide)
    for path in (big, wide):
        with Image.open(path) as image:
            assert image.mode in ("I;16B", "I")
        np.testing.assert_array_equal(load_image(path)[0], values.astype(np.float32) / np.float32(65535))

    too_wide = tmp_path / "too_wide.tif"
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(too_wide)
    with pytest.raises(ValueError, match=r"too_wide\.tif.*16-bit range"):
        load_image(too_wide)


def test_8bit_gray_png_scales_by_255(tmp_path: Path) -> None:
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    path = tmp_path / "gray.png"
    Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(load_image(path), pixels[None].astype(np.float32) / 255)


def test_rgb_jpeg_is_channels_first(tmp_path: Path) -> None:
    path = rgb(tmp_path / "derm.JPG", (12, 6), (200, 100, 50))
    array = load_image(path)
    assert array.shape == (3, 6, 12) and image_channels(path) == 3
    np.testing.assert_allclose(array.mean(axis=(1, 2)), np.array([200, 100, 50]) / 255, atol=3 / 255)


def test_palette_png_becomes_rgb(tmp_path: Path) -> None:
    image = Image.new("P", (4, 2))
    image.putpalette([10, 20, 30, 200, 150, 100])
    image.putpixel((3, 1), 1)
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    array = load_image(path) * 255
    assert image_channels(path) == 3
    np.testing.assert_allclose(array[:, 0, 0], [10, 20, 30], atol=1e-4)
    np.testing.assert_allclose(array[:, 1, 3], [200, 150, 100], atol=1e-4)


def test_alpha_is_dropped_without_compositing(tmp_path: Path) -> None:
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (3, 3), (40, 80, 120, 0)).save(rgba)
    la = tmp_path / "la.png"
    Image.new("LA", (3, 3), (90, 0)).save(la)
    assert (image_channels(rgba), image_channels(la)) == (3, 1)
    np.testing.assert_allclose(load_image(rgba)[:, 1, 1] * 255, [40, 80, 120], atol=1e-4)
    np.testing.assert_allclose(load_image(la) * 255, np.full((1, 3, 3), 90.0), atol=1e-4)


def test_16bit_gray_alpha_png_stays_gray(tmp_path: Path) -> None:
    # Pillow opens 16-bit gray+alpha as 'RGBA'; the loader must still see one (8-bit) gray channel.
    path = tmp_path / "la16.png"
    path.write_bytes(png_bytes(2, 1, 16, 4, b"\x00" + bytes([0x80, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00])))
    assert image_channels(path) == 1
    np.testing.assert_allclose(load_image(path) * 255, [[[128, 255]]], atol=1e-4)


def test_unsupported_mode_names_file_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (4, 4)).save(path)
    with pytest.raises(ValueError, match=r"print\.jpg.*'CMYK'"):
        image_channels(path)
    with pytest.raises(ValueError, match=r"print\.jpg.*'CMYK'"):
        load_image(path)


def test_corrupt_files_name_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=r"garbage\.png") as info:
        load_image(garbage)
    assert info.value.__cause__ is not None
    with pytest.raises(ValueError, match=r"garbage\.png"):
        image_channels(garbage)

    # Cut inside the pixel data: the header is intact, so only decoding notices.
    truncated = tmp_path / "truncated.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:600])
    assert image_channels(truncated) == 1
    with pytest.raises(ValueError, match=r"truncated\.png") as info:
        load_image(truncated)
    assert info.value.__cause__ is not None


# ---------------------------------------------------------------------------------------------------------------------
# resize_square


def bands(height: int, width: int, values: list[float]) -> torch.Tensor:
    """A [1, H, W] image of vertical bands of equal width with the given values, left to right."""
    columns = torch.tensor(values).repeat_interleave(width // len(values))
    return columns.expand(1, height, width).clone()


def test_letterbox_pads_the_short_side_with_black() -> None:
    landscape = resize_square(torch.ones(1, 32, 64), 32, "letterbox")
    assert landscape.shape == (1, 32, 32)
    assert (landscape[:, :8] == 0).all() and (landscape[:, 24:] == 0).all()
    assert (landscape[:, 8:24] == 1).all()
    portrait = resize_square(torch.ones(3, 64, 32), 16, "letterbox")
    assert (portrait[:, :, :4] == 0).all() and (portrait[:, :, 12:] == 0).all()
    torch.testing.assert_close(portrait[:, :, 4:12], torch.ones(3, 16, 8))  # resampled: 1 up to rounding


def test_center_crop_keeps_the_middle() -> None:
    image = bands(32, 64, [0.1, 0.4, 0.6, 0.9])
    out = resize_square(image, 32, "center-crop")
    assert out.shape == (1, 32, 32)
    assert (out[:, :, :16] == 0.4).all() and (out[:, :, 16:] == 0.6).all()
    smaller = resize_square(image, 16, "center-crop")
    torch.testing.assert_close(smaller[:, :, :6], torch.full((1, 16, 6), 0.4))
    torch.testing.assert_close(smaller[:, :, 10:], torch.full((1, 16, 6), 0.6))


def test_stretch_squeezes_both_sides() -> None:
    out = resize_square(bands(32, 64, [0.1, 0.4, 0.6, 0.9]), 32, "stretch")
    assert out.shape == (1, 32, 32)
    for band, value in enumerate([0.1, 0.4, 0.6, 0.9]):
        torch.testing.assert_close(out[:, :, band * 8 + 2 : band * 8 + 6], torch.full((1, 32, 4), value))


@pytest.mark.parametrize("mode", ["letterbox", "center-crop", "stretch"])
def test_downscaling_keeps_a_constant(mode: str) -> None:
    out = resize_square(torch.full((3, 101, 77), 0.3), 16, mode)
    inside = out[:, :, 2:14] if mode == "letterbox" else out
    torch.testing.assert_close(inside, torch.full_like(inside, 0.3))


def test_resize_is_a_no_op_at_the_target_size_and_checks_arguments() -> None:
    image = torch.rand(1, 16, 16)
    assert resize_square(image, 16, "stretch") is image
    with pytest.raises(ValueError, match="mode"):
        resize_square(image, 8, "fit")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        resize_square(image.to(torch.uint8), 8)


def test_downscaling_is_antialiased() -> None:
    # One bright column in every four must average to 1/4; plain bilinear sampling at 4x falls between the bright
    # columns and aliases them to black.
    lines = (torch.arange(64) % 4 == 0).float().expand(1, 64, 64)
    out = resize_square(lines, 16, "stretch")[:, :, 1:-1]  # the border columns see a truncated filter
    torch.testing.assert_close(out, torch.full_like(out, 0.25))


# ---------------------------------------------------------------------------------------------------------------------
# ImageFolderDataset


def test_native_size_16bit_values_map_exactly(tmp_path: Path) -> None:
    Image.fromarray(RAMP16).save(tmp_path / "mammo.png")
    dataset = ImageFolderDataset(tmp_path, 8)
    image, label = dataset[0]
    assert image.dtype == torch.float32 and image.shape == (1, 8, 8)
    assert label.dtype == torch.float32 and label.shape == (0,)
    assert image[0, 0, 0] == -1 and image[0, 0, 5] == 1
    assert image[0, 0, 3] == pytest.approx(1 / 65535, abs=1e-7)  # 32768 is just above mid-grey
    assert image[0, 0, 1] == pytest.approx(2 / 65535 - 1, abs=1e-7)
    assert (dataset.num_channels, dataset.c_dim, dataset.has_labels, dataset.label_kind) == (1, 0, False, None)


def test_native_size_8bit_values_map_exactly(tmp_path: Path) -> None:
    pixels = np.zeros((4, 4), dtype=np.uint8)
    pixels[0, 1], pixels[0, 2], pixels[0, 3] = 255, 51, 128
    Image.fromarray(pixels).save(tmp_path / "us.png")
    image, _ = ImageFolderDataset(tmp_path, 4)[0]
    assert image[0, 0, 0] == -1 and image[0, 0, 1] == 1
    assert image[0, 0, 2] == pytest.approx(-0.6, abs=1e-6) and image[0, 0, 3] == pytest.approx(1 / 255, abs=1e-6)


def test_images_are_found_recursively_sorted_and_case_insensitively(tmp_path: Path) -> None:
    for name in ("b.PNG", "a/z.jpeg", "a/y.Jpg", "c.png", ".hidden.png", ".cache/d.png", "scan.bmp"):
        gray8(tmp_path / name)  # Pillow picks the format from the suffix
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = ImageFolderDataset(tmp_path, 8, labels=None)
    assert [p.relative_to(tmp_path).as_posix() for p in dataset.paths] == ["a/y.Jpg", "a/z.jpeg", "b.PNG", "c.png"]
    assert len(dataset) == 4
    assert [p.name for p in ImageFolderDataset(tmp_path, 8, labels=None, max_images=2).paths] == ["y.Jpg", "z.jpeg"]


def test_symlinked_folders_are_followed_without_looping(tmp_path: Path) -> None:
    root = tmp_path / "root"
    gray8(root / "a" / "1.png")
    gray8(tmp_path / "elsewhere" / "2.png")
    try:
        (root / "b").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    except OSError:
        pytest.skip("cannot create symlinks here")
    dataset = ImageFolderDataset(root, 8)
    assert [p.relative_to(root).as_posix() for p in dataset.paths] == ["a/1.png", "b/2.png"]
    assert dataset.class_names == ["a", "b"]


def test_letterboxed_item_is_padded_with_minus_one(tmp_path: Path) -> None:
    gray8(tmp_path / "wide.png", (64, 32), 255)
    image, _ = ImageFolderDataset(tmp_path, 32)[0]
    assert (image[:, :8] == -1).all() and (image[:, 24:] == -1).all() and (image[:, 8:24] == 1).all()
    cropped, _ = ImageFolderDataset(tmp_path, 32, resize="center-crop")[0]
    assert (cropped == 1).all()


def test_labels_from_folders(tmp_path: Path) -> None:
    for name in ("malignant/m1.png", "benign/b1.png", "benign/b2.png", "normal/sub/n1.png", "normal/n2.png"):
        gray8(tmp_path / name)
    for labels in ("folders", "auto"):
        dataset = ImageFolderDataset(tmp_path, 8, labels=labels)  # type: ignore[arg-type]
        assert dataset.label_kind == "folders"
        assert dataset.class_names == ["benign", "malignant", "normal"] and dataset.c_dim == 3
        assert dataset.label_counts() == [2, 1, 2]
        by_name = {path.name: dataset[i][1].tolist() for i, path in enumerate(dataset.paths)}
        assert by_name == {
            "b1.png": [1, 0, 0],
            "b2.png": [1, 0, 0],
            "m1.png": [0, 1, 0],
            "n1.png": [0, 0, 1],
            "n2.png": [0, 0, 1],
        }
    assert ImageFolderDataset(tmp_path, 8, labels="folders", max_images=1).c_dim == 3  # classes from all images


def test_folder_labels_need_every_image_in_a_subfolder(tmp_path: Path) -> None:
    gray8(tmp_path / "a" / "1.png")
    gray8(tmp_path / "b" / "2.png")
    gray8(tmp_path / "loose.png")
    with pytest.raises(ValueError, match=r"loose\.png"):
        ImageFolderDataset(tmp_path, 8, labels="folders")
    assert ImageFolderDataset(tmp_path, 8).label_kind is None  # auto falls back to unconditional


def test_auto_is_unconditional_for_a_single_subfolder(tmp_path: Path) -> None:
    gray8(tmp_path / "only" / "1.png")
    gray8(tmp_path / "only" / "2.png")
    dataset = ImageFolderDataset(tmp_path, 8)
    assert (dataset.label_kind, dataset.c_dim, dataset.class_names, dataset.label_counts()) == (None, 0, [], [])
    assert dataset[1][1].shape == (0,)


def test_int_labels_from_json_take_precedence_in_auto(tmp_path: Path) -> None:
    for name in ("x/a.png", "y/b.png", "y/c.png"):
        gray8(tmp_path / name)
    write_json(tmp_path, [["y/c.png", 3], ["x/a.png", 0], ["y/b.png", 3]])
    dataset = ImageFolderDataset(tmp_path, 8)
    assert dataset.label_kind == "json" and dataset.c_dim == 4
    assert dataset.class_names == ["0", "1", "2", "3"]
    assert dataset.label_counts() == [1, 0, 0, 2]
    assert [dataset[i][1].argmax().item() for i in range(3)] == [0, 3, 3]
    assert dataset.get_label(1).tolist() == [0, 0, 0, 1]


def test_vector_labels_from_json(tmp_path: Path) -> None:
    gray8(tmp_path / "a.png")
    gray8(tmp_path / "b.png")
    write_json(tmp_path, [["a.png", [0.25, -1.5]], ["b.png", [1, 2]]])
    dataset = ImageFolderDataset(tmp_path, 8, labels="json")
    assert dataset.c_dim == 2 and dataset.class_names == []
    assert dataset[0][1].tolist() == [0.25, -1.5] and dataset[1][1].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="class labels"):
        dataset.label_counts()

    write_json(tmp_path, [["a.png", [0.25, -1.5]], ["b.png", [1.0]]])
    with pytest.raises(ValueError, match="same length"):
        ImageFolderDataset(tmp_path, 8, labels="json")


def test_json_without_labels_is_unconditional(tmp_path: Path) -> None:
    gray8(tmp_path / "a.png")
    write_json(tmp_path, None)
    assert ImageFolderDataset(tmp_path, 8).c_dim == 0


def test_json_must_label_every_image_and_only_existing_ones(tmp_path: Path) -> None:
    for i in range(13):
        gray8(tmp_path / f"img{i:02d}.png")
    write_json(tmp_path, [["img00.png", 0]])
    with pytest.raises(ValueError, match=r"12 images have no label") as info:
        ImageFolderDataset(tmp_path, 8, labels="json")
    message = str(info.value)
    assert "img01.png" in message and "img10.png" in message and "img11.png" not in message and "2 more" in message

    write_json(tmp_path, [[f"img{i:02d}.png", 0] for i in range(13)] + [["gone/img.png", 1]])
    with pytest.raises(ValueError, match=r"gone/img\.png"):
        ImageFolderDataset(tmp_path, 8, labels="json")

    (tmp_path / "dataset.json").write_text("{broken")
    with pytest.raises(ValueError, match=r"dataset\.json"):
        ImageFolderDataset(tmp_path, 8)


def test_mirror_appends_flipped_copies(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    Image.fromarray(np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1))).save(tmp_path / "a" / "ramp.png")
    gray8(tmp_path / "b" / "flat.png")
    dataset = ImageFolderDataset(tmp_path, 8, mirror=True)
    assert len(dataset) == 4 and dataset.label_counts() == [2, 2]
    original, label = dataset[0]
    flipped, flipped_label = dataset[2]
    torch.testing.assert_close(flipped, original.flip(2))
    assert not torch.equal(flipped, original)
    torch.testing.assert_close(flipped_label, label)
    torch.testing.assert_close(dataset[-1][0], dataset[3][0])
    with pytest.raises(IndexError):
        dataset[4]


def test_mixed_channel_counts_name_one_file_of_each(tmp_path: Path) -> None:
    gray8(tmp_path / "gray.png")
    rgb(tmp_path / "colour.jpg")
    with pytest.raises(ValueError, match=r"channel") as info:
        ImageFolderDataset(tmp_path, 8)
    assert "gray.png" in str(info.value) and "colour.jpg" in str(info.value)


def test_rgb_dataset(tmp_path: Path) -> None:
    rgb(tmp_path / "a.jpg", (40, 30))
    Image.new("P", (16, 16)).save(tmp_path / "b.png")
    dataset = ImageFolderDataset(tmp_path, 16, resize="stretch")
    assert dataset.num_channels == 3 and dataset.image_shape == (3, 16, 16)
    image, _ = dataset[0]
    assert image.shape == (3, 16, 16) and image.min() >= -1 and image.max() <= 1


def test_construction_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        ImageFolderDataset(tmp_path / "missing", 8)
    gray8(tmp_path / "file.png")
    with pytest.raises(FileNotFoundError, match=r"file\.png"):
        ImageFolderDataset(tmp_path / "file.png", 8)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("")
    with pytest.raises(ValueError, match=r"no images found under .*empty.*\.png, \.jpg, \.jpeg"):
        ImageFolderDataset(tmp_path / "empty", 8)
    for resolution in (0, 2, 3, 8.0, True):
        with pytest.raises(ValueError, match="resolution must be an integer >= 4"):
            ImageFolderDataset(tmp_path, resolution)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resize"):
        ImageFolderDataset(tmp_path, 8, resize="fit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="labels"):
        ImageFolderDataset(tmp_path, 8, labels="csv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_images"):
        ImageFolderDataset(tmp_path, 8, max_images=0)


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    gray8(tmp_path / "a_good.png")
    broken = gray8(tmp_path / "b_broken.png")
    broken.write_bytes(broken.read_bytes()[:20])  # cut inside the header
    gray8(tmp_path / "c_broken.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"b_broken\.png"):
        ImageFolderDataset(tmp_path, 8)


def test_describe_is_plain_data(tmp_path: Path) -> None:
    gray8(tmp_path / "x" / "1.png")
    gray8(tmp_path / "y" / "2.png")
    info = ImageFolderDataset(tmp_path, 8, resize="center-crop", mirror=True).describe()
    assert json.loads(json.dumps(info)) == info
    assert info == {
        "root": str(tmp_path),
        "count": 2,
        "length": 4,
        "channels": 1,
        "resolution": 8,
        "resize": "center-crop",
        "labels": "folders",
        "c_dim": 2,
        "class_names": ["x", "y"],
        "mirror": True,
        "max_images": None,
    }


def test_dataloader_with_workers_matches_direct_indexing(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for i in range(6):
        pixels = rng.integers(0, 65536, (24, 40), dtype=np.uint16)
        path = tmp_path / f"class{i % 2}" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(path)
    dataset = ImageFolderDataset(tmp_path, 16, mirror=True)
    clone = pickle.loads(pickle.dumps(dataset))
    torch.testing.assert_close(clone[5][0], dataset[5][0], rtol=0, atol=0)
    loader = DataLoader(dataset, batch_size=5, num_workers=2, shuffle=False)
    images, labels = map(torch.cat, zip(*loader, strict=True))
    expected = [dataset[i] for i in range(len(dataset))]
    assert images.shape == (12, 1, 16, 16) and labels.shape == (12, 2)
    torch.testing.assert_close(images, torch.stack([e[0] for e in expected]), rtol=0, atol=0)
    torch.testing.assert_close(labels, torch.stack([e[1] for e in expected]), rtol=0, atol=0)
