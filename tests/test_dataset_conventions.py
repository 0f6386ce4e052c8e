"""Datasets take transform=, the slicer gives an in-memory dataset, and the range/label conversions are exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medgan_aug.data import (
    ImageFolderDataset,
    PairedImageFolderDataset,
    PlaneDataset,
    Volume,
    VolumeSlicer,
    class_index,
    one_hot,
    signed_to_unit,
    unit_to_signed,
    write_nrrd,
)
from tests.test_paired import box_mask, save
from tests.test_volume_slicer import _phantom


def _flip(image: torch.Tensor) -> torch.Tensor:
    return image.flip(-1)


def _class_folders(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        for i in range(2):
            save(root / name / f"{i}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    return root


def test_image_folder_transform_sees_the_image_and_keeps_the_label(tmp_path: Path) -> None:
    root = _class_folders(tmp_path / "images")
    plain = ImageFolderDataset(root, 8)
    flipped = ImageFolderDataset(root, 8, transform=_flip)
    for i in range(len(plain)):
        image, label = plain[i]
        torch.testing.assert_close(flipped[i][0], image.flip(-1), rtol=0, atol=0)
        torch.testing.assert_close(flipped[i][1], label, rtol=0, atol=0)
    with pytest.raises(TypeError, match="transform must be callable, got str"):
        ImageFolderDataset(root, 8, transform="flip")


def test_paired_transform_moves_image_and_masks_together(tmp_path: Path) -> None:
    save(tmp_path / "images" / "x.png", box_mask().astype(np.uint8) * 255)
    save(tmp_path / "masks" / "x.png", box_mask().astype(np.uint8) * 255)
    seen = []

    def record_and_flip(item: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(item.shape))
        return item.flip(-1)

    plain = PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16)
    paired = PairedImageFolderDataset(tmp_path / "images", tmp_path / "masks", 16, transform=record_and_flip)
    item, _ = paired[0]
    assert seen == [(2, 16, 16)]
    torch.testing.assert_close(item, plain[0][0].flip(-1), rtol=0, atol=0)
    # The mask channel is still the thresholded image of the same box after the flip.
    assert torch.equal(item[1] > 0, item[0] > 0)


def test_range_conversions_are_the_definitions():
    unit = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    torch.testing.assert_close(unit_to_signed(unit), torch.tensor([-1.0, -0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(
        signed_to_unit(torch.tensor([-1.2, -1.0, 0.0, 0.5, 1.0, 1.1])), torch.tensor([0, 0, 0.5, 0.75, 1, 1.0])
    )
    roundtrip = torch.rand(100, dtype=torch.float64)
    torch.testing.assert_close(signed_to_unit(unit_to_signed(roundtrip)), roundtrip)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got values in \[0, 255\].*dividing by 255"):
        unit_to_signed(torch.tensor([0.0, 255.0]))
    with pytest.raises(ValueError, match=r"got values in \[-1, 1\].*need no conversion"):
        unit_to_signed(torch.tensor([-1.0, 1.0]))
    with pytest.raises(TypeError, match=r"floating-point tensor, got a torch\.uint8 tensor"):
        unit_to_signed(torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(TypeError, match="floating-point tensor, got list"):
        signed_to_unit([0.0])


def test_label_conversions_round_trip_and_check_ranges():
    labels = torch.tensor([2, 0, 1, 2])
    hot = one_hot(labels, 3)
    assert hot.dtype == torch.float32 and hot.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert torch.equal(class_index(hot), labels)
    assert torch.equal(class_index(torch.tensor([[0.2, 0.7, 0.1], [0.5, 0.5, 0.0]])), torch.tensor([1, 0]))
    assert class_index(labels.int()).dtype == torch.int64
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\], got values in \[0, 3\]"):
        one_hot(torch.tensor([0, 3]), 3)
    with pytest.raises(TypeError, match="1-D integer tensor"):
        one_hot(torch.tensor([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        one_hot(labels, 0)
    with pytest.raises(ValueError, match=r"\[N, K\] one-hot floats or \[N\] integer indices"):
        class_index(torch.zeros(2, 2, 2))


def test_slicer_dataset_holds_the_planes_with_integer_labels(tmp_path: Path) -> None:
    volume = _phantom()
    slicer = VolumeSlicer(["coronal", "axial"], [0.0], size=16, noise_margin=3, orientation="index")
    planes = list(slicer.planes(volume))
    dataset = slicer.dataset([volume, volume])
    assert len(dataset) == 2 * len(planes)
    assert dataset.class_names == ["axial", "coronal", "noise"]
    for i, plane in enumerate(planes):
        image, label = dataset[i]
        assert image.dtype == torch.float32 and image.shape == (1, 16, 16)
        np.testing.assert_array_equal(image[0].numpy(), plane.image)
        assert label.dtype == torch.int64 and dataset.class_names[int(label)] == plane.label
    # From a file, with the classes of another set and a transform.
    path = write_nrrd(volume, tmp_path / "case.nrrd")
    other = slicer.dataset([path], class_names=["noise", "coronal", "axial", "sagittal"], transform=unit_to_signed)
    image, label = other[0]
    np.testing.assert_allclose(image[0].numpy(), planes[0].image * 2 - 1, atol=1e-6)
    assert other.class_names[int(label)] == planes[0].label and int(label) == ["noise", "coronal", "axial"].index(
        planes[0].label
    )


def test_slicer_dataset_bad_input(tmp_path: Path) -> None:
    volume = _phantom()
    slicer = VolumeSlicer(["coronal"], [0.0], size=16, noise_margin=3, orientation="index")
    with pytest.raises(ValueError, match="volumes is empty"):
        slicer.dataset([])
    with pytest.raises(ValueError, match="masks has 2 entries for 1 volumes"):
        slicer.dataset([volume], masks=[None, None])
    with pytest.raises(ValueError, match=r"labels \['noise'\] that are not in class_names \['coronal'\]"):
        slicer.dataset([volume], class_names=["coronal"])
    with pytest.raises(ValueError, match="class_names must be distinct"):
        slicer.dataset([volume], class_names=["coronal", "noise", "coronal"])
    with pytest.raises(ValueError, match="planes is empty"):
        PlaneDataset([])
    flat = Volume.from_array(np.zeros((4, 4, 4)), spacing=(1, 1, 1))
    with pytest.raises(FileNotFoundError):
        slicer.dataset([tmp_path / "missing.nrrd"])
    assert len(VolumeSlicer(["axial"], [0.0], size=4, orientation="index").dataset([flat])) == 4
