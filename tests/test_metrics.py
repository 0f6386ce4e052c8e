"""FIDScorer: metrics from features against float64 references, scoring through torch-fidelity, caching, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from scipy.spatial.distance import cdist
from torch import nn
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from medgan_aug.cli import main
from medgan_aug.data import ImageFolderDataset
from medgan_aug.metrics import FIDScorer, MetricsWeightsError
from medgan_aug.metrics import weights as weights_module
from tests.test_synthetic import make_generator
from tests.test_synthetic_pairs import make_mask_generator

# Most sets here are tiny; tests/test_metrics_uncertainty.py checks the small-set warning itself.
pytestmark = pytest.mark.filterwarnings("ignore:FID from .* images:UserWarning")

FID_KEYS = {"fid", "fid_std", "fid_ci_low", "fid_ci_high", "fid_real_floor", "fid_real_floor_std", "fid_matched",
            "fid_matched_std", "fid_floor_images"}  # fmt: skip


def _features(n: int, d: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / math.sqrt(d)
    return rng.normal(size=(n, d)) @ mixing + shift


def _fid_reference(real: np.ndarray, fake: np.ndarray) -> float:
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def _kid_reference(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    m = len(x)

    def kernel(a, b):
        return (a @ b.T / d + 1) ** 3

    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2 * kxy.sum() / (m * m))


def _covered(points: np.ndarray, centres: np.ndarray, k: int) -> float:
    """Fraction of ``points`` inside a ball around some centre whose radius is its k-th neighbour distance."""
    radii = np.sort(cdist(centres, centres), axis=1)[:, k]
    return float((cdist(points, centres) <= radii[None, :]).any(axis=1).mean())


def test_from_features_fid_matches_torch_fidelity_and_scipy():
    real, fake = _features(80, 6, 0.0, 1), _features(70, 6, 0.7, 2)
    got = FIDScorer.from_features(real, fake, ["fid"])
    tf = fid_statistics_to_metric(
        fid_features_to_statistics(torch.from_numpy(fake)), fid_features_to_statistics(torch.from_numpy(real)), False
    )
    assert got["fid"] == pytest.approx(tf["frechet_inception_distance"], rel=1e-12)
    assert got["fid"] == pytest.approx(_fid_reference(real, fake), rel=1e-6)
    assert got["fid"] > 1.0
    assert set(got) == FID_KEYS | {"n_real", "n_fake"}
    assert (got["n_real"], got["n_fake"]) == (80, 70)
    plain = FIDScorer.from_features(real, fake, ["fid"], fid_bootstrap=0, fid_floor=False)
    assert plain == {"fid": got["fid"], "n_real": 80, "n_fake": 70}


def test_identical_sets_give_zero_fid():
    real = _features(50, 5, 0.3, 3)
    assert abs(FIDScorer.from_features(real, real.copy(), ["fid"])["fid"]) < 1e-6


def test_from_features_kid_matches_unbiased_mmd_and_torch_fidelity():
    real, fake = _features(40, 8, 0.0, 4), _features(40, 8, 0.5, 5)
    one = FIDScorer.from_features(real, fake, ["kid"], kid_subsets=1, kid_subset_size=40)
    assert one["kid_mean"] == pytest.approx(_kid_reference(fake, real), rel=1e-9)
    assert one["kid_std"] == 0.0
    many = FIDScorer.from_features(real, fake, ["kid"], kid_subsets=20, kid_subset_size=15, seed=7)
    tf = kid_features_to_metric(
        torch.from_numpy(fake), torch.from_numpy(real), kid_subsets=20, kid_subset_size=15, rng_seed=7, verbose=False
    )
    assert many["kid_mean"] == tf["kernel_inception_distance_mean"]
    assert many["kid_std"] == tf["kernel_inception_distance_std"]


def test_from_features_precision_recall_match_knn_balls():
    real = _features(60, 4, 0.0, 6)
    fake = np.concatenate([_features(30, 4, 0.0, 7), _features(20, 4, 6.0, 8)])
    got = FIDScorer.from_features(real, fake, ["prc"], prc_neighborhood=3)
    precision, recall = _covered(fake, real, 3), _covered(real, fake, 3)
    assert 0.2 < precision < 0.9
    assert got["precision"] == pytest.approx(precision, abs=1e-7)
    assert got["recall"] == pytest.approx(recall, abs=1e-7)
    assert got["f_score"] == pytest.approx(2 * precision * recall / (precision + recall), rel=1e-6)


def test_from_features_inception_score_matches_reference():
    rng = np.random.default_rng(9)
    logits = rng.normal(scale=3.0, size=(40, 5))
    got = FIDScorer.from_features(_features(10, 3, 0, 1), _features(40, 3, 0, 2), ["isc"], fake_logits=logits, seed=3)
    shuffled = logits[np.random.RandomState(3).permutation(40)]
    p = np.exp(shuffled - shuffled.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for chunk in np.split(p, 10):
        marginal = chunk.mean(0, keepdims=True)
        scores.append(np.exp(np.mean(np.sum(chunk * (np.log(chunk) - np.log(marginal)), axis=1))))
    assert got["isc_mean"] == pytest.approx(np.mean(scores), rel=1e-9)
    assert got["isc_std"] == pytest.approx(np.std(scores), rel=1e-9)
    constant = FIDScorer.from_features(
        _features(10, 3, 0, 1), _features(20, 3, 0, 2), ["isc"], fake_logits=np.ones((20, 4))
    )
    assert constant["isc_mean"] == pytest.approx(1.0, abs=1e-12)


class TinyFeatures(nn.Module):
    """A fixed random convolution and global pooling; counts its calls."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 6, 3, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.copy_(torch.randn(6, generator=generator))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        y = torch.tanh(self.conv(x))
        return torch.cat([y.mean((2, 3)), y.std((2, 3))], dim=1)


def _uint8_images(n: int, channels: int, seed: int, size: int = 16) -> torch.Tensor:
    # One shared pattern plus per-image noise and a per-seed brightness offset: sets overlap partly.
    base = np.random.default_rng(0).integers(0, 256, size=(1, channels, size, size))
    rng = np.random.default_rng(seed)
    noise = rng.integers(-60, 61, size=(n, channels, size, size))
    return torch.from_numpy(np.clip(base + noise + seed * 3, 0, 255).astype(np.uint8))


def _direct(module: nn.Module, images_uint8: torch.Tensor, real_uint8: torch.Tensor, metrics) -> dict[str, float]:
    """Features from calling ``module`` on the images as 3-channel floats in [0, 1], then from_features."""

    def prepare(u):
        return (u.expand(-1, 3, -1, -1) if u.shape[1] == 1 else u).double().div(255).float()

    with torch.no_grad():
        fake_f, real_f = module(prepare(images_uint8)), module(prepare(real_uint8))
    return FIDScorer.from_features(real_f, fake_f, metrics, kid_subset_size=20)


METRICS_NO_ISC = ("fid", "kid", "prc")


def _assert_close(got: dict[str, float], expected: dict[str, float]) -> None:
    assert got.keys() == expected.keys()
    for key in got:
        assert got[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-6), key


def test_score_tensors_agrees_with_features_of_the_module():
    real, fake = _uint8_images(30, 3, 1), _uint8_images(25, 3, 2)
    module = TinyFeatures()
    scorer = FIDScorer(METRICS_NO_ISC, extractor=module, kid_subset_size=20, device="cpu", batch_size=8)
    got = scorer.score(real, fake)
    _assert_close(got, _direct(module, fake, real, METRICS_NO_ISC))
    assert got["fid"] > 1e-3
    # Floats are read as [-1, 1]: the same images as floats score the same.
    floats = scorer.score(real.float() / 127.5 - 1, fake.float() / 127.5 - 1)
    _assert_close(floats, got)


def test_score_grayscale_repeats_the_channel():
    real, fake = _uint8_images(20, 1, 3), _uint8_images(20, 1, 4)
    scorer = FIDScorer(["fid", "kid"], extractor=TinyFeatures(), kid_subset_size=20, device="cpu")
    gray = scorer.score(real, fake)
    rgb = scorer.score(real.repeat(1, 3, 1, 1), fake.repeat(1, 3, 1, 1))
    _assert_close(gray, rgb)
    _assert_close(gray, _direct(TinyFeatures(), fake, real, ["fid", "kid"]))


def _write_folder(folder, images: torch.Tensor) -> torch.Tensor:
    """Write the images as PNGs (odd ones in a subfolder); return them in the folder's sorted-path order."""
    folder.mkdir(parents=True)
    names = []
    for i, image in enumerate(images.numpy()):
        pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        name = f"sub/{i:03d}.png" if i % 2 else f"{i:03d}.png"
        (folder / name).parent.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / name)
        names.append(name)
    return images[sorted(range(len(names)), key=names.__getitem__)]


def test_score_folders_and_datasets_agree_with_features_of_the_module(tmp_path):
    real, fake = _uint8_images(24, 1, 5), _uint8_images(22, 3, 6)
    real, fake = _write_folder(tmp_path / "real", real), _write_folder(tmp_path / "fake", fake)
    module = TinyFeatures(seed=1)
    scorer = FIDScorer(METRICS_NO_ISC, extractor=module, kid_subset_size=20, device="cpu")
    # Random KID subsets depend on the order of the images: a folder's is that of its sorted paths.
    expected = _direct(module, fake, real, METRICS_NO_ISC)
    _assert_close(scorer.score(tmp_path / "real", str(tmp_path / "fake")), expected)

    dataset = ImageFolderDataset(tmp_path / "fake", resolution=16, labels=None)
    items = torch.stack([dataset[i][0] for i in range(len(dataset))])
    from_items = ((items + 1) * 127.5).round().to(torch.uint8)
    _assert_close(scorer.score(real, dataset), _direct(module, from_items, real, METRICS_NO_ISC))

    class Plain(Dataset):
        def __len__(self):
            return len(fake)

        def __getitem__(self, i):
            return fake[i]

    _assert_close(scorer.score(real, Plain()), expected)


def test_score_inception_score_uses_module_output_as_logits():
    fake = _uint8_images(20, 3, 7)
    module = TinyFeatures()
    got = FIDScorer(["isc"], extractor=module, device="cpu").score(_uint8_images(4, 3, 8), fake)
    with torch.no_grad():
        logits = module(fake.float() / 255)
    expected = FIDScorer.from_features(np.zeros((4, 1)), np.zeros((2, 1)), ["isc"], fake_logits=logits)
    _assert_close(got, expected)


def test_real_set_statistics_are_cached(tmp_path):
    real, fake = _uint8_images(30, 3, 9), _uint8_images(30, 3, 10)
    module = TinyFeatures()
    scorer = FIDScorer(["fid", "kid"], extractor=module, kid_subset_size=20, cache_dir=tmp_path, device="cpu")
    first = scorer.score(real, fake)
    assert module.calls == 2  # one batch of each set
    second = scorer.score(real.clone(), fake)
    assert module.calls == 3  # the fake set only
    _assert_close(second, first)
    fid_only = FIDScorer(["fid"], extractor=module, cache_dir=tmp_path, device="cpu").score(real, fake)
    assert module.calls == 4
    assert fid_only["fid"] == pytest.approx(first["fid"], rel=1e-6)
    changed = real.clone()
    changed[0, 0, 0, 0] ^= 1
    scorer.score(changed, fake)
    assert module.calls == 6
    other = TinyFeatures(seed=5)
    FIDScorer(["fid", "kid"], extractor=other, kid_subset_size=20, cache_dir=tmp_path, device="cpu").score(real, fake)
    assert other.calls == 2


def test_module_training_state_is_restored():
    module = TinyFeatures()
    module.train()
    FIDScorer(["fid"], extractor=module, device="cpu").score(_uint8_images(5, 3, 1), _uint8_images(5, 3, 2))
    assert module.training
    assert all(p.requires_grad for p in module.parameters())


def test_missing_inception_weights_offline_raise_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url, cached = weights_module.default_weights_location("inception-v3-compat")
    assert str(cached).startswith(str(tmp_path))
    if weights_module._reachable(url):
        pytest.skip("this machine can download the Inception weights")
    scorer = FIDScorer(["fid"], device="cpu")
    with pytest.raises(MetricsWeightsError) as excinfo:
        scorer.score(_uint8_images(4, 3, 1), _uint8_images(4, 3, 2))
    message = str(excinfo.value)
    assert "inception-v3-compat" in message and str(cached) in message
    assert "weights=" in message and "--weights" in message
    assert not cached.exists()


def test_timm_extractor_without_weights_is_refused():
    with pytest.raises(MetricsWeightsError, match="weights=PATH"):
        FIDScorer(extractor="timm:test_resnet")


def test_kid_subset_size_is_clamped_with_a_warning():
    real, fake = _uint8_images(12, 3, 1), _uint8_images(9, 3, 2)
    with pytest.warns(UserWarning, match=r"real 12, fake 9"):
        got = FIDScorer(["kid"], extractor=TinyFeatures(), device="cpu").score(real, fake)
    with torch.no_grad():
        real_f, fake_f = TinyFeatures()(real.float() / 255), TinyFeatures()(fake.float() / 255)
    expected = FIDScorer.from_features(real_f, fake_f, ["kid"], kid_subset_size=9)
    _assert_close(got, expected)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s, t: s.score(t[:1], t), "real set has 1 images"),
        (lambda s, t: s.score(t, t[:1]), "fake set has 1 images"),
        (lambda s, t: s.score(t[:, :, 0], t), r"\[N, C, H, W\]"),
        (lambda s, t: s.score(t[:, :2], t), "C 1 or 3"),
        (lambda s, t: s.score(t.int(), t), "uint8 or floating"),
        (lambda s, t: s.score(t.float().masked_fill(t == 0, float("nan")), t), "non-finite"),
        (lambda s, t: s.score([1, 2], t), "folder path"),
    ],
)
def test_bad_image_sets_are_rejected(call, match):
    scorer = FIDScorer(["fid"], extractor=TinyFeatures(), device="cpu")
    with pytest.raises(ValueError, match=match):
        call(scorer, _uint8_images(6, 3, 1))


def test_bad_folders_are_rejected(tmp_path):
    scorer = FIDScorer(["fid"], extractor=TinyFeatures(), device="cpu")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.raises(ValueError, match=f"no images found under {tmp_path / 'empty'}"):
        scorer.score(tmp_path / "empty", _uint8_images(4, 3, 1))
    with pytest.raises(FileNotFoundError, match="missing"):
        scorer.score(tmp_path / "missing", _uint8_images(4, 3, 1))
    _write_folder(tmp_path / "mixed", _uint8_images(3, 3, 1))
    Image.new("RGB", (8, 8)).save(tmp_path / "mixed" / "small.png")
    with pytest.raises(ValueError, match="differ in size"):
        scorer.score(tmp_path / "mixed", _uint8_images(4, 3, 1))


def test_precision_recall_needs_more_images_than_neighbours():
    scorer = FIDScorer(["prc"], extractor=TinyFeatures(), device="cpu", prc_neighborhood=5)
    with pytest.raises(ValueError, match="fake set has 5 images, but prc needs at least 6"):
        scorer.score(_uint8_images(10, 3, 1), _uint8_images(5, 3, 2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ["fid", "ppl"]}, "metrics must be"),
        ({"metrics": []}, "metrics must be"),
        ({"extractor": "inception-v4"}, "not a torch-fidelity feature extractor"),
        ({"batch_size": 0}, "batch_size"),
        ({"kid_subset_size": 1}, "kid_subset_size"),
        ({"device": "tpu"}, "device"),
        ({"extractor": TinyFeatures(), "weights": __file__}, "load the weights into the module"),
    ],
)
def test_bad_scorer_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FIDScorer(**kwargs)


def test_from_features_rejects_bad_arrays():
    good = np.zeros((5, 3))
    with pytest.raises(ValueError, match="differ in width"):
        FIDScorer.from_features(good, np.zeros((5, 4)))
    with pytest.raises(ValueError, match="2-D"):
        FIDScorer.from_features(good, np.zeros(5))
    with pytest.raises(ValueError, match="fake_logits"):
        FIDScorer.from_features(good, good, ["isc"])


def test_cli_score_json_matches_the_scorer(tmp_path, timm_weights, capsys):
    _write_folder(tmp_path / "real", _uint8_images(12, 1, 11, size=32))
    _write_folder(tmp_path / "fake", _uint8_images(10, 3, 12, size=32))
    argv = ["score", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"), "--metrics", "fid,kid,pr"]
    argv += ["--extractor", "timm:test_resnet", "--weights", str(timm_weights), "--kid-subset-size", "8", "--json"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    scorer = FIDScorer(["fid", "kid", "prc"], extractor="timm:test_resnet", weights=timm_weights, kid_subset_size=8)
    expected = scorer.score(tmp_path / "real", tmp_path / "fake")
    assert set(printed) == FID_KEYS | {"kid_mean", "kid_std", "precision", "recall", "f_score", "n_real", "n_fake"}
    _assert_close(printed, expected)
    assert printed["fid"] > 0

    assert main(argv[:-1]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["metric", "value"]
    assert float(table[1].split()[1]) == pytest.approx(expected["fid"], rel=1e-5)
    # The interval and the floor annotate the FID line; the other keys have a line each.
    e = expected
    assert table[1].split(maxsplit=2)[2] == (
        f"(95% CI {e['fid_ci_low']:.4g} to {e['fid_ci_high']:.4g}, bootstrap sd {e['fid_std']:.3g}; "
        f"at 6 images per side: synthetic {e['fid_matched']:.4g} +- {e['fid_matched_std']:.2g} vs real-vs-real "
        f"floor {e['fid_real_floor']:.4g} +- {e['fid_real_floor_std']:.2g})"
    )
    keys = ["kid_mean", "kid_std", "precision", "recall", "f_score", "n_real", "n_fake"]
    assert [line.split()[0] for line in table[2:]] == keys
    assert table[-2:] == ["n_real     12", "n_fake     10"]


def test_cli_score_reports_errors(tmp_path, capsys):
    _write_folder(tmp_path / "real", _uint8_images(4, 3, 1))
    argv = ["score", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "nowhere"), "--json"]
    assert main([*argv, "--extractor", "timm:test_resnet"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error:") and "--weights" in captured.err
    assert main([*argv, "--extractor", "vgg16", "--weights", str(tmp_path / "none.pth")]) == 1
    assert "none.pth does not exist" in capsys.readouterr().err


# --- generators as the fake set -----------------------------------------------------------------


def _generated(G, seeds, labels, psi: float) -> torch.Tensor:
    """G called once on StyleGAN2-ADA generate.py's latents for ``seeds``, float output in [-1, 1]."""
    z = torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds])).float()
    c = None if labels is None else torch.nn.functional.one_hot(torch.tensor(labels), G.c_dim).float()
    with torch.no_grad():
        return G(z, c, truncation_psi=psi, noise_mode="const")


@pytest.mark.parametrize(
    ("c_dim", "classes", "psi", "labels"),
    [
        (0, None, 0.7, None),
        (3, 2, 1.0, [2] * 10),
        (3, [2, 0], 0.5, [2] * 5 + [0] * 5),
        # A conditional generator without classes: uniform classes from default_rng(seed), seed 4 here.
        (3, None, 1.0, list(np.random.default_rng(4).integers(3, size=10))),
    ],
)
def test_score_generator_equals_score_of_the_generated_images(c_dim, classes, psi, labels):
    G = make_generator(c_dim=c_dim)
    real = _uint8_images(16, 1, 1)
    scorer = FIDScorer(METRICS_NO_ISC, extractor=TinyFeatures(), kid_subset_size=8, device="cpu")
    expected = scorer.score(real, _generated(G, range(4, 14), labels, psi))
    got = scorer.score_generator(G, real, 10, classes=classes, truncation_psi=psi, seed=4, batch_size=10)
    _assert_close(got, expected)
    assert got["fid"] > 1e-3
    # Smaller batches give the same images, up to float rounding.
    batched = scorer.score_generator(G, real, 10, classes=classes, truncation_psi=psi, seed=4, batch_size=3)
    assert batched["fid"] == pytest.approx(got["fid"], rel=1e-2)


def test_score_generator_honours_psi_and_classes():
    G = make_generator(c_dim=3)
    real = _uint8_images(16, 1, 1)
    scorer = FIDScorer(["fid"], extractor=TinyFeatures(), device="cpu")
    fids = {
        (psi, k): scorer.score_generator(G, real, 8, classes=k, truncation_psi=psi)["fid"]
        for psi in (1.0, 0.3)
        for k in (0, 1)
    }
    assert len({round(v, 6) for v in fids.values()}) == 4
    for (psi, k), fid in fids.items():
        assert fid == pytest.approx(scorer.score(real, _generated(G, range(8), [k] * 8, psi))["fid"], rel=1e-4)


def _class_folders(root, counts: dict[str, int]) -> dict[str, torch.Tensor]:
    """Grayscale 16x16 PNGs in one subfolder per class; return each class's images in sorted-path order."""
    images = {}
    for offset, (name, count) in enumerate(counts.items()):
        images[name] = _uint8_images(count, 1, 20 + 7 * offset)
        (root / name).mkdir(parents=True)
        for i, image in enumerate(images[name].numpy()):
            Image.fromarray(image[0]).save(root / name / f"{i:03d}.png")
    return images


def test_score_per_class_equals_scores_of_the_class_subsets(tmp_path):
    real = _class_folders(tmp_path / "real", {"cyst": 6, "normal": 8, "tumour": 5})
    dataset = ImageFolderDataset(tmp_path / "real", resolution=16, labels="folders")
    G = make_generator(c_dim=3)
    scorer = FIDScorer(["fid", "kid"], extractor=TinyFeatures(), kid_subset_size=5, device="cpu")
    got = scorer.score_per_class(G, dataset, 7, seed=3, truncation_psi=0.8)
    assert list(got) == ["cyst", "normal", "tumour"]
    for k, name in enumerate(got):
        expected = scorer.score(real[name], _generated(G, range(3, 10), [k] * 7, 0.8))
        _assert_close(got[name], expected)
    assert len({round(row["fid"], 6) for row in got.values()}) == 3


def test_generator_scoring_rejects_bad_input(tmp_path):
    scorer = FIDScorer(["fid"], extractor=TinyFeatures(), device="cpu")
    real = _uint8_images(6, 1, 1)
    plain, conditional = make_generator(), make_generator(c_dim=3)
    for G, kwargs, match in [
        (plain, {"classes": 1}, "unconditional"),
        (conditional, {"classes": 3}, "out of range"),
        (conditional, {"classes": [0, 0]}, "twice"),
        (plain, {"seed": -1}, "seed"),
        (plain, {"seed": 2**32 - 3}, r"exceed 2\*\*32 - 1"),
        (plain, {"truncation_psi": float("nan")}, "truncation_psi"),
        (plain, {"noise_mode": "loud"}, "noise_mode"),
        (plain, {"batch_size": 0}, "batch_size"),
    ]:
        with pytest.raises(ValueError, match=match):
            scorer.score_generator(G, real, 4, **kwargs)
    with pytest.raises(ValueError, match="n must be"):
        scorer.score_generator(plain, real, 0)
    with pytest.raises(ValueError, match="fake set has 1 images"):
        scorer.score_generator(plain, real, 1)
    with pytest.raises(TypeError, match=r"G \(TinyFeatures\) has no attribute 'z_dim'"):
        scorer.score_generator(TinyFeatures(), real, 4)

    _class_folders(tmp_path / "two", {"a": 3, "b": 3})
    _class_folders(tmp_path / "thin", {"a": 3, "b": 1, "c": 4})
    two = ImageFolderDataset(tmp_path / "two", resolution=16)
    with pytest.raises(ValueError, match="conditional"):
        scorer.score_per_class(plain, two, 4)
    with pytest.raises(ValueError, match=r"2 classes \(a, b\) but the generator has c_dim=3"):
        scorer.score_per_class(conditional, two, 4)
    with pytest.raises(ValueError, match="class 'b' has 1 real images"):
        scorer.score_per_class(conditional, ImageFolderDataset(tmp_path / "thin", resolution=16), 4)
    with pytest.raises(ValueError, match="no class labels"):
        scorer.score_per_class(conditional, ImageFolderDataset(tmp_path / "two", resolution=16, labels=None), 4)
    with pytest.raises(TypeError, match="ImageFolderDataset"):
        scorer.score_per_class(conditional, real, 4)


def _timm_scorer(weights, metrics=("fid", "kid")) -> FIDScorer:
    return FIDScorer(metrics, extractor="timm:test_resnet", weights=weights, kid_subset_size=6)


def test_cli_score_network_matches_score_generator(tmp_path, timm_weights, capsys):
    G = make_generator()
    G.save(tmp_path / "G.pt")
    _write_folder(tmp_path / "real", _uint8_images(8, 1, 11))
    argv = ["score", "--real", str(tmp_path / "real"), "--network", str(tmp_path / "G.pt"), "--n", "7"]
    argv += ["--seed", "5", "--psi", "0.6", "--extractor", "timm:test_resnet", "--weights", str(timm_weights)]
    argv += ["--kid-subset-size", "6", "--json"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = _timm_scorer(timm_weights).score(tmp_path / "real", _generated(G, range(5, 12), None, 0.6))
    _assert_close(printed, expected)


def test_cli_score_per_class_json(tmp_path, timm_weights, capsys):
    G = make_generator(c_dim=2)
    G.save(tmp_path / "G.pt")
    real = _class_folders(tmp_path / "real", {"benign": 6, "malignant": 7})
    argv = ["score", "--real", str(tmp_path / "real"), "--network", str(tmp_path / "G.pt"), "--per-class"]
    argv += ["--n", "6", "--extractor", "timm:test_resnet", "--weights", str(timm_weights), "--kid-subset-size", "6"]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed["per_class"]) == ["benign", "malignant"]
    scorer = _timm_scorer(timm_weights)
    for k, name in enumerate(printed["per_class"]):
        _assert_close(printed["per_class"][name], scorer.score(real[name], _generated(G, range(6), [k] * 6, 1.0)))
    # Point values average over the classes; intervals, spreads and sizes do not.
    assert list(printed["mean"]) == ["fid", "fid_real_floor", "fid_matched", "kid_mean"]
    for key, value in printed["mean"].items():
        assert value == pytest.approx(np.mean([row[key] for row in printed["per_class"].values()]), rel=1e-12)

    assert main(argv) == 0
    table = capsys.readouterr().out.splitlines()
    columns = ["fid", "fid_std", "fid_ci_low", "fid_ci_high", "fid_real_floor", "fid_real_floor_std", "fid_matched",
               "fid_matched_std", "fid_floor_images"]  # fmt: skip
    assert table[0].split() == ["class", *columns, "kid_mean", "kid_std", "n_real", "n_fake"]
    assert [line.split()[0] for line in table[1:]] == ["benign", "malignant", "mean"]
    benign = printed["per_class"]["benign"]
    assert [float(v) for v in table[1].split()[1:]] == pytest.approx(list(benign.values()), rel=1e-5)
    mean = printed["mean"]
    assert [float(v) for v in table[3].split()[1:]] == pytest.approx(
        [mean["fid"], mean["fid_real_floor"], mean["fid_matched"], mean["kid_mean"]]
    )


def test_cli_score_network_errors(tmp_path, timm_weights, capsys):
    make_generator().save(tmp_path / "G.pt")
    _class_folders(tmp_path / "real", {"a": 3, "b": 3})
    base = [
        "score",
        "--real",
        str(tmp_path / "real"),
        "--extractor",
        "timm:test_resnet",
        "--weights",
        str(timm_weights),
    ]
    assert main([*base, "--network", str(tmp_path / "G.pt"), "--per-class"]) == 1
    assert "needs a conditional network" in capsys.readouterr().err
    assert main([*base, "--fake", str(tmp_path / "real"), "--n", "5", "--per-class"]) == 1
    assert "--n, --per-class apply to --network only" in capsys.readouterr().err
    assert main([*base, "--network", str(tmp_path / "missing.pt")]) == 1
    assert "missing.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--fake", str(tmp_path / "real"), "--network", str(tmp_path / "G.pt")])
    assert "not allowed with argument" in capsys.readouterr().err


class _PairedItems(Dataset):
    """(image followed by its mask, label) items, as a paired image + mask dataset yields them."""

    mask_channels = 1

    def __init__(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        self.items = torch.cat([images, masks], dim=1).float() / 255 * 2 - 1

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index], torch.zeros(0)


def test_mask_generator_is_scored_on_its_image_channels():
    G = make_mask_generator(img_channels=2, mask_channels=1, seed=5)
    real = _uint8_images(16, 1, 1)
    masks = torch.from_numpy(np.random.default_rng(3).integers(0, 2, size=(16, 1, 16, 16)).astype(np.uint8) * 255)
    scorer = FIDScorer(["fid", "kid"], extractor=TinyFeatures(), kid_subset_size=8, device="cpu")
    output = _generated(G, range(4, 14), None, 1.0)
    expected = scorer.score(real, output[:, :1])
    assert scorer.score(real, output[:, 1:])["fid"] != pytest.approx(expected["fid"], rel=1e-2)
    _assert_close(scorer.score_generator(G, real, 10, seed=4, batch_size=10), expected)
    # A paired dataset (image followed by its mask, with a mask_channels attribute) is scored on its images.
    _assert_close(scorer.score_generator(G, _PairedItems(real, masks), 10, seed=4, batch_size=10), expected)
    # Real images of another channel count than the generator's image are scored as they are.
    colour = _uint8_images(16, 3, 1)
    _assert_close(scorer.score_generator(G, colour, 10, seed=4, batch_size=10), scorer.score(colour, output[:, :1]))
    with pytest.raises(ValueError, match=r"2-channel images \(besides 1 mask channel\(s\)\); the metrics need 1 or 3"):
        scorer.score_generator(make_mask_generator(img_channels=3, mask_channels=1), real, 4)


def test_paired_folders_and_datasets_are_scored_on_their_images(tmp_path):
    from medgan_aug.data import PairedImageFolderDataset
    from medgan_aug.generate import synthesize

    out = synthesize(make_mask_generator(seed=6), 12, tmp_path / "pairs", progress=False)
    scorer = FIDScorer(["fid"], extractor=TinyFeatures(), device="cpu")
    fake = _uint8_images(12, 1, 2)
    expected = scorer.score(out / "images", fake)
    assert scorer.score(out, fake) == expected
    # A dataset with a mask_channels attribute hands over its image channels only.
    paired = PairedImageFolderDataset(out / "images", out / "masks", 16)
    _assert_close(scorer.score(paired, fake), expected)
    assert scorer.score(out / "masks", fake)["fid"] != pytest.approx(expected["fid"], rel=1e-2)
