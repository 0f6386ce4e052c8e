"""Mixed real/synthetic training indexes: exact counts per class, sampling, errors, no copying."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medgan_aug.data import MixReport, mix_datasets, read_index
from medgan_aug.generate import synthesize
from medgan_aug.nets import StyleGenerator


def make_folder(root: Path, counts: dict[str, int]) -> Path:
    for label, count in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((2, 2), i % 256, np.uint8)).save(root / label / f"img{i:03d}.png")
    return root


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    real = make_folder(tmp_path / "real", {"benign": 20, "malignant": 8, "normal": 4})
    synthetic = make_folder(tmp_path / "synthetic", {"class0": 50, "class1": 50, "class2": 50})
    return real, synthetic


def counts_in(index: Path) -> dict[tuple[str, str], int]:
    return dict(Counter((row["label"], row["source"]) for row in read_index(index)))


def test_keep_balance_exact_counts(folders, tmp_path):
    real, synthetic = folders
    report = mix_datasets(real, synthetic, tmp_path / "mix.csv", ratio=(30, 70), total=100)
    # Class totals: 100 * (20, 8, 4) / 32 = 62.5, 25, 12.5 -> 63, 25, 12 (the tie to the first class).
    # Real: 30 in all; quotas 18.9, 7.5, 3.6 -> floors 18, 7, 3 plus one each for the two largest remainders.
    assert report.counts == {"benign": (19, 44), "malignant": (7, 18), "normal": (4, 8)}
    assert (report.real, report.synthetic, report.total) == (30, 70, 100)
    assert counts_in(tmp_path / "mix.csv") == {
        ("benign", "real"): 19,
        ("benign", "synthetic"): 44,
        ("malignant", "real"): 7,
        ("malignant", "synthetic"): 18,
        ("normal", "real"): 4,
        ("normal", "synthetic"): 8,
    }


def test_equal_balance_exact_counts(folders, tmp_path):
    real, synthetic = folders
    report = mix_datasets(real, synthetic, tmp_path / "mix.csv", ratio=(0.95, 0.05), total=14, class_balance="equal")
    # 14 = 5 + 5 + 4; real round(13.3) = 13 in all; quotas 4.75, 4.75, 3.8 -> floors 4, 4, 3 plus one each
    # for the two largest remainders (0.8, then the first 0.75).
    assert report.counts == {"benign": (5, 0), "malignant": (4, 1), "normal": (4, 0)}
    assert report.ratio == (0.95, 0.05)


def test_each_row_points_at_an_image_of_its_class_and_source(folders, tmp_path):
    real, synthetic = folders
    mix_datasets(real, synthetic, tmp_path / "mix.csv", ratio=(1, 1), total=30, seed=3)
    rows = read_index(tmp_path / "mix.csv")
    files = [row["file"] for row in rows]
    assert len(set(files)) == len(files) == 30
    class_folder = {"benign": "class0", "malignant": "class1", "normal": "class2"}
    for row in rows:
        assert row["file"].is_file() and row["file"].is_absolute()
        if row["source"] == "real":
            assert row["file"].parent == real.absolute() / row["label"]
        else:
            assert row["file"].parent == synthetic.absolute() / class_folder[row["label"]]


def test_nothing_is_copied(folders, tmp_path):
    real, synthetic = folders
    before = sorted(p for p in tmp_path.rglob("*"))
    report = mix_datasets(real, synthetic, tmp_path / "out" / "mix.csv", ratio=(30, 70), total=50)
    after = sorted(p for p in tmp_path.rglob("*"))
    assert sorted(set(after) - set(before)) == [tmp_path / "out", tmp_path / "out" / "mix.csv"]
    assert report.index == (tmp_path / "out" / "mix.csv").absolute()
    with open(report.index, newline="") as f:
        assert next(csv.reader(f)) == ["file", "label", "source"]


def test_sampling_is_deterministic_and_nested(folders, tmp_path):
    real, synthetic = folders
    mix_datasets(real, synthetic, tmp_path / "a.csv", total=20, seed=7)
    mix_datasets(real, synthetic, tmp_path / "b.csv", total=20, seed=7)
    mix_datasets(real, synthetic, tmp_path / "c.csv", total=20, seed=8)
    mix_datasets(real, synthetic, tmp_path / "d.csv", total=40, seed=7)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    small = {row["file"] for row in read_index(tmp_path / "a.csv")}
    large = {row["file"] for row in read_index(tmp_path / "d.csv")}
    assert small < large


def test_default_total_is_the_largest_that_fits(folders, tmp_path):
    real, synthetic = folders
    report = mix_datasets(real, synthetic, tmp_path / "mix.csv", ratio=(30, 70))
    # The real images limit it: 32 real images are 30% of about 106.
    assert report.real <= 32 and report.total >= 100
    with pytest.raises(ValueError, match="too few images"):
        mix_datasets(real, synthetic, tmp_path / "more.csv", ratio=(30, 70), total=report.total + 1)
    equal = mix_datasets(real, synthetic, tmp_path / "eq.csv", ratio=(50, 50), class_balance="equal")
    # The 4 real 'normal' images are the limit; every class gets the same number of images.
    assert equal.counts["normal"][0] == 4
    assert len({real + synthetic for real, synthetic in equal.counts.values()}) == 1
    with pytest.raises(ValueError, match="too few images"):
        mix_datasets(real, synthetic, tmp_path / "x.csv", ratio=(50, 50), class_balance="equal", total=equal.total + 3)


def test_too_few_images_error_names_needs_and_availability(folders, tmp_path):
    real, synthetic = folders
    with pytest.raises(ValueError) as error:
        mix_datasets(real, synthetic, tmp_path / "mix.csv", ratio=(50, 50), total=60, class_balance="equal")
    message = str(error.value)
    assert "class 'normal' needs 10 real images, 4 available" in message
    assert "class 'malignant' needs 10 real images, 8 available" in message
    assert "benign" not in message
    assert not (tmp_path / "mix.csv").exists()


def test_only_real_or_only_synthetic(folders, tmp_path):
    real, synthetic = folders
    only_real = mix_datasets(real, synthetic, tmp_path / "r.csv", ratio=(1, 0))
    assert only_real.counts == {"benign": (20, 0), "malignant": (8, 0), "normal": (4, 0)}
    only_synthetic = mix_datasets(real, synthetic, tmp_path / "s.csv", ratio=(0, 1), class_balance="equal")
    assert only_synthetic.counts == {"benign": (0, 50), "malignant": (0, 50), "normal": (0, 50)}


def test_synthetic_folders_named_after_real_classes(tmp_path):
    real = make_folder(tmp_path / "real", {"a": 4, "b": 4})
    synthetic = make_folder(tmp_path / "syn", {"b": 3, "class0": 3})
    report = mix_datasets(real, synthetic, tmp_path / "mix.csv", total=8)
    assert report.counts == {"a": (2, 2), "b": (2, 2)}
    rows = read_index(tmp_path / "mix.csv")
    assert {row["file"].parent.name for row in rows if row["label"] == "b" and row["source"] == "synthetic"} == {"b"}


def test_synthesized_folder_mixes_with_real_classes(tmp_path):
    G = StyleGenerator(
        z_dim=16,
        c_dim=2,
        w_dim=16,
        img_resolution=8,
        img_channels=1,
        mapping_kwargs={"num_layers": 1},
        synthesis_kwargs={"channel_base": 64, "channel_max": 8},
    ).eval()
    synthetic = synthesize(G, 6, tmp_path / "syn", classes=[0, 1], progress=False)
    real = make_folder(tmp_path / "real", {"cancer": 3, "healthy": 3})
    report = mix_datasets(real, synthetic, tmp_path / "mix.csv", ratio=(1, 1))
    assert report.counts == {"cancer": (3, 3), "healthy": (3, 3)}
    rows = read_index(tmp_path / "mix.csv")
    assert {row["file"].parent.name for row in rows if row["label"] == "healthy" and row["source"] == "synthetic"} == {
        "class1"
    }


@pytest.mark.parametrize(
    ("synthetic_counts", "message"),
    [
        ({"class5": 2}, "matches no real class"),
        ({"other": 2}, "matches no real class"),
        ({"a": 2, "class0": 2}, "both stand for the real class 'a'"),
        ({"images": 2}, "matches no real class"),
    ],
)
def test_unmatched_synthetic_folders(tmp_path, synthetic_counts, message):
    real = make_folder(tmp_path / "real", {"a": 4, "b": 4})
    synthetic = make_folder(tmp_path / "syn", synthetic_counts)
    with pytest.raises(ValueError, match=message):
        mix_datasets(real, synthetic, tmp_path / "mix.csv", total=4)


def test_unconditional_set_with_a_single_real_class(tmp_path):
    real = make_folder(tmp_path / "real", {"lesion": 4})
    synthetic = make_folder(tmp_path / "syn", {"images": 6})
    assert mix_datasets(real, synthetic, tmp_path / "mix.csv", ratio=(40, 60)).counts == {"lesion": (4, 6)}


def test_folder_problems(folders, tmp_path):
    real, synthetic = folders
    with pytest.raises(FileNotFoundError, match="real image folder"):
        mix_datasets(tmp_path / "nowhere", synthetic, tmp_path / "mix.csv")
    with pytest.raises(ValueError, match="same folder"):
        mix_datasets(real, real, tmp_path / "mix.csv")
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(real / "loose.png")
    with pytest.raises(ValueError, match="outside class subfolders"):
        mix_datasets(real, synthetic, tmp_path / "mix.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images in class subfolders"):
        mix_datasets(synthetic, tmp_path / "empty", tmp_path / "mix.csv")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratio": (0, 0)}, "all zero"),
        ({"ratio": (-1, 2)}, "real share -1"),
        ({"ratio": (1, float("inf"))}, "synthetic share inf"),
        ({"ratio": (1, 2, 3)}, "two numbers"),
        ({"total": 0}, "total must be a positive integer"),
        ({"class_balance": "weighted"}, "class_balance"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments(folders, tmp_path, kwargs, message):
    real, synthetic = folders
    with pytest.raises(ValueError, match=message):
        mix_datasets(real, synthetic, tmp_path / "mix.csv", **kwargs)


def test_report_text_and_dict(folders, tmp_path):
    real, synthetic = folders
    report = mix_datasets(real, synthetic, tmp_path / "mix.csv", ratio=(30, 70), total=100)
    assert isinstance(report, MixReport)
    lines = str(report).splitlines()
    assert lines[0].split() == ["class", "real", "synthetic", "total"]
    assert lines[1].split() == ["benign", "19", "44", "63"]
    assert lines[-2].split() == ["total", "30", "70", "100"]
    assert "30/70" in lines[-1]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["classes"]["normal"] == {"real": 4, "synthetic": 8, "total": 12}
    assert data["total"] == {"real": 30, "synthetic": 70, "total": 100}
    assert data["ratio"] == [0.3, 0.7] and data["class_balance"] == "keep" and data["seed"] == 0


def test_read_index_checks_its_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="index"):
        read_index(tmp_path / "none.csv")
    (tmp_path / "bad.csv").write_text("path,label\nx.png,a\n")
    with pytest.raises(ValueError, match="columns"):
        read_index(tmp_path / "bad.csv")
    (tmp_path / "src.csv").write_text("file,label,source\nimgs/x.png,a,fake\n")
    with pytest.raises(ValueError, match="line 2: source must be"):
        read_index(tmp_path / "src.csv")
    (tmp_path / "rel.csv").write_text("file,label,source\nimgs/x.png,a,real\n")
    assert read_index(tmp_path / "rel.csv") == [{"file": tmp_path / "imgs" / "x.png", "label": "a", "source": "real"}]
