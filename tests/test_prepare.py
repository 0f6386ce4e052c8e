"""2D image preparation (read_image_raw, prepare_images, `medgan-aug prepare`) on synthetic PNG, JPEG and DICOM."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medgan_aug.cli import main
from medgan_aug.data import ImageFolderDataset, IntensityWindow, prepare_images, read_image_raw, read_manifest

# A portrait "mammogram": 16-bit background 1000 with a bright 40 x 40 rectangle (rows 40-79, columns 20-59).
MAMMO_SHAPE = (200, 100)
BRIGHT_ROWS, BRIGHT_COLS = (40, 80), (20, 60)


def mammogram(path: Path) -> Path:
    pixels = np.full(MAMMO_SHAPE, 1000, dtype=np.uint16)
    pixels[slice(*BRIGHT_ROWS), slice(*BRIGHT_COLS)] = 60000
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def dermoscopy(path: Path) -> Path:
    """A 120 x 80 (landscape) skin-coloured JPEG with a dark round lesion in the middle."""
    rows, cols = np.mgrid[:80, :120]
    lesion = (rows - 40) ** 2 + (cols - 60) ** 2 < 25**2
    pixels = np.empty((80, 120, 3), dtype=np.uint8)
    pixels[:] = (200, 150, 120)
    pixels[lesion] = (80, 40, 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95)
    return path


def gray_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def png_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def write_dicom(
    path: Path,
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    rescale: tuple[float, float] | None = None,
    window: tuple[object, object] | None = None,
    bits_stored: int = 12,
) -> Path:
    """A minimal uncompressed secondary-capture DICOM file written with pydicom."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = stored.shape[:2]
    ds.PhotometricInterpretation = photometric
    if stored.ndim == 3:
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        ds.BitsAllocated = ds.BitsStored = 8
    else:
        ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored = 1, 16, bits_stored
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = stored.astype("<u2" if stored.ndim == 2 else np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if int(pydicom.__version__.split(".")[0]) >= 3:
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
    else:
        ds.is_little_endian, ds.is_implicit_VR = True, False
        pydicom.dcmwrite(path, ds, write_like_original=False)
    return path


# Stored 12-bit values chosen so that no windowed value lands on a rounding tie.
STORED = np.array([[0, 500, 560, 600], [700, 4095, 512, 530]], dtype=np.uint16).repeat(2, axis=0)
HU = STORED.astype(np.float64) * 2 - 1024  # slope 2, intercept -1024


# ---------------------------------------------------------------------------------------------------------------------
# read_image_raw


def test_16bit_png_reads_its_real_values(tmp_path: Path) -> None:
    values = np.array([[0, 1, 257, 65535], [40000, 12345, 2, 65534]], dtype=np.uint16)
    pixels, window = read_image_raw(gray_png(tmp_path / "a.png", values))
    assert pixels.dtype == np.float32 and window is None
    np.testing.assert_array_equal(pixels, values)


def test_rgb_and_palette_images_read_as_hwc(tmp_path: Path) -> None:
    colour = np.random.default_rng(0).integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    pixels, _ = read_image_raw(gray_png(tmp_path / "c.png", colour))
    np.testing.assert_array_equal(pixels, colour)
    Image.fromarray(colour).convert("P").save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as image:
        expected = np.asarray(image.convert("RGB"))
    pixels, _ = read_image_raw(tmp_path / "p.png")
    assert pixels.shape == (5, 6, 3)
    np.testing.assert_array_equal(pixels, expected)


def test_dicom_rescale_and_first_window(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "ct.dcm", STORED, rescale=(2, -1024), window=([40, 300], [400, 1500]))
    pixels, window = read_image_raw(path)
    np.testing.assert_array_equal(pixels, HU)
    assert window == IntensityWindow(-160, 240)


def test_dicom_monochrome1_is_inverted_within_its_range(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "m1.dcm", STORED, photometric="MONOCHROME1", rescale=(2, -1024), window=(40, 400))
    pixels, window = read_image_raw(path)
    # 12 bits stored: 0..4095 rescales to -1024..7166; inverting maps v to -1024 + 7166 - v.
    np.testing.assert_array_equal(pixels, 6142 - HU)
    assert window == IntensityWindow(6142 - 240, 6142 + 160)
    assert window.apply(pixels)[0, 0] == 1  # stored 0 is white in MONOCHROME1


def test_dicom_is_recognised_without_extension_and_colour_dicom(tmp_path: Path) -> None:
    write_dicom(tmp_path / "IM0001", STORED)
    pixels, window = read_image_raw(tmp_path / "IM0001")
    np.testing.assert_array_equal(pixels, STORED)
    assert window is None
    colour = np.random.default_rng(1).integers(0, 256, size=(3, 4, 3), dtype=np.uint8)
    pixels, window = read_image_raw(write_dicom(tmp_path / "rgb.dcm", colour, photometric="RGB"))
    np.testing.assert_array_equal(pixels, colour)
    assert window is None


def test_dicom_without_pydicom_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydicom", None)  # makes `import pydicom` fail
    (tmp_path / "x.dcm").write_bytes(b"\0" * 200)
    (tmp_path / "noext").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    for name in ("x.dcm", "noext"):
        with pytest.raises(ImportError, match=rf'{name} is a DICOM file.*pip install "medgan-aug\[dicom\]"'):
            read_image_raw(tmp_path / name)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match=r"junk\.png"):
        read_image_raw(tmp_path / "junk.png")
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        read_image_raw(tmp_path / "missing.png")
    pytest.importorskip("pydicom")
    (tmp_path / "junk.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    with pytest.raises(ValueError, match=r"junk\.dcm"):
        read_image_raw(tmp_path / "junk.dcm")


# ---------------------------------------------------------------------------------------------------------------------
# prepare_images


def test_letterboxed_mammogram_keeps_its_geometry(tmp_path: Path) -> None:
    source = mammogram(tmp_path / "in" / "cc" / "m1.png")
    out = prepare_images([source], tmp_path / "out", size=64, bits=16, progress=False)
    assert out == tmp_path / "out"
    pixels = png_pixels(out / "cc" / "m1.png").astype(np.float64)
    assert pixels.shape == (64, 64)
    # 200 x 100 -> 64 x 32 (scale 0.32), centred: columns 16-47 hold the image, the rest is padding.
    assert (pixels[:, :16] == 0).all() and (pixels[:, 48:] == 0).all()
    np.testing.assert_allclose(pixels[40:64, 16:48], 1000, atol=1)  # full range 0..65535: values unchanged
    # The rectangle spans rows 12.8-25.6 and columns 16 + 6.4-19.2 in output pixel units; the antialiasing filter
    # reaches one output pixel beyond a pixel's centre, so these pixels see only the rectangle.
    np.testing.assert_allclose(pixels[14:25, 24:34], 60000, atol=1)
    assert pixels[14:25, [22, 35]].max() < 59000 and pixels[[12, 26], 24:34].max() < 59000
    excess = np.clip(pixels - 1000, 0, None)
    excess[:, :16] = excess[:, 48:] = 0
    rows, cols = np.indices(excess.shape)
    centroid = ((excess * rows).sum() / excess.sum(), (excess * cols).sum() / excess.sum())
    # Pixel i covers [i, i + 1): the rectangle's centre (19.2, 28.8) is at index (18.7, 28.3).
    assert centroid == pytest.approx((18.7, 28.3), abs=0.05)
    assert excess.sum() == pytest.approx(59000 * 12.8 * 12.8, rel=0.01)  # resampling keeps the mean
    (row,) = read_manifest(out / "manifest.csv")
    assert row == {
        "file": "cc/m1.png",
        "label": "cc",
        "source": str(source),
        "patient_id": "m1",
        "orig_height": "200",
        "orig_width": "100",
        "window_low": "0.0",
        "window_high": "65535.0",
    }


def test_native_size_16bit_is_lossless_and_windows_apply(tmp_path: Path) -> None:
    values = np.array([[10000, 20000, 25000, 40000], [60000, 0, 65535, 30000]], dtype=np.uint16).repeat(2, axis=0)
    source = gray_png(tmp_path / "in" / "a.png", values)
    out = prepare_images([source], tmp_path / "full", size=4, bits=16, progress=False)
    np.testing.assert_array_equal(png_pixels(out / "in" / "a.png"), values)

    out = prepare_images([source], tmp_path / "win", size=4, window=(30000, 20000), progress=False)
    expected = np.rint(np.clip((values.astype(np.float64) - 20000) / 20000, 0, 1) * 255)
    np.testing.assert_array_equal(png_pixels(out / "in" / "a.png"), expected)

    out = prepare_images([source], tmp_path / "pct", size=4, percentiles=(5, 95), manifest="json", progress=False)
    (row,) = read_manifest(out / "manifest.json")
    low, high = row["window_low"], row["window_high"]
    assert (low, high) == pytest.approx(np.percentile(values.astype(np.float64), [5, 95]), rel=1e-6)
    expected = np.rint(np.clip((values - low) / (high - low), 0, 1) * 255)
    np.testing.assert_array_equal(png_pixels(out / "in" / "a.png"), expected)


def test_rgb_dermoscopy_jpeg(tmp_path: Path) -> None:
    source = dermoscopy(tmp_path / "in" / "nevus" / "d1.jpg")
    out = prepare_images([source], tmp_path / "out", size=32, progress=False)
    pixels = png_pixels(out / "nevus" / "d1.png").astype(int)
    assert pixels.shape == (32, 32, 3)
    # 120 x 80 -> 32 x 21 (round(80 * 32 / 120) = 21), centred: rows 5-25 hold the image.
    assert (pixels[:5] == 0).all() and (pixels[26:] == 0).all()
    np.testing.assert_allclose(pixels[15, 16], (80, 40, 30), atol=8)  # the lesion
    np.testing.assert_allclose(pixels[7, 2], (200, 150, 120), atol=8)  # the skin
    dataset = ImageFolderDataset(out, 32)
    assert dataset.num_channels == 3 and len(dataset) == 1


def test_dicom_prepared_with_its_header_window(tmp_path: Path) -> None:
    mono2 = write_dicom(tmp_path / "in" / "mono2.dcm", STORED, rescale=(2, -1024), window=(40, 400))
    mono1 = tmp_path / "in" / "mono1.dcm"
    write_dicom(mono1, STORED, photometric="MONOCHROME1", rescale=(2, -1024), window=(40, 400))
    plain = write_dicom(tmp_path / "in" / "plain.dcm", STORED, rescale=(2, -1024))
    out = prepare_images([mono2, mono1, plain], tmp_path / "out", size=4, labels="none", progress=False)
    soft_tissue = np.clip((HU + 160) / 400, 0, 1)
    np.testing.assert_array_equal(png_pixels(out / "images" / "mono2.png"), np.rint(soft_tissue * 255))
    np.testing.assert_array_equal(png_pixels(out / "images" / "mono1.png"), np.rint((1 - soft_tissue) * 255))
    # Without a window in the header: the 12-bit stored range after rescaling, -1024..7166.
    np.testing.assert_array_equal(png_pixels(out / "images" / "plain.png"), np.rint((HU + 1024) / 8190 * 255))
    windows = [(r["window_low"], r["window_high"]) for r in read_manifest(out / "manifest.csv")]
    assert windows == [("-160.0", "240.0"), ("5902.0", "6302.0"), ("-1024.0", "7166.0")]


def test_labels_names_and_patient_split(tmp_path: Path) -> None:
    values = np.full((8, 8), 128, dtype=np.uint8)
    paths = [gray_png(tmp_path / "in" / f"p{i}" / f"p{i}_{j}.png", values) for i in range(6) for j in range(2)]
    out = prepare_images(
        paths,
        tmp_path / "out",
        size=8,
        labels={str(p): "mass" if p.stem.endswith("0") else "calc" for p in paths},
        patient_id=lambda p: p.parent.name,
        split=(0.5, 0.25, 0.25),
        seed=1,
        progress=False,
    )
    rows = read_manifest(out / "manifest.csv")
    split_of: dict[str, set[str]] = {}
    for row in rows:
        split_of.setdefault(row["patient_id"], set()).add(row["split"])
        assert row["file"] == f"{row['split']}/{row['label']}/{Path(row['source']).stem}.png"
        assert (out / row["file"]).is_file()
    assert all(len(s) == 1 for s in split_of.values())  # no patient straddles two splits
    # 6 patients: 3, 1.5, 1.5 -> 3, 2, 1 (the tied remainder goes to val).
    assert sorted(s.pop() for s in split_of.values()) == ["test", "train", "train", "train", "val", "val"]
    train = ImageFolderDataset(out / "train", 8)
    assert train.class_names == ["calc", "mass"] and len(train) == 6


def test_duplicate_stems_get_a_counter(tmp_path: Path) -> None:
    values = np.zeros((4, 4), dtype=np.uint8)
    paths = [gray_png(tmp_path / d / "IMG.png", values) for d in ("a", "b")]
    paths.append(gray_png(tmp_path / "c" / "img_1.png", values))
    paths.append(gray_png(tmp_path / "d" / ".hidden.png", values))
    out = prepare_images(paths, tmp_path / "out", size=4, labels="none", progress=False)
    assert [r["file"] for r in read_manifest(out / "manifest.csv")] == [
        "images/IMG.png",
        "images/IMG_1.png",
        "images/img_1_1.png",  # "img_1" was taken (ignoring case) by the second IMG
        "images/hidden.png",
    ]
    assert len(ImageFolderDataset(out, 4)) == 4


def test_mixed_gray_and_colour_needs_rgb(tmp_path: Path) -> None:
    gray = gray_png(tmp_path / "in" / "g.png", np.full((6, 6), 50, dtype=np.uint8))
    colour = dermoscopy(tmp_path / "in" / "c.jpg")
    with pytest.raises(ValueError, match=r"c\.jpg.*cannot mix grayscale and colour.*rgb=True"):
        prepare_images([gray, colour], tmp_path / "out", size=8, progress=False)
    assert not (tmp_path / "out").exists()
    out = prepare_images([gray, colour], tmp_path / "out", size=8, rgb=True, progress=False)
    g = png_pixels(out / "in" / "g.png")
    assert g.shape == (8, 8, 3) and (g == 50).all()
    with pytest.raises(ValueError, match=r"c\.jpg.*use 8 bits for RGB"):
        prepare_images([colour], tmp_path / "out16", size=8, bits=16, progress=False)


def test_corrupt_image_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    good = mammogram(tmp_path / "in" / "good.png")
    bad = tmp_path / "in" / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=r"bad\.png"):
        prepare_images([good, bad], tmp_path / "out", size=16, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, no staging folder


def test_argument_errors(tmp_path: Path) -> None:
    good = mammogram(tmp_path / "in" / "good.png")
    cases = [
        ({"window": (40, 400), "percentiles": (1, 99)}, "either window or percentiles"),
        ({"window": (40, -1)}, "width must be positive"),
        ({"percentiles": (99, 1)}, "0 <= low < high <= 100"),
        ({"size": 0}, "size must be a positive integer"),
        ({"resize": "pad"}, "resize must be one of"),
        ({"labels": "grandparent"}, "labels must be"),
        ({"labels": {}}, r"no entry for 1 image\(s\).*good\.png"),
        ({"split": (0.8, 0.1, 0.1)}, "1 distinct patients cannot fill 3 splits"),
        ({"patient_id": lambda p: ""}, "non-empty string"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            prepare_images([good], tmp_path / "out", progress=False, **kwargs)
    with pytest.raises(ValueError, match="no images given"):
        prepare_images([], tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


# ---------------------------------------------------------------------------------------------------------------------
# medgan-aug prepare


def test_cli_builds_a_dataset_the_trainer_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mammogram(tmp_path / "in" / "benign" / "b1.png")
    mammogram(tmp_path / "in" / "benign" / "nested" / "b2.PNG")
    mammogram(tmp_path / "in" / "malignant" / "m1.png")
    (tmp_path / "in" / "benign" / "notes.txt").write_text("not an image")
    (tmp_path / "in" / ".cache").mkdir()
    (tmp_path / "in" / ".cache" / "junk.png").write_bytes(b"junk")
    out = tmp_path / "out"
    assert main(["prepare", str(tmp_path / "in"), "--out", str(out), "--size", "16", "--no-progress"]) == 0
    assert "prepared 3 images" in capsys.readouterr().out
    dataset = ImageFolderDataset(out, 16)
    # "nested" is the parent folder of b2, so it is a class of its own.
    assert dataset.class_names == ["benign", "malignant", "nested"] and dataset.label_counts() == [1, 1, 1]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "benign/b1.png",
        "malignant/m1.png",
        "nested/b2.png",
    ]
    image, _ = dataset[0]
    assert image.shape == (1, 16, 16) and image.min() == -1  # letterbox padding is black

    assert main(["prepare", str(tmp_path / "in"), "--out", str(out), "--size", "16", "--no-progress"]) == 1
    assert "not empty" in capsys.readouterr().err
    argv = ["prepare", str(tmp_path / "in" / "malignant" / "m1.png"), "--out", str(out), "--size", "8"]
    argv += ["--window=-600,1500", "--bits", "16", "--manifest", "json", "--overwrite", "--no-progress"]
    assert main(argv) == 0
    (row,) = read_manifest(out / "manifest.json")
    assert (row["window_low"], row["window_high"]) == (-1350, 150)
    assert not (out / "benign").exists()


def test_cli_split_and_dicom_folder(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    for i in range(4):
        write_dicom(tmp_path / "in" / "series" / f"IM{i}", STORED)
    (tmp_path / "in" / "series" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")  # an index, not an image
    out = tmp_path / "out"
    argv = ["prepare", str(tmp_path / "in"), "--out", str(out), "--size", "4", "--resize", "stretch"]
    assert main([*argv, "--split", "0.5,0.25,0.25", "--seed", "3", "--no-progress"]) == 0
    rows = read_manifest(out / "manifest.csv")
    assert sorted(r["split"] for r in rows) == ["test", "train", "train", "val"]
    assert all(r["file"] == f"{r['split']}/series/{r['patient_id']}.png" for r in rows)


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mammogram(tmp_path / "in" / "good.png")
    (tmp_path / "in" / "bad.png").write_bytes(b"not a png")
    out = str(tmp_path / "out")
    assert main(["prepare", str(tmp_path / "in"), "--out", out, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.png" in err
    assert main(["prepare", str(tmp_path / "nowhere.png"), "--out", out]) == 1
    assert "nowhere.png does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["prepare", str(tmp_path / "empty"), "--out", out]) == 1
    assert "no PNG, JPEG or DICOM files" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path / "in" / "good.png"), "--out", out, "--split", "0.5,0.5,0.5"]) == 1
    assert "sum to 1" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "in"]
    for bad in (["--window", "40"], ["--percentiles", "a,b"], ["--bits", "12"], ["--letterbox", "--resize", "stretch"]):
        with pytest.raises(SystemExit) as excinfo:
            main(["prepare", str(tmp_path / "in"), "--out", out, *bad])
        assert excinfo.value.code == 2
