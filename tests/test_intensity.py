"""IntensityWindow and encode_pixels against hand-computed windows, numpy percentiles and exact rounding."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from medgan_aug.data import IntensityWindow, encode_pixels


def test_center_width_is_the_dicom_window_level() -> None:
    window = IntensityWindow.from_center_width(40, 400)  # CT soft-tissue window
    assert (window.low, window.high) == (-160.0, 240.0)
    hounsfield = np.array([[-1000, -160, -60], [40, 140, 240], [241, 3000, 0]], dtype=np.int16)
    expected = np.array([[0, 0, 0.25], [0.5, 0.75, 1], [1, 1, 0.4]], dtype=np.float32)
    mapped = window.apply(hounsfield)
    assert mapped.dtype == np.float32 and mapped.shape == (3, 3)
    np.testing.assert_allclose(mapped, expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.int64, np.float32, np.float64])
def test_apply_matches_float64_math_for_every_dtype(dtype: type) -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 60000, size=(4, 5, 6)).astype(dtype)  # a 3D block keeps its shape
    window = IntensityWindow(1234.5, 50321.25)
    expected = np.clip((values.astype(np.float64) - 1234.5) / (50321.25 - 1234.5), 0, 1)
    mapped = window.apply(values)
    assert mapped.dtype == np.float32 and mapped.shape == values.shape
    np.testing.assert_allclose(mapped, expected, rtol=0, atol=2e-7)


def test_apply_keeps_nan_and_clips_infinities() -> None:
    mapped = IntensityWindow(0, 10).apply(np.array([np.nan, -np.inf, np.inf, 5.0]))
    assert np.isnan(mapped[0])
    np.testing.assert_array_equal(mapped[1:], [0, 1, 0.5])


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (5, 5, "high must be greater than low"),
        (6, 5, "high must be greater than low"),
        (float("nan"), 1, "low must be finite"),
        (0, float("inf"), "high must be finite"),
    ],
)
def test_invalid_windows_name_the_bad_end(low: float, high: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IntensityWindow(low, high)


def test_invalid_center_width() -> None:
    for width in (0, -10, float("nan")):
        with pytest.raises(ValueError, match="width must be positive"):
            IntensityWindow.from_center_width(40, width)
    with pytest.raises(ValueError, match="low must be finite"):
        IntensityWindow.from_center_width(float("nan"), 400)
    with pytest.raises(TypeError, match="center"):
        IntensityWindow.from_center_width("40", 400)  # type: ignore[arg-type]


def test_window_is_frozen_with_plain_float_ends() -> None:
    window = IntensityWindow(np.int64(3), np.float32(7.5))
    assert type(window.low) is float and type(window.high) is float
    assert window == IntensityWindow(3.0, 7.5)
    with pytest.raises(AttributeError):
        window.low = 0  # type: ignore[misc]


def test_percentiles_match_numpy_with_and_without_mask() -> None:
    rng = np.random.default_rng(1)
    image = rng.gamma(2.0, 300.0, size=(40, 30)).astype(np.float32)
    image[:, :5] = -1000  # "air" the mask leaves out
    window = IntensityWindow.from_percentiles(image, 2, 98)
    low, high = np.percentile(image.astype(np.float64), [2, 98])
    assert (window.low, window.high) == pytest.approx((low, high), rel=1e-6)

    body = image > -500
    masked = IntensityWindow.from_percentiles(image, 0.5, 99.5, mask=body)
    low, high = np.percentile(image[body].astype(np.float64), [0.5, 99.5])
    assert (masked.low, masked.high) == pytest.approx((low, high), rel=1e-6)
    assert masked.low > 0  # the air no longer drags the low end down


def test_percentiles_ignore_nan() -> None:
    image = np.array([np.nan, 1.0, 2.0, 3.0, np.nan])
    window = IntensityWindow.from_percentiles(image, 0, 100)
    assert (window.low, window.high) == (1.0, 3.0)


def test_constant_image_gets_a_unit_window_at_its_value() -> None:
    image = np.full((8, 8), 700, dtype=np.uint16)
    window = IntensityWindow.from_percentiles(image)
    assert (window.low, window.high) == (700.0, 701.0)
    np.testing.assert_array_equal(window.apply(image), np.zeros((8, 8), dtype=np.float32))


def test_percentile_errors() -> None:
    image = np.arange(16.0).reshape(4, 4)
    with pytest.raises(ValueError, match="low must be below high"):
        IntensityWindow.from_percentiles(image, 60, 40)
    with pytest.raises(ValueError, match="percentile high"):
        IntensityWindow.from_percentiles(image, 0, 101)
    with pytest.raises(ValueError, match=r"mask has shape \(4, 3\)"):
        IntensityWindow.from_percentiles(image, mask=np.ones((4, 3), dtype=bool))
    with pytest.raises(TypeError, match="boolean"):
        IntensityWindow.from_percentiles(image, mask=np.ones((4, 4)))
    with pytest.raises(ValueError, match="no finite values"):
        IntensityWindow.from_percentiles(image, mask=np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="no finite values"):
        IntensityWindow.from_percentiles(np.full(3, np.nan))


@pytest.mark.parametrize("bits", [8, 16])
def test_encode_rounds_float32_exactly(bits: int) -> None:
    top = 2**bits - 1
    rng = np.random.default_rng(bits)
    # float32 values nearest to the ties (k + 1/2) / top fall just above or below them; 0.5 is an exact tie.
    near_ties = np.array([(k + 0.5) / top for k in (0, 1, 2, 3, 100, top - 2, top - 1)], dtype=np.float32)
    values = np.concatenate([near_ties, rng.random(200, dtype=np.float32), [0.0, 0.5, 1.0]]).astype(np.float32)
    pixels = encode_pixels(values.reshape(-1, 1), bits=bits)
    assert pixels.dtype == (np.uint8 if bits == 8 else np.uint16) and pixels.shape == (len(values), 1)
    # Independent reference: exact rational arithmetic and Python's round (ties to even).
    expected = [round(Fraction(float(v)) * top) for v in values]
    assert pixels.ravel().tolist() == expected


def test_encode_clips_out_of_range_values() -> None:
    image = np.array([[-0.5, -np.inf, 1.5, np.inf, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(encode_pixels(image), [[0, 0, 255, 255, 128]])
    np.testing.assert_array_equal(encode_pixels(image, bits=16), [[0, 0, 65535, 65535, 32768]])


def test_encode_rgb_stacks_gray_and_keeps_colour() -> None:
    gray = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    stacked = encode_pixels(gray, rgb=True)
    assert stacked.shape == (3, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(stacked[:, :, channel], encode_pixels(gray))
    colour = np.random.default_rng(2).random((3, 4, 3))
    np.testing.assert_array_equal(encode_pixels(colour, rgb=False), encode_pixels(colour, rgb=True))
    assert encode_pixels(colour).shape == (3, 4, 3)


def test_encode_errors() -> None:
    with pytest.raises(ValueError, match="NaN"):
        encode_pixels(np.array([[0.2, np.nan]]))
    with pytest.raises(ValueError, match=r"shape \[H, W\] or \[H, W, 3\]"):
        encode_pixels(np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"shape \[H, W\] or \[H, W, 3\]"):
        encode_pixels(np.zeros(5))
    with pytest.raises(ValueError, match="bits must be 8 or 16"):
        encode_pixels(np.zeros((2, 2)), bits=12)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="real numbers"):
        encode_pixels(np.zeros((2, 2), dtype=complex))


@pytest.mark.parametrize("chunk", [1000, 1 << 18])
def test_percentiles_of_large_volumes_are_exact_in_bounded_memory(monkeypatch, chunk) -> None:
    # Volume percentiles are searched chunk by chunk (numpy.percentile would copy the whole volume); small chunks
    # exercise the chunk boundaries, a zero background the crowded bin of equal values, NaN the finite filter.
    from medgan_aug.data import intensity

    monkeypatch.setattr(intensity, "_CHUNK", chunk)
    rng = np.random.default_rng(3)
    background = np.zeros(60_000, dtype=np.float32)
    tissue = rng.gamma(2.0, 30.0, size=40_001).astype(np.float32)
    volume = rng.permutation(np.concatenate([background, tissue, [np.nan] * 7]).astype(np.float32))
    finite = volume[np.isfinite(volume)].astype(np.float64)
    for low, high in [(0.5, 99.5), (30, 70), (59.9, 60.1), (0, 100)]:
        window = IntensityWindow.from_percentiles(volume, low, high)
        assert (window.low, window.high) == pytest.approx(tuple(np.percentile(finite, [low, high])), rel=1e-12)
    counts = rng.integers(0, 4096, size=25_000).astype(np.uint16)
    window = IntensityWindow.from_percentiles(counts, 1, 99)
    assert (window.low, window.high) == pytest.approx(tuple(np.percentile(counts, [1, 99])), rel=1e-12)
