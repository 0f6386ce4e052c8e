"""Stratified and patient-level splits of real labelled images, nested training fractions and the folder layouts."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from medgan_aug.data import DatasetWriter, ImageFolderDataset, read_manifest, split_by_patient
from medgan_aug.selftrain.splits import (
    SPLIT_METHODS,
    LabelledSubset,
    RealSplits,
    class_fraction,
    load_real_splits,
    stratified_split,
)

NAMES = ("train", "val", "test")


def class_value(k: int) -> int:
    """Grey level of every pixel of a class-``k`` image, so that an image tells its class."""
    return 30 + 60 * k


def write_classes(root: Path, counts: dict[str, int], *, mode: str = "L", start: int = 0) -> None:
    """Write ``counts[name]`` constant 8x8 images into ``root/<name>/``; the value encodes the sorted class index."""
    for k, (name, count) in enumerate(sorted(counts.items())):
        (root / name).mkdir(parents=True, exist_ok=True)
        value = class_value(k)
        for i in range(count):
            colour = value if mode == "L" else (value, value, value)
            Image.new(mode, (8, 8), colour).save(root / name / f"img{start + i:03d}.png")


def class_of(image: torch.Tensor) -> int:
    """Invert :func:`class_value` from an image in [-1, 1]."""
    grey = (float(image.mean()) + 1) / 2 * 255
    return round((grey - 30) / 60)


def per_class(labels: np.ndarray, idx: np.ndarray, n_classes: int) -> list[int]:
    return np.bincount(labels[idx], minlength=n_classes).tolist()


def check_partition(parts: dict[str, np.ndarray], n: int) -> None:
    assert set(parts) == set(NAMES)
    for idx in parts.values():
        assert idx.dtype == np.int64
        assert np.all(np.diff(idx) > 0)  # sorted, no repeats
    joined = np.concatenate([parts[name] for name in NAMES])
    assert np.array_equal(np.sort(joined), np.arange(n))  # disjoint and complete


# ---------------------------------------------------------------------------------------------------------------------
# ImageFolderDataset.class_indices


def test_class_indices_follow_folders_and_mirroring(tmp_path: Path) -> None:
    write_classes(tmp_path, {"b": 2, "a": 3, "c": 1})
    plain = ImageFolderDataset(tmp_path, 8, labels="folders")
    expected = np.array([0, 0, 0, 1, 1, 2])  # items sorted by path: a/..., b/..., c/...
    assert plain.class_indices().dtype == np.int64
    assert np.array_equal(plain.class_indices(), expected)
    mirrored = ImageFolderDataset(tmp_path, 8, labels="folders", mirror=True)
    indices = mirrored.class_indices()
    assert len(indices) == len(mirrored) == 12
    assert np.array_equal(indices, np.concatenate([expected, expected]))
    # Every item's one-hot label agrees with its class index.
    assert all(int(mirrored.get_label(i).argmax()) == indices[i] for i in range(len(mirrored)))


def test_class_indices_needs_classes(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 2})
    with pytest.raises(ValueError, match=r"class_indices.*unconditional"):
        ImageFolderDataset(tmp_path, 8, labels=None).class_indices()
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["a/img000.png", [0.5]], ["a/img001.png", [1.0]]]}))
    with pytest.raises(ValueError, match=r"class_indices.*vectors"):
        ImageFolderDataset(tmp_path, 8, labels="json").class_indices()


# ---------------------------------------------------------------------------------------------------------------------
# stratified_split without groups


def interleaved_labels(sizes: list[int], seed: int = 5) -> np.ndarray:
    labels = np.concatenate([np.full(n, k) for k, n in enumerate(sizes)])
    return np.random.default_rng(seed).permutation(labels)


def test_stratified_counts_are_largest_remainder_per_class() -> None:
    labels = interleaved_labels([10, 7, 3])
    parts = stratified_split(labels, (0.7, 0.15, 0.15), seed=0)
    check_partition(parts, len(labels))
    # By hand: n=10 -> quotas 7, 1.5, 1.5 -> 7, 1, 1 and the leftover to the earlier of the tied halves (val).
    # n=7 -> 4.9, 1.05, 1.05 -> 4, 1, 1 + leftover to train. n=3 -> 2.1, .45, .45 -> 2, 0, 0, leftover to val,
    # then test takes one from the largest split (train) so that every split has the class.
    expected = {"train": [7, 5, 1], "val": [2, 1, 1], "test": [1, 1, 1]}
    for name in NAMES:
        assert per_class(labels, parts[name], 3) == expected[name]


def test_stratified_is_deterministic_per_seed() -> None:
    labels = interleaved_labels([20, 20, 20])
    first = stratified_split(labels, seed=3)
    again = stratified_split(list(labels), seed=3)
    other = stratified_split(labels, seed=4)
    assert all(np.array_equal(first[name], again[name]) for name in NAMES)
    assert not np.array_equal(first["train"], other["train"])
    # Another seed still gives the same stratified counts.
    assert all(per_class(labels, first[n], 3) == per_class(labels, other[n], 3) for n in NAMES)


def test_zero_fraction_gives_empty_split_and_absent_class_is_fine() -> None:
    labels = np.array([0, 0, 0, 0, 0, 2, 2, 2, 2, 2])  # class 1 has no items
    parts = stratified_split(labels, (0.8, 0.2, 0.0))
    check_partition(parts, len(labels))
    assert parts["test"].size == 0
    assert per_class(labels, parts["train"], 3) == [4, 0, 4]
    assert per_class(labels, parts["val"], 3) == [1, 0, 1]


def test_stratified_rejects_small_class_and_bad_input() -> None:
    with pytest.raises(ValueError, match="class 1 has 2 item"):
        stratified_split([0, 0, 0, 1, 1], (0.6, 0.2, 0.2))
    stratified_split([0, 0, 0, 1, 1], (0.5, 0.5, 0.0))  # two non-zero splits: two items suffice
    with pytest.raises(ValueError, match="labels must be class indices >= 0"):
        stratified_split([0, 1, -1, 1])
    with pytest.raises(ValueError, match="labels must be integers"):
        stratified_split([0.0, 1.5, 1.0])
    with pytest.raises(ValueError, match="labels must be a 1-D"):
        stratified_split(np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="labels is empty"):
        stratified_split([])
    with pytest.raises(ValueError, match="fractions must sum to 1"):
        stratified_split([0, 1] * 10, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="fractions must be finite and >= 0"):
        stratified_split([0, 1] * 10, (1.2, -0.2, 0.0))
    with pytest.raises(ValueError, match="groups must give one id per label"):
        stratified_split([0, 1] * 10, groups=["p"] * 19)
    with pytest.raises(ValueError, match="groups must be strings"):
        stratified_split([0, 1] * 10, groups=[str(i) for i in range(19)] + [7])


# ---------------------------------------------------------------------------------------------------------------------
# stratified_split with groups (patients)


def patient_items(strata: dict[int, int], per_patient: int = 3) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """Items of ``strata[k]`` patients per majority class ``k``; patients mix classes, and some are ties."""
    labels: list[int] = []
    groups: list[str] = []
    majority: dict[str, int] = {}
    for k, n_patients in strata.items():
        for p in range(n_patients):
            pid = f"k{k}p{p}"
            if p % 3 == 1:  # a tie between k and k+1: the lower class, k, wins
                own = [k, k + 1] * per_patient
            elif p % 3 == 2:  # a majority of k with one item of another class
                own = [k] * per_patient + [k + 5]
            else:
                own = [k] * per_patient
            labels += own
            groups += [pid] * len(own)
            majority[pid] = k
    order = np.random.default_rng(1).permutation(len(labels))
    return np.array(labels)[order], [groups[i] for i in order], majority


def test_patient_split_keeps_patients_whole_and_stratifies_them() -> None:
    labels, groups, majority = patient_items({0: 10, 2: 5})
    parts = stratified_split(labels, (0.7, 0.15, 0.15), seed=2, groups=groups)
    check_partition(parts, len(labels))
    split_of: dict[str, str] = {}
    for name in NAMES:
        for i in parts[name]:
            assert split_of.setdefault(groups[i], name) == name  # no patient in two splits
    # Patients per split and stratum, by hand: 10 -> 7, 2, 1 (val wins the tied halves); 5 -> 3.5, .75, .75 ->
    # 3, 0, 0, and the two leftovers go to val and test.
    expected = {0: {"train": 7, "val": 2, "test": 1}, 2: {"train": 3, "val": 1, "test": 1}}
    for k, counts in expected.items():
        for name, count in counts.items():
            assert sum(1 for pid, s in split_of.items() if s == name and majority[pid] == k) == count
    again = stratified_split(labels, (0.7, 0.15, 0.15), seed=2, groups=groups)
    assert all(np.array_equal(parts[n], again[n]) for n in NAMES)


def test_small_strata_fill_train_then_val() -> None:
    labels, groups, majority = patient_items({0: 5, 3: 2})
    parts = stratified_split(labels, (0.7, 0.15, 0.15), seed=0, groups=groups)
    check_partition(parts, len(labels))
    small = {name: {groups[i] for i in parts[name] if majority[groups[i]] == 3} for name in NAMES}
    assert [len(small[name]) for name in NAMES] == [1, 1, 0]


def test_patient_split_fails_when_a_split_gets_no_patient() -> None:
    labels, groups, _ = patient_items({0: 1, 2: 2})  # no stratum has three patients: test stays empty
    with pytest.raises(ValueError, match=r"groups: .*no group for split\(s\) \['test'\]"):
        stratified_split(labels, (0.7, 0.15, 0.15), groups=groups)
    parts = stratified_split(labels, (0.7, 0.3, 0.0), groups=groups)
    check_partition(parts, len(labels))


# ---------------------------------------------------------------------------------------------------------------------
# class_fraction


def test_class_fraction_counts_and_nesting() -> None:
    labels = interleaved_labels([10, 5, 1, 3])
    kept = {f: class_fraction(labels, f, seed=7) for f in (0.3, 0.5, 0.7, 1.0)}
    # max(1, round half up of f * n) per class, by hand.
    assert per_class(labels, kept[0.3], 4) == [3, 2, 1, 1]
    assert per_class(labels, kept[0.5], 4) == [5, 3, 1, 2]
    assert per_class(labels, kept[0.7], 4) == [7, 4, 1, 2]
    assert np.array_equal(kept[1.0], np.arange(len(labels)))
    assert set(kept[0.3]) <= set(kept[0.5]) <= set(kept[0.7])
    for idx in kept.values():
        assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    assert np.array_equal(class_fraction(labels, 0.5, seed=7), kept[0.5])
    assert not np.array_equal(class_fraction(labels, 0.5, seed=8), kept[0.5])


@pytest.mark.parametrize("fraction", [0, 0.0, -0.1, 1.5, float("nan"), True, "0.5"])
def test_class_fraction_rejects_bad_fraction(fraction: object) -> None:
    with pytest.raises(ValueError, match="fraction must"):
        class_fraction([0, 1, 1], fraction)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------------
# LabelledSubset


def test_labelled_subset_items_and_checks(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 3, "b": 3})
    base = ImageFolderDataset(tmp_path, 8, labels="folders")
    subset = LabelledSubset(base, [5, 0, 3], np.array([1, 0, 1]))
    assert len(subset) == 3
    for i, (image, label) in enumerate([subset[0], subset[1], subset[2]]):
        assert torch.equal(image, base[int(subset.indices[i])][0])
        assert label.dtype == torch.int64 and label.ndim == 0 and int(label) == class_of(image)
    assert int(subset[-1][1]) == 1
    with pytest.raises(IndexError):
        subset[3]
    bare = LabelledSubset([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)], [1], [4])
    assert torch.equal(bare[0][0], torch.ones(1, 2, 2)) and int(bare[0][1]) == 4
    restored = pickle.loads(pickle.dumps(subset))
    assert np.array_equal(restored.indices, subset.indices) and torch.equal(restored[1][0], subset[1][0])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 6\)"):
        LabelledSubset(base, [6], [0])
    with pytest.raises(ValueError, match="labels must be as long as indices"):
        LabelledSubset(base, [0, 1], [0])
    with pytest.raises(ValueError, match="labels must be class indices >= 0"):
        LabelledSubset(base, [0], [-1])
    with pytest.raises(ValueError, match="indices must be integers"):
        LabelledSubset(base, [0.5], [0])


def test_labelled_subset_in_dataloader_workers(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 4, "b": 4})
    splits = load_real_splits(tmp_path, 8, fractions=(0.5, 0.25, 0.25))
    loader = DataLoader(splits.train, batch_size=3, num_workers=2)
    images, labels = zip(*loader, strict=True)
    images_all, labels_all = torch.cat(images), torch.cat(labels)
    assert images_all.shape == (4, 1, 8, 8) and labels_all.dtype == torch.int64
    assert labels_all.tolist() == splits.train_labels.tolist()
    assert [class_of(image) for image in images_all] == labels_all.tolist()


# ---------------------------------------------------------------------------------------------------------------------
# load_real_splits


def assert_labels_match_images(subset: LabelledSubset) -> None:
    assert [class_of(subset[i][0]) for i in range(len(subset))] == subset.labels.tolist()


def test_stratified_layout(tmp_path: Path) -> None:
    write_classes(tmp_path, {"benign": 10, "malignant": 7})
    splits = load_real_splits(tmp_path, 8, fractions=(0.7, 0.15, 0.15), seed=1)
    assert splits.method == "stratified" and splits.class_names == ("benign", "malignant")
    assert splits.num_channels == 1 and splits.resolution == 8
    # Same hand-computed numbers as in test_stratified_counts_are_largest_remainder_per_class.
    assert np.bincount(splits.train_labels).tolist() == [7, 5]
    assert np.bincount(splits.val_labels).tolist() == [2, 1]
    assert splits.test is not None and np.bincount(splits.test_labels).tolist() == [1, 1]
    indices = np.concatenate([splits.train.indices, splits.val.indices, splits.test.indices])
    assert np.array_equal(np.sort(indices), np.arange(17))
    for subset in (splits.train, splits.val, splits.test):
        assert_labels_match_images(subset)
    info = splits.describe()
    assert json.loads(json.dumps(info)) == info
    assert info["method"] == "stratified" and info["class_names"] == ["benign", "malignant"]
    assert info["splits"]["train"] == {"count": 12, "per_class": [7, 5]}
    assert info["splits"]["test"] == {"count": 2, "per_class": [1, 1]}
    no_test = load_real_splits(tmp_path, 8, fractions=(0.8, 0.2, 0.0))
    assert no_test.test is None and no_test.test_labels is None and no_test.describe()["splits"]["test"] is None


def test_with_train_fraction_nests_and_keeps_val(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 14, "b": 8})
    splits = load_real_splits(tmp_path, 8, fractions=(0.5, 0.25, 0.25))
    assert np.bincount(splits.train_labels).tolist() == [7, 4]
    smaller = splits.with_train_fraction(0.3, seed=2)
    larger = splits.with_train_fraction(0.7, seed=2)
    assert np.bincount(smaller.train_labels).tolist() == [2, 1]  # round(2.1), round(1.2)
    assert np.bincount(larger.train_labels).tolist() == [5, 3]  # round(4.9), round(2.8)
    assert set(smaller.train.indices) <= set(larger.train.indices) <= set(splits.train.indices)
    assert smaller.val is splits.val and smaller.test is splits.test and smaller.method == splits.method
    assert_labels_match_images(smaller.train)
    with pytest.raises(ValueError, match="fraction must"):
        splits.with_train_fraction(0.0)


def test_test_folder_folds_the_test_share(tmp_path: Path) -> None:
    write_classes(tmp_path / "all", {"a": 10, "b": 10})
    write_classes(tmp_path / "held_out", {"a": 2, "b": 3})
    splits = load_real_splits(tmp_path / "all", 8, test=tmp_path / "held_out", fractions=(0.7, 0.15, 0.15))
    assert splits.method == "stratified"
    # Shares become 0.7/0.85 and 0.15/0.85: 8.24 and 1.76 per class of 10 -> 8 and 2.
    assert np.bincount(splits.train_labels).tolist() == [8, 8]
    assert np.bincount(splits.val_labels).tolist() == [2, 2]
    assert splits.test is not None and splits.test_labels.tolist() == [0, 0, 1, 1, 1]
    assert_labels_match_images(splits.test)


def test_caller_layout(tmp_path: Path) -> None:
    write_classes(tmp_path / "tr", {"x": 3, "y": 2})
    write_classes(tmp_path / "va", {"x": 1, "y": 2})
    write_classes(tmp_path / "te", {"x": 2, "y": 1})
    splits = load_real_splits(tmp_path / "tr", 8, val=tmp_path / "va", test=tmp_path / "te")
    assert splits.method == "caller"
    assert splits.train_labels.tolist() == [0, 0, 0, 1, 1]
    assert splits.val_labels.tolist() == [0, 1, 1]
    assert splits.test_labels is not None and splits.test_labels.tolist() == [0, 0, 1]
    for subset in (splits.train, splits.val, splits.test):
        assert_labels_match_images(subset)
    assert load_real_splits(tmp_path / "tr", 8, val=tmp_path / "va").test is None


def test_folders_layout_from_dataset_writer(tmp_path: Path) -> None:
    patients = [f"p{i}" for i in range(10)]
    assignment = split_by_patient(patients, (0.6, 0.2, 0.2), seed=0)
    out = tmp_path / "ds"
    with DatasetWriter(out, split=assignment) as writer:
        for i, pid in enumerate(patients):
            k = i % 2
            for j in range(2):
                writer.add(np.full((8, 8), class_value(k), np.uint8), ["cyst", "mass"][k], f"{pid}_{j}", patient_id=pid)
    splits = load_real_splits(out, 8)
    assert splits.method == "folders" and splits.class_names == ("cyst", "mass")
    expected = {
        name: sorted(int(p[1:]) % 2 for p, s in assignment.items() if s == name for _ in range(2)) for name in NAMES
    }
    assert splits.train_labels.tolist() == expected["train"]
    assert splits.val_labels.tolist() == expected["val"]
    assert splits.test_labels is not None and splits.test_labels.tolist() == expected["test"]
    for subset in (splits.train, splits.val, splits.test):
        assert_labels_match_images(subset)
    with pytest.raises(ValueError, match="ambiguous"):
        load_real_splits(out, 8, val=out / "val")
    with pytest.raises(ValueError, match="ambiguous"):
        load_real_splits(out, 8, test=out / "test")


def test_folders_layout_without_test_and_without_val(tmp_path: Path) -> None:
    write_classes(tmp_path / "train", {"a": 2, "b": 2})
    write_classes(tmp_path / "val", {"a": 1, "b": 1})
    splits = load_real_splits(tmp_path, 8)
    assert splits.method == "folders" and splits.test is None and len(splits.val) == 2
    (tmp_path / "val").rename(tmp_path / "test")
    with pytest.raises(FileNotFoundError, match=r"val folder .*val"):
        load_real_splits(tmp_path, 8)


def test_patient_layout_from_manifest(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with DatasetWriter(out, manifest="json") as writer:
        for p in range(12):
            k = p % 2
            for j in range(3):
                writer.add(np.full((8, 8), class_value(k), np.uint8), ["a", "b"][k], f"p{p}_{j}", patient_id=f"p{p}")
    splits = load_real_splits(out, 8, fractions=(0.5, 0.25, 0.25), seed=3)
    assert splits.method == "patient"
    rows = {row["file"]: row["patient_id"] for row in read_manifest(out / "manifest.json")}
    dataset = splits.train.base
    assert isinstance(dataset, ImageFolderDataset)
    seen: dict[str, str] = {}
    for name, subset in zip(NAMES, (splits.train, splits.val, splits.test), strict=True):
        assert subset is not None
        for i in subset.indices:
            pid = rows[dataset.paths[i].relative_to(out).as_posix()]
            assert seen.setdefault(pid, name) == name
    # 6 patients per class: 3, 1.5, 1.5 -> 3, 2, 1 patients of 3 images each.
    assert np.bincount(splits.train_labels).tolist() == [9, 9]
    assert np.bincount(splits.val_labels).tolist() == [6, 6]
    assert np.bincount(splits.test_labels).tolist() == [3, 3]
    assert_labels_match_images(splits.val)


def test_incomplete_manifest_falls_back_to_stratified(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 6, "b": 6})
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))

    def manifest(rows: list[dict[str, str]], fields: list[str]) -> None:
        with open(tmp_path / "manifest.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    manifest([{"file": f, "label": f[0]} for f in files], ["file", "label"])
    assert load_real_splits(tmp_path, 8).method == "stratified"  # no patient ids: no warning
    manifest([{"file": f, "patient_id": str(i // 2)} for i, f in enumerate(files[:-1])], ["file", "patient_id"])
    with pytest.warns(UserWarning, match=r"no patient_id for 1 of 12 images \(e.g. b/img005.png\)"):
        assert load_real_splits(tmp_path, 8).method == "stratified"
    rows = [{"file": f, "patient_id": str(i // 2)} for i, f in enumerate(files)]
    rows[0]["patient_id"] = ""
    manifest(rows, ["file", "patient_id"])
    with pytest.warns(UserWarning, match="no patient_id for 1 of 12 images"):
        load_real_splits(tmp_path, 8)
    rows[0]["patient_id"] = "0"
    manifest(rows, ["file", "patient_id"])
    assert load_real_splits(tmp_path, 8, fractions=(0.5, 0.25, 0.25)).method == "patient"


def test_class_name_and_channel_mismatch(tmp_path: Path) -> None:
    write_classes(tmp_path / "tr", {"x": 3, "y": 2})
    write_classes(tmp_path / "va", {"x": 1, "z": 2})
    with pytest.raises(ValueError, match=r"val folder .*va differ .*training folder .*tr: .*\['y'\].*\['z'\]"):
        load_real_splits(tmp_path / "tr", 8, val=tmp_path / "va")
    write_classes(tmp_path / "te", {"x": 1, "y": 1}, mode="RGB")
    write_classes(tmp_path / "va2", {"x": 1, "y": 1})
    with pytest.raises(ValueError, match=r"test folder .*te has 3-channel .*training folder .*tr has 1-channel"):
        load_real_splits(tmp_path / "tr", 8, val=tmp_path / "va2", test=tmp_path / "te")
    with pytest.raises(ValueError, match=r"test folder .*te differ"):
        load_real_splits(tmp_path / "va", 8, test=tmp_path / "te")


def test_load_real_splits_bad_arguments(tmp_path: Path) -> None:
    write_classes(tmp_path / "tr", {"x": 4, "y": 4})
    with pytest.raises(FileNotFoundError, match=r"val folder .*nowhere does not exist"):
        load_real_splits(tmp_path / "tr", 8, val=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"test folder .*gone"):
        load_real_splits(tmp_path / "tr", 8, test=tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match=r"dataset folder .*missing"):
        load_real_splits(tmp_path / "missing", 8)
    with pytest.raises(ValueError, match="fractions must sum to 1"):
        load_real_splits(tmp_path / "tr", 8, fractions=(0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match="fractions must give val a share > 0"):
        load_real_splits(tmp_path / "tr", 8, fractions=(0.8, 0.0, 0.2))
    with pytest.raises(ValueError, match="resolution must be an integer >= 4"):
        load_real_splits(tmp_path / "tr", 3)
    write_classes(tmp_path / "tiny", {"x": 1, "y": 4})
    with pytest.raises(ValueError, match="class 0 has 1 item"):
        load_real_splits(tmp_path / "tiny", 8)


def test_real_splits_rejects_unknown_method(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 1})
    subset = LabelledSubset(ImageFolderDataset(tmp_path, 8, labels="folders"), [0], [0])
    assert "folders" in SPLIT_METHODS
    with pytest.raises(ValueError, match="method must be one of"):
        RealSplits(subset, subset, None, ("a",), "random", 1, 8)
