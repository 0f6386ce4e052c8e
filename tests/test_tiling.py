"""Tiling of large planes: grid coverage, padding and the foreground filter."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from medgan_aug.data.tiling import tile_grid, tile_image


def test_grid_covers_the_image_with_the_requested_overlap():
    assert tile_grid(256, 256) == [0]
    assert tile_grid(512, 256) == [0, 256]
    assert tile_grid(600, 256) == [0, 256, 512]
    assert tile_grid(448, 256, overlap=64) == [0, 192]
    assert tile_grid(512, 256, overlap=64) == [0, 192, 384]
    assert tile_grid(100, 256) == [0]
    for length, tile, overlap in [(600, 256, 0), (513, 128, 32), (7, 3, 2)]:
        starts = tile_grid(length, tile, overlap)
        assert starts[-1] + tile >= length and starts[-1] < length
        assert all(b - a == tile - overlap for a, b in itertools.pairwise(starts))


def test_tiles_are_the_image_pixels_at_their_positions():
    image = np.arange(10 * 12, dtype=np.float32).reshape(10, 12)
    tiles = tile_image(image, 4, overlap=1)
    assert [(t.row, t.col) for t in tiles][:4] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    for t in tiles:
        inside = image[t.top : t.top + 4, t.left : t.left + 4]
        np.testing.assert_array_equal(t.image[: inside.shape[0], : inside.shape[1]], inside)
        assert t.image.shape == (4, 4) and t.foreground is None


def test_reflect_and_zero_padding_fill_the_last_tiles():
    image = np.arange(5, dtype=np.float32)[None, :].repeat(3, axis=0)
    reflected = tile_image(image, 4, pad="reflect")[1].image
    # Columns 4.. of the padded image mirror about the last column: 4, 3, 2, 1.
    np.testing.assert_array_equal(reflected[0], [4, 3, 2, 1])
    np.testing.assert_array_equal(reflected[3], reflected[1])
    zero = tile_image(image, 4, pad="zero")[1].image
    np.testing.assert_array_equal(zero[0], [4, 0, 0, 0])
    np.testing.assert_array_equal(zero[3], 0)


def test_colour_tiles_keep_channels():
    image = np.random.default_rng(0).random((9, 9, 3))
    tiles = tile_image(image, 4)
    assert len(tiles) == 9 and all(t.image.shape == (4, 4, 3) for t in tiles)


def test_foreground_filter_drops_background_tiles():
    image = np.zeros((8, 8), dtype=np.float32)
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[:4, :4] = 1
    mask[4:6, 4:8] = 1
    tiles = tile_image(image, 4, mask=mask, min_foreground=0.3)
    assert [(t.row, t.col, t.foreground) for t in tiles] == [(0, 0, 1.0), (1, 1, 0.5)]
    every = tile_image(image, 4, mask=mask)
    assert [t.foreground for t in every] == [1.0, 0.0, 0.0, 0.5]


def test_padding_counts_as_background():
    mask = np.ones((6, 6), dtype=bool)
    tiles = tile_image(np.zeros((6, 6)), 4, mask=mask, pad="reflect")
    assert [t.foreground for t in tiles] == [1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tile": 0}, "tile"),
        ({"tile": 4, "overlap": 4}, "overlap"),
        ({"tile": 4, "pad": "wrap"}, "pad"),
        ({"tile": 4, "min_foreground": 0.5}, "needs a mask"),
        ({"tile": 4, "min_foreground": 1.5, "mask": np.ones((8, 8))}, "min_foreground"),
        ({"tile": 4, "mask": np.ones((7, 8))}, "mask shape"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tile_image(np.zeros((8, 8)), **kwargs)


@pytest.mark.parametrize("pad", ["zero", "reflect"])
def test_tile_masks_are_padded_like_the_image(pad):
    # Image and mask hold the same pattern, so each tile's mask must equal its image > 0 after padding; the
    # expected padding is built from explicit indices: reflection maps index j past the end n - 1 to 2 (n - 1) - j.
    rng = np.random.default_rng(1)
    mask = rng.random((7, 10)) < 0.4
    image = mask.astype(np.float32)
    inside = np.zeros((8, 12), dtype=bool)
    inside[:7, :10] = mask
    if pad == "zero":
        padded = inside
    else:
        rows = np.minimum(np.arange(8), 2 * 6 - np.arange(8))
        cols = np.minimum(np.arange(12), 2 * 9 - np.arange(12))
        padded = mask[rows[:, None], cols[None, :]]
    tiles = tile_image(image, 4, pad=pad, mask=mask)
    assert len(tiles) == 6
    for t in tiles:
        window = (slice(t.top, t.top + 4), slice(t.left, t.left + 4))
        assert t.mask is not None and t.mask.dtype == bool
        np.testing.assert_array_equal(t.mask, padded[window])
        np.testing.assert_array_equal(t.mask, t.image > 0)
        # The foreground fraction still counts padding as background, whatever the pad mode.
        assert t.foreground == inside[window].mean()
    assert all(t.mask is None for t in tile_image(image, 4, pad=pad))
