"""FID's bootstrap interval and real-vs-real floor, the small-set warning, and the scorer's pixel value ranges."""

from __future__ import annotations

import argparse
import itertools
import json
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset
from torch_fidelity import calculate_metrics
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from medgan_aug.cli import main
from medgan_aug.cli.train import metric_tracker
from medgan_aug.data import ImageFolderDataset
from medgan_aug.metrics import FIDScorer, frechet
from medgan_aug.metrics.extractors import MODULE_KWARG, module_fingerprint, register_module
from medgan_aug.metrics.frechet import FrechetResampler, fid_interval
from medgan_aug.metrics.image_sets import ImageSet, float_to_uint8
from medgan_aug.train import MetricTracker
from tests.test_metrics import TinyFeatures, _class_folders, _uint8_images, _write_folder
from tests.test_synthetic import make_generator

SMALL = "ignore:FID from .* images:UserWarning"


def _tf_fid(a: np.ndarray, b: np.ndarray) -> float:
    """torch-fidelity's FID of two float64 feature arrays."""
    stats = fid_features_to_statistics(torch.from_numpy(a)), fid_features_to_statistics(torch.from_numpy(b))
    return fid_statistics_to_metric(*stats, False)["frechet_inception_distance"]


def _correlated(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ (rng.normal(size=(d, d)) / np.sqrt(d)) + shift


# --- point values --------------------------------------------------------------------------------


@pytest.mark.filterwarnings(SMALL)
def test_point_values_equal_torch_fidelity_calculate_metrics():
    """Features extracted once and the metrics computed from them give calculate_metrics' numbers exactly."""
    module = TinyFeatures()
    real, fake = _uint8_images(60, 3, 1), _uint8_images(50, 3, 2).float() / 127.5 - 1
    got = FIDScorer(["fid", "kid", "isc", "prc"], extractor=module, kid_subset_size=20).score(real, fake)
    expected = calculate_metrics(
        input1=ImageSet(fake, "fake"),
        input2=ImageSet(real, "real"),
        **dict.fromkeys(["fid", "kid", "isc", "prc"], True),
        feature_extractor=register_module(module_fingerprint(module)),
        **{MODULE_KWARG: module},
        batch_size=64,
        cuda=False,
        kid_subset_size=20,
        rng_seed=0,
        save_cpu_ram=True,
        cache=False,
        verbose=False,
    )
    names = {"fid": "frechet_inception_distance", "kid_mean": "kernel_inception_distance_mean"}
    names |= {"kid_std": "kernel_inception_distance_std", "isc_mean": "inception_score_mean"}
    names |= {"isc_std": "inception_score_std", "precision": "precision", "recall": "recall", "f_score": "f_score"}
    assert {key: got[key] for key in names} == {key: expected[name] for key, name in names.items()}
    assert got["recall"] > 0 and got["isc_std"] > 0


# --- the fast FID -------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_a", "n_b", "d"), [(30, 40, 64), (120, 100, 100), (200, 150, 8), (5, 7, 3)])
@pytest.mark.parametrize("route", ["gram", "covariance"])
def test_resampled_fid_matches_torch_fidelity_on_repeated_rows(n_a, n_b, d, route):
    a, b = _correlated(n_a, d, 0.3, 1), _correlated(n_b, d, 0.0, 2) * 1.2
    rng = np.random.default_rng(3)
    # A bootstrap resample counts rows as often as they were drawn; torch-fidelity sees the rows repeated.
    counts_a, counts_b = (np.bincount(rng.integers(n, size=n), minlength=n) for n in (n_a, n_b))
    expected = _tf_fid(np.repeat(a, counts_a, axis=0), np.repeat(b, counts_b, axis=0))
    resampler = FrechetResampler(np.concatenate([a, b]), route=route)
    zeros_a, zeros_b = np.zeros(n_a, int), np.zeros(n_b, int)
    got = resampler.distance(np.concatenate([counts_a, zeros_b]), np.concatenate([zeros_a, counts_b]))
    assert resampler.route == route
    assert got == pytest.approx(expected, rel=1e-6)
    assert got > 1.0
    # Plain subsets, and the two routes against each other to float64 precision.
    subset_a, subset_b = np.zeros(n_a + n_b, int), np.zeros(n_a + n_b, int)
    subset_a[: n_a // 2 + 2] = 1
    subset_b[n_a + 1 :] = 1
    other = FrechetResampler(np.concatenate([a, b]), route="covariance" if route == "gram" else "gram")
    assert resampler.distance(subset_a, subset_b) == pytest.approx(other.distance(subset_a, subset_b), rel=1e-10)
    assert resampler.distance(subset_a, subset_b) == pytest.approx(_tf_fid(a[: n_a // 2 + 2], b[1:]), rel=1e-6)


def test_resampled_fid_of_a_constant_feature_falls_back_from_cholesky():
    # More rows than features but one feature constant: the covariance is singular, Cholesky fails.
    a, b = _correlated(60, 5, 0.2, 4), _correlated(50, 5, 0.0, 5)
    a[:, 2] = b[:, 2] = 1.5
    rows = np.concatenate([a, b])
    first, second = np.r_[np.ones(60, int), np.zeros(50, int)], np.r_[np.zeros(60, int), np.ones(50, int)]
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(np.cov(b, rowvar=False))
    for route in ("covariance", "gram"):
        assert FrechetResampler(rows, route=route).distance(first, second) == pytest.approx(_tf_fid(a, b), rel=1e-6)
    assert FrechetResampler(rows, route="gram").distance(first, first) == pytest.approx(0.0, abs=1e-9)


def test_auto_route_follows_the_cost_and_the_memory_cap(monkeypatch):
    narrow, wide = np.zeros((400, 8)), np.zeros((80, 512))
    # Many rows of few features: the d x d covariances are cheap.
    assert FrechetResampler(narrow, [(126, 126, 200)]).route == "covariance"
    # Few rows of many features: the Gram matrix makes each call independent of d.
    assert FrechetResampler(wide, [(51, 51, 200)]).route == "gram"
    monkeypatch.setattr(frechet, "_GRAM_MAX_BYTES", 8 * 80 * 80 - 1)
    assert FrechetResampler(wide, [(51, 51, 200)]).route == "covariance"


def test_resampler_rejects_bad_input():
    with pytest.raises(ValueError, match="finite 2-D"):
        FrechetResampler(np.zeros(5))
    with pytest.raises(ValueError, match="finite 2-D"):
        FrechetResampler(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="route"):
        FrechetResampler(np.zeros((4, 2)), route="svd")  # type: ignore[arg-type]
    resampler = FrechetResampler(np.arange(8.0).reshape(4, 2))
    good = np.array([1, 1, 0, 0])
    for bad, match in [
        (np.array([1, 1, 0]), "4 non-negative integer counts"),
        (np.array([2, -1, 0, 1]), "4 non-negative integer counts"),
        (np.array([1.0, 1.0, 0.0, 0.0]), "4 non-negative integer counts"),
        (np.array([0, 0, 1, 0]), "at least 2 rows"),
    ]:
        with pytest.raises(ValueError, match=match):
            resampler.distance(bad, good)
    with pytest.raises(ValueError, match="counts_b"):
        resampler.distance(good, np.zeros(4, int))


# --- the interval -------------------------------------------------------------------------------


def test_interval_is_the_percentile_interval_recentred_on_the_point():
    replicates = np.arange(1.0, 201.0)  # mean 100.5; percentiles 2.5 and 97.5 are 5.975 and 195.025
    std, low, high = fid_interval(150.0, replicates)
    assert std == pytest.approx(np.sqrt(200 * 201 / 12), rel=1e-12)
    assert (low, high) == pytest.approx((5.975 + 49.5, 195.025 + 49.5), rel=1e-12)
    # A bias larger than the lower tail would push the bound below 0, where FID cannot lie.
    assert fid_interval(90.0, replicates)[1:] == pytest.approx((0.0, 195.025 - 10.5), rel=1e-12)


@pytest.mark.filterwarnings(SMALL)
def test_interval_covers_the_mean_fid_at_the_set_size():
    """Over independent draws, about 95 % of the intervals hold the FID expected from sets of this size."""
    d, n = 8, 200
    scale = np.linspace(0.7, 1.4, d)
    rng = np.random.default_rng(1)

    def draw() -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(size=(n, d)), rng.normal(size=(n, d)) * scale + 0.25

    fresh = [_tf_fid(*draw()) for _ in range(2000)]
    target, spread = np.mean(fresh), np.std(fresh, ddof=1)
    covered, stds = 0, []
    for seed in range(100):
        real, fake = draw()
        got = FIDScorer.from_features(real, fake, ["fid"], fid_floor=False, seed=seed)
        assert got["fid_ci_low"] < got["fid"] < got["fid_ci_high"]
        covered += got["fid_ci_low"] <= target <= got["fid_ci_high"]
        stds.append(got["fid_std"])
    # Resampling one set only gives 85 here and a spread 0.8 times too small; too wide an interval covers ~100.
    assert 88 <= covered <= 99
    assert 0.9 < np.mean(stds) / spread < 1.25


@pytest.mark.filterwarnings(SMALL)
def test_interval_and_floor_are_reproducible_and_follow_the_seed():
    real, fake = _correlated(60, 4, 0.0, 6), _correlated(50, 4, 0.4, 7)
    first = FIDScorer.from_features(real, fake, ["fid"])
    assert FIDScorer.from_features(real, fake, ["fid"]) == first
    other = FIDScorer.from_features(real, fake, ["fid"], seed=1)
    assert other["fid"] == first["fid"]
    assert other["fid_ci_high"] != first["fid_ci_high"] and other["fid_real_floor"] != first["fid_real_floor"]
    assert first["fid_std"] > 0 and first["fid_ci_low"] < first["fid"] < first["fid_ci_high"]


@pytest.mark.parametrize("bad", [1, 99, -5, True, 150.0, "200"])
def test_bootstrap_below_100_resamples_is_refused(bad):
    with pytest.raises(ValueError, match=r"fid_bootstrap must be 0 \(no interval\) or an integer >= 100"):
        FIDScorer(["fid"], extractor=TinyFeatures(), fid_bootstrap=bad)
    with pytest.raises(ValueError, match="fid_bootstrap"):
        FIDScorer.from_features(np.zeros((4, 2)), np.zeros((4, 2)), ["fid"], fid_bootstrap=bad)


@pytest.mark.filterwarnings(SMALL)
def test_bootstrap_resamples_can_be_turned_off_or_set():
    real, fake = _correlated(30, 3, 0.0, 8), _correlated(30, 3, 0.5, 9)
    sizes = {"n_real", "n_fake"}
    off = FIDScorer.from_features(real, fake, ["fid", "kid"], fid_bootstrap=0, kid_subset_size=10)
    floor = {"fid_real_floor", "fid_real_floor_std", "fid_matched", "fid_matched_std", "fid_floor_images"}
    assert set(off) == {"fid", "kid_mean", "kid_std"} | floor | sizes
    hundred = FIDScorer.from_features(real, fake, ["fid"], fid_bootstrap=100, fid_floor=False)
    assert set(hundred) == {"fid", "fid_std", "fid_ci_low", "fid_ci_high"} | sizes
    assert FIDScorer(["fid"], extractor=TinyFeatures(), fid_bootstrap=0).fid_bootstrap == 0
    # No FID, no FID keys.
    assert set(FIDScorer.from_features(real, fake, ["kid"], kid_subset_size=10)) == {"kid_mean", "kid_std"} | sizes


# --- the floor ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings(SMALL)
def test_floor_averages_fids_of_disjoint_real_halves():
    real, fake = _correlated(4, 3, 0.0, 10), _correlated(9, 3, 2.0, 11)
    got = FIDScorer.from_features(real, fake, ["fid"], fid_bootstrap=0)
    assert got["fid_floor_images"] == 2  # min(n_fake, n_real // 2)
    # Four real rows split into two pairs three ways; the floor is the mean of 5 splits, each one of these.
    halves = [_tf_fid(real[[0, i]], real[[j for j in (1, 2, 3) if j != i]]) for i in (1, 2, 3)]
    assert len({round(value, 6) for value in halves}) == 3
    splits = [np.repeat(halves, counts) for counts in itertools.product(range(6), repeat=3) if sum(counts) == 5]
    floor, spread = got["fid_real_floor"], got["fid_real_floor_std"]
    assert any(
        np.mean(values) == pytest.approx(floor, rel=1e-6)
        and np.std(values, ddof=1) == pytest.approx(spread, rel=1e-6, abs=1e-9)
        for values in splits
    )
    # The generated images set the halves' size, not the floor's value.
    again = FIDScorer.from_features(real, fake * 3 - 1, ["fid"], fid_bootstrap=0)
    assert again["fid_real_floor"] == pytest.approx(got["fid_real_floor"], rel=1e-9) and again["fid"] != got["fid"]
    assert FIDScorer.from_features(real, fake[:3], ["fid"], fid_bootstrap=0)["fid_floor_images"] == 2
    many = FIDScorer.from_features(_correlated(40, 3, 0, 12), fake[:3], ["fid"], fid_bootstrap=0)
    assert many["fid_floor_images"] == 3


@pytest.mark.filterwarnings(SMALL)
def test_floor_estimates_the_fid_of_two_real_sets_of_that_size():
    d, m = 4, 100
    rng = np.random.default_rng(13)
    expected = np.mean([_tf_fid(rng.normal(size=(m, d)), rng.normal(size=(m, d))) for _ in range(1000)])
    floors = [
        FIDScorer.from_features(rng.normal(size=(1000, d)), rng.normal(size=(m, d)), ["fid"], fid_bootstrap=0)
        for _ in range(20)
    ]
    assert {row["fid_floor_images"] for row in floors} == {m}
    # 20 floors: their mean has a standard error near 0.0075 around the expected FID of about 0.18.
    assert np.mean([row["fid_real_floor"] for row in floors]) == pytest.approx(expected, abs=0.03)


@pytest.mark.filterwarnings(SMALL)
def test_matched_fid_holds_m_generated_images_against_the_floors_real_half():
    """Generated images from the real distribution score like the floor at the floor's size, while the plain FID,
    from a larger generated set against the whole real set, is lower: the sizes, not the generator, differ."""
    d, n_real, n_fake = 4, 200, 400
    rng = np.random.default_rng(14)
    rows = []
    for trial in range(30):
        real, fake = rng.normal(size=(n_real, d)), rng.normal(size=(n_fake, d))
        rows.append(FIDScorer.from_features(real, fake, ["fid"], fid_bootstrap=0, seed=trial))
    assert {row["fid_floor_images"] for row in rows} == {100}
    matched, floor, plain = (np.mean([row[key] for row in rows]) for key in ("fid_matched", "fid_real_floor", "fid"))
    # Expected FIDs of Gaussian sets of these sizes: about 0.2 for 100 against 100, about 0.06 for 400 against 200.
    assert matched == pytest.approx(floor, rel=0.15)
    assert plain < 0.5 * floor
    # A generator that is off by a shift scores above the floor by about the shift's square.
    shifted = FIDScorer.from_features(rng.normal(size=(n_real, d)), rng.normal(size=(n_fake, d)) + 1, ["fid"],
                                      fid_bootstrap=0)  # fmt: skip
    assert shifted["fid_matched"] - shifted["fid_real_floor"] == pytest.approx(4.0, abs=0.6)


@pytest.mark.filterwarnings(SMALL)
def test_matched_fid_is_the_fid_of_a_generated_subset_against_a_real_half():
    real, fake = _correlated(12, 3, 0.0, 15), _correlated(5, 3, 1.0, 16)
    got = FIDScorer.from_features(real, fake, ["fid"], fid_bootstrap=0, seed=3)
    assert got["fid_floor_images"] == 5  # min(n_fake, n_real // 2): every generated image, in every split
    # With m = n_fake every split uses all generated images, against 5 of the 12 real ones.
    subsets = [_tf_fid(fake, real[list(c)]) for c in itertools.combinations(range(12), 5)]
    assert min(subsets) <= got["fid_matched"] <= max(subsets)


@pytest.mark.filterwarnings(SMALL)
def test_floor_needs_four_real_images():
    real, fake = _correlated(3, 2, 0.0, 14), _correlated(5, 2, 1.0, 15)
    with pytest.warns(UserWarning, match="the real set has 3 images: the real-vs-real FID floor needs"):
        got = FIDScorer.from_features(real, fake, ["fid"], fid_bootstrap=0)
    assert set(got) == {"fid", "n_real", "n_fake"}


# --- the small-set warning ----------------------------------------------------------------------


def _fid_warnings(call) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught if str(w.message).startswith("FID from")]


def test_small_sets_draw_a_warning_naming_both_sizes():
    real, fake = _correlated(80, 3, 0.0, 16), _correlated(70, 3, 0.5, 17)
    (message,) = _fid_warnings(lambda: FIDScorer.from_features(real, fake, ["fid"]))
    assert message.startswith("FID from 70 generated and 80 real images: below 2,000 images per set")
    assert "fid_real_floor" in message and "at 40 images per side, fid_matched" in message
    (message,) = _fid_warnings(lambda: FIDScorer.from_features(real, fake, ["fid"], fid_floor=False))
    assert "fid_real_floor" not in message
    # A scorer without interval and floor (training-time tracking) stays quiet, and so do large sets and KID.
    assert _fid_warnings(lambda: FIDScorer.from_features(real, fake, ["fid"], fid_bootstrap=0, fid_floor=False)) == []
    assert _fid_warnings(lambda: FIDScorer.from_features(real, fake, ["kid"], kid_subset_size=10)) == []
    big_real, big_fake = _correlated(4000, 2, 0.0, 18), _correlated(2000, 2, 0.1, 19)
    assert _fid_warnings(lambda: FIDScorer.from_features(big_real, big_fake, ["fid"], fid_bootstrap=0)) == []


def test_score_warns_at_the_callers_line():
    scorer = FIDScorer(["fid"], extractor=TinyFeatures(), device="cpu")
    with pytest.warns(UserWarning, match="FID from 6 generated and 8 real images") as record:
        scorer.score(_uint8_images(8, 3, 1), _uint8_images(6, 3, 2))
    assert {w.filename for w in record if "FID from" in str(w.message)} == {__file__}
    with pytest.warns(UserWarning, match="FID from 5 generated and 8 real images") as record:
        scorer.score_generator(make_generator(), _uint8_images(8, 1, 1), 5)
    assert {w.filename for w in record if "FID from" in str(w.message)} == {__file__}


# --- pixel value ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value_range", "pixels", "levels"),
    [
        ((-1, 1), [-2.0, -1.0, 0.0, 0.5, 1.0, 1.3], [0, 0, 128, 191, 255, 255]),
        ((0, 1), [-0.3, 0.0, 0.2, 0.5, 1.0, 1.7], [0, 0, 51, 128, 255, 255]),
        ((0, 255), [-3.0, 0.4, 0.6, 127.49, 254.7, 300.0], [0, 0, 1, 127, 255, 255]),
    ],
)
def test_float_pixels_map_to_the_nearest_level_of_the_range(value_range, pixels, levels):
    assert float_to_uint8(torch.tensor(pixels), "pixels", value_range).tolist() == levels


@pytest.mark.parametrize("bad", [(0, 2), (-1, 1, 2), "0,1", "01", None, (0, "x")])
def test_unknown_value_range_is_refused(bad):
    match = r"value_range must be one of \(-1, 1\), \(0, 1\), \(0, 255\)"
    with pytest.raises(ValueError, match=match):
        FIDScorer(["fid"], extractor=TinyFeatures(), value_range=bad)
    with pytest.raises(ValueError, match=match):
        float_to_uint8(torch.zeros(2), "pixels", bad)


def _misread(record) -> list[str]:
    return [str(w.message) for w in record if "value_range" in str(w.message)]


@pytest.mark.filterwarnings(SMALL)
def test_floats_are_read_in_the_stated_range():
    real, fake = _uint8_images(20, 3, 1), _uint8_images(18, 1, 2)
    expected = FIDScorer(["fid", "kid"], extractor=TinyFeatures(), kid_subset_size=10).score(real, fake)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for value_range, to_float in [((0, 1), lambda u: u.float() / 255), ((0, 255), lambda u: u.double())]:
            scorer = FIDScorer(["fid", "kid"], extractor=TinyFeatures(), kid_subset_size=10, value_range=value_range)
            assert scorer.score(to_float(real), to_float(fake)) == expected
            # uint8 images are taken as they are, whatever the range.
            assert scorer.score(real, fake) == expected
    assert _misread(record) == []


@pytest.mark.filterwarnings(SMALL)
def test_zero_one_floats_read_as_minus_one_one_draw_a_warning():
    real, fake = _uint8_images(12, 3, 1), _uint8_images(12, 3, 2)
    scorer = FIDScorer(["fid"], extractor=TinyFeatures())
    with pytest.warns(UserWarning, match="value_range") as record:
        scorer.score(real, fake.float() / 255)
    (message,) = _misread(record)
    assert message.startswith("the fake set (tensor) has float pixels from 0 to ")
    assert "read with value_range=(-1, 1)" in message and "pass value_range=(0, 1)" in message
    with pytest.warns(UserWarning, match=r"look like \(0, 255\)"):
        scorer.score(real.float(), fake)
    eight_bit = FIDScorer(["fid"], extractor=TinyFeatures(), value_range=(0, 255))
    with pytest.warns(UserWarning, match=r"look like \(0, 1\)"):
        eight_bit.score(real, fake.float() / 255)
    with pytest.warns(UserWarning, match=r"look like \(-1, 1\)"):
        eight_bit.score(real, fake.float() / 127.5 - 1)
    with pytest.warns(UserWarning, match=r"value_range=\(0, 1\): they look like \(0, 255\)"):
        FIDScorer(["fid"], extractor=TinyFeatures(), value_range=(0, 1)).score(real, fake.float())


class _Items(Dataset):
    """Float images as (image, label) pairs, as a dataset yields them."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], 0


@pytest.mark.filterwarnings(SMALL)
def test_the_range_check_covers_the_whole_set():
    real = _uint8_images(12, 3, 1)
    in_zero_one = _uint8_images(12, 3, 2).float() / 255
    # The first image is in [0, 1] like the rest, but a later one holds [-1, 1] pixels.
    mixed = in_zero_one.clone()
    mixed[7] = mixed[7] * 2 - 1
    mixed[7, 0, 0, 0], mixed[3, 0, 0, 0] = -1.0, 1.0
    scorer = FIDScorer(["fid"], extractor=TinyFeatures(), value_range=(0, 1))
    with pytest.warns(UserWarning, match="value_range") as record:
        scorer.score(real, _Items(mixed))
    (message,) = _misread(record)
    assert message.startswith("the fake set (_Items) has float pixels from -1 to 1")
    assert "pass value_range=(-1, 1)" in message
    # Read as (-1, 1), a set whose first image is all >= 0 but whose others are not raises nothing.
    signed = in_zero_one * 2 - 1
    signed[0] = in_zero_one[0]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        FIDScorer(["fid"], extractor=TinyFeatures()).score(real, _Items(signed))
        FIDScorer(["fid"], extractor=TinyFeatures()).score(real, signed)
    assert _misread(record) == []


@pytest.mark.filterwarnings(SMALL)
def test_generated_images_and_class_datasets_stay_minus_one_one_whatever_the_range(tmp_path):
    G, real = make_generator(), _uint8_images(12, 1, 3)
    _class_folders(tmp_path / "real", {"a": 5, "b": 6})
    dataset = ImageFolderDataset(tmp_path / "real", resolution=16, labels="folders")
    conditional = make_generator(c_dim=2)
    default, zero_one = (FIDScorer(["fid"], extractor=TinyFeatures(), value_range=r) for r in [(-1, 1), (0, 1)])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert zero_one.score_generator(G, real, 9, seed=2) == default.score_generator(G, real, 9, seed=2)
        assert zero_one.score_per_class(conditional, dataset, 6) == default.score_per_class(conditional, dataset, 6)
    assert _misread(record) == []


@pytest.mark.filterwarnings(SMALL)
def test_tensor_files_are_read_as_tensors(tmp_path):
    real, fake = _uint8_images(14, 3, 4), _uint8_images(12, 1, 5)
    np.save(tmp_path / "real.npy", real.numpy())
    torch.save(fake.float() / 255, tmp_path / "fake.pt")
    scorer = FIDScorer(["fid"], extractor=TinyFeatures(), value_range=(0, 1))
    assert scorer.score(tmp_path / "real.npy", str(tmp_path / "fake.pt")) == scorer.score(real, fake)
    torch.save({"images": fake}, tmp_path / "dict.pt")
    with pytest.raises(ValueError, match=r"dict\.pt holds a dict, not a"):
        scorer.score(real, tmp_path / "dict.pt")
    with pytest.raises(FileNotFoundError, match=r"missing\.npy does not exist"):
        scorer.score(tmp_path / "missing.npy", fake)


def test_metric_tracking_reads_minus_one_one_and_skips_interval_and_floor(tmp_path, timm_weights):
    with pytest.raises(ValueError, match=r"reads floats as \(0, 1\).*value_range=\(-1, 1\)"):
        MetricTracker(FIDScorer(["fid"], extractor=TinyFeatures(), value_range=(0, 1)))
    args = argparse.Namespace(
        metrics="fid,kid",
        patience=None,
        metric_weights=str(timm_weights),
        metric_extractor="timm:test_resnet",
        outdir=str(tmp_path),
        metric_ticks=2,
        metric_samples=50,
    )
    scorer = metric_tracker(args).scorer
    assert (scorer.fid_bootstrap, scorer.fid_floor, scorer.value_range) == (0, False, (-1, 1))


# --- command line -------------------------------------------------------------------------------


@pytest.mark.filterwarnings(SMALL)
def test_cli_score_interval_options_and_tensor_files(tmp_path, timm_weights, capsys):
    real, fake = _uint8_images(12, 1, 11, size=32), _uint8_images(10, 3, 12, size=32)
    _write_folder(tmp_path / "real", real)
    fake = _write_folder(tmp_path / "fake", fake)
    torch.save(fake.float() / 255, tmp_path / "fake.pt")
    base = ["score", "--real", str(tmp_path / "real"), "--extractor", "timm:test_resnet"]
    base += ["--weights", str(timm_weights), "--metrics", "fid", "--json"]
    assert main([*base, "--fake", str(tmp_path / "fake")]) == 0
    folder = json.loads(capsys.readouterr().out)
    assert main([*base, "--fake", str(tmp_path / "fake.pt"), "--value-range", "0,1"]) == 0
    assert json.loads(capsys.readouterr().out) == folder
    with pytest.warns(UserWarning, match=r"fake\.pt\) has float pixels from 0 to 1, read with value_range=\(-1, 1\)"):
        assert main([*base, "--fake", str(tmp_path / "fake.pt"), "--fid-bootstrap", "0", "--no-fid-floor"]) == 0
    plain = json.loads(capsys.readouterr().out)
    # Read as [-1, 1], the [0, 1] floats are other images: another FID, and no interval or floor.
    assert set(plain) == {"fid", "n_real", "n_fake"} and plain["fid"] != folder["fid"]
    assert main([*base, "--fake", str(tmp_path / "fake"), "--fid-bootstrap", "50"]) == 1
    assert "fid_bootstrap must be 0 (no interval) or an integer >= 100" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--fake", str(tmp_path / "fake"), "--value-range", "0,2"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.filterwarnings(SMALL)
@pytest.mark.filterwarnings("ignore:.*value_range:UserWarning")
def test_cached_real_features_are_kept_apart_by_value_range(tmp_path):
    real, fake = _uint8_images(16, 3, 6).float() / 255, _uint8_images(12, 3, 7)
    module = TinyFeatures()
    scorers = {
        value_range: FIDScorer(["fid"], extractor=module, cache_dir=tmp_path, value_range=value_range)
        for value_range in [(-1, 1), (0, 1)]
    }
    minus_one_one = scorers[(-1, 1)].score(real, fake)
    assert module.calls == 2
    # The same floats read as [0, 1] are other images: not the cached features of the [-1, 1] reading.
    zero_one = scorers[(0, 1)].score(real, fake)
    assert module.calls == 4
    assert zero_one == FIDScorer(["fid"], extractor=TinyFeatures(), value_range=(0, 1)).score(real, fake)
    assert zero_one["fid"] != minus_one_one["fid"]
    assert scorers[(0, 1)].score(real, fake) == zero_one
    assert module.calls == 5
