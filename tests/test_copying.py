"""The data-copying audit: the statistic against brute force, copies against new images, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.distance import cdist

from medgan_aug.cli import main
from medgan_aug.metrics import FIDScorer, audit_copying, save_copy_pairs
from medgan_aug.metrics.copying import COPYING_KEYS, mann_whitney_z, nearest_neighbours

D = 32


def mixture(n: int, rng: np.random.Generator) -> np.ndarray:
    """Features from five well-separated Gaussian clusters, the same clusters at every call."""
    centres = np.random.default_rng(100).normal(0, 4, (5, D))
    return centres[rng.integers(5, size=n)] + rng.normal(size=(n, D))


@pytest.fixture(scope="module")
def sets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    train, test, fresh = mixture(600, rng), mixture(400, rng), mixture(400, rng)
    copies = train[rng.integers(len(train), size=400)] + rng.normal(0, 0.02, (400, D))
    noise = rng.uniform(-12, 12, (400, D))
    return {"train": train, "test": test, "fresh": fresh, "copies": copies, "noise": noise}


def test_nearest_neighbours_are_exact_in_any_chunking():
    rng = np.random.default_rng(1)
    queries, reference = rng.normal(size=(23, 7)), rng.normal(size=(31, 7))
    expected = cdist(queries, reference)
    for chunk in (1, 4, 1024):
        distances, indices = nearest_neighbours(queries, reference, chunk_rows=chunk)
        np.testing.assert_array_equal(indices, expected.argmin(axis=1))
        np.testing.assert_allclose(distances, expected.min(axis=1), rtol=1e-12)
    own = cdist(reference, reference)
    np.fill_diagonal(own, np.inf)
    distances, indices = nearest_neighbours(reference, reference, exclude_self=True, chunk_rows=5)
    np.testing.assert_array_equal(indices, own.argmin(axis=1))
    np.testing.assert_allclose(distances, own.min(axis=1), rtol=1e-12)


def test_mann_whitney_matches_counting_pairs():
    rng = np.random.default_rng(2)
    generated, held_out = rng.normal(size=17).round(1), rng.normal(size=13).round(1)  # rounding makes ties
    pairs = generated[:, None] - held_out[None, :]
    u = float((pairs > 0).sum() + 0.5 * (pairs == 0).sum())
    m, n = len(generated), len(held_out)
    assert mann_whitney_z(generated, held_out) == pytest.approx(
        (u, (u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12))
    )


def test_the_statistic_matches_brute_force_cell_by_cell(sets):
    train, generated, test = sets["train"][:120], sets["fresh"][:90], sets["test"][:80]
    audit = audit_copying(train, generated, test, cells=3, min_cell_size=5, seed=4)
    d_gen, d_test = cdist(generated, train).min(axis=1), cdist(test, train).min(axis=1)
    weighted = weights = 0.0
    for k, cell in enumerate(audit.cells):
        gen_k, test_k = d_gen[audit.generated_cell == k], d_test[audit.test_cell == k]
        assert (cell.n_generated, cell.n_test) == (len(gen_k), len(test_k))
        if cell.skipped is None:
            pairs = gen_k[:, None] - test_k[None, :]
            u = (pairs > 0).sum() + 0.5 * (pairs == 0).sum()
            m, n = len(gen_k), len(test_k)
            z = (u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12)
            assert cell.zu == pytest.approx(z)
            weighted += n / len(test) * z
            weights += n / len(test)
    assert audit.cells_used >= 2
    assert audit.zu == pytest.approx(weighted / weights)
    # Per image: distance to the nearest training image over that image's own nearest-neighbour distance.
    own = cdist(train, train)
    np.fill_diagonal(own, np.inf)
    nearest = cdist(generated, train).argmin(axis=1)
    np.testing.assert_array_equal(audit.nearest_train, nearest)
    np.testing.assert_allclose(audit.ratio, d_gen / own.min(axis=1)[nearest], rtol=1e-10)
    np.testing.assert_array_equal(audit.flagged, audit.ratio < 0.5)


def test_copies_are_caught_and_new_images_are_not(sets):
    copied = audit_copying(sets["train"], sets["copies"], sets["test"])
    fresh = audit_copying(sets["train"], sets["fresh"], sets["test"])
    noise = audit_copying(sets["train"], sets["noise"], sets["test"])
    assert copied.zu < -5 and copied.flagged_fraction > 0.95
    assert abs(fresh.zu) < 3 and fresh.flagged_fraction <= fresh.test_flagged_fraction + 0.02
    assert noise.zu > 3 and noise.flagged_fraction == 0
    # The held-out images are as new as the fresh ones: the floor is low.
    assert copied.test_flagged_fraction < 0.02
    most = copied.most_similar(3)
    assert [ratio for _, _, ratio in most] == sorted(copied.ratio)[:3]


def test_cells_with_too_few_generated_images_are_reported(sets):
    # All generated images come from one cluster: the other cells hold none.
    rng = np.random.default_rng(3)
    one_cluster = sets["fresh"][np.argsort(cdist(sets["fresh"], sets["fresh"][:1])[:, 0])[:80]]
    audit = audit_copying(sets["train"], one_cluster + rng.normal(0, 0.01, one_cluster.shape), sets["test"], cells=5)
    skipped = [cell for cell in audit.cells if cell.skipped is not None]
    assert skipped and all("fewer than 20 generated images" in cell.skipped for cell in skipped)
    assert audit.cells_used == len(audit.cells) - len(skipped)
    assert f"{len(skipped)} of 5 cells left out of Z_U" in audit.describe_skipped()
    assert sum(cell.n_train for cell in audit.cells) == len(sets["train"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"generated": np.zeros((0, D))}, "generated features is empty"),
        ({"test": np.zeros((5, D + 1))}, "differ in width"),
        ({"train": np.zeros((1, D))}, "the training set has 1 image"),
        ({"cells": 700}, "cells=700 is more than the 600 training images"),
        ({"threshold": 0}, r"threshold must be in \(0, 1\]"),
        ({"threshold": 1.5}, r"threshold must be in \(0, 1\]"),
        ({"generated": np.full((3, D), np.nan)}, "generated features has non-finite values"),
        ({"min_cell_size": 0}, "min_cell_size must be an integer >= 1"),
        ({"test": np.zeros(D)}, r"test features must be a 2-D array"),
    ],
)
def test_bad_input_is_named(sets, change, message):
    arguments = {"train": sets["train"], "generated": sets["fresh"], "test": sets["test"], **change}
    with pytest.raises(ValueError, match=message):
        audit_copying(**arguments)


def images(features: np.ndarray) -> torch.Tensor:
    """Features turned into 1-channel 4x8 images in [-1, 1], so that the pixel extractor sees them again."""
    scaled = np.clip(features / 16, -1, 1)
    return torch.from_numpy(scaled.reshape(-1, 1, 4, 8)).float()


@pytest.mark.filterwarnings("ignore:data-copying test")
def test_the_scorer_runs_the_audit_in_pixel_space(sets, tmp_path):
    scorer = FIDScorer(["copying"], extractor="pixels")
    train, test = images(sets["train"]), images(sets["test"])
    # A cell of the partition holds too few generated images: the scorer says so rather than drop it quietly.
    with pytest.warns(UserWarning, match=r"data-copying test: 1 of 8 cells left out of Z_U"):
        copied = scorer.score(train, images(sets["copies"]), test=test)
    fresh = scorer.score(train, images(sets["fresh"]), test=test)
    assert set(COPYING_KEYS) <= set(copied)
    assert copied["copying_zu"] < -5 and copied["copying_flagged_fraction"] > 0.9
    assert abs(fresh["copying_zu"]) < 3
    # The pixels (rounded to 8 bits) are the features: the same numbers as the audit of those pixels.
    levels = ((images(sets["copies"]) + 1) * 127.5).round() / 255
    as_features = [((x + 1) * 127.5).round().repeat(1, 3, 1, 1).flatten(1) / 255 for x in (train, test)]
    expected = FIDScorer.from_features(as_features[0], levels.repeat(1, 3, 1, 1).flatten(1), ["copying"],
                                       test=as_features[1])  # fmt: skip
    assert copied["copying_zu"] == pytest.approx(expected["copying_zu"])
    audit = scorer.copying_audit(train, images(sets["copies"]), test)
    assert audit.zu == pytest.approx(copied["copying_zu"])
    both, same = scorer.score_with_audit(train, images(sets["copies"]), test)
    assert both == copied and same.zu == audit.zu
    np.testing.assert_array_equal(same.flagged, audit.flagged)
    out = save_copy_pairs(tmp_path / "pairs.png", audit, images(sets["copies"]), train, count=6, columns=3, tile=32)
    with Image.open(out) as sheet:
        assert sheet.size == (3 * (2 * 32 + 6), 2 * (32 + 28))
    with pytest.raises(ValueError, match="pass the sets that were audited"):
        save_copy_pairs(tmp_path / "bad.png", audit, images(sets["fresh"][:10]), train)


def test_the_scorer_needs_a_held_out_set_for_copying_only(sets):
    train, fake = images(sets["train"][:50]), images(sets["fresh"][:50])
    with pytest.raises(ValueError, match="metric 'copying' needs test="):
        FIDScorer(["copying"], extractor="pixels").score(train, fake)
    with pytest.raises(ValueError, match="used by metric 'copying' only"):
        FIDScorer(["fid"], extractor="pixels", fid_bootstrap=0, fid_floor=False).score(train, fake, test=train)
    with pytest.raises(ValueError, match="'isc' needs class logits, but extractor 'pixels'"):
        FIDScorer(["isc"], extractor="pixels")
    with pytest.raises(ValueError, match=r"copying_threshold must be in \(0, 1\]"):
        FIDScorer(["copying"], extractor="pixels", copying_threshold=2)


@pytest.mark.filterwarnings("ignore:data-copying test")
def test_command_line_copying_audit(sets, tmp_path, capsys):
    paths = {}
    for name in ("train", "copies", "test"):
        paths[name] = tmp_path / f"{name}.pt"
        torch.save(images(sets[name]), paths[name])
    common = ["score", "--real", str(paths["train"]), "--fake", str(paths["copies"]), "--extractor", "pixels"]
    assert main([*common, "--metrics", "copying", "--test", str(paths["test"]), "--json", "--no-progress"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["copying_zu"] < -5 and results["copying_flagged_fraction"] > 0.9
    assert main([*common, "--metrics", "copying"]) == 1
    assert "--metrics copying needs --test" in capsys.readouterr().err
    pairs = tmp_path / "pairs.png"
    assert main([*common, "--metrics", "copying", "--test", str(paths["test"]), "--pairs", str(pairs)]) == 0
    out = capsys.readouterr().out
    assert pairs.is_file() and "copying_zu" in out and "flagged" in out
