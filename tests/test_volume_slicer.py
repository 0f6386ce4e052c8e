"""VolumeSlicer on analytic phantoms: geometry, anisotropy, labelling, tiling and the all-or-nothing folder."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from medgan_aug import VolumeSlicer
from medgan_aug.data import DEFAULT_VIEWS, ImageFolderDataset, Volume, read_manifest, write_nrrd


def _physical_grid(shape, spacing):
    """Physical coordinates (mm from voxel 0) of every voxel centre, ``[*shape, 3]``."""
    axes = [np.arange(n) * s for n, s in zip(shape, spacing, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)


def _expected_points(shape, spacing, view, angle, size, pixel_size, tilt_axis="rows"):
    """Physical position of every pixel of every slice, from a rotation built with scipy (not the library)."""
    axes = DEFAULT_VIEWS[view]
    eye = np.eye(3)
    down = eye[axes.rows] * (-1 if axes.flip_rows else 1)
    across = eye[axes.cols] * (-1 if axes.flip_cols else 1)
    normal = eye[axes.normal]
    pivot = down if tilt_axis == "rows" else across
    # Positive angles swing the other in-plane axis towards the normal.
    other = across if tilt_axis == "rows" else down
    if np.dot(Rotation.from_rotvec(0.1 * pivot).apply(other), normal) < 0:
        pivot = -pivot
    rotation = Rotation.from_rotvec(np.radians(angle) * pivot)
    down, across, normal = rotation.apply(down), rotation.apply(across), rotation.apply(normal)
    n = shape[axes.normal]
    centre = (np.asarray(shape) - 1) / 2 * np.asarray(spacing)
    k = np.arange(n)[:, None, None, None]
    r = np.arange(size)[None, :, None, None]
    c = np.arange(size)[None, None, :, None]
    offset = (k - (n - 1) / 2) * spacing[axes.normal]
    return centre + offset * normal + ((r - (size - 1) / 2) * down + (c - (size - 1) / 2) * across) * pixel_size


def _inside(points, shape, spacing, margin=0.0):
    index = points / np.asarray(spacing)
    return np.all((index >= margin) & (index <= np.asarray(shape) - 1 - margin), axis=-1)


# Cubic B-spline coefficients are computed with mirrored edges, which bends a linear ramp near the border; the
# error decays by about 0.27 per voxel inwards.
@pytest.mark.parametrize(("interpolation", "margin", "atol"), [("linear", 0.0, 1e-4), ("cubic", 3.0, 5e-3)])
@pytest.mark.parametrize(("view", "angle", "tilt_axis"), [("coronal", -20.0, "rows"), ("sagittal", 15.0, "cols")])
def test_planes_of_a_linear_phantom_match_geometry(interpolation, margin, atol, view, angle, tilt_axis):
    # A volume linear in physical position is reproduced by linear and cubic B-spline interpolation, so
    # every pixel must hold the phantom's value at the pixel's physical position: anisotropic spacing, the tilt and
    # the view's axis mapping are all checked against an independent rotation.
    shape, spacing = (17, 23, 12), (0.8, 0.5, 1.5)
    gradient = np.array([0.7, -1.1, 0.4])
    volume = Volume.from_array(_physical_grid(shape, spacing) @ gradient + 5.0, spacing=spacing)
    slicer = VolumeSlicer([view], [angle], tilt_axis=tilt_axis, size=24, pixel_size=0.6, interpolation=interpolation)
    planes = slicer.sample(volume, view, angle)
    points = _expected_points(shape, spacing, view, angle, 24, 0.6, tilt_axis)
    inside = _inside(points, shape, spacing, margin)
    assert planes.shape == points.shape[:-1] and inside.sum() > 500
    np.testing.assert_allclose(planes[inside], (points @ gradient + 5.0)[inside], rtol=0, atol=atol)
    # Outside the volume there is nothing to sample.
    assert np.all(planes[~_inside(points, shape, spacing, -1.0)] == 0)


def test_tilted_slab_appears_where_geometry_says():
    # A thin bright slab through the centre, tilted by 15 degrees about the coronal view's vertical axis: the
    # central coronal slice tilted by the same 15 degrees lies inside it (bright everywhere in the volume), while
    # untilted slices cut it along a vertical line whose column moves by d / tan(15 deg) mm for a slice d mm away.
    shape, spacing = (41, 33, 21), (0.5, 0.75, 1.0)
    centre = (np.asarray(shape) - 1) / 2 * np.asarray(spacing)
    tilt = np.radians(15.0)
    normal = np.array([-np.sin(tilt), np.cos(tilt), 0.0])
    distance = (_physical_grid(shape, spacing) - centre) @ normal
    volume = Volume.from_array(np.exp(-0.5 * (distance / 1.5) ** 2), spacing=spacing)
    slicer = VolumeSlicer(["coronal"], [0.0, 15.0], size=40, pixel_size=0.5, slice_spacing=0.25, percentiles=(0, 100))
    aligned = slicer.sample(volume, "coronal", 15.0)[16]
    points = _expected_points(shape, spacing, "coronal", 15.0, 40, 0.5)[16]
    assert aligned[_inside(points, shape, spacing)].min() > 0.95
    flat = slicer.sample(volume, "coronal", 0.0)
    for k in (12, 14, 18, 20):
        d = (k - 16) * 0.25
        expected_column = (40 - 1) / 2 + d / np.tan(tilt) / 0.5
        profile = flat[k, 20]
        assert abs(np.argmax(profile) - expected_column) <= 0.5, (k, np.argmax(profile), expected_column)


def test_anisotropic_voxels_give_undistorted_images():
    # One analytic blob voxelised twice, isotropically and anisotropically: the planes agree up to interpolation
    # error, which they would not if the sampler worked in voxel units.
    def blob(shape, spacing):
        centre = np.array([10.0, 9.0, 11.0])
        radius = np.linalg.norm((_physical_grid(shape, spacing) - centre) / [4.0, 6.0, 3.0], axis=-1)
        return Volume.from_array(np.exp(-(radius**2)), spacing=spacing)

    iso = blob((21, 19, 23), (1.0, 1.0, 1.0))
    aniso = blob((41, 10, 23), (0.5, 2.0, 1.0))
    slicer = VolumeSlicer(["axial"], [10.0], size=32, pixel_size=0.7, percentiles=(0, 100), interpolation="cubic")
    # Both grids span the same 20 x 18 x 22 mm, so their central slices are the same physical plane.
    a = slicer.sample(iso, "axial", 10.0)[11]
    b = slicer.sample(aniso, "axial", 10.0)[11]
    assert np.max(np.abs(a - b)) < 0.03 and a.max() > 0.9


def _phantom(shape=(24, 20, 18), spacing=(1.0, 1.2, 0.9), seed=0):
    rng = np.random.default_rng(seed)
    grid = _physical_grid(shape, spacing)
    centre = (np.asarray(shape) - 1) / 2 * np.asarray(spacing)
    data = np.exp(-np.sum(((grid - centre) / 6.0) ** 2, axis=-1)) * 100 + rng.normal(0, 1, shape)
    return Volume.from_array(data, spacing=spacing)


def test_noise_labels_by_position_and_by_content():
    volume = _phantom()
    slicer = VolumeSlicer(["coronal"], [0.0], size=16, noise_margin=3)
    labels = [(p.slice_index, p.label) for p in slicer.planes(volume)]
    assert [i for i, label in labels if label == "noise"] == [0, 1, 2, 17, 18, 19]
    assert {label for _, label in labels} == {"noise", "coronal"}
    content = VolumeSlicer(["coronal"], [0.0], size=16, min_informative=0.25, informative_threshold=0.3)
    planes = list(content.planes(volume))
    for plane in planes:
        assert plane.informative == pytest.approx(float((plane.image > 0.3).mean()))
        assert (plane.label == "noise") == (plane.informative < 0.25)
    # The blob fills the centre slices and fades at the ends: both classes occur.
    assert {p.label for p in planes} == {"noise", "coronal"}


def test_every_skip_and_label_format():
    volume = _phantom()
    slicer = VolumeSlicer(
        ["axial", "sagittal"], [-10.0, 10.0], size=8, every=4, skip=2, label_format="{view}{angle:+.0f}"
    )
    planes = list(slicer.planes(volume))
    axial = [p.slice_index for p in planes if p.view == "axial" and p.angle == -10.0]
    assert axial == [2, 6, 10, 14]
    assert len(planes) == slicer.count(volume) == 2 * (4 + 5)
    assert {p.label for p in planes} == {"axial-10", "axial+10", "sagittal-10", "sagittal+10"}


def test_window_maps_intensities():
    volume = Volume.from_array(np.full((6, 6, 6), 40.0), spacing=(1, 1, 1))
    slicer = VolumeSlicer(["axial"], [0.0], size=6, pixel_size=1.0, window=(50.0, 40.0))
    image = next(iter(slicer.planes(volume))).image
    # Window centre 50, width 40 maps [30, 70] to [0, 1]: 40 -> 0.25.
    np.testing.assert_allclose(image, 0.25, atol=1e-6)


def test_tiles_and_foreground_filter_from_a_mask_volume():
    volume = _phantom(shape=(16, 16, 16), spacing=(1, 1, 1))
    mask_data = np.zeros((16, 16, 16), dtype=np.float32)
    mask_data[:8] = 1  # foreground in the low-x half
    mask = Volume.from_array(mask_data)
    slicer = VolumeSlicer(["axial"], [0.0], size=16, pixel_size=1.0, tile=8, min_foreground=0.5)
    tiles = list(slicer.planes(volume, mask))
    # Axial images have x across: only the left column of tiles is foreground.
    assert {(t.tile_row, t.tile_col) for t in tiles} == {(0, 0), (1, 0)}
    assert all(t.image.shape == (8, 8) and t.foreground == 1.0 for t in tiles)
    assert len(tiles) == 2 * 16
    with pytest.raises(ValueError, match="mask"):
        list(slicer.planes(volume, Volume.from_array(np.zeros((16, 16, 15)))))
    with pytest.raises(ValueError, match="needs a mask"):
        list(slicer.planes(volume))


def test_write_produces_a_training_folder_with_manifest_and_patient_split(tmp_path):
    paths = []
    for i in range(4):
        path = tmp_path / f"patient{i // 2}_scan{i % 2}.nrrd"
        write_nrrd(_phantom(seed=i), path)
        paths.append(path)
    slicer = VolumeSlicer(["coronal", "sagittal"], [-10.0, 0.0, 10.0], size=32, noise_margin=2)
    out = slicer.write(
        paths,
        tmp_path / "planes",
        patient_ids=lambda source: source.rsplit("/", 1)[-1].split("_")[0],
        split=(0.5, 0.5, 0.0),
        progress=False,
    )
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 4 * 3 * (20 + 24)
    by_patient = {}
    for row in rows:
        by_patient.setdefault(row["patient_id"], set()).add(row["split"])
        assert (out / row["file"]).is_file()
        assert row["file"].startswith(f"{row['split']}/{row['label']}/")
    # Never one patient in two sets.
    assert by_patient.keys() == {"patient0", "patient1"} and all(len(s) == 1 for s in by_patient.values())
    noise = [r for r in rows if r["label"] == "noise"]
    assert len(noise) == 4 * 3 * 2 * 2 * 2
    assert {int(r["slice_index"]) for r in noise if r["view"] == "coronal"} == {0, 1, 18, 19}
    train_split = next(iter(s for s in by_patient.values())).pop()
    dataset = ImageFolderDataset(out / train_split, 32, labels="folders")
    assert len(dataset) == len(rows) // 2 and dataset.c_dim == 3
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_a_failing_volume_leaves_no_half_written_folder(tmp_path):
    good = tmp_path / "good.nrrd"
    write_nrrd(_phantom(), good)
    bad = tmp_path / "bad.nrrd"
    bad.write_bytes(good.read_bytes()[:-200])
    slicer = VolumeSlicer(["axial"], [0.0], size=8)
    with pytest.raises(ValueError, match=r"bad\.nrrd"):
        slicer.write([good, bad], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nrrd", "good.nrrd"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"angles": [95.0]}, r"outside \(-90, 90\)"),
        ({"angles": []}, "angles"),
        ({"views": ["oblique"]}, "unknown view"),
        ({"interpolation": "quadratic"}, "interpolation"),
        ({"every": 0}, "every"),
        ({"skip": -1}, "skip"),
        ({"tile": 8, "overlap": 8}, "tile"),
        ({"percentiles": (99, 1)}, "percentiles"),
        ({"label_format": "{plane}"}, "label_format"),
        ({"size": 0}, "size"),
    ],
)
def test_bad_slicer_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VolumeSlicer(**kwargs)


def test_skip_that_leaves_nothing_is_an_error():
    with pytest.raises(ValueError, match="skip"):
        list(VolumeSlicer(["axial"], skip=9, size=8).planes(_phantom()))


def test_cli_slices_volumes_into_a_labelled_folder(tmp_path, capsys):
    from medgan_aug.cli import main

    for name in ("p1", "p2"):
        write_nrrd(_phantom(seed=len(name)), tmp_path / f"{name}.nrrd")
        mask = np.zeros((24, 20, 18), dtype=np.float32)
        mask[:, :, 4:14] = 1
        write_nrrd(Volume.from_array(mask, spacing=(1.0, 1.2, 0.9)), tmp_path / f"{name}_mask.nrrd")
    out = tmp_path / "planes"
    argv = [str(tmp_path / "p1.nrrd"), str(tmp_path / "p2.nrrd"), "--out", str(out), "--angles", "-20:20:20"]
    argv += ["--size", "32", "--noise-margin", "2", "--manifest", "json", "--no-progress"]
    assert main(["slice", *argv]) == 0
    rows = read_manifest(out / "manifest.json")
    assert len(rows) == 2 * 3 * (20 + 24)
    assert {r["label"] for r in rows} == {"coronal", "sagittal", "noise"}
    assert sorted(p.name for p in out.iterdir()) == ["coronal", "manifest.json", "noise", "sagittal"]
    # An existing folder is not replaced without --overwrite.
    assert main(["slice", *argv]) == 1
    assert "exists" in capsys.readouterr().err
    tiled = tmp_path / "tiles"
    argv = [str(tmp_path / "p1.nrrd"), "--out", str(tiled), "--views", "axial", "--size", "32x48", "--tile", "16"]
    argv += ["--mask-suffix", "_mask", "--min-foreground", "0.5", "--no-progress", "--view-axes", "axial=2,1,0"]
    assert main(["slice", *argv]) == 0
    rows = read_manifest(tiled / "manifest.csv")
    assert rows and all(float(r["foreground"]) >= 0.5 for r in rows)
    assert {(r["tile_row"], r["tile_col"]) for r in rows} <= {(str(i), str(j)) for i in range(2) for j in range(3)}
    assert {r["patient_id"] for r in rows} == {"p1"}
    regex = [str(tmp_path / "p1.nrrd"), str(tmp_path / "p2.nrrd"), "--out", str(tmp_path / "by_regex"), "--size", "8"]
    assert main(["slice", *regex, "--patient-regex", r"p(\d)\.nrrd", "--split", "0.5,0.5,0", "--no-progress"]) == 0
    rows = read_manifest(tmp_path / "by_regex" / "manifest.csv")
    assert {r["patient_id"] for r in rows} == {"1", "2"}
    assert all(r["source"].endswith(f"p{r['patient_id']}.nrrd") for r in rows)
    assert len({r["split"] for r in rows}) == 2


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda path: path.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n12"),
            "p0",
        ),
        (lambda path: write_nrrd(Volume.from_array(np.zeros((4, 4, 4))), path) and path.write_bytes(b"NRRD"), "p0"),
    ],
)
def test_cli_reports_a_corrupt_volume_and_writes_nothing(tmp_path, capsys, make, match):
    from medgan_aug.cli import main

    make(tmp_path / "p0.nrrd")
    assert main(["slice", str(tmp_path / "p0.nrrd"), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    assert match in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    from medgan_aug.cli import main

    write_nrrd(_phantom(), tmp_path / "v.nrrd")
    for extra, status, message in [
        (["--angles", "-95:95:5"], 1, "outside (-90, 90)"),
        (["--window", "40"], 2, "--window"),
        (["--view-axes", "coronal=1,2"], 1, "--view-axes"),
        (["--views", "coronal,oblique"], 1, "unknown view"),
        (["--size", "32x"], 2, "--size"),
        (["--patient-regex", "case(\\d+)"], 1, "does not match"),
    ]:
        try:
            code = main(["slice", str(tmp_path / "v.nrrd"), "--out", str(tmp_path / "o"), *extra])
        except SystemExit as exit_:
            code = exit_.code
        assert code == status
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_in_memory_volumes_are_named_by_position(tmp_path):
    volumes = [_phantom(seed=0), _phantom(seed=1)]
    out = VolumeSlicer(["axial"], size=8).write(volumes, tmp_path / "out", progress=False)
    rows = read_manifest(out / "manifest.csv")
    assert {r["patient_id"] for r in rows} == {"volume000", "volume001"}
    assert len(rows) == 2 * 18 and all(r["source"] == "<array>" for r in rows)


@pytest.mark.parametrize(("view", "angle"), [("coronal", 0.0), ("axial", 0.0), ("sagittal", 20.0)])
def test_plane_masks_are_the_label_sampled_with_nearest_neighbour(view, angle):
    # A labelled ball, bright inside, on an anisotropic grid, cut at a pixel size that matches no voxel spacing: every
    # plane's mask must be the label at the voxel nearest to each pixel's physical position (scipy's order-0 rule,
    # floor(index + 0.5), background outside the volume), and the image bright exactly there.
    shape, spacing = (17, 23, 12), (0.8, 0.5, 1.5)
    grid = _physical_grid(shape, spacing)
    label = np.linalg.norm(grid - np.array([7.0, 5.5, 8.0]), axis=-1) <= 4.5
    volume = Volume.from_array(np.where(label, 100.0, 10.0), spacing=spacing)
    slicer = VolumeSlicer([view], [angle], size=24, pixel_size=0.61, interpolation="nearest", window=(55.0, 90.0))
    planes = list(slicer.planes(volume, Volume.from_array(label.astype(np.float32) * 2, spacing=spacing)))

    index = _expected_points(shape, spacing, view, angle, 24, 0.61) / np.asarray(spacing)
    inside = _inside(index * np.asarray(spacing), shape, spacing)
    nearest = np.clip(np.floor(index + 0.5).astype(int), 0, np.asarray(shape) - 1)
    expected = inside & label[nearest[..., 0], nearest[..., 1], nearest[..., 2]]
    # Pixels within rounding of a tie between two voxels could go either way (the ball stays clear of the edges).
    clear = ~np.any(np.abs(index - np.floor(index) - 0.5) < 1e-6, axis=-1)
    assert len(planes) == len(expected) and clear.mean() > 0.95 and expected.sum() > 200
    for plane in planes:
        assert plane.mask is not None and plane.mask.dtype == bool
        k = plane.slice_index
        np.testing.assert_array_equal(plane.mask[clear[k]], expected[k][clear[k]])
        np.testing.assert_array_equal(plane.image > 0.5, plane.mask)
        assert plane.foreground == pytest.approx(plane.mask.mean())
    assert all(p.mask is None for p in slicer.planes(volume))
