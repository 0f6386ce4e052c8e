"""classification_report against hand-computed metrics, scipy's Mann-Whitney U and brute-force AUC; confusion PNG."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy.stats import mannwhitneyu

from medgan_aug.selftrain.report import classification_report, save_confusion_png

BINARY = ("benign", "cancer")


def _brute_auc(y_pos: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[y_pos], scores[~y_pos]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (pos.size * neg.size)


def _binary_probs(p_cancer: np.ndarray) -> np.ndarray:
    return np.stack([1 - p_cancer, p_cancer], axis=1)


def test_three_class_metrics_match_hand_computation():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0]
    y_pred = [0, 0, 1, 1, 2, 2, 2, 0, 2, 0]
    r = classification_report(y_true, y_pred, ["a", "b", "c"])
    # By hand: true a -> (a, a, b, a); true b -> (b, c); true c -> (c, c, a, c).
    np.testing.assert_array_equal(r.confusion, [[3, 1, 0], [0, 1, 1], [1, 0, 3]])
    assert r.support == (4, 2, 4)
    assert r.accuracy == pytest.approx(7 / 10)
    # Column sums: predicted a 4, b 2, c 4.
    assert r.precision == pytest.approx((3 / 4, 1 / 2, 3 / 4))
    assert r.recall == pytest.approx((3 / 4, 1 / 2, 3 / 4))
    assert r.f1 == pytest.approx((3 / 4, 1 / 2, 3 / 4))
    assert r.balanced_accuracy == pytest.approx((3 / 4 + 1 / 2 + 3 / 4) / 3)
    assert r.macro_f1 == pytest.approx((3 / 4 + 1 / 2 + 3 / 4) / 3)
    assert r.positive_class is None and r.roc_auc is None
    assert r.notes == ()


def test_precision_and_recall_differ_as_computed_by_hand():
    # 'cancer' predicted 3 times (2 right), present 4 times: precision 2/3, recall 1/2, F1 = 2*(1/3)/(7/6) = 4/7.
    y_true = [1, 1, 1, 1, 0, 0, 0, 0]
    y_pred = [1, 1, 0, 0, 1, 0, 0, 0]
    r = classification_report(y_true, y_pred, BINARY, positive_class="cancer")
    assert r.precision[1] == pytest.approx(2 / 3)
    assert r.recall[1] == pytest.approx(1 / 2)
    assert r.f1[1] == pytest.approx(4 / 7)
    assert r.precision[0] == pytest.approx(3 / 5)
    assert r.recall[0] == pytest.approx(3 / 4)
    assert r.f1[0] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert r.accuracy == pytest.approx(5 / 8)
    assert r.balanced_accuracy == pytest.approx((1 / 2 + 3 / 4) / 2)
    # Hard predictions carry no ranking, so no AUC.
    assert r.roc_auc is None


def test_high_accuracy_cannot_hide_low_cancer_sensitivity():
    # 90 benign all right, 10 cancers of which 4 found: accuracy 0.94 but sensitivity 0.4.
    y_true = np.array([0] * 90 + [1] * 10)
    y_pred = np.array([0] * 90 + [1] * 4 + [0] * 6)
    r = classification_report(y_true, y_pred, BINARY, positive_class="cancer")
    assert r.accuracy == pytest.approx(0.94)
    assert r.recall[1] == pytest.approx(0.4)
    assert r.balanced_accuracy == pytest.approx(0.7)


def test_probabilities_are_argmaxed_and_give_auc():
    p = np.array([0.9, 0.2, 0.6, 0.4, 0.7, 0.1])
    y_true = np.array([1, 0, 1, 1, 0, 0])
    r = classification_report(y_true, _binary_probs(p), BINARY, positive_class="cancer")
    hard = classification_report(y_true, (p > 0.5).astype(int), BINARY, positive_class="cancer")
    np.testing.assert_array_equal(r.confusion, hard.confusion)
    assert r.roc_auc == pytest.approx(_brute_auc(y_true == 1, p))
    # By hand: positives 0.9, 0.6, 0.4 against negatives 0.2, 0.7, 0.1 win 3 + 2 + 2 of 9 pairs.
    assert r.roc_auc == pytest.approx(7 / 9)
    # Swapping the positive class swaps both the labels and the score column, so the AUC is unchanged.
    r_benign = classification_report(y_true, _binary_probs(p), BINARY, positive_class="benign")
    assert r_benign.roc_auc == pytest.approx(7 / 9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_with_ties_matches_mannwhitneyu_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, size=60)
    y_true[:2] = [0, 1]
    # Scores on a coarse grid so many ties occur, within and across classes.
    p = np.round(np.clip(0.3 + 0.3 * y_true + rng.normal(0, 0.25, 60), 0, 1) * 8) / 8
    r = classification_report(y_true, _binary_probs(p), BINARY, positive_class="cancer")
    pos, neg = p[y_true == 1], p[y_true == 0]
    u = mannwhitneyu(pos, neg, alternative="two-sided").statistic
    assert r.roc_auc == pytest.approx(u / (pos.size * neg.size), abs=1e-12)
    assert r.roc_auc == pytest.approx(_brute_auc(y_true == 1, p), abs=1e-12)


def test_perfect_inverted_and_constant_classifiers():
    y_true = np.array([0, 0, 0, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    r = classification_report(y_true, _binary_probs(perfect), BINARY, positive_class="cancer")
    assert r.roc_auc == 1.0 and r.accuracy == 1.0 and r.macro_f1 == 1.0
    r = classification_report(y_true, _binary_probs(1 - perfect), BINARY, positive_class="cancer")
    assert r.roc_auc == 0.0 and r.accuracy == 0.0
    r = classification_report(y_true, _binary_probs(np.full(5, 0.3)), BINARY, positive_class="cancer")
    assert r.roc_auc == 0.5


def test_never_predicted_class_has_zero_precision_without_warnings(recwarn):
    y_true = [0, 1, 2, 2]
    y_pred = [0, 0, 0, 0]
    r = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert r.precision == pytest.approx((1 / 4, 0.0, 0.0))
    assert r.recall == pytest.approx((1.0, 0.0, 0.0))
    assert r.f1 == pytest.approx((0.4, 0.0, 0.0))
    assert r.macro_f1 == pytest.approx(0.4 / 3)
    assert all(math.isfinite(v) for v in r.precision + r.recall + r.f1)
    assert any("'b' is never predicted" in n for n in r.notes)
    assert any("'c' is never predicted" in n for n in r.notes)
    assert len(recwarn) == 0


def test_class_absent_from_y_true_is_left_out_of_balanced_accuracy():
    r = classification_report([0, 0, 1, 1], [0, 2, 1, 1], ["a", "b", "c"])
    assert r.support == (2, 2, 0)
    assert r.recall == pytest.approx((0.5, 1.0, 0.0))
    assert r.balanced_accuracy == pytest.approx(0.75)
    assert any("'c' has no samples" in n for n in r.notes)


def test_single_class_in_y_true_gives_no_auc_and_says_why():
    r = classification_report([1, 1, 1], _binary_probs(np.array([0.9, 0.4, 0.8])), BINARY, positive_class="cancer")
    assert r.roc_auc is None
    assert r.recall[1] == pytest.approx(2 / 3)
    assert any("ROC AUC is undefined" in n for n in r.notes)


def test_positive_class_rules():
    with pytest.raises(ValueError, match="positive_class is required"):
        classification_report([0, 1], [0, 1], BINARY)
    with pytest.raises(ValueError, match="'malignant' is not one of class_names"):
        classification_report([0, 1], [0, 1], BINARY, positive_class="malignant")
    with pytest.raises(ValueError, match="binary tasks only"):
        classification_report([0, 1, 2], [0, 1, 2], ["a", "b", "c"], positive_class="a")


@pytest.mark.parametrize(
    ("y_true", "second", "names", "match"),
    [
        ([0, 1], [0, 1], ["a"], "at least 2 classes"),
        ([0, 1], [0, 1], ["a", "a", "b"], "distinct"),
        ([], [], ["a", "b", "c"], "y_true must be a non-empty"),
        ([0, 3], [0, 1], ["a", "b", "c"], r"y_true holds labels outside \[0, 3\)"),
        ([0, 1], [0, -1], ["a", "b", "c"], "y_prob_or_pred holds labels outside"),
        ([0.0, 1.0], [0, 1], ["a", "b", "c"], "y_true must hold integer"),
        ([0, 1, 2], [0, 1], ["a", "b", "c"], "2 predictions but y_true has 3"),
        ([0, 1], np.full((2, 2), 0.5), ["a", "b", "c"], r"shape \(2, 3\)"),
        ([0, 1], [[2.0, -1.0, 0.0], [0.2, 0.3, 0.5]], ["a", "b", "c"], "logits"),
        ([0, 1], [[0.5, 0.4, 0.0], [0.2, 0.3, 0.5]], ["a", "b", "c"], "sum to 1"),
        ([0, 1], np.zeros((2, 3, 1)), ["a", "b", "c"], "got shape"),
    ],
)
def test_bad_inputs_are_named(y_true, second, names, match):
    with pytest.raises(ValueError, match=match):
        classification_report(y_true, second, names)


def test_to_dict_is_json_and_markdown_has_the_numbers():
    r = classification_report([1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 1, 0, 0, 0], BINARY, positive_class="cancer")
    d = json.loads(json.dumps(r.to_dict()))
    assert d["confusion"] == [[3, 1], [2, 2]]
    assert d["recall"] == pytest.approx([0.75, 0.5])
    assert d["positive_class"] == "cancer" and d["roc_auc"] is None
    md = r.to_markdown()
    assert "| cancer | 0.667 | 0.500 | 0.571 | 4 |" in md
    assert "| benign | 0.600 | 0.750 | 0.667 | 4 |" in md
    assert "| benign | 3 | 1 |" in md and "| cancer | 2 | 2 |" in md
    assert "accuracy: 0.625" in md and "balanced accuracy: 0.625" in md
    assert "ROC AUC (positive class cancer): n/a" in md


def test_markdown_escapes_pipes_in_class_names():
    md = classification_report([0, 1, 2], [0, 1, 2], ["a|b", "c", "d"]).to_markdown()
    assert "| a\\|b | 1.000 |" in md


def _png_for(tmp_path, names, confusion_labels, name, normalise=True):
    y_true, y_pred = confusion_labels
    report = classification_report(y_true, y_pred, names, positive_class=names[1] if len(names) == 2 else None)
    out = save_confusion_png(report, tmp_path / name, normalise=normalise)
    assert out == tmp_path / name
    with Image.open(out) as image:
        return image.convert("RGB")


def test_confusion_png_opens_and_grows_with_classes_and_names(tmp_path):
    pytest.importorskip("matplotlib")
    small = _png_for(tmp_path, list(BINARY), ([0, 0, 1, 1], [0, 1, 1, 1]), "small.png")
    five = [f"class{i}" for i in range(5)]
    big = _png_for(tmp_path, five, (list(range(5)) * 3, [0, 1, 2, 3, 4] * 2 + [0] * 5), "big.png")
    long_names = [n * 3 for n in five]
    wide = _png_for(tmp_path, long_names, (list(range(5)) * 3, [0, 1, 2, 3, 4] * 2 + [0] * 5), "wide.png")
    with Image.open(tmp_path / "small.png") as image:
        assert image.format == "PNG"
    # Readable cells: at least tens of pixels per class each way, and a few hundred pixels for a 2x2 matrix.
    assert 100 <= small.width <= 1000 and 100 <= small.height <= 1000
    # Three more rows of cells at least 30 px each; the width of a small matrix is set by its title.
    assert big.height >= small.height + 3 * 30 and big.width >= small.width
    assert wide.width > big.width
    # Cells are shaded: the image is not just black text on white.
    colours = {c for _, c in big.getcolors(maxcolors=1 << 20)}
    assert any(r < 100 and b > 100 for r, _, b in colours)
    assert not list(tmp_path.glob(".*.tmp"))


def _darkest_centre(image: Image.Image) -> tuple[float, float]:
    pixels = np.asarray(image).astype(int)
    # The fill of a cell at full intensity (the top of matplotlib's "Blues"); text is white or black.
    ys, xs = np.nonzero(np.all(pixels == (8, 48, 107), axis=2))
    assert ys.size > 100
    return float(xs.mean()), float(ys.mean())


def test_confusion_png_shading_depends_on_normalise(tmp_path):
    pytest.importorskip("matplotlib")
    # Confusion [[12, 8], [0, 2]]: by row share (benign 0.6, cancer 1.0) the cancer/cancer cell is the darkest;
    # by count (12 is the largest) the benign/benign cell is.
    labels = ([0] * 20 + [1] * 2, [0] * 12 + [1] * 8 + [1] * 2)
    by_share = _darkest_centre(_png_for(tmp_path, list(BINARY), labels, "rows.png", normalise=True))
    by_count = _darkest_centre(_png_for(tmp_path, list(BINARY), labels, "counts.png", normalise=False))
    assert by_share[0] > by_count[0] + 30 and by_share[1] > by_count[1] + 30


def test_confusion_png_needs_existing_directory(tmp_path):
    pytest.importorskip("matplotlib")
    report = classification_report([0, 1], [0, 1], BINARY, positive_class="cancer")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_confusion_png(report, tmp_path / "missing" / "c.png")
