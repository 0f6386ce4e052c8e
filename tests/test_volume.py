"""Volume geometry, NRRD reading and writing, DICOM series reading."""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

import nrrd
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from medgan_aug.data import Volume, VolumeSlicer, read_dicom_series, read_nrrd, read_volume, write_nrrd

ROTATION = Rotation.from_euler("zyx", [30.0, -20.0, 75.0], degrees=True).as_matrix()
# Rows of ROTATION are unit, mutually orthogonal direction vectors.
SPACING = np.array([0.7, 1.3, 2.1])
ORIGIN = np.array([-12.5, 40.25, 3.0])


def _random_data(shape: tuple[int, int, int] = (5, 6, 7), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _rotated_volume() -> Volume:
    return Volume.from_array(_random_data(), spacing=SPACING, origin=ORIGIN, directions=ROTATION)


def _raises_naming(exception: type[Exception], path: Path, *fragments: str) -> pytest.RaisesExc:
    pattern = re.escape(str(path)) + ".*" + ".*".join(re.escape(fragment) for fragment in fragments)
    return pytest.raises(exception, match=pattern)


# ---------------------------------------------------------------------------------------------------------------
# Volume


def test_from_array_converts_to_c_contiguous_float32() -> None:
    ints = np.arange(2 * 3 * 4, dtype=np.int16).reshape(4, 3, 2).transpose(2, 1, 0) - 7
    volume = Volume.from_array(ints)
    assert volume.data.dtype == np.float32
    assert volume.data.flags.c_contiguous
    assert volume.shape == (2, 3, 4)
    np.testing.assert_array_equal(volume.data, ints.astype(np.float64))
    np.testing.assert_array_equal(volume.directions, np.eye(3))
    np.testing.assert_array_equal(volume.spacing, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(volume.origin, [0.0, 0.0, 0.0])


def test_float32_input_is_not_copied() -> None:
    data = _random_data()
    assert Volume.from_array(data).data is data


def test_directions_are_normalised_and_geometry_is_read_only() -> None:
    volume = Volume.from_array(_random_data(), directions=ROTATION * np.array([[2.0], [0.5], [3.0]]))
    np.testing.assert_allclose(volume.directions, ROTATION, atol=1e-15)
    with pytest.raises(ValueError, match="read-only"):
        volume.spacing[0] = 5.0


def test_index_to_world_matches_hand_computed_example() -> None:
    # Axis 0 points along +y, axis 1 along -x, axis 2 along +z (a 90 degree turn about z).
    directions = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    volume = Volume.from_array(np.zeros((3, 4, 5)), spacing=(2.0, 0.5, 1.0), origin=(10, 20, 30), directions=directions)
    # origin + 1 * 2 * (0, 1, 0) + 2 * 0.5 * (-1, 0, 0) + 3 * 1 * (0, 0, 1)
    expected = np.array([9.0, 22.0, 33.0])
    np.testing.assert_allclose(volume.index_to_world() @ [1.0, 2.0, 3.0, 1.0], [*expected, 1.0], atol=1e-12)
    np.testing.assert_allclose(volume.world_to_index(expected), [1.0, 2.0, 3.0], atol=1e-12)


def test_world_to_index_inverts_index_to_world() -> None:
    volume = _rotated_volume()
    index = np.random.default_rng(1).uniform(-3, 9, size=(4, 5, 3))
    affine = volume.index_to_world()
    world = index @ affine[:3, :3].T + affine[:3, 3]
    # Independent float64 reference for the affine: origin + sum_k i_k * spacing_k * directions_k.
    reference = ORIGIN + np.einsum("...k,k,kj->...j", index, SPACING, ROTATION)
    np.testing.assert_allclose(world, reference, atol=1e-12)
    np.testing.assert_allclose(volume.world_to_index(world), index, atol=1e-12)


def test_world_to_index_rejects_points_without_three_coordinates() -> None:
    with pytest.raises(ValueError, match=r"points must have shape \[\.\.\., 3\]"):
        _rotated_volume().world_to_index(np.zeros((4, 2)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"array": np.zeros((4, 5))}, "2-D data of shape (4, 5): a 3-D scalar volume is required"),
        ({"array": np.zeros((2, 3, 4, 5))}, "4-D data of shape (2, 3, 4, 5): a 3-D scalar volume is required"),
        ({"array": np.zeros((2, 0, 4))}, "empty"),
        ({"array": np.zeros((2, 3, 4), dtype=complex)}, "dtype complex128"),
        ({"spacing": (1.0, 0.0, 1.0)}, "spacing[1] = 0.0 must be > 0"),
        ({"spacing": (1.0, 1.0, -0.5)}, "spacing[2] = -0.5 must be > 0"),
        ({"spacing": (1.0, np.nan, 1.0)}, "spacing must be finite"),
        ({"spacing": (1.0, 1.0)}, "spacing must be 3 numbers"),
        ({"origin": (0.0, np.inf, 0.0)}, "origin must be finite"),
        ({"directions": [[1, 0, 0], [0.3, 1, 0], [0, 0, 1]]}, "not orthonormal"),
        ({"directions": [[1, 0, 0], [0, 0, 0], [0, 0, 1]]}, "directions[1] is the zero vector"),
        ({"directions": np.eye(2)}, "3 x 3 matrix"),
    ],
)
def test_from_array_rejects_bad_input(kwargs: dict, message: str) -> None:
    kwargs = {"array": np.zeros((2, 3, 4)), "source": "scan-17", **kwargs}
    with pytest.raises(ValueError, match="scan-17: .*" + re.escape(message)):
        Volume.from_array(**kwargs)


def test_non_finite_voxels_are_counted() -> None:
    data = np.ones((3, 4, 5))
    data[0, 1, 2] = np.nan
    data[2, 3, 4] = -np.inf
    data[1, 1, 1] = 1e39  # beyond float32
    with pytest.raises(ValueError, match=r"<array>: 3 of 60 voxels are NaN or Inf"):
        Volume.from_array(data)


def test_slightly_non_orthogonal_directions_within_tolerance_are_accepted() -> None:
    directions = np.eye(3)
    directions[1, 0] = 4e-4
    Volume.from_array(np.zeros((2, 2, 2)), directions=directions)


@pytest.mark.parametrize(
    ("space", "directions", "code"),
    [
        ("RAS", np.eye(3), "RAS"),
        ("LPS", np.eye(3), "LPS"),
        ("LPS", np.diag([1.0, 1.0, -1.0]), "LPI"),
        ("LAS", [[0, 0, -1], [0, 1, 0], [1, 0, 0]], "IAL"),
        (None, np.eye(3), None),
    ],
)
def test_orientation_code_of_a_volume(space: str | None, directions: np.ndarray, code: str | None) -> None:
    volume = Volume.from_array(np.zeros((2, 3, 4)), directions=directions, space=space)
    assert volume.space == space
    assert volume.orientation_code() == code


@pytest.mark.parametrize("space", ["ras", "RAI", "left-posterior-superior", "", 3])
def test_unknown_space_codes_are_refused(space: object) -> None:
    with pytest.raises(
        ValueError, match=r"scan-17: space must be one of RAS, LAS, LPS or None, got " + re.escape(repr(space))
    ):
        Volume.from_array(np.zeros((2, 3, 4)), source="scan-17", space=space)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# NRRD round trip


@pytest.mark.parametrize("encoding", ["gzip", "raw"])
def test_write_read_round_trip(tmp_path: Path, encoding: str) -> None:
    volume = _rotated_volume()
    path = write_nrrd(volume, tmp_path / "scan.nrrd", encoding=encoding)
    assert path == tmp_path / "scan.nrrd"
    assert [entry.name for entry in tmp_path.iterdir()] == ["scan.nrrd"]  # no temporary file left behind

    loaded = read_nrrd(path)
    np.testing.assert_array_equal(loaded.data, volume.data)
    np.testing.assert_allclose(loaded.spacing, SPACING, rtol=1e-14)
    np.testing.assert_allclose(loaded.directions, ROTATION, atol=1e-14)
    np.testing.assert_array_equal(loaded.origin, ORIGIN)
    assert loaded.source == str(path)

    # The file itself, as pynrrd reads it: axis order and the space directions convention.
    data, header = nrrd.read(str(path), index_order="C")
    np.testing.assert_array_equal(data, volume.data.transpose(2, 1, 0))
    assert header["encoding"] == encoding
    assert header["type"] == "float"
    np.testing.assert_allclose(header["space directions"], SPACING[:, None] * ROTATION, rtol=1e-15)
    assert (path.read_bytes()[-len(volume.data.tobytes()) :] == volume.data.tobytes(order="F")) == (encoding == "raw")


@pytest.mark.parametrize(
    ("space", "name"),
    [("RAS", "right-anterior-superior"), ("LAS", "left-anterior-superior"), ("LPS", "left-posterior-superior")],
)
def test_write_read_round_trip_keeps_the_space(tmp_path: Path, space: str, name: str) -> None:
    volume = Volume.from_array(_random_data(), spacing=SPACING, origin=ORIGIN, directions=ROTATION, space=space)
    path = write_nrrd(volume, tmp_path / "scan.nrrd")
    header = nrrd.read_header(str(path))
    # NRRD allows a named space or a space dimension, not both.
    assert header["space"] == name and "space dimension" not in header
    loaded = read_nrrd(path)
    assert loaded.space == space
    assert loaded.orientation_code() == volume.orientation_code()
    np.testing.assert_allclose(loaded.directions, ROTATION, atol=1e-14)


def test_a_volume_without_space_is_written_with_a_space_dimension(tmp_path: Path) -> None:
    path = write_nrrd(_rotated_volume(), tmp_path / "scan.nrrd")
    header = nrrd.read_header(str(path))
    assert header["space dimension"] == 3 and "space" not in header
    assert read_nrrd(path).space is None


def test_gzip_encoding_is_a_gzip_stream(tmp_path: Path) -> None:
    volume = _rotated_volume()
    content = write_nrrd(volume, tmp_path / "scan.nrrd").read_bytes()
    data = content[content.index(b"\n\n") + 2 :]
    assert gzip.decompress(data) == volume.data.tobytes(order="F")


def test_write_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "scan.nrrd"
    write_nrrd(Volume.from_array(np.zeros((2, 2, 2))), path)
    write_nrrd(_rotated_volume(), path)
    np.testing.assert_array_equal(read_nrrd(path).data, _random_data())


def test_write_rejects_bad_arguments(tmp_path: Path) -> None:
    volume = _rotated_volume()
    with pytest.raises(ValueError, match="encoding must be 'gzip' or 'raw', got 'bzip2'"):
        write_nrrd(volume, tmp_path / "scan.nrrd", encoding="bzip2")  # type: ignore[arg-type]
    with _raises_naming(ValueError, tmp_path / "scan.nhdr", "must end in .nrrd"):
        write_nrrd(volume, tmp_path / "scan.nhdr")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_nrrd(volume, tmp_path / "missing" / "scan.nrrd")


# ---------------------------------------------------------------------------------------------------------------
# NRRD files written by pynrrd


@pytest.mark.parametrize(
    "dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
)
def test_reads_every_scalar_type(tmp_path: Path, dtype: str) -> None:
    kind = np.dtype(dtype)
    if kind.kind == "f":
        # float32-representable, so that the conversion to float32 is exact.
        data = np.random.default_rng(2).normal(scale=100, size=(3, 4, 5)).astype(np.float32).astype(kind)
    else:
        info = np.iinfo(kind)
        # Extremes exactly representable in float32 (the int32/64 maxima are not), plus small values.
        low, high = max(info.min, -(2**24)), min(info.max, 2**24)
        data = np.random.default_rng(2).integers(low, high, size=(3, 4, 5), endpoint=True).astype(kind)
        data.flat[:2] = low, high
    path = tmp_path / f"{dtype}.nrrd"
    nrrd.write(str(path), data, {"encoding": "raw"})
    volume = read_nrrd(path)
    assert volume.data.dtype == np.float32
    np.testing.assert_array_equal(volume.data.astype(np.float64), data.astype(np.float64))


@pytest.mark.parametrize("dtype", [">i2", ">f8", ">u4"])
def test_reads_big_endian_data(tmp_path: Path, dtype: str) -> None:
    data = np.arange(60, dtype=np.float64).reshape(3, 4, 5) * 3 - 10
    data = data.clip(0) if dtype == ">u4" else data
    path = tmp_path / "big.nrrd"
    nrrd.write(str(path), data.astype(dtype), {"encoding": "gzip"})
    assert b"endian: big" in path.read_bytes()
    np.testing.assert_array_equal(read_nrrd(path).data, data)


@pytest.mark.parametrize("encoding", ["raw", "gzip", "bzip2", "ascii"])
def test_reads_every_encoding(tmp_path: Path, encoding: str) -> None:
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    path = tmp_path / "scan.nrrd"
    nrrd.write(str(path), data, {"encoding": encoding})
    np.testing.assert_array_equal(read_nrrd(path).data, data)


def test_axis_order_is_the_header_order(tmp_path: Path) -> None:
    # Written in file order by hand: the first size varies fastest.
    data = np.arange(2 * 3 * 4, dtype="<u2")
    path = tmp_path / "order.nrrd"
    header = b"NRRD0004\ntype: ushort\ndimension: 3\nsizes: 2 3 4\nendian: little\nencoding: raw\n\n"
    path.write_bytes(header + data.tobytes())
    volume = read_nrrd(path)
    assert volume.shape == (2, 3, 4)
    for i, j, k in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 2, 3)]:
        assert volume.data[i, j, k] == i + 2 * j + 6 * k


def test_reads_space_directions_and_origin(tmp_path: Path) -> None:
    data = _random_data()
    path = tmp_path / "lps.nrrd"
    header = {
        "space": "left-posterior-superior",
        "space directions": SPACING[:, None] * ROTATION,
        "space origin": ORIGIN,
        "kinds": ["domain", "domain", "domain"],
    }
    nrrd.write(str(path), data, header)
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.data, data)
    np.testing.assert_allclose(volume.spacing, SPACING, rtol=1e-14)
    np.testing.assert_allclose(volume.directions, ROTATION, atol=1e-14)
    np.testing.assert_array_equal(volume.origin, ORIGIN)


def test_reads_spacings_without_space_directions(tmp_path: Path) -> None:
    path = tmp_path / "spacings.nrrd"
    nrrd.write(str(path), _random_data(), {"spacings": [0.5, 2.0, 3.25]})
    volume = read_nrrd(path)
    np.testing.assert_array_equal(volume.spacing, [0.5, 2.0, 3.25])
    np.testing.assert_array_equal(volume.directions, np.eye(3))
    np.testing.assert_array_equal(volume.origin, [0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("value", "space"),
    [
        ("right-anterior-superior", "RAS"),
        ("RAS", "RAS"),
        ("left-anterior-superior", "LAS"),
        ("las", "LAS"),
        ("Left-Posterior-Superior", "LPS"),
        ("LPS", "LPS"),
        ("scanner-xyz", None),
        ("3D-right-handed", None),
        ("3D-left-handed", None),
    ],
)
def test_reads_the_space_field(tmp_path: Path, value: str, space: str | None) -> None:
    path = tmp_path / "scan.nrrd"
    # Written by hand, as any tool may write it, with a direction matrix that is not the identity.
    header = f"NRRD0004\ntype: float\ndimension: 3\nsizes: 2 3 4\nspace: {value}\n"
    header += "space directions: (0,0.5,0) (-2,0,0) (0,0,1.5)\nendian: little\nencoding: raw\n\n"
    path.write_bytes(header.encode() + _random_data((2, 3, 4)).tobytes(order="F"))
    volume = read_nrrd(path)
    assert volume.space == space
    np.testing.assert_array_equal(volume.directions, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(volume.spacing, [0.5, 2.0, 1.5])


def test_space_directions_without_a_named_space_have_no_anatomical_frame(tmp_path: Path) -> None:
    path = tmp_path / "scan.nrrd"
    nrrd.write(str(path), _random_data(), {"space dimension": 3, "space directions": np.diag(SPACING)})
    assert read_nrrd(path).space is None


def test_a_named_space_without_space_directions_has_no_anatomical_frame(tmp_path: Path) -> None:
    # Without a direction matrix nothing says where the axes point, whatever the space field says.
    path = tmp_path / "scan.nrrd"
    nrrd.write(str(path), _random_data(), {"space": "left-posterior-superior", "spacings": [1.0, 2.0, 3.0]})
    volume = read_nrrd(path)
    assert volume.space is None and volume.orientation_code() is None
    np.testing.assert_array_equal(volume.spacing, [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("space", "fragments"),
    [
        ("right-anterior-inferior", ("unknown NRRD space 'right-anterior-inferior'", "left-posterior-superior (LPS)")),
        ("RAI", ("unknown NRRD space 'RAI'", "right-anterior-superior (RAS)", "scanner-xyz")),
        ("left-posterior-superior-time", ("space 'left-posterior-superior-time' has a time axis",)),
        ("LPST", ("space 'LPST' has a time axis",)),
        ("scanner-xyz-time", ("has a time axis",)),
    ],
)
def test_unknown_or_time_space_is_an_error(tmp_path: Path, space: str, fragments: tuple[str, ...]) -> None:
    path = tmp_path / "scan.nrrd"
    header = f"NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\nspace: {space}\n"
    header += "space directions: (1,0,0) (0,1,0) (0,0,1)\nendian: little\nencoding: raw\n\n"
    path.write_bytes(header.encode() + bytes(32))
    with _raises_naming(ValueError, path, *fragments):
        read_nrrd(path)


def test_non_orthogonal_directions_in_a_named_space_are_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sheared.nrrd"
    header = {"space": "right-anterior-superior", "space directions": [[1, 0, 0], [0.2, 1, 0], [0, 0, 1]]}
    nrrd.write(str(path), _random_data(), header)
    with _raises_naming(ValueError, path, "not orthonormal", "sheared or skewed grids are not supported"):
        read_nrrd(path)


def test_reads_detached_header(tmp_path: Path) -> None:
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    path = tmp_path / "scan.nhdr"
    nrrd.write(str(path), data, {"encoding": "raw", "spacings": [1.0, 1.5, 2.0]})
    assert (tmp_path / "scan.raw").is_file()
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.data, data)
    np.testing.assert_array_equal(volume.spacing, [1.0, 1.5, 2.0])


# ---------------------------------------------------------------------------------------------------------------
# Bad NRRD files


def _nrrd_bytes(tmp_path: Path, encoding: str) -> bytes:
    path = tmp_path / "source.nrrd"
    nrrd.write(str(path), _random_data((10, 10, 10)), {"encoding": encoding})
    content = path.read_bytes()
    path.unlink()
    return content


@pytest.mark.parametrize(
    ("encoding", "removed"),
    [("raw", 1), ("raw", 1000), ("gzip", 100), ("gzip", 2000)],
)
def test_truncated_data_is_an_error(tmp_path: Path, encoding: str, removed: int) -> None:
    path = tmp_path / "cut.nrrd"
    path.write_bytes(_nrrd_bytes(tmp_path, encoding)[:-removed])
    with _raises_naming(ValueError, path, "cannot read NRRD") as info:
        read_nrrd(path)
    assert info.value.__cause__ is not None


def test_trailing_bytes_after_raw_data_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "long.nrrd"
    path.write_bytes(_nrrd_bytes(tmp_path, "raw") + bytes(4))
    with _raises_naming(ValueError, path, "cannot read NRRD"):
        read_nrrd(path)


def test_corrupt_gzip_stream_is_an_error(tmp_path: Path) -> None:
    content = bytearray(_nrrd_bytes(tmp_path, "gzip"))
    start = content.index(b"\n\n") + 2
    # Flip bits across the deflate stream: it breaks the stream or its CRC-32.
    for offset in range(start + 20, len(content) - 8, 97):
        content[offset] ^= 0x5A
    path = tmp_path / "corrupt.nrrd"
    path.write_bytes(bytes(content))
    with _raises_naming(ValueError, path, "cannot read NRRD"):
        read_nrrd(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (bytes(range(256)) * 4, "magic line"),
        (b"NRRD0004\ntype: float\ndimension: 3\nsizes: 2 two 2\nencoding: raw\n\n", "cannot read NRRD"),
        (b"NRRD0004\ntype: float\ndimension: 3\nencoding: raw\n\n", "no sizes field"),
        (b"NRRD0004\ntype: float\ndimension: 2\nsizes: 2 2 2\nencoding: raw\n\n", "dimension 2 but 3 sizes"),
        (b"NRRD0004\ntype: cheese\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n\n", "cannot read NRRD"),
        (b"NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\nencoding: lz4\nendian: little\n\n", "lz4"),
    ],
)
def test_garbage_is_an_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "garbage.nrrd"
    path.write_bytes(content)
    with _raises_naming(ValueError, path, reason):
        read_nrrd(path)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "absent.nrrd"
    with _raises_naming(FileNotFoundError, path, "no such NRRD file"):
        read_nrrd(path)
    with _raises_naming(FileNotFoundError, path):
        read_volume(path)


def test_missing_detached_data_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "scan.nhdr"
    nrrd.write(str(path), _random_data(), {"encoding": "raw"})
    (tmp_path / "scan.raw").unlink()
    with _raises_naming(ValueError, path, "cannot read NRRD", "scan.raw") as info:
        read_nrrd(path)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_two_dimensional_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "image.nrrd"
    nrrd.write(str(path), np.zeros((4, 5), np.float32))
    with _raises_naming(ValueError, path, "2-D data of sizes (4, 5): a 3-D scalar volume is required"):
        read_nrrd(path)


def test_vector_volume_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "vectors.nrrd"
    directions = np.vstack([np.full(3, np.nan), np.eye(3)])
    nrrd.write(str(path), np.zeros((3, 4, 5, 6), np.float32), {"space dimension": 3, "space directions": directions})
    assert b"space directions: none (1" in path.read_bytes()
    with _raises_naming(ValueError, path, "4-D data", "non-spatial axes [0]", "3-D scalar volume is required"):
        read_nrrd(path)


@pytest.mark.parametrize(("kinds", "axis"), [(["RGB-color", "domain", "domain"], 0), (["space", "space", "time"], 2)])
def test_three_dimensional_non_spatial_image_is_an_error(tmp_path: Path, kinds: list[str], axis: int) -> None:
    path = tmp_path / "image.nrrd"
    nrrd.write(str(path), np.zeros((3, 4, 5), np.uint8), {"kinds": kinds})
    with _raises_naming(ValueError, path, f"non-spatial axes [{axis}]"):
        read_nrrd(path)


def test_nan_voxels_in_file_are_an_error(tmp_path: Path) -> None:
    data = _random_data()
    data[1, 2, 3] = np.nan
    path = tmp_path / "nan.nrrd"
    nrrd.write(str(path), data)
    with _raises_naming(ValueError, path, "1 of 210 voxels are NaN or Inf"):
        read_nrrd(path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"spacings": [1.0, 0.0, 1.0]}, "spacing[1] = 0.0 must be > 0"),
        ({"spacings": [1.0, 1.0, -2.0]}, "spacing[2] = -2.0 must be > 0"),
        ({"space dimension": 3, "space directions": np.diag([1.0, 0.0, 1.0])}, "spacing[1] = 0.0 must be > 0"),
        ({"space dimension": 3, "space directions": [[1, 0, 0], [0.5, 1, 0], [0, 0, 1]]}, "not orthonormal"),
        ({"space dimension": 2, "space directions": [[1, 0], [0, 1], [1, 1]]}, "a 3-D space is required"),
        ({"space": "left-posterior-superior", "space directions": np.eye(3), "space units": ["cm"] * 3}, "units"),
    ],
)
def test_bad_geometry_in_file_is_an_error(tmp_path: Path, header: dict, message: str) -> None:
    path = tmp_path / "geometry.nrrd"
    nrrd.write(str(path), _random_data(), header)
    with _raises_naming(ValueError, path, message):
        read_nrrd(path)


def test_read_volume_rejects_unknown_formats(tmp_path: Path) -> None:
    path = tmp_path / "scan.nii"
    path.write_bytes(b"\0" * 10)
    with _raises_naming(ValueError, path, "unsupported volume format '.nii'"):
        read_volume(path)


# ---------------------------------------------------------------------------------------------------------------
# DICOM series

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
# An oblique slice orientation: the image rows run along ROW_DIR, the columns along COLUMN_DIR.
ROW_DIR, COLUMN_DIR = ROTATION[0], ROTATION[1]
NORMAL = np.cross(ROW_DIR, COLUMN_DIR)


def _write_slice(
    path: Path,
    pixels: np.ndarray,
    position: np.ndarray,
    *,
    series: str = "1.2.3.4.5",
    pixel_spacing: tuple[float, float] = (0.8, 0.3),
    slope: float = 0.5,
    intercept: float = -100.0,
    orientation: tuple[np.ndarray, np.ndarray] = (ROW_DIR, COLUMN_DIR),
) -> None:
    pydicom = pytest.importorskip("pydicom", minversion="3.0")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = CT_IMAGE_STORAGE
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "CT"
    dataset.SeriesInstanceUID = series
    dataset.ImagePositionPatient = [float(x) for x in position]
    dataset.ImageOrientationPatient = [float(x) for x in np.concatenate(orientation)]
    dataset.PixelSpacing = list(pixel_spacing)
    dataset.RescaleSlope = slope
    dataset.RescaleIntercept = intercept
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 1
    dataset.PixelData = pixels.astype("<i2").tobytes()
    pydicom.dcmwrite(path, dataset, enforce_file_format=True)


def _write_series(directory: Path, count: int = 5, spacing: float = 2.5, **kwargs) -> list[np.ndarray]:
    """Write ``count`` 4 x 3 slices in shuffled file order; return their pixels in slice order."""
    rng = np.random.default_rng(3)
    pixels = [rng.integers(-500, 3000, size=(4, 3)) for _ in range(count)]
    for slot, index in enumerate(rng.permutation(count)):
        _write_slice(directory / f"IM{slot:04d}", pixels[index], ORIGIN + index * spacing * NORMAL, **kwargs)
    return pixels


def test_dicom_series_values_order_and_geometry(tmp_path: Path) -> None:
    pixels = _write_series(tmp_path)
    (tmp_path / "notes.txt").write_text("not a DICOM file")
    volume = read_volume(tmp_path)

    assert volume.shape == (3, 4, 5)  # columns, rows, slices
    for k, image in enumerate(pixels):
        np.testing.assert_array_equal(volume.data[:, :, k], (image * 0.5 - 100.0).T)
    np.testing.assert_allclose(volume.spacing, [0.3, 0.8, 2.5], rtol=1e-12)
    np.testing.assert_allclose(volume.directions, np.stack([ROW_DIR, COLUMN_DIR, NORMAL]), atol=1e-12)
    np.testing.assert_allclose(volume.origin, ORIGIN, atol=1e-12)
    # The DICOM pixel position equation (PS3.3 C.7.6.2.1.1) for pixel (row r, column c) of slice k.
    r, c, k = 3, 1, 4
    expected = ORIGIN + k * 2.5 * NORMAL + ROW_DIR * 0.3 * c + COLUMN_DIR * 0.8 * r
    np.testing.assert_allclose((volume.index_to_world() @ [c, r, k, 1.0])[:3], expected, atol=1e-9)


def test_dicom_mixed_series_is_an_error(tmp_path: Path) -> None:
    _write_series(tmp_path, count=3, series="1.2.3.4.5")
    _write_slice(tmp_path / "other", np.zeros((4, 3)), ORIGIN, series="1.2.3.4.6")
    with _raises_naming(ValueError, tmp_path, "2 DICOM series", "1.2.3.4.5, 1.2.3.4.6"):
        read_dicom_series(tmp_path)


def test_dicom_non_uniform_spacing_is_an_error(tmp_path: Path) -> None:
    _write_series(tmp_path, count=4)
    _write_slice(tmp_path / "extra", np.zeros((4, 3)), ORIGIN + 11.0 * NORMAL)
    with _raises_naming(ValueError, tmp_path, "not equally spaced"):
        read_dicom_series(tmp_path)


def test_dicom_duplicate_position_is_an_error(tmp_path: Path) -> None:
    _write_series(tmp_path, count=3)
    _write_slice(tmp_path / "again", np.zeros((4, 3)), ORIGIN + 2.5 * NORMAL)
    with pytest.raises(ValueError, match="are at the same position"):
        read_dicom_series(tmp_path)


def test_dicom_tilted_stack_is_an_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    for k in range(3):
        # Each slice shifted along its rows as well as along the normal: a gantry-tilt shear.
        _write_slice(tmp_path / f"IM{k}", rng.integers(0, 9, size=(4, 3)), ORIGIN + k * (2.0 * NORMAL + ROW_DIR))
    with _raises_naming(ValueError, tmp_path, "not orthonormal"):
        read_dicom_series(tmp_path)


def test_dicom_single_slice_is_an_error(tmp_path: Path) -> None:
    _write_slice(tmp_path / "only", np.zeros((4, 3)), ORIGIN)
    with _raises_naming(ValueError, tmp_path, "1 DICOM image(s) found: a series of at least 2 slices is needed"):
        read_dicom_series(tmp_path)


def test_dicom_truncated_slice_is_an_error(tmp_path: Path) -> None:
    _write_series(tmp_path, count=3)
    victim = tmp_path / "IM0002"
    victim.write_bytes(victim.read_bytes()[:-7])
    with _raises_naming(ValueError, victim, "cannot decode the DICOM pixel data"):
        read_dicom_series(tmp_path)
    victim.write_bytes(victim.read_bytes()[:200])
    with _raises_naming(ValueError, victim, "truncated or corrupt"):
        read_dicom_series(tmp_path)


def test_dicom_slices_of_different_sizes_are_an_error(tmp_path: Path) -> None:
    _write_series(tmp_path, count=3)
    _write_slice(tmp_path / "IM0009", np.zeros((5, 3)), ORIGIN + 3 * 2.5 * NORMAL)
    with _raises_naming(ValueError, tmp_path / "IM0009", "5 x 3 pixels"):
        read_dicom_series(tmp_path)


def test_dicom_without_pydicom_asks_for_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImportError, match=re.escape('pip install "medgan-aug[dicom]"')):
        read_dicom_series(tmp_path)


def test_dicom_missing_directory_is_file_not_found(tmp_path: Path) -> None:
    with _raises_naming(FileNotFoundError, tmp_path / "absent", "no such directory"):
        read_dicom_series(tmp_path / "absent")


def test_sagittal_dicom_series_gives_its_slices_as_sagittal_planes(tmp_path: Path) -> None:
    # A phantom on an LPS grid A[l, p, s] (anisotropic: 1.3 mm between sagittal slices, 0.7 mm in-plane), acquired
    # sagittally: rows run posterior (+y), columns inferior (-z), so slice l holds pixel[r, c] = A[l, c, S - 1 - r]
    # with its first pixel at the top (superior end) of the column. The slice normal, row x column, points right.
    shape, spacing, corner = (7, 6, 5), (1.3, 0.7, 0.7), np.array([-20.0, 10.0, 30.0])
    phantom = np.random.default_rng(5).integers(0, 3000, size=shape)
    top = corner + np.array([0.0, 0.0, (shape[2] - 1) * spacing[2]])
    (tmp_path / "series").mkdir()
    for x in np.random.default_rng(6).permutation(shape[0]):
        _write_slice(
            tmp_path / "series" / f"IM{x:04d}",
            phantom[x].T[::-1],
            top + np.array([x * spacing[0], 0.0, 0.0]),
            pixel_spacing=(0.7, 0.7),
            orientation=(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])),
        )
    acquired = read_dicom_series(tmp_path / "series")
    assert acquired.space == "LPS" and acquired.orientation_code() == "PIR"
    values = phantom * 0.5 - 100.0  # the series' rescale slope and intercept

    slicer = VolumeSlicer(["axial", "coronal", "sagittal"], [0.0, 12.0], size=(5, 6), pixel_size=0.7)
    # Sagittal planes run right to left, i.e. by increasing x: plane l is the acquired slice l, pixel for pixel.
    sagittal = slicer.sample(acquired, "sagittal")
    np.testing.assert_allclose(sagittal, values[:, :, ::-1].transpose(0, 2, 1), atol=1e-4)

    # The same phantom stored as an axial LPS volume gives the same planes in every view.
    axial = write_nrrd(Volume.from_array(values, spacing=spacing, origin=corner, space="LPS"), tmp_path / "ax.nrrd")
    stored = read_nrrd(axial)
    assert stored.orientation_code() == "LPS"
    for view in ("axial", "coronal", "sagittal"):
        for angle in (0.0, 12.0):
            np.testing.assert_allclose(
                slicer.sample(acquired, view, angle), slicer.sample(stored, view, angle), rtol=1e-6, atol=1e-3
            )
