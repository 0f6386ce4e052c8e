"""VolumeSlicer on analytic phantoms: geometry, anisotropy, labelling, tiling and the all-or-nothing folder."""

from __future__ import annotations

import warnings
from pathlib import Path

import nrrd
import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from medgan_aug import VolumeSlicer
from medgan_aug.data import (
    DEFAULT_VIEWS,
    ImageFolderDataset,
    ViewAxes,
    Volume,
    read_manifest,
    read_volume,
    write_nrrd,
)


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


# ---------------------------------------------------------------------------------------------------------------
# Views in the patient frame

# LPS components of the directions of each file frame: the frames differ only in the signs of x and y.
_LPS_SIGNS = {"LPS": np.array([1.0, 1.0, 1.0]), "LAS": np.array([1.0, -1.0, 1.0]), "RAS": np.array([-1.0, -1.0, 1.0])}
_CORNER = np.array([-3.0, 2.0, 10.0])  # LPS position (mm) of the reference grid's voxel (0, 0, 0)


def _blobs(offsets):
    """Three off-centre ellipsoids of different brightness, mirror-symmetric along no axis: a smooth bump of
    compact support each, zero near the grid faces. ``offsets`` are LPS mm from the reference corner."""
    value = np.zeros(offsets.shape[:-1])
    for centre, radii, level in (
        ((4.0, 3.0, 5.5), (3.0, 2.0, 2.5), 1.0),
        ((8.5, 6.0, 3.0), (2.0, 3.5, 1.8), 0.6),
        ((5.0, 9.0, 8.0), (2.5, 1.5, 2.0), 0.3),
    ):
        squared = np.sum(((offsets - np.asarray(centre)) / np.asarray(radii)) ** 2, axis=-1)
        value += level * np.clip(1.0 - squared, 0.0, None) ** 2
    return value


def _stored(anatomy, order, signs, space, shape, spacing, corner=_CORNER):
    """The anatomy on one grid of points, stored with index axis m along ``signs[m]`` times LPS axis ``order[m]``,
    described in ``space``; every voxel's value is computed from its own world position."""
    eye = np.eye(3)
    directions = np.array([sign * eye[axis] for axis, sign in zip(order, signs, strict=True)])
    stored_shape = [shape[axis] for axis in order]
    stored_spacing = np.array([spacing[axis] for axis in order])
    # A reversed axis starts at the far face, so the grid holds the same points.
    origin = corner + sum((shape[a] - 1) * spacing[a] * eye[a] for a, s in zip(order, signs, strict=True) if s < 0)
    index = np.stack(np.meshgrid(*(np.arange(n) for n in stored_shape), indexing="ij"), axis=-1)
    world = origin + (index * stored_spacing) @ directions
    return Volume.from_array(
        anatomy(world - corner),
        spacing=stored_spacing,
        origin=origin * _LPS_SIGNS[space],
        directions=directions * _LPS_SIGNS[space],
        space=space,
    )


_SHAPE, _SPACING = (14, 12, 11), (0.9, 1.1, 1.3)
# (index axes as LPS axes, their signs, the file's frame, the expected axis code)
_STORAGES = {
    "RAS, x and y reversed": ((0, 1, 2), (-1, -1, 1), "RAS", "RAS"),
    "index axes S, L, P": ((2, 0, 1), (1, 1, 1), "LPS", "SLP"),
    "left-handed, y reversed": ((0, 1, 2), (1, -1, 1), "LPS", "LAS"),
    "RAS, permuted and z reversed": ((2, 1, 0), (-1, 1, 1), "RAS", "IPL"),
    "LAS through NRRD": ((1, 2, 0), (-1, 1, -1), "LAS", "ASR"),
}


@pytest.mark.parametrize("tilt_axis", ["rows", "cols"])
@pytest.mark.parametrize("storage", list(_STORAGES))
def test_one_anatomy_gives_the_same_planes_whatever_the_storage(tmp_path, storage, tilt_axis):
    order, signs, space, code = _STORAGES[storage]
    reference = _stored(_blobs, (0, 1, 2), (1, 1, 1), "LPS", _SHAPE, _SPACING)
    volume = _stored(_blobs, order, signs, space, _SHAPE, _SPACING)
    if storage.endswith("NRRD"):
        volume = read_volume(write_nrrd(volume, tmp_path / "las.nrrd"))
    assert volume.orientation_code() == code
    slicer = VolumeSlicer(
        ["axial", "coronal", "sagittal"],
        [0.0, 15.0, -10.0],
        tilt_axis=tilt_axis,
        size=(20, 22),
        pixel_size=0.7,
        noise_margin=2,
        min_informative=0.05,
        window=(0.6, 1.2),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected, planes = list(slicer.planes(reference)), list(slicer.planes(volume))
    assert len(planes) == len(expected) == 3 * (14 + 12 + 11)
    assert {p.label for p in planes} == {"axial", "coronal", "sagittal", "noise"}
    for plane, want in zip(planes, expected, strict=True):
        assert (plane.view, plane.angle, plane.slice_index, plane.num_slices, plane.label, plane.normal) == (
            want.view,
            want.angle,
            want.slice_index,
            want.num_slices,
            want.label,
            want.normal,
        )
        assert plane.orientation == code and want.orientation == "LPS" and plane.obliquity == 0.0
        np.testing.assert_allclose(plane.image, want.image, rtol=0, atol=1e-5)
    assert max(p.image.max() for p in planes) > 0.5


@pytest.mark.parametrize(
    "storage", [((0, 1, 2), (1, 1, 1), "LPS"), ((0, 1, 2), (-1, -1, 1), "RAS"), ((2, 0, 1), (-1, 1, -1), "LAS")]
)
def test_a_left_anterior_superior_marker_shows_where_each_view_puts_it(storage):
    # Unit voxels, reference corner at the LPS origin, centre (10, 9, 8) mm. A bump at (15, 4, 13) mm: 5 mm to the
    # patient's left, 5 mm anterior and 5 mm superior of the centre, on a voxel centre.
    marker = np.array([15.0, 4.0, 13.0])

    def anatomy(offsets):
        return np.clip(1.0 - np.sum((offsets - marker) ** 2, axis=-1) / 2.0, 0.0, None)

    volume = _stored(anatomy, *storage, (21, 19, 17), (1.0, 1.0, 1.0), corner=np.zeros(3))
    slicer = VolumeSlicer(["axial", "coronal", "sagittal"], size=(25, 27), pixel_size=1.0)
    # (slice, row, column) of the marker: the image centre is pixel (12, 13); L, P, S offsets of the marker are +5,
    # -5, +5 mm. Axial (normal S, down P, across L): superior slice 8 + 5, anterior at the top, the patient's left
    # on the right. Coronal (P, down I, across L): slice 9 - 5 counting from anterior, superior at the top.
    # Sagittal (L, down I, across P): slice 10 + 5 counting from the right, anterior on the left.
    expected = {"axial": (13, 7, 18), "coronal": (4, 7, 18), "sagittal": (15, 7, 8)}
    for view, where in expected.items():
        planes = slicer.sample(volume, view)
        assert np.unravel_index(np.argmax(planes), planes.shape) == where, view
        assert planes[where] == pytest.approx(1.0)


def _index_coronal(data):
    """Today's coronal planes of unit voxels at 1 mm pixels: normal axis 1, axis 2 reversed down, axis 0 across."""
    return data.transpose(1, 2, 0)[:, ::-1, :]


def test_volume_without_orientation_is_cut_along_index_axes_with_one_warning(tmp_path):
    data = np.random.default_rng(7).uniform(0, 1, size=(9, 8, 7)).astype(np.float32)
    paths = [tmp_path / "first.nrrd", tmp_path / "second.nrrd"]
    for path in paths:
        # Plain NRRD with spacings only: no space directions, no anatomical frame.
        nrrd.write(str(path), data, {"spacings": [1.0, 1.0, 1.0]})
    volume = read_volume(paths[0])
    assert volume.space is None and volume.orientation_code() is None
    slicer = VolumeSlicer(["coronal", "axis0"], size=(7, 9), pixel_size=1.0, window=(0.5, 1.0))
    with pytest.warns(UserWarning) as record:
        np.testing.assert_allclose(slicer.sample(volume, "coronal"), _index_coronal(data), atol=1e-6)
        out = slicer.write(paths, tmp_path / "out", progress=False)
        list(slicer.planes(Volume.from_array(data)))
    assert len(record) == 1
    message = str(record[0].message)
    assert str(paths[0]) in message and "coronal" in message and 'orientation="index"' in message
    rows = read_manifest(out / "manifest.csv")
    assert {(r["view"], r["orientation"], r["normal"], r["obliquity"]) for r in rows} == {
        ("coronal", "", "+axis1", ""),
        ("axis0", "", "+axis0", ""),
    }

    index = VolumeSlicer(["coronal", "axis0"], size=(7, 9), pixel_size=1.0, orientation="index")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for view in ("coronal", "axis0"):
            np.testing.assert_array_equal(index.sample(volume, view), slicer.sample(volume, view))
        list(index.planes(Volume.from_array(data)))


def test_index_orientation_and_explicit_view_axes_ignore_the_directions():
    # RAS identity: anatomically the coronal planes run backwards and mirrored; index views do not care.
    data = np.random.default_rng(8).uniform(0, 1, size=(9, 8, 7))
    volume = Volume.from_array(data, space="RAS")
    index = VolumeSlicer(["coronal"], size=(7, 9), pixel_size=1.0, orientation="index")
    np.testing.assert_allclose(index.sample(volume, "coronal"), _index_coronal(data), atol=1e-6)
    anatomical = VolumeSlicer(["coronal"], size=(7, 9), pixel_size=1.0)
    np.testing.assert_allclose(anatomical.sample(volume, "coronal"), _index_coronal(data)[::-1, :, ::-1], atol=1e-6)
    mapped = VolumeSlicer(["coronal", "axial"], size=(7, 9), pixel_size=1.0, view_axes={"coronal": ViewAxes(1, 2, 0)})
    np.testing.assert_allclose(mapped.sample(volume, "coronal"), data.transpose(1, 2, 0), atol=1e-6)
    first = {p.view: p for p in mapped.planes(volume)}
    assert (first["coronal"].normal, first["coronal"].obliquity) == ("+axis1", None)
    assert (first["axial"].normal, first["axial"].obliquity, first["axial"].orientation) == ("S", 0.0, "RAS")
    with pytest.raises(ValueError, match="orientation must be one of"):
        VolumeSlicer(orientation="patient")  # type: ignore[arg-type]


def _turned(degrees, source="<array>"):
    """An LPS volume whose index axes are turned by ``degrees`` about the superior axis."""
    directions = Rotation.from_euler("z", degrees, degrees=True).apply(np.eye(3))
    return Volume.from_array(
        _phantom().data, spacing=(1.0, 1.2, 0.9), directions=directions, space="LPS", source=source
    )


def test_oblique_volumes_are_cut_up_to_the_limit_and_refused_beyond(tmp_path):
    slicer = VolumeSlicer(["coronal", "axis2"], [-10.0, 0.0], size=8)
    out = slicer.write([_turned(20.0)], tmp_path / "out", progress=False)
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 2 * (20 + 18)
    for row in rows:
        if row["view"] == "coronal":
            # Tilted planes keep the untilted view's normal; the tilt is in the angle column.
            assert (row["orientation"], row["normal"], row["obliquity"]) == ("LPS", "P", "20.0")
        else:
            assert (row["orientation"], row["normal"], row["obliquity"]) == ("LPS", "+axis2", "")

    path = write_nrrd(_turned(40.0), tmp_path / "turned.nrrd")
    with pytest.raises(ValueError, match=r"turned\.nrrd: .*40\.0 degrees from the patient axes.*orientation=\"index\""):
        slicer.write([path], tmp_path / "refused", progress=False)
    assert not (tmp_path / "refused").exists()
    # Knowingly along the index axes: accepted, and no obliquity is claimed.
    rows = read_manifest(
        VolumeSlicer(["coronal"], size=8, orientation="index").write([path], tmp_path / "index", progress=False)
        / "manifest.csv"
    )
    assert {(r["orientation"], r["normal"], r["obliquity"]) for r in rows} == {("LPS", "+axis1", "")}


def test_cli_slices_in_the_patient_frame_or_along_index_axes(tmp_path, capsys):
    from medgan_aug.cli import main

    lps = write_nrrd(_stored(_blobs, (0, 1, 2), (1, 1, 1), "LPS", _SHAPE, _SPACING), tmp_path / "lps.nrrd")
    ras = write_nrrd(_stored(_blobs, (0, 1, 2), (-1, -1, 1), "RAS", _SHAPE, _SPACING), tmp_path / "ras.nrrd")
    common = [str(lps), str(ras), "--views", "axial,sagittal", "--size", "16", "--bits", "16", "--no-progress"]
    # The default is the patient frame.
    assert main(["slice", *common, "--out", str(tmp_path / "anatomical")]) == 0
    assert main(["slice", *common, "--out", str(tmp_path / "index"), "--orientation", "index"]) == 0
    columns, images = {}, {}
    for mode in ("anatomical", "index"):
        for row in read_manifest(tmp_path / mode / "manifest.csv"):
            name = Path(row["source"]).stem
            columns.setdefault(mode, set()).add(
                (name, row["view"], row["orientation"], row["normal"], row["obliquity"])
            )
            image = Image.open(tmp_path / mode / row["file"])
            images[mode, name, row["view"], row["slice_index"]] = np.asarray(image, dtype=np.float64)
    assert columns["anatomical"] == {
        (name, view, name.upper(), normal, "0.0")
        for name in ("lps", "ras")
        for view, normal in (("axial", "S"), ("sagittal", "L"))
    }
    assert columns["index"] == {
        (name, view, name.upper(), normal, "")
        for name in ("lps", "ras")
        for view, normal in (("axial", "+axis2"), ("sagittal", "+axis0"))
    }
    # In the patient frame both files give the same planes; along index axes the RAS file's are mirrored.
    for slice_index in ("2", "4", "6"):
        anatomical = [images["anatomical", name, "axial", slice_index] for name in ("lps", "ras")]
        index = [images["index", name, "axial", slice_index] for name in ("lps", "ras")]
        assert np.abs(anatomical[0] - anatomical[1]).max() <= 2
        assert np.abs(index[0] - index[1][::-1, ::-1]).max() <= 2
        assert np.abs(index[0] - index[1]).max() > 1000
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["slice", *common, "--out", str(tmp_path / "bad"), "--orientation", "patient"])
    assert exit_.value.code == 2 and "--orientation" in capsys.readouterr().err
