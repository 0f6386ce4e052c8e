"""Plots drawn with matplotlib, and what the library does without it."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from medgan_aug.plots import plot_confusion, plot_curves, plotting_available

# matplotlib's first two default colours.
C0, C1 = (31, 119, 180), (255, 127, 14)


def _pixels_of(path, colour) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    ys, xs = np.nonzero(np.abs(pixels - colour).sum(axis=2) <= 6)
    return xs, ys


@pytest.fixture
def no_matplotlib(monkeypatch):
    # A None entry makes both the import and importlib's find_spec report the package missing.
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_curves_follow_the_data(tmp_path):
    pytest.importorskip("matplotlib")
    x = [0, 1, 2, 3, 4]
    out = plot_curves(tmp_path / "c.png", x, {"rising": [0, 1, 2, 3, 4], "falling": [4, 3, None, 1, float("nan")]}, "t")
    assert out == tmp_path / "c.png"
    with Image.open(out) as image:
        assert image.size == (640, 360)
    for colour, sign in ((C0, -1), (C1, +1)):
        xs, ys = _pixels_of(out, colour)
        # The line's pixels (the legend's sample adds a few): image y grows downwards, so a rising curve has y
        # falling with x.
        assert xs.size > 200
        assert np.sign(np.corrcoef(xs, ys)[0, 1]) == sign
    assert not list(tmp_path.glob(".*.tmp"))


def test_spread_draws_every_value_as_a_dot(tmp_path):
    pytest.importorskip("matplotlib")
    plain = plot_curves(tmp_path / "plain.png", [0, 1], {"acc": [0.5, 0.6]}, "t")
    dotted = plot_curves(tmp_path / "dots.png", [0, 1], {"acc": [0.5, 0.6]}, "t", spread={"acc": [[0.4, 0.6], [0.5]]})
    # The spread widens the y range (0.4 is below every mean) and adds marks in the curve's colour.
    assert _pixels_of(dotted, C0)[0].size > _pixels_of(plain, C0)[0].size


def test_an_empty_plot_says_so_instead_of_failing(tmp_path):
    pytest.importorskip("matplotlib")
    out = plot_curves(tmp_path / "e.png", [], {"loss": []}, "losses")
    with Image.open(out) as image:
        assert image.size == (640, 360)


def test_confusion_needs_a_square_matrix_of_the_classes(tmp_path):
    with pytest.raises(ValueError, match=r"confusion must be \[3, 3\] for 3 class names"):
        plot_confusion(tmp_path / "c.png", np.eye(2), ["a", "b", "c"])


def test_without_matplotlib_nothing_is_written(tmp_path, no_matplotlib):
    assert not plotting_available()
    assert plot_curves(tmp_path / "c.png", [0, 1], {"a": [1, 2]}, "t") is None
    assert plot_confusion(tmp_path / "m.png", np.eye(2, dtype=int), ["a", "b"]) is None
    assert list(tmp_path.iterdir()) == []


def test_training_without_matplotlib_warns_once_and_writes_the_rest(tmp_path, no_matplotlib):
    from medgan_aug.train import read_stats
    from tests.test_trainer import make_trainer

    trainer = make_trainer(tmp_path / "run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train(kimg=0.08)
    notes = [w for w in caught if "matplotlib is not installed" in str(w.message)]
    assert len(notes) == 1 and "stats.jsonl holds the numbers" in str(notes[0].message)
    assert len(read_stats(tmp_path / "run" / "stats.jsonl")) == 3
    assert (tmp_path / "run" / "fakes-000000.png").is_file()
    assert not (tmp_path / "run" / "loss.png").exists() and not (tmp_path / "run" / "augment.png").exists()
