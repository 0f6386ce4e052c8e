"""Paired image + mask datasets: folder pairs, the VolumeSlicer's paired output, and split_masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medgan_aug.data import (
    ImageFolderDataset,
    PairedImageFolderDataset,
    Volume,
    VolumeSlicer,
    read_manifest,
    split_masks,
)

# A 32 x 64 (rows x cols) image with a bright box at rows 8..20 and cols 20..40. Its edges are multiples of every
# scale factor below, so the antialiased bilinear resize of the box, thresholded at 0.5, is the box scaled exactly.
HEIGHT, WIDTH = 32, 64
BOX = (slice(8, 20), slice(20, 40))


def save(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels) if mode is None else Image.fromarray(pixels).convert(mode)
    image.save(path)
    return path


def box_mask(rows: slice = BOX[0], cols: slice = BOX[1], shape: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def expected_channel(rows: tuple[int, int], cols: tuple[int, int], size: int = 16) -> np.ndarray:
    channel = np.full((size, size), -1.0, dtype=np.float32)
    channel[rows[0] : rows[1], cols[0] : cols[1]] = 1.0
    return channel


# Box rows 8..20 and cols 20..40 of the 32 x 64 image, at resolution 16:
# letterbox scales by 1/4 to 8 x 16, centred 4 rows down; center-crop keeps cols 16..48 and halves;
# stretch halves the rows and quarters the columns.
GEOMETRY = {
    "letterbox": ((6, 9), (5, 10)),
    "center-crop": ((4, 10), (2, 12)),
    "stretch": ((4, 10), (5, 10)),
}


@pytest.mark.parametrize("resize", list(GEOMETRY))
def test_mask_channel_is_resized_like_the_image_and_stays_binary(tmp_path: Path, resize: str) -> None:
    mask = box_mask()
    save(tmp_path / "images" / "x.png", mask.astype(np.uint8) * 255)
    save(tmp_path / "masks" / "x.png", mask.astype(np.uint8) * 255)
    dataset = PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16, resize=resize)  # type: ignore[arg-type]
    item, label = dataset[0]
    assert item.shape == (2, 16, 16) and dataset.image_shape == (2, 16, 16) and label.shape == (0,)
    assert dataset.num_channels == 1 and dataset.mask_channels == 1
    np.testing.assert_array_equal(item[1].numpy(), expected_channel(*GEOMETRY[resize]))
    # The image channel is exactly what ImageFolderDataset gives, and its bright box sits under the mask.
    plain = ImageFolderDataset(tmp_path / "images", 16, resize=resize)[0][0]  # type: ignore[arg-type]
    torch.testing.assert_close(item[:1], plain, rtol=0, atol=0)
    np.testing.assert_array_equal((item[0] > 0).numpy(), (item[1] > 0).numpy())


def reference_resize(mask: np.ndarray, size: int, resize: str) -> np.ndarray:
    """Foreground of ``mask`` fitted into ``size`` x ``size`` with the documented geometry, thresholded at 0.5."""
    height, width = mask.shape
    values = torch.from_numpy(mask.astype(np.float64))[None, None]

    def scaled(part: torch.Tensor, rows: int, cols: int) -> np.ndarray:
        resized = torch.nn.functional.interpolate(part, (rows, cols), mode="bilinear", antialias=True)
        return resized[0, 0].numpy() > 0.5

    if resize == "stretch":
        return scaled(values, size, size)
    if resize == "center-crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return scaled(values[..., top : top + side, left : left + side], size, size)
    rows, cols = (
        int(np.floor(height * size / max(height, width) + 0.5)),
        int(np.floor(width * size / max(height, width) + 0.5)),
    )
    top, left = (size - rows) // 2, (size - cols) // 2
    out = np.zeros((size, size), dtype=bool)
    out[top : top + rows, left : left + cols] = scaled(values, rows, cols)
    return out


@pytest.mark.parametrize("resize", list(GEOMETRY))
def test_irregular_mask_matches_a_reference_resize(tmp_path: Path, resize: str) -> None:
    # A blob with curved edges at no particular scale: many pixels of the resized mask lie near the threshold.
    rows, cols = np.mgrid[0:40, 0:70]
    mask = ((rows - 17.3) / 13.1) ** 2 + ((cols - 40.6) / 21.7) ** 2 + 0.3 * np.sin(cols / 3.0) < 1
    save(tmp_path / "images" / "x.png", mask.astype(np.uint8) * 255)
    save(tmp_path / "masks" / "x.png", mask.astype(np.uint8) * 7)
    item, _ = PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16, resize=resize)[0]  # type: ignore[arg-type]
    expected = reference_resize(mask, 16, resize)
    assert 20 < expected.sum() < 200
    np.testing.assert_array_equal(item[1].numpy(), np.where(expected, 1.0, -1.0))


def test_mirror_two_mask_folders_and_class_labels(tmp_path: Path) -> None:
    second = box_mask(slice(0, 16), slice(0, 64))  # the upper half
    for klass, name, shift in (("benign", "a", 0), ("malignant", "b", 4)):
        first = np.roll(box_mask(), shift, axis=1)
        save(tmp_path / "images" / klass / f"{name}.png", first.astype(np.uint8) * 200)
        # A bilevel PNG and a 16-bit PNG with foreground 1000: any single-channel mask with one non-zero value.
        save(tmp_path / "mito" / klass / f"{name}.png", first.astype(np.uint8) * 255, mode="1")
        save(tmp_path / "membrane" / klass / f"{name}.PNG", second.astype(np.uint16) * 1000, mode="I;16")
    dataset = PairedImageFolderDataset(
        tmp_path / "images", [tmp_path / "mito", tmp_path / "membrane"], 16, resize="stretch", mirror=True
    )
    assert len(dataset) == 4 and dataset.image_shape == (3, 16, 16)
    assert dataset.class_names == ["benign", "malignant"] and dataset.label_kind == "folders"
    assert [[p.relative_to(tmp_path).as_posix() for p in paths] for paths in dataset.mask_paths] == [
        ["mito/benign/a.png", "membrane/benign/a.PNG"],
        ["mito/malignant/b.png", "membrane/malignant/b.PNG"],
    ]
    item, label = dataset[1]
    torch.testing.assert_close(label, torch.tensor([0.0, 1.0]))
    # The malignant box is shifted 4 columns right: cols 24..44, a quarter of which is 6..11.
    np.testing.assert_array_equal(item[1].numpy(), expected_channel((4, 10), (6, 11)))
    np.testing.assert_array_equal(item[2].numpy(), expected_channel((0, 8), (0, 16)))
    flipped, flipped_label = dataset[3]
    torch.testing.assert_close(flipped, item.flip(2), rtol=0, atol=0)
    torch.testing.assert_close(flipped_label, label)

    description = dataset.describe()
    box_fraction = (12 * 20) / (32 * 64)
    assert description["foreground_fraction"] == [round(box_fraction, 4), 0.5]
    assert description["masks"] == [str(tmp_path / "mito"), str(tmp_path / "membrane")]
    assert description["mask_channels"] == 2 and description["channels"] == 1
    assert "membrane" in repr(dataset) and "masks=" in repr(dataset)

    images, masks = split_masks(torch.stack([dataset[0][0], dataset[1][0]]), dataset.mask_channels)
    assert images.shape == (2, 1, 16, 16) and masks.dtype == torch.bool and masks.shape == (2, 2, 16, 16)
    np.testing.assert_array_equal(masks[1, 0].numpy(), expected_channel((4, 10), (6, 11)) > 0)
    torch.testing.assert_close(images[1], item[:1], rtol=0, atol=0)


def test_slicer_writes_aligned_image_and_mask_tiles_that_read_back(tmp_path: Path) -> None:
    # Two 12 x 12 x 6 volumes with a labelled box that is bright (100) on a dim (10) background. The axial view with
    # 1 mm pixels on a 1 mm grid puts pixel (r, c) of slice k on voxel (x=c, y=r, z=k): the plane is data[:, :, k].T,
    # so nearest-neighbour sampling must reproduce the label exactly. 8 px tiles of the 12 px plane are zero-padded.
    volumes, labels, planes = [], [], []
    for i, (x0, y0) in enumerate(((2, 3), (5, 1))):
        label = np.zeros((12, 12, 6), dtype=np.float32)
        label[x0 : x0 + 6, y0 : y0 + 7, 1:5] = 3  # any non-zero label value is foreground
        volumes.append(Volume.from_array(np.where(label > 0, 100.0, 10.0), source=f"case{i}.nrrd"))
        labels.append(Volume.from_array(label))
        planes.append(np.pad(label.transpose(2, 1, 0) != 0, ((0, 0), (0, 4), (0, 4))))  # [z, y, x], zero-padded
    slicer = VolumeSlicer(
        ["axial"], size=12, pixel_size=1.0, interpolation="nearest", window=(55.0, 90.0), tile=8, pad="zero"
    )
    out = slicer.write(volumes, tmp_path / "out", masks=labels, split=(0.5, 0.5, 0.0), write_masks=True, progress=False)
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 2 * 6 * 4
    for row in rows:
        volume = int(row["source"][4])
        k, r, c = int(row["slice_index"]), int(row["tile_row"]), int(row["tile_col"])
        assert row["file"] == f"{row['split']}/images/axial/{Path(row['file']).name}"
        assert row["mask"] == row["file"].replace("/images/", "/masks/", 1)
        with Image.open(out / row["mask"]) as png:
            assert png.mode == "L"
            mask = np.asarray(png)
        with Image.open(out / row["file"]) as png:
            image = np.asarray(png)
        expected = planes[volume][k, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8]
        np.testing.assert_array_equal(mask, expected.astype(np.uint8) * 255)
        # The window maps 10 to 0 and 100 to 1: bright exactly on the label.
        np.testing.assert_array_equal(image, np.where(expected, 255, 0))
        assert float(row["foreground"]) == round(float(expected.mean()), 4)
    assert any(float(r["foreground"]) > 0 for r in rows) and any(float(r["foreground"]) == 0 for r in rows)

    split = rows[0]["split"]
    dataset = PairedImageFolderDataset(out / split / "images", out / split / "masks", 8)
    assert len(dataset) == 6 * 4
    for i in range(len(dataset)):
        item, _ = dataset[i]
        with Image.open(dataset.mask_paths[i][0]) as png:
            np.testing.assert_array_equal(item[1].numpy(), np.where(np.asarray(png) > 0, 1.0, -1.0))
        np.testing.assert_array_equal((item[0] > 0).numpy(), (item[1] > 0).numpy())


def test_write_masks_needs_a_mask_volume_for_every_volume(tmp_path: Path) -> None:
    volume = Volume.from_array(np.ones((6, 6, 6)))
    slicer = VolumeSlicer(["axial"], size=6)
    with pytest.raises(ValueError, match=r"write_masks needs a mask volume .* volume 1 \(<array>\) has none"):
        slicer.write([volume, volume], tmp_path / "out", masks=[volume, None], write_masks=True, progress=False)
    with pytest.raises(ValueError, match=r"volume 0 \(<array>\) has none"):
        slicer.write([volume], tmp_path / "out", write_masks=True, progress=False)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------------
# Bad input


def pair(tmp_path: Path, mask: np.ndarray, *, mask_name: str = "x.png", mode: str | None = None) -> None:
    save(tmp_path / "images" / "x.png", box_mask().astype(np.uint8) * 255)
    save(tmp_path / "masks" / mask_name, mask, mode)


def test_mask_of_another_size_is_named_with_both_sizes(tmp_path: Path) -> None:
    pair(tmp_path, np.zeros((20, 30), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"masks/x\.png is 30x20 but its image .*images/x\.png is 64x32"):
        PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16)


def test_non_binary_mask_shows_its_values(tmp_path: Path) -> None:
    values = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    values[:4], values[4:8] = 127, 255
    pair(tmp_path, values)
    with pytest.raises(ValueError, match=r"masks/x\.png is not binary: values 0, 127, 255; a mask holds 0 and one"):
        PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16)
    pair(tmp_path, (np.arange(HEIGHT * WIDTH) % 7).astype(np.uint8).reshape(HEIGHT, WIDTH))
    with pytest.raises(ValueError, match=r"values 0, 1, 2, 3, 4, \.\.\. \(7 distinct\)"):
        PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16)


def test_colour_mask_is_refused(tmp_path: Path) -> None:
    pair(tmp_path, np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"masks/x\.png has image mode 'RGB'; a mask must be single-channel"):
        PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16)


def test_missing_mask_names_the_image_and_the_paths_looked_for(tmp_path: Path) -> None:
    pair(tmp_path, np.zeros((HEIGHT, WIDTH), dtype=np.uint8), mask_name="y.png")
    with pytest.raises(FileNotFoundError, match=r"images/x\.png has no mask: looked for .*masks/x\.png, .*x\.jpg"):
        PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16)
    with pytest.raises(FileNotFoundError, match=r"mask folder .*elsewhere does not exist"):
        PairedImageFolderDataset(tmp_path / "images", tmp_path / "elsewhere", 16)


def test_two_candidate_masks_are_ambiguous(tmp_path: Path) -> None:
    pair(tmp_path, np.zeros((HEIGHT, WIDTH), dtype=np.uint8))
    save(tmp_path / "masks" / "x.jpg", np.zeros((HEIGHT, WIDTH), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"images/x\.png has 2 candidate masks .*masks/x\.jpg, .*masks/x\.png"):
        PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16)
    with pytest.raises(ValueError, match="at least one mask folder"):
        PairedImageFolderDataset(tmp_path / "images", [], 16)


def test_split_masks_thresholds_at_zero_and_checks_its_arguments() -> None:
    batch = torch.tensor([-1.0, -0.2, 0.0, 0.3, 1.0]).reshape(1, 5, 1, 1).expand(2, 5, 3, 4)
    images, masks = split_masks(batch, 2)
    torch.testing.assert_close(images, batch[:, :3])
    assert masks.dtype == torch.bool and masks[:, 0].all() and masks[:, 1].all()
    images, masks = split_masks(batch[0], 3)
    assert images.shape == (2, 3, 4) and masks[:, 0, 0].tolist() == [False, True, True]
    for bad in (0, 5, -1, True, 1.0):
        with pytest.raises(ValueError, match=r"mask_channels must be an int in \[1, 4\]"):
            split_masks(batch, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch must have shape"):
        split_masks(batch[0, 0], 1)
