"""sample_planes against scipy.ndimage.map_coordinates in float64, analytic phantoms, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from medgan_aug.ops import plane_sampling, sample_planes, spline_coefficients
from tests.conftest import relative_error

IMPLS = ["ref", "cpp"]
ORDERS = [0, 1, 3]
DTYPES = [torch.float32, torch.float64]
TOLERANCE = {torch.float32: 2e-6, torch.float64: 1e-12}
SHAPE = (13, 17, 11)
FILL = -3.25


def plane_points(origins: np.ndarray, steps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``[P, H, W, 3]`` index coordinates of every plane point, in float64."""
    rows = np.arange(size[0], dtype=np.float64)[:, None, None]
    cols = np.arange(size[1], dtype=np.float64)[None, :, None]
    return (origins[:, None, None] + rows * steps[:, None, None, 0]) + cols * steps[:, None, None, 1]


def scipy_planes(volume: np.ndarray, origins: np.ndarray, steps: np.ndarray, size, order: int) -> np.ndarray:
    """The float64 reference: map_coordinates on the original volume, with its own prefilter."""
    coords = np.moveaxis(plane_points(origins, steps, size), -1, 0)
    return ndimage.map_coordinates(volume, coords, order=order, mode="constant", cval=FILL, prefilter=True)


def run(volume: np.ndarray, origins: np.ndarray, steps: np.ndarray, size, order: int, dtype, impl: str):
    """sample_planes on ``volume`` (on its spline coefficients for order 3) in ``dtype``."""
    source = spline_coefficients(volume) if order == 3 else volume
    out = sample_planes(
        torch.tensor(source, dtype=dtype), torch.from_numpy(origins), torch.from_numpy(steps), size, order, FILL, impl
    )
    assert out.dtype == dtype
    assert out.shape == (origins.shape[0], *size)
    return out


def random_volume(shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> np.ndarray:
    """A random float64 volume holding values exactly representable in ``dtype``."""
    volume = np.random.default_rng(seed).standard_normal(shape)
    return volume.astype(np.float32).astype(np.float64) if dtype == torch.float32 else volume


def oblique_planes(
    count: int, shape: tuple[int, ...], size: tuple[int, int], seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Randomly oriented planes centred inside the volume and larger than it: points inside and outside."""
    rng = np.random.default_rng(seed)
    frames = np.linalg.qr(rng.standard_normal((count, 3, 3)))[0]
    spacing = rng.uniform(0.3, 0.5, (count, 2, 1))
    steps = np.moveaxis(frames[:, :, :2], 2, 1) * spacing
    centres = rng.uniform(0.2, 0.8, (count, 3)) * (np.array(shape) - 1)
    origins = centres - (size[0] - 1) / 2 * steps[:, 0] - (size[1] - 1) / 2 * steps[:, 1]
    return origins, steps


def dyadic_planes(shape: tuple[int, ...], seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Planes whose points all have exact float coordinates, many exactly on an edge or 2**-30 beyond it.

    Axis-aligned planes on, just inside and just outside each face, plus oblique
    ones in multiples of 1/8; all sweep from -1 to beyond the far edge in steps of 1/4.
    """
    origins, steps = [], []
    for normal in range(3):
        rows, cols = [axis for axis in range(3) if axis != normal]
        n = shape[normal]
        for position in (-0.25, -(2.0**-30), 0.0, 0.25, 0.5, n - 1.5, n - 1.0, n - 1 + 2.0**-30, n - 0.75, n - 0.5):
            origin = np.full(3, -1.0)
            origin[normal] = position
            step = np.zeros((2, 3))
            step[0, rows] = step[1, cols] = 0.25
            origins.append(origin)
            steps.append(step)
    rng = np.random.default_rng(seed)
    for _ in range(12):
        origins.append(rng.integers(-4, 4 * np.array(shape) + 4) / 4)
        steps.append(rng.integers(-4, 5, (2, 3)) / 8)
    return np.array(origins), np.array(steps)


@pytest.mark.parametrize("impl", IMPLS, indirect=True)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_oblique_planes_match_scipy(impl, order, dtype):
    volume = random_volume(SHAPE, dtype)
    size = (48, 64)  # enough points for the kernel to run multi-threaded
    origins, steps = oblique_planes(12, SHAPE, size)
    expected = scipy_planes(volume, origins, steps, size, order)
    inside = np.mean(expected != FILL)
    assert 0.2 < inside < 0.8, "the planes should cover inside and outside points"
    actual = run(volume, origins, steps, size, order, dtype, impl)
    assert relative_error(actual, torch.from_numpy(expected)) < TOLERANCE[dtype]


@pytest.mark.parametrize("impl", IMPLS, indirect=True)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [SHAPE, (1, 5, 4), (2, 3, 6), (3, 4, 1)])
def test_points_on_and_beyond_the_edges_match_scipy(impl, order, dtype, shape):
    # Exact coordinates: points exactly on a face, halves for nearest
    # (which round up), and taps mirrored past the edge of 1- to 3-voxel axes.
    volume = random_volume(shape, dtype)
    origins, steps = dyadic_planes(shape)
    size = (4 * max(shape) + 8, 4 * max(shape) + 8)
    expected = scipy_planes(volume, origins, steps, size, order)
    actual = run(volume, origins, steps, size, order, dtype, impl)
    assert relative_error(actual, torch.from_numpy(expected)) < TOLERANCE[dtype]


@pytest.mark.parametrize("order", ORDERS)
def test_reference_chunks_match_scipy(order, monkeypatch):
    monkeypatch.setattr(plane_sampling, "_REF_CHUNK_POINTS", 500)
    volume = random_volume(SHAPE, torch.float64)
    origins, steps = oblique_planes(5, SHAPE, (17, 19))
    expected = scipy_planes(volume, origins, steps, (17, 19), order)
    actual = run(volume, origins, steps, (17, 19), order, torch.float64, "ref")
    assert relative_error(actual, torch.from_numpy(expected)) < 1e-12


def linear(points: np.ndarray) -> np.ndarray:
    return 0.75 + points @ np.array([1.5, -0.625, 2.25])


@pytest.mark.parametrize("impl", IMPLS, indirect=True)
@pytest.mark.parametrize("order", [1, 3])
def test_linear_volume_is_reproduced_exactly(impl, order):
    # Trilinear interpolation reproduces a linear function everywhere inside,
    # edges included; cubic B-splines whose coefficients sample a linear
    # function reproduce it wherever no tap is mirrored, i.e. on [1, n - 2].
    grid = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float64) for n in SHAPE), indexing="ij"), axis=-1)
    volume = torch.from_numpy(linear(grid))
    origins, steps = oblique_planes(12, SHAPE, (48, 64), seed=3)
    points = plane_points(origins, steps, (48, 64))
    out = sample_planes(volume, torch.from_numpy(origins), torch.from_numpy(steps), (48, 64), order, FILL, impl)
    margin = 1 if order == 3 else 0
    exact = np.all((points >= margin) & (points <= np.array(SHAPE) - 1 - margin), axis=-1)
    assert exact.mean() > 0.1
    np.testing.assert_allclose(out.numpy()[exact], linear(points[exact]), rtol=0, atol=1e-12)


def cubic_bspline(t: np.ndarray) -> np.ndarray:
    """The centred cubic B-spline, piece by piece."""
    t = np.abs(t)
    return np.where(t < 1, 2 / 3 - t**2 + t**3 / 2, np.where(t < 2, (2 - t) ** 3 / 6, 0.0))


@pytest.mark.parametrize("impl", IMPLS, indirect=True)
def test_cubic_impulse_is_the_bspline_kernel(impl):
    centre = np.array([6.0, 8.0, 5.0])
    coefficients = torch.zeros(SHAPE, dtype=torch.float64)
    coefficients[tuple(centre.astype(int))] = 1.0
    rng = np.random.default_rng(4)
    origins = centre + rng.uniform(-3.0, 0.0, (6, 3))
    steps = rng.uniform(-0.2, 0.4, (6, 2, 3))
    points = plane_points(origins, steps, (16, 16))
    out = sample_planes(coefficients, torch.from_numpy(origins), torch.from_numpy(steps), (16, 16), 3, 0.0, impl)
    expected = np.prod(cubic_bspline(points - centre), axis=-1)
    assert expected.max() > 0.1
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("impl", IMPLS, indirect=True)
def test_spline_coefficients_interpolate_the_volume_at_voxels(impl):
    volume = random_volume(SHAPE, torch.float64)
    coefficients = spline_coefficients(torch.from_numpy(volume))
    # One plane per axis-0 index, through every voxel of that slice.
    origins = torch.zeros(SHAPE[0], 3, dtype=torch.float64)
    origins[:, 0] = torch.arange(SHAPE[0], dtype=torch.float64)
    steps = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64).expand(SHAPE[0], 2, 3)
    out = sample_planes(coefficients, origins, steps, SHAPE[1:], 3, 0.0, impl)
    np.testing.assert_allclose(out.numpy(), volume, rtol=0, atol=1e-12)


def test_spline_coefficients_keep_type_and_dtype():
    volume = random_volume(SHAPE, torch.float32).astype(np.float32)
    expected = ndimage.spline_filter(volume.astype(np.float64), order=3, mode="mirror")
    array = spline_coefficients(volume)
    tensor = spline_coefficients(torch.from_numpy(volume))
    assert isinstance(array, np.ndarray) and array.dtype == np.float32
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
    np.testing.assert_allclose(array, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(tensor.numpy(), array)


@pytest.mark.parametrize("bad", [np.zeros((3, 4)), np.zeros((3, 4, 5), dtype=np.int32), [[[1.0]]]])
def test_spline_coefficients_reject_bad_volumes(bad):
    with pytest.raises((ValueError, TypeError), match="volume"):
        spline_coefficients(bad)


@pytest.mark.parametrize("impl", IMPLS, indirect=True)
def test_layout_and_requires_grad_do_not_change_the_result(impl):
    volume = torch.from_numpy(random_volume((11, 13, 17), torch.float64))
    origins, steps = (torch.from_numpy(a) for a in oblique_planes(3, SHAPE, (9, 10)))
    strided = volume.permute(1, 2, 0)  # a non-contiguous [13, 17, 11] view
    expected = sample_planes(strided.contiguous(), origins, steps, (9, 10), 1, FILL, impl)
    actual = sample_planes(strided.requires_grad_(), origins.requires_grad_(), steps, (9, 10), 1, FILL, impl)
    assert not actual.requires_grad
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


@pytest.mark.parametrize("impl", IMPLS, indirect=True)
def test_no_planes_give_an_empty_batch(impl):
    out = sample_planes(torch.ones(SHAPE), torch.zeros(0, 3), torch.zeros(0, 2, 3), (4, 5), impl=impl)
    assert out.shape == (0, 4, 5)


ORIGINS = torch.zeros(2, 3, dtype=torch.float64)
STEPS = torch.ones(2, 2, 3, dtype=torch.float64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"volume": torch.zeros(4, 4)}, r"volume must be 3-D"),
        ({"volume": torch.zeros(4, 4, 4, dtype=torch.int32)}, r"volume must be float32 or float64"),
        ({"volume": torch.zeros(4, 4, 4, dtype=torch.float16)}, r"volume must be float32 or float64"),
        ({"volume": torch.zeros(0, 4, 4)}, r"volume must not be empty"),
        ({"origins": torch.zeros(2, 2)}, r"origins must be \[P, 3\]"),
        ({"origins": torch.zeros(2, 3, dtype=torch.int64)}, r"origins must be floating point"),
        ({"origins": torch.tensor([[0.0, float("nan"), 0.0]] * 2)}, r"origins must be finite"),
        ({"steps": torch.zeros(2, 3, 3)}, r"steps must be \[P, 2, 3\]"),
        ({"steps": torch.full((2, 2, 3), float("inf"))}, r"steps must be finite"),
        ({"steps": torch.zeros(3, 2, 3)}, r"steps has 3 planes but origins has 2"),
        ({"size": (0, 4)}, r"size must be positive"),
        ({"size": (4,)}, r"size must be a \(height, width\) pair"),
        ({"size": (4.0, 4)}, r"size must be a \(height, width\) pair"),
        ({"size": 4}, r"size must be a \(height, width\) pair"),
        ({"order": 2}, r"order must be 0, 1 or 3"),
        ({"order": 1.0}, r"order must be 0, 1 or 3"),
        ({"impl": "cuda"}, r"impl='cuda': sample_planes has no CUDA kernel"),
        ({"impl": "gpu"}, r"impl must be one of"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    arguments = {"volume": torch.zeros(4, 4, 4), "origins": ORIGINS, "steps": STEPS, "size": (3, 3)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sample_planes(**arguments)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_use_the_reference_and_cpp_is_refused():
    volume = random_volume(SHAPE, torch.float64)
    origins, steps = oblique_planes(4, SHAPE, (8, 9))
    expected = scipy_planes(volume, origins, steps, (8, 9), 1)
    cuda_volume = torch.from_numpy(volume).cuda()
    out = sample_planes(cuda_volume, torch.from_numpy(origins), torch.from_numpy(steps), (8, 9), 1, FILL)
    assert out.is_cuda
    assert relative_error(out.cpu(), torch.from_numpy(expected)) < 1e-12
    with pytest.raises(ValueError, match="impl='cpp'"):
        sample_planes(cuda_volume, torch.from_numpy(origins), torch.from_numpy(steps), (8, 9), impl="cpp")
