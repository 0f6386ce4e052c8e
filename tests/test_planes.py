"""Plane layout of views and oblique tilts, checked against rotation matrices built independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from medgan_aug.data.planes import (
    DEFAULT_VIEWS,
    MAX_OBLIQUITY_DEGREES,
    AnatomicalView,
    ViewAxes,
    anatomical_view_axes,
    orientation_code,
    parse_angles,
    plane_stack,
    resolve_views,
)


def _physical(stack, spacing):
    """Physical (mm) row and column step and the plane normal of the first plane."""
    down = stack.steps[0, 0] * spacing
    across = stack.steps[0, 1] * spacing
    return down, across, np.cross(down, across) / np.linalg.norm(np.cross(down, across))


def test_untilted_coronal_slices_sit_on_voxel_planes():
    shape, spacing = (20, 30, 40), np.array([0.5, 1.0, 2.0])
    stack = plane_stack(shape, spacing, DEFAULT_VIEWS["coronal"], 0.0, size=(64, 48))
    assert stack.num_slices == 30
    # The view's normal is index axis 1: slice k passes through voxel plane y = k, and stepping in the image
    # never moves along y.
    np.testing.assert_allclose(stack.origins[:, 1], np.arange(30), atol=1e-12)
    np.testing.assert_allclose(stack.steps[:, :, 1], 0.0, atol=1e-15)
    # Superior (high z) at the top, so z decreases down the image; x increases across.
    assert stack.steps[0, 0, 2] < 0 and stack.steps[0, 1, 0] > 0
    # Image centre = volume centre.
    mid = stack.origins + 31.5 * stack.steps[:, 0] + 23.5 * stack.steps[:, 1]
    np.testing.assert_allclose(mid[:, [0, 2]], [[9.5, 19.5]] * 30, atol=1e-12)


@pytest.mark.parametrize("spacing", [0.1, 0.3, 0.33, 0.45, 0.7, 1.2])
@pytest.mark.parametrize("n", [7, 30, 199, 200])
def test_end_slices_lie_exactly_on_the_volume_faces(n, spacing):
    # The sampler has no tolerance at the faces: a slice a rounding error outside would come out blank.
    stack = plane_stack((5, n, 7), (1.0, spacing, 1.0), DEFAULT_VIEWS["coronal"], size=(4, 4))
    assert stack.origins[0, 1] == 0.0 and stack.origins[-1, 1] == n - 1
    assert np.all(stack.origins[:, 1] == np.arange(n))


def test_default_pixel_size_fits_the_field_of_view():
    shape, spacing = (20, 30, 40), np.array([0.5, 1.0, 2.0])
    stack = plane_stack(shape, spacing, DEFAULT_VIEWS["coronal"], size=(100, 100))
    # Rows run along z (40 voxels * 2 mm = 80 mm), columns along x (20 * 0.5 = 10 mm): 80 mm over 100 px.
    assert stack.pixel_size == pytest.approx(0.8)


@pytest.mark.parametrize("tilt_axis", ["rows", "cols"])
@pytest.mark.parametrize("angle", [-20.0, 7.5, 45.0])
def test_tilt_is_a_rotation_about_the_in_plane_axis(tilt_axis, angle):
    spacing = np.array([0.7, 1.3, 0.4])
    axes = DEFAULT_VIEWS["sagittal"]
    flat = plane_stack((21, 33, 40), spacing, axes, 0.0, size=(50, 60), pixel_size=0.9)
    tilted = plane_stack((21, 33, 40), spacing, axes, angle, tilt_axis=tilt_axis, size=(50, 60), pixel_size=0.9)
    down0, across0, normal0 = _physical(flat, spacing)
    down1, across1, normal1 = _physical(tilted, spacing)
    pivot = down0 if tilt_axis == "rows" else across0
    rotation = Rotation.from_rotvec(np.radians(angle) * pivot / np.linalg.norm(pivot))
    # Pixels stay square and the same size in mm, however anisotropic the voxels.
    assert np.linalg.norm(down1) == pytest.approx(0.9) and np.linalg.norm(across1) == pytest.approx(0.9)
    assert np.dot(down1, across1) == pytest.approx(0.0, abs=1e-12)
    # Same plane as rotating the untilted one about the pivot (up to the sign convention of the angle).
    expected = [rotation.apply(v) for v in (down0, across0)]
    mirrored = [rotation.inv().apply(v) for v in (down0, across0)]
    assert np.allclose([down1, across1], expected, atol=1e-12) or np.allclose([down1, across1], mirrored, atol=1e-12)
    assert abs(np.dot(normal1, normal0)) == pytest.approx(np.cos(np.radians(angle)))


def test_positive_angle_turns_columns_towards_the_normal():
    stack = plane_stack((10, 10, 10), (1, 1, 1), DEFAULT_VIEWS["axis0"], 30.0, tilt_axis="rows", pixel_size=1)
    across = stack.steps[0, 1]
    # axis0: rows = axis 1, cols = axis 2, normal = axis 0; +30 degrees moves columns by sin(30) along axis 0.
    np.testing.assert_allclose(across, [0.5, 0.0, np.cos(np.radians(30))], atol=1e-12)


def test_tilted_slices_share_the_sequence_through_the_centre():
    spacing = np.array([1.0, 2.0, 1.0])
    stack = plane_stack((9, 11, 13), spacing, DEFAULT_VIEWS["coronal"], 20.0, size=(8, 8), pixel_size=1.5)
    centre = (np.array([9, 11, 13]) - 1) / 2 * spacing
    np.testing.assert_allclose(stack.centers_mm[5], centre, atol=1e-12)
    gaps = np.linalg.norm(np.diff(stack.centers_mm, axis=0), axis=1)
    np.testing.assert_allclose(gaps, 2.0)


def test_slice_indices_select_planes():
    full = plane_stack((9, 11, 13), (1, 1, 1), DEFAULT_VIEWS["axial"], 10.0, size=(8, 8))
    some = plane_stack((9, 11, 13), (1, 1, 1), DEFAULT_VIEWS["axial"], 10.0, size=(8, 8), slice_indices=[0, 6, 12])
    np.testing.assert_array_equal(some.origins, full.origins[[0, 6, 12]])
    with pytest.raises(ValueError, match="slice_indices"):
        plane_stack((9, 11, 13), (1, 1, 1), DEFAULT_VIEWS["axial"], slice_indices=[13])


@pytest.mark.parametrize("angle", [90.0, -90.0, 120.0, float("nan")])
def test_angle_outside_what_fits_is_rejected(angle):
    with pytest.raises(ValueError, match=r"angle .* outside \(-90, 90\)"):
        plane_stack((9, 9, 9), (1, 1, 1), DEFAULT_VIEWS["axial"], angle)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pixel_size": 0.0}, "pixel_size"),
        ({"pixel_size": -1.0}, "pixel_size"),
        ({"slice_spacing": 0.0}, "slice_spacing"),
        ({"size": (0, 4)}, "size"),
        ({"tilt_axis": "normal"}, "tilt_axis"),
    ],
)
def test_bad_layout_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plane_stack((9, 9, 9), (1, 1, 1), DEFAULT_VIEWS["axial"], **kwargs)


def test_views_resolve_with_custom_axis_mapping():
    custom = {"coronal": ViewAxes(normal=2, rows=0, cols=1)}
    views = resolve_views(["sagittal", "coronal"], custom)
    assert list(views) == ["sagittal", "coronal"] and views["coronal"].normal == 2
    with pytest.raises(ValueError, match="unknown view"):
        resolve_views(["oblique"])
    with pytest.raises(ValueError, match="twice"):
        resolve_views(["axial", "axial"])
    with pytest.raises(ValueError, match="index axes 0, 1 and 2"):
        ViewAxes(normal=0, rows=0, cols=1)


def test_parse_angles():
    assert parse_angles("-20:20:5") == [-20, -15, -10, -5, 0, 5, 10, 15, 20]
    assert parse_angles("0") == [0.0]
    assert parse_angles("-7.5,0,7.5") == [-7.5, 0.0, 7.5]
    assert parse_angles("0:1:0.25") == [0.0, 0.25, 0.5, 0.75, 1.0]
    for bad in ("a:b:c", "20:-20:5", "0:10:0", "1,,2"):
        with pytest.raises(ValueError, match="angles"):
            parse_angles(bad)


# ---------------------------------------------------------------------------------------------------------------
# Views in the patient frame


def _rotation_about_s(degrees):
    """Rows: LPS world directions of index axes turned by ``degrees`` about the superior axis."""
    return Rotation.from_euler("z", degrees, degrees=True).apply(np.eye(3))


def test_anatomical_views_of_an_lps_identity_volume_are_the_index_views():
    views, obliquity = anatomical_view_axes(np.eye(3), "LPS")
    assert obliquity == 0.0
    assert views == {name: DEFAULT_VIEWS[name] for name in ("axial", "coronal", "sagittal")}


def test_anatomical_views_follow_the_storage_of_the_axes():
    # Worked out by hand from the definitions (axial: normal S, down P, across L; coronal: P, I, L; sagittal: L, I,
    # P). RAS identity: axis 0 points R, 1 A, 2 S, so L, P and every view's in-plane "down P" run backwards.
    views, _ = anatomical_view_axes(np.eye(3), "RAS")
    assert views["axial"] == ViewAxes(normal=2, rows=1, cols=0, flip_rows=True, flip_cols=True)
    assert views["coronal"] == ViewAxes(normal=1, rows=2, cols=0, flip_rows=True, flip_cols=True, flip_normal=True)
    assert views["sagittal"] == ViewAxes(normal=0, rows=2, cols=1, flip_rows=True, flip_cols=True, flip_normal=True)
    # Index axes (S, L, A) in LPS: S is axis 0, L axis 1, P axis 2 reversed.
    views, _ = anatomical_view_axes([[0, 0, 1], [1, 0, 0], [0, -1, 0]], "LPS")
    assert views["axial"] == ViewAxes(normal=0, rows=2, cols=1, flip_rows=True)
    assert views["coronal"] == ViewAxes(normal=2, rows=0, cols=1, flip_rows=True, flip_normal=True)
    assert views["sagittal"] == ViewAxes(normal=1, rows=0, cols=2, flip_rows=True, flip_cols=True)
    # The same grid described in LAS (y negated): the same views.
    assert anatomical_view_axes([[0, 0, 1], [1, 0, 0], [0, 1, 0]], "LAS")[0] == views


@pytest.mark.parametrize(
    ("directions", "space", "code"),
    [
        (np.eye(3), "RAS", "RAS"),
        (np.eye(3), "LPS", "LPS"),
        (np.eye(3), "LAS", "LAS"),
        (np.diag([1.0, 1.0, -1.0]), "LPS", "LPI"),
        ([[0, 0, 1], [1, 0, 0], [0, 1, 0]], "LPS", "SLP"),
        ([[0, 0, 1], [-1, 0, 0], [0, 1, 0]], "RAS", "SLA"),
        (_rotation_about_s(20.0), "LPS", "LPS"),
        (_rotation_about_s(70.0), "LPS", "PRS"),
    ],
)
def test_orientation_code_names_the_nearest_patient_direction_of_each_axis(directions, space, code):
    assert orientation_code(directions, space) == code


def test_obliquity_up_to_the_limit_snaps_to_the_nearest_index_axes():
    views, obliquity = anatomical_view_axes(_rotation_about_s(20.0), "LPS", source="tilted.nrrd")
    assert obliquity == pytest.approx(20.0, abs=1e-9)
    assert views == anatomical_view_axes(np.eye(3), "LPS")[0]
    assert MAX_OBLIQUITY_DEGREES == 30.0
    _, obliquity = anatomical_view_axes(_rotation_about_s(-29.9), "LPS")
    assert obliquity == pytest.approx(29.9, abs=1e-9)


@pytest.mark.parametrize("degrees", [30.5, 40.0, -44.0])
def test_more_oblique_volumes_are_refused_with_the_remedies(degrees):
    message = rf"tilted\.nrrd: .* {abs(degrees):.1f} degrees from the patient axes .*resample.*orientation=\"index\""
    with pytest.raises(ValueError, match=message):
        anatomical_view_axes(_rotation_about_s(degrees), "LPS", source="tilted.nrrd")


def test_flip_normal_runs_the_slices_from_the_far_end():
    shape, spacing = (6, 9, 5), (1.0, 0.7, 1.0)
    plain = plane_stack(shape, spacing, ViewAxes(normal=1, rows=2, cols=0), size=(4, 4))
    flipped = plane_stack(shape, spacing, ViewAxes(normal=1, rows=2, cols=0, flip_normal=True), size=(4, 4))
    # Exactly on the voxel planes, from index 8 down to 0; only the slice order changes.
    assert np.all(flipped.origins[:, 1] == np.arange(9)[::-1])
    np.testing.assert_array_equal(flipped.origins, plain.origins[::-1])
    np.testing.assert_array_equal(flipped.steps, plain.steps)
    # Tilting swings the columns towards the (reversed) normal: the opposite way in index space.
    tilt = plane_stack(shape, spacing, ViewAxes(normal=1, rows=2, cols=0, flip_normal=True), 30.0, pixel_size=1)
    np.testing.assert_allclose(tilt.steps[0, 1], [np.cos(np.radians(30)), -0.5 / 0.7, 0.0], atol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: anatomical_view_axes(np.eye(3), "RAI"), "space must be one of RAS, LAS, LPS"),
        (lambda: orientation_code(np.eye(3), "lps"), "space must be one of RAS, LAS, LPS"),
        (lambda: anatomical_view_axes(np.eye(2), "LPS"), "3 x 3"),
        (lambda: orientation_code([[1, 0, 0], [0, 0, 0], [0, 0, 1]], "LPS"), "zero row"),
        (lambda: AnatomicalView(normal="S", down="I", across="L"), "three different axes"),
        (lambda: AnatomicalView(normal="S", down="P", across="X"), "three different axes"),
    ],
)
def test_bad_orientation_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
