"""split_by_patient and the all-or-nothing DatasetWriter, read back with Pillow and the manifest readers."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medgan_aug.data import SPLITS, DatasetWriter, ImageFolderDataset, read_manifest, split_by_patient


def gray(value: int = 100, shape: tuple[int, int] = (6, 5), dtype: type = np.uint8) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)


def entries(folder: Path) -> list[str]:
    """Names in ``folder``, hidden ones (staging and set-aside folders) included."""
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------------------------------------------------------------
# split_by_patient


def test_split_keeps_each_patient_whole_and_is_deterministic() -> None:
    # Three slices per patient: the split is over the 20 distinct patients, not the 60 images.
    ids = [f"p{i:02d}" for i in range(20) for _ in range(3)]
    assignment = split_by_patient(ids, (0.6, 0.2, 0.2), seed=7)
    assert set(assignment) == set(ids) and set(assignment.values()) == set(SPLITS)
    assert Counter(assignment.values()) == {"train": 12, "val": 4, "test": 4}
    assert split_by_patient(reversed(ids), (0.6, 0.2, 0.2), seed=7) == assignment  # input order does not matter
    assert split_by_patient(ids, (0.6, 0.2, 0.2), seed=8) != assignment


def test_split_is_contiguous_blocks_of_the_documented_shuffle() -> None:
    ids = [f"case-{i}" for i in range(10)]
    assignment = split_by_patient(ids, (0.8, 0.1, 0.1), seed=3)
    shuffled = [sorted(ids)[i] for i in np.random.default_rng(3).permutation(10)]
    assert [assignment[p] for p in shuffled] == ["train"] * 8 + ["val", "test"]


@pytest.mark.parametrize(
    ("n", "fractions", "expected"),
    [
        # 5.6, 0.7, 0.7: floors 5, 0, 0 and the two leftovers go to the largest remainders (0.7, 0.7).
        (7, (0.8, 0.1, 0.1), (5, 1, 1)),
        # 2.4, 0.3, 0.3 -> 3, 0, 0 by remainders; val and test then take one each from train.
        (3, (0.8, 0.1, 0.1), (1, 1, 1)),
        # 3.5, 3.5, 0 -> the leftover goes to the earlier of the tied remainders; test stays empty.
        (7, (0.5, 0.5, 0.0), (4, 3, 0)),
        (1, (1.0, 0.0, 0.0), (1, 0, 0)),
        (10, (0.7, 0.2, 0.1), (7, 2, 1)),
    ],
)
def test_split_counts_follow_largest_remainder(n: int, fractions: tuple, expected: tuple) -> None:
    counts = Counter(split_by_patient([str(i) for i in range(n)], fractions).values())
    assert tuple(counts[s] for s in SPLITS) == expected


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ((0.8, 0.1), "three numbers"),
        ((0.8, 0.3, -0.1), ">= 0"),
        ((0.8, 0.1, float("nan")), "finite"),
        ((0.8, 0.1, 0.05), "sum to 1"),
        ("abc", "three numbers"),
    ],
)
def test_split_rejects_bad_fractions(fractions: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_by_patient(["a", "b", "c", "d"], fractions)  # type: ignore[arg-type]


def test_split_needs_a_patient_per_nonzero_fraction() -> None:
    with pytest.raises(ValueError, match="2 distinct patients cannot fill 3 splits"):
        split_by_patient(["a", "b", "b"], (0.8, 0.1, 0.1))
    assert split_by_patient(["a", "b"], (0.5, 0.5, 0.0)).keys() == {"a", "b"}


# ---------------------------------------------------------------------------------------------------------------------
# DatasetWriter


def test_writes_pngs_with_their_exact_pixels_and_a_csv_manifest(tmp_path: Path) -> None:
    out = tmp_path / "data" / "set"  # the parent is created
    g16 = np.arange(30, dtype=np.uint16).reshape(6, 5) * 2000
    with DatasetWriter(out, bits=16) as writer:
        assert writer.add(g16, "benign", "a", source="x.dcm", slice=3) == "benign/a.png"
        assert writer.add(gray(7, dtype=np.uint16), "malignant", "b", view="CC") == "malignant/b.png"
        assert not out.exists()  # nothing is visible before the block ends
    with Image.open(out / "benign" / "a.png") as image:
        assert image.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(image), g16)
    with open(out / "manifest.csv", newline="") as f:
        assert next(csv.reader(f)) == ["file", "label", "source", "slice", "view"]
    assert read_manifest(out / "manifest.csv") == [
        {"file": "benign/a.png", "label": "benign", "source": "x.dcm", "slice": "3", "view": ""},
        {"file": "malignant/b.png", "label": "malignant", "source": "", "slice": "", "view": "CC"},
    ]
    assert entries(tmp_path / "data") == ["set"]  # no staging folder left beside it
    dataset = ImageFolderDataset(out, 4, labels="folders")
    assert dataset.class_names == ["benign", "malignant"] and dataset.num_channels == 1


def test_json_manifest_keeps_types_and_rgb_pixels_round_trip(tmp_path: Path) -> None:
    colour = np.random.default_rng(0).integers(0, 256, size=(4, 7, 3), dtype=np.uint8)
    with DatasetWriter(tmp_path / "out", manifest="json") as writer:
        writer.add(colour, "lesion", "c1", age=np.int64(61), score=np.float32(0.25), ok=True, note=None)
        assert writer.rows == [
            {"file": "lesion/c1.png", "label": "lesion", "age": 61, "score": 0.25, "ok": True, "note": None}
        ]
        writer.rows.clear()  # a copy: the writer keeps its rows
    rows = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert rows == [{"file": "lesion/c1.png", "label": "lesion", "age": 61, "score": 0.25, "ok": True, "note": None}]
    assert read_manifest(tmp_path / "out" / "manifest.json") == rows
    with Image.open(tmp_path / "out" / "lesion" / "c1.png") as image:
        assert image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), colour)


def test_split_folders_follow_the_patient(tmp_path: Path) -> None:
    split = {"p1": "train", "p2": "test"}
    with DatasetWriter(tmp_path / "out", split=split) as writer:
        assert writer.add(gray(), "mass", "s0", patient_id="p1") == "train/mass/s0.png"
        assert writer.add(gray(), "mass", "s1", patient_id="p2") == "test/mass/s1.png"
        assert writer.add(gray(), "calc", "s2", patient_id="p1") == "train/calc/s2.png"
        with pytest.raises(ValueError, match="needs a patient_id"):
            writer.add(gray(), "mass", "s3")
        with pytest.raises(ValueError, match="'p9' is not in the split"):
            writer.add(gray(), "mass", "s4", patient_id="p9")
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    assert [(r["file"], r["patient_id"], r["split"]) for r in rows] == [
        ("train/mass/s0.png", "p1", "train"),
        ("test/mass/s1.png", "p2", "test"),
        ("train/calc/s2.png", "p1", "train"),
    ]
    assert list(rows[0]) == ["file", "label", "patient_id", "split"]
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == [
        "test/mass/s1.png",
        "train/calc/s2.png",
        "train/mass/s0.png",
    ]
    with pytest.raises(ValueError, match=r"\['holdout'\]"):
        DatasetWriter(tmp_path / "other", split={"p1": "holdout"})


def test_exception_inside_the_block_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), DatasetWriter(tmp_path / "out") as writer:
        writer.add(gray(), "a", "x")
        assert len(entries(tmp_path)) == 1 and entries(tmp_path)[0].startswith(".out.tmp-")
        raise RuntimeError("boom")
    assert entries(tmp_path) == []


def test_existing_folder_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with DatasetWriter(out) as writer:  # an empty folder is fine
        writer.add(gray(), "a", "x")
    assert (out / "a" / "x.png").is_file()
    with pytest.raises(FileExistsError, match=r"out exists and is not empty.*overwrite"):
        DatasetWriter(out)
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError, match="not a directory"):
        DatasetWriter(tmp_path / "file", overwrite=True)


def test_overwrite_replaces_only_after_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)
    (out / "old" / "keep.txt").write_text("previous dataset")

    with pytest.raises(KeyError), DatasetWriter(out, overwrite=True) as writer:
        writer.add(gray(), "new", "x")
        raise KeyError("interrupted")
    assert entries(tmp_path) == ["out"] and entries(out) == ["old"]  # failed run: old folder intact

    with DatasetWriter(out, overwrite=True) as writer:
        writer.add(gray(), "new", "x")
        assert (out / "old" / "keep.txt").read_text() == "previous dataset"  # still there while writing
    assert entries(tmp_path) == ["out"]  # no staging or set-aside folder left
    assert entries(out) == ["manifest.csv", "new"]


def test_folder_filled_meanwhile_is_not_clobbered(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(FileExistsError, match="not empty"), DatasetWriter(out) as writer:
        writer.add(gray(), "a", "x")
        out.mkdir()
        (out / "theirs.txt").write_text("someone else's")
    assert entries(out) == ["theirs.txt"] and entries(tmp_path) == ["out"]


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "..", ".", ".hidden", 3])
def test_label_and_name_must_be_plain_path_components(tmp_path: Path, bad: object) -> None:
    with DatasetWriter(tmp_path / "out") as writer:
        with pytest.raises(ValueError, match="label"):
            writer.add(gray(), bad, "x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="name"):
            writer.add(gray(), "a", bad)  # type: ignore[arg-type]
        writer.add(gray(), "a", "x")
    assert [r["file"] for r in read_manifest(tmp_path / "out" / "manifest.csv")] == ["a/x.png"]


def test_duplicates_and_bad_pixels_are_rejected(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "out8") as writer:
        writer.add(gray(), "a", "x")
        with pytest.raises(ValueError, match="used twice"):
            writer.add(gray(), "a", "x")
        with pytest.raises(ValueError, match="used twice"):
            writer.add(gray(), "A", "X")  # would collide on a case-insensitive file system
        writer.add(gray(), "b", "x")  # same name, other label: fine
        with pytest.raises(ValueError, match=r"must be uint8.*encode_pixels\(\.\.\., bits=8\)"):
            writer.add(gray(dtype=np.uint16), "a", "y")
        with pytest.raises(ValueError, match="shape"):
            writer.add(np.zeros((4, 4, 4), dtype=np.uint8), "a", "y")
        with pytest.raises(ValueError, match="cannot mix grayscale and colour"):
            writer.add(np.zeros((4, 4, 3), dtype=np.uint8), "a", "y")
        with pytest.raises(ValueError, match="reserved"):
            writer.add(gray(), "a", "y", split="train")
        with pytest.raises(ValueError, match="'when' must be a string, number"):
            writer.add(gray(), "a", "y", when=object())
        with pytest.raises(ValueError, match="must be finite"):
            writer.add(gray(), "a", "y", score=float("nan"))
    assert len(read_manifest(tmp_path / "out8" / "manifest.csv")) == 2

    with DatasetWriter(tmp_path / "out16", bits=16) as writer, pytest.raises(ValueError, match="use 8 bits for RGB"):
        writer.add(np.zeros((4, 4, 3), dtype=np.uint16), "a", "rgb")


def test_writer_misuse(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "out")
    with pytest.raises(RuntimeError, match="inside its with-block"):
        writer.add(gray(), "a", "x")
    with writer:
        pass
    assert read_manifest(tmp_path / "out" / "manifest.csv") == []
    with pytest.raises(RuntimeError, match="only once"), writer:
        pass
    with pytest.raises(ValueError, match="manifest must be"):
        DatasetWriter(tmp_path / "x", manifest="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bits must be 8 or 16"):
        DatasetWriter(tmp_path / "x", bits=12)  # type: ignore[arg-type]


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"rows\.txt.*\.csv or \.json"):
        read_manifest(tmp_path / "rows.txt")
    (tmp_path / "m.json").write_text('{"file": "a.png"}')
    with pytest.raises(ValueError, match=r"m\.json.*list of objects"):
        read_manifest(tmp_path / "m.json")
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(ValueError, match=r"broken\.json.*not valid JSON"):
        read_manifest(tmp_path / "broken.json")


def test_overwrite_through_a_symlink_replaces_its_target(tmp_path: Path) -> None:
    target = tmp_path / "disk" / "dataset"
    target.mkdir(parents=True)
    (target / "old.txt").write_text("old")
    link = tmp_path / "dataset"
    link.symlink_to(target, target_is_directory=True)
    with DatasetWriter(link, overwrite=True) as writer:
        writer.add(gray(), "a", "x")
    assert link.is_symlink() and entries(target) == ["a", "manifest.csv"]
    assert entries(tmp_path / "disk") == ["dataset"]


# ---------------------------------------------------------------------------------------------------------------------
# Paired images and masks


def test_masks_are_written_beside_their_images_with_manifest_columns(tmp_path: Path) -> None:
    out = tmp_path / "out"
    mask = np.zeros((6, 5), dtype=bool)
    mask[1:4, 2:] = True  # 9 of 30 pixels
    labelled = np.where(mask, 3, 0).astype(np.int32)  # one label value: fine
    split = {"p1": "train", "p2": "val"}
    with DatasetWriter(out, split=split, masks=True, manifest="json") as writer:
        assert writer.add(gray(), "mass", "a", mask=mask, patient_id="p1") == "train/images/mass/a.png"
        assert (
            writer.add(gray(), "mass", "b", mask=labelled, patient_id="p2", foreground=0.5) == "val/images/mass/b.png"
        )
    rows = read_manifest(out / "manifest.json")
    assert rows == [
        {
            "file": "train/images/mass/a.png",
            "label": "mass",
            "mask": "train/masks/mass/a.png",
            "patient_id": "p1",
            "foreground": 0.3,
            "split": "train",
        },
        {
            "file": "val/images/mass/b.png",
            "label": "mass",
            "mask": "val/masks/mass/b.png",
            "patient_id": "p2",
            "foreground": 0.5,  # given fields are kept
            "split": "val",
        },
    ]
    for row in rows:
        with Image.open(out / row["mask"]) as png:
            assert png.mode == "L"
            np.testing.assert_array_equal(np.asarray(png), mask.astype(np.uint8) * 255)
        with Image.open(out / row["file"]) as png:
            np.testing.assert_array_equal(np.asarray(png), gray())
    assert sorted(p.name for p in (out / "train").iterdir()) == ["images", "masks"]


def test_csv_manifest_of_a_paired_writer_puts_mask_after_label(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "out", masks=True) as writer:
        writer.add(gray(), "a", "x", mask=np.ones((6, 5), dtype=np.uint8), view="CC")
    with open(tmp_path / "out" / "manifest.csv", newline="") as f:
        assert next(csv.reader(f)) == ["file", "label", "mask", "view", "foreground"]
    assert read_manifest(tmp_path / "out" / "manifest.csv")[0]["foreground"] == "1.0"


def test_bad_masks_are_named(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "out", masks=True) as writer:
        with pytest.raises(ValueError, match="image a/x: a writer with masks=True needs a mask"):
            writer.add(gray(), "a", "x")
        with pytest.raises(
            ValueError, match=r"image a/x: mask has shape \(5, 6\), the image's height x width is \(6, 5\)"
        ):
            writer.add(gray(), "a", "x", mask=np.zeros((5, 6), dtype=bool))
        with pytest.raises(ValueError, match="image a/x: mask must be a bool or integer numpy array, got float64"):
            writer.add(gray(), "a", "x", mask=np.zeros((6, 5)))
        with pytest.raises(ValueError, match=r"image a/x: mask holds several foreground values \(1, 2\)"):
            writer.add(gray(), "a", "x", mask=np.arange(30).reshape(6, 5) % 3)
        writer.add(gray(), "a", "x", mask=np.zeros((6, 5), dtype=bool))
    assert len(read_manifest(tmp_path / "out" / "manifest.csv")) == 1
    with DatasetWriter(tmp_path / "plain") as writer, pytest.raises(ValueError, match="without masks=True"):
        writer.add(gray(), "a", "x", mask=np.zeros((6, 5), dtype=bool))
