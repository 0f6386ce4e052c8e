"""Segmentation overlap scores: Jaccard, Dice and VOC per image and per tile, the empty-mask policies, bad input."""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch

from medgan_aug.metrics.segmentation import (
    EMPTY_POLICIES,
    binarize,
    dice,
    jaccard,
    segmentation_scores,
    voc_score,
)


def _hand_pair() -> tuple[np.ndarray, np.ndarray]:
    # 4 x 4: the prediction has 3 foreground pixels, the target 4, and 2 are shared.
    pred = np.zeros((4, 4), dtype=bool)
    target = np.zeros((4, 4), dtype=bool)
    pred[0, 0] = pred[0, 1] = pred[3, 3] = True
    target[0, 0] = target[0, 1] = target[1, 0] = target[1, 1] = True
    return pred, target


def _set_reference(pred: np.ndarray, target: np.ndarray, empty: str) -> tuple[list[float], list[float], list[float]]:
    """Per-item Jaccard, Dice and VOC from Python sets of foreground pixel indices (float64)."""
    fill = 1.0 if empty == "one" else math.nan
    out_j, out_d, out_v = [], [], []
    for p, t in zip(pred, target, strict=True):
        every = set(range(p.size))
        fp, ft = set(np.flatnonzero(p).tolist()), set(np.flatnonzero(t).tolist())
        bp, bt = every - fp, every - ft
        j = len(fp & ft) / len(fp | ft) if fp | ft else fill
        d = 2 * len(fp & ft) / (len(fp) + len(ft)) if fp or ft else fill
        bg = len(bp & bt) / len(bp | bt) if bp | bt else fill
        classes = [v for v in (j, bg) if not math.isnan(v)]
        v = sum(classes) / len(classes)
        if empty == "skip" and not (fp or ft):
            v = math.nan
        out_j.append(j)
        out_d.append(d)
        out_v.append(v)
    return out_j, out_d, out_v


def _random_masks(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Densities from empty to full so the sparse, empty and all-foreground cases all occur.
    density = rng.choice([0.0, 0.05, 0.3, 0.7, 1.0], size=(shape[0],) + (1,) * (len(shape) - 1))
    target = rng.random(shape) < density
    pred = target ^ (rng.random(shape) < 0.1)
    pred[0] = False
    target[0] = False
    return pred, target


def test_hand_computed_pair_matches_the_fractions():
    pred, target = _hand_pair()
    expected_j = Fraction(2, 5)
    expected_d = Fraction(2 * 2, 3 + 4)
    # Background: 16 - 5 = 11 pixels outside both, 16 - 2 = 14 outside the overlap.
    expected_v = (Fraction(2, 5) + Fraction(11, 14)) / 2
    assert jaccard(pred, target) == pytest.approx(float(expected_j), abs=1e-15)
    assert dice(pred, target) == pytest.approx(float(expected_d), abs=1e-15)
    assert voc_score(pred, target) == pytest.approx(float(expected_v), abs=1e-15)
    scores = segmentation_scores(pred.astype(np.uint8), target.astype(np.int64))
    np.testing.assert_allclose(scores.jaccard, [float(expected_j)], rtol=1e-15)
    np.testing.assert_allclose(scores.dice, [float(expected_d)], rtol=1e-15)
    np.testing.assert_allclose(scores.voc, [float(expected_v)], rtol=1e-15)
    assert scores.micro_jaccard == pytest.approx(float(expected_j), abs=1e-15)


@pytest.mark.parametrize("empty", EMPTY_POLICIES)
def test_random_batches_match_a_set_based_reference(empty):
    pred, target = _random_masks(0, (24, 10, 12))
    scores = segmentation_scores(pred, target, empty=empty)
    ref_j, ref_d, ref_v = _set_reference(pred, target, empty)
    np.testing.assert_allclose(scores.jaccard, ref_j, rtol=1e-12)
    np.testing.assert_allclose(scores.dice, ref_d, rtol=1e-12)
    np.testing.assert_allclose(scores.voc, ref_v, rtol=1e-12)
    np.testing.assert_array_equal(scores.empty, ~(pred.any(axis=(1, 2)) | target.any(axis=(1, 2))))
    keep = [v for v in ref_j if not math.isnan(v)]
    assert scores.mean_jaccard == pytest.approx(sum(keep) / len(keep), rel=1e-12)
    keep_v = [v for v in ref_v if not math.isnan(v)]
    assert scores.mean_voc == pytest.approx(sum(keep_v) / len(keep_v), rel=1e-12)
    inter = int(np.logical_and(pred, target).sum())
    assert scores.micro_jaccard == pytest.approx(inter / np.logical_or(pred, target).sum(), rel=1e-12)
    assert scores.micro_dice == pytest.approx(2 * inter / (pred.sum() + target.sum()), rel=1e-12)
    for i in (0, 3, 7):
        assert jaccard(pred[i], target[i], empty=empty) == pytest.approx(ref_j[i], rel=1e-12, nan_ok=True)
        assert dice(pred[i], target[i], empty=empty) == pytest.approx(ref_d[i], rel=1e-12, nan_ok=True)
        assert voc_score(pred[i], target[i], empty=empty) == pytest.approx(ref_v[i], rel=1e-12, nan_ok=True)


def test_dice_is_2j_over_1_plus_j_for_every_item():
    pred, target = _random_masks(1, (32, 8, 8))
    scores = segmentation_scores(pred, target)
    j = scores.jaccard
    np.testing.assert_allclose(scores.dice, 2 * j / (1 + j), rtol=1e-12)


@pytest.mark.parametrize("empty", ["one", "nan"])
def test_voc_is_symmetric_under_swapping_foreground_and_background(empty):
    pred, target = _random_masks(2, (20, 9, 7))
    direct = segmentation_scores(pred, target, empty=empty)
    swapped = segmentation_scores(~pred, ~target, empty=empty)
    np.testing.assert_allclose(direct.voc, swapped.voc, rtol=1e-12)
    assert voc_score(pred[5], target[5], empty=empty) == pytest.approx(voc_score(~pred[5], ~target[5], empty=empty))


def test_tile_scores_equal_scoring_hand_cut_tiles():
    pred, target = _random_masks(3, (3, 8, 12))
    scores = segmentation_scores(pred, target, per="tile", tile=4, empty="nan")
    cut_p, cut_t, images, origins = [], [], [], []
    for n in range(3):
        for top in range(0, 8, 4):
            for left in range(0, 12, 4):
                cut_p.append(pred[n, top : top + 4, left : left + 4])
                cut_t.append(target[n, top : top + 4, left : left + 4])
                images.append(n)
                origins.append((top, left))
    by_hand = segmentation_scores(np.stack(cut_p), np.stack(cut_t), empty="nan")
    assert scores.n_items == 18 and scores.tile == 4 and scores.per == "tile"
    np.testing.assert_allclose(scores.jaccard, by_hand.jaccard, rtol=1e-15)
    np.testing.assert_allclose(scores.dice, by_hand.dice, rtol=1e-15)
    np.testing.assert_allclose(scores.voc, by_hand.voc, rtol=1e-15)
    np.testing.assert_array_equal(scores.empty, by_hand.empty)
    np.testing.assert_array_equal(scores.image, images)
    np.testing.assert_array_equal(scores.origin, origins)
    # Tiles partition the pixels, so the pooled scores do not depend on how the images are cut.
    whole = segmentation_scores(pred, target, empty="nan")
    assert scores.micro_jaccard == pytest.approx(whole.micro_jaccard, rel=1e-12)
    assert scores.micro_dice == pytest.approx(whole.micro_dice, rel=1e-12)


def test_empty_policies_on_single_pairs():
    nothing = np.zeros((5, 5), dtype=bool)
    something = nothing.copy()
    something[2, 3] = True
    assert jaccard(nothing, nothing) == 1.0 and dice(nothing, nothing) == 1.0 and voc_score(nothing, nothing) == 1.0
    for empty in ("nan", "skip"):
        assert math.isnan(jaccard(nothing, nothing, empty=empty))
        assert math.isnan(dice(nothing, nothing, empty=empty))
    # "nan" leaves the absent class out of VOC (background IoU is 1); "skip" drops the pair.
    assert voc_score(nothing, nothing, empty="nan") == 1.0
    assert math.isnan(voc_score(nothing, nothing, empty="skip"))
    for empty in EMPTY_POLICIES:
        assert jaccard(something, nothing, empty=empty) == 0.0
        assert jaccard(nothing, something, empty=empty) == 0.0
        assert dice(nothing, something, empty=empty) == 0.0
        # Foreground IoU 0, background IoU 24/25.
        assert voc_score(something, nothing, empty=empty) == pytest.approx(12 / 25)
    full = np.ones((5, 5), dtype=bool)
    assert voc_score(full, full, empty="one") == 1.0 and voc_score(full, full, empty="nan") == 1.0


def test_empty_policies_in_the_summary_means():
    pred, target = _hand_pair()
    nothing = np.zeros_like(pred)
    preds = np.stack([pred, nothing, nothing])
    targets = np.stack([target, nothing, pred])
    voc_hand = (2 / 5 + 11 / 14) / 2
    voc_miss = (0 + 13 / 16) / 2
    one = segmentation_scores(preds, targets, empty="one")
    np.testing.assert_array_equal(one.empty, [False, True, False])
    assert one.mean_jaccard == pytest.approx((2 / 5 + 1 + 0) / 3)
    assert one.mean_voc == pytest.approx((voc_hand + 1 + voc_miss) / 3)
    nan = segmentation_scores(preds, targets, empty="nan")
    assert math.isnan(nan.jaccard[1]) and nan.voc[1] == 1.0
    assert nan.mean_jaccard == pytest.approx((2 / 5 + 0) / 2)
    assert nan.mean_dice == pytest.approx((4 / 7 + 0) / 2)
    assert nan.mean_voc == pytest.approx((voc_hand + 1 + voc_miss) / 3)
    skip = segmentation_scores(preds, targets, empty="skip")
    assert math.isnan(skip.voc[1])
    assert skip.mean_jaccard == pytest.approx((2 / 5 + 0) / 2)
    assert skip.mean_voc == pytest.approx((voc_hand + voc_miss) / 2)
    # Pooled: 2 shared pixels out of 5 + 3 in the union.
    for scores in (one, nan, skip):
        assert scores.micro_jaccard == pytest.approx(2 / 8)


def test_all_empty_batch_gives_nan_means_without_warnings():
    nothing = np.zeros((4, 6, 6), dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skip = segmentation_scores(nothing, nothing, per="tile", tile=3, empty="skip")
        one = segmentation_scores(nothing, nothing, per="tile", tile=3)
    assert skip.n_empty == 16 and math.isnan(skip.mean_jaccard) and math.isnan(skip.mean_voc)
    assert math.isnan(skip.micro_jaccard)
    assert one.mean_jaccard == 1.0 and one.micro_dice == 1.0


def test_threshold_is_strictly_greater_and_applies_to_both_inputs():
    probs = np.array([[0.2, 0.5, 0.51, 0.9]])
    np.testing.assert_array_equal(binarize(probs), [[False, False, True, True]])
    np.testing.assert_array_equal(binarize(torch.tensor(probs), threshold=0.3), [[False, True, True, True]])
    exported = np.array([[[0, 255, 255, 0]]], dtype=np.uint8)
    scores = segmentation_scores(probs[None], exported, threshold=0.5)
    # Prediction {2, 3}, target {1, 2}: one shared pixel out of three.
    assert scores.jaccard[0] == pytest.approx(1 / 3)
    assert segmentation_scores(exported, exported, threshold=127).jaccard[0] == 1.0


def test_torch_and_channel_axis_inputs_match_numpy():
    pred, target = _random_masks(4, (6, 8, 8))
    reference = segmentation_scores(pred, target)
    from_torch = segmentation_scores(torch.from_numpy(pred).float()[:, None], torch.from_numpy(target))
    np.testing.assert_array_equal(from_torch.jaccard, reference.jaccard)
    np.testing.assert_array_equal(from_torch.voc, reference.voc)
    assert jaccard(torch.from_numpy(pred[2]), torch.from_numpy(target[2]).long()) == reference.jaccard[2]
    single = segmentation_scores(pred[2], target[2])
    assert single.n_items == 1 and single.jaccard[0] == reference.jaccard[2]


def test_results_are_read_only_and_export_to_json_and_markdown():
    pred, target = _hand_pair()
    nothing = np.zeros_like(pred)
    scores = segmentation_scores(np.stack([pred, nothing]), np.stack([target, nothing]), empty="nan")
    with pytest.raises(ValueError, match="read-only"):
        scores.jaccard[0] = 1.0
    data = json.loads(json.dumps(scores.to_dict(), allow_nan=False))
    assert data["jaccard"] == [pytest.approx(0.4), None]
    assert data["n_items"] == 2 and data["n_empty"] == 1 and data["empty_policy"] == "nan"
    assert data["micro_jaccard"] == pytest.approx(0.4)
    text = scores.to_markdown()
    assert "| Jaccard (IoU) | 0.400 | 0.400 |" in text
    assert "| Dice | 0.571 | 0.571 |" in text
    assert "2 images, 1 with both masks empty" in text


def test_bad_inputs_get_clear_errors():
    good = np.zeros((2, 8, 8), dtype=bool)
    with pytest.raises(ValueError, match=r"preds shape \(2, 8, 8\) differs from targets shape \(2, 8, 6\)"):
        segmentation_scores(good, np.zeros((2, 8, 6), dtype=bool))
    with pytest.raises(ValueError, match=r"pred shape \(8, 8\) differs from target shape \(8, 7\)"):
        jaccard(good[0], good[0, :, :7])
    labels = good.astype(np.uint8)
    labels[1, 3, 4] = 255
    with pytest.raises(ValueError, match=r"targets must be a binary mask .* found 255 at index \(1, 3, 4\)"):
        segmentation_scores(good, labels)
    with pytest.raises(ValueError, match=r"pred must be a binary mask .* found 0\.7"):
        dice(np.full((3, 3), 0.7), good[0, :3, :3])
    with pytest.raises(ValueError, match="preds has NaN values"):
        segmentation_scores(np.full((1, 2, 2), np.nan), good[:1, :2, :2], threshold=0.5)
    with pytest.raises(ValueError, match="threshold must be finite"):
        binarize(good, threshold=math.nan)
    with pytest.raises(ValueError, match="empty must be one of"):
        segmentation_scores(good, good, empty="zero")
    with pytest.raises(ValueError, match="per must be 'image' or 'tile'"):
        segmentation_scores(good, good, per="pixel")
    with pytest.raises(ValueError, match="per='tile' needs tile="):
        segmentation_scores(good, good, per="tile")
    with pytest.raises(ValueError, match=r"tile=3 does not divide the mask size 8 x 8"):
        segmentation_scores(good, good, per="tile", tile=3)
    with pytest.raises(ValueError, match="tile must be a positive integer"):
        segmentation_scores(good, good, per="tile", tile=0)
    with pytest.raises(ValueError, match="only used with per='tile'"):
        segmentation_scores(good, good, tile=4)
    with pytest.raises(ValueError, match=r"preds must be \[N, H, W\].*got shape \(8,\)"):
        segmentation_scores(good[0, 0], good[0, 0])
    with pytest.raises(ValueError, match="must be a bool, integer or float array"):
        jaccard(np.array([["a"]]), np.array([["b"]]))
