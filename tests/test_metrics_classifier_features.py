"""ClassifierFeatures: a classifier trained on the data as an offline, domain-specific FID extractor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medgan_aug.metrics import ClassifierFeatures, FIDScorer
from medgan_aug.selftrain import create_classifier

# The sets here are tiny on purpose; tests/test_metrics_uncertainty.py checks the small-set warning.
pytestmark = pytest.mark.filterwarnings("ignore:FID from .* images:UserWarning")


def gray_classifier(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_classifier("test_resnet", 3, 1).eval()


def test_features_are_the_pre_logits_of_the_classifier_input() -> None:
    model = gray_classifier()
    extractor = ClassifierFeatures(model, in_chans=1, image_size=16)
    gray = torch.rand(4, 1, 32, 32, dtype=torch.float64).float()
    # torch-fidelity hands a gray image over repeated into three channels, in [0, 1].
    got = extractor(gray.expand(-1, 3, -1, -1))
    x = F.interpolate(gray * 2 - 1, size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        expected = model.forward_head(model.forward_features(x), pre_logits=True)
        logits = model(x)
    torch.testing.assert_close(got.detach(), expected)
    # The pre-logits are what the head maps to the logits: they are the features, not the class scores.
    torch.testing.assert_close(model.get_classifier()(expected), logits)


def test_scores_through_fid_scorer_like_its_own_features() -> None:
    extractor = ClassifierFeatures(gray_classifier(), in_chans=1, image_size=16)
    generator = torch.Generator().manual_seed(0)
    real = (torch.rand(24, 1, 16, 16, generator=generator) * 255).round().to(torch.uint8)
    fake = (torch.rand(24, 1, 16, 16, generator=generator) * 128).round().to(torch.uint8)
    scorer = FIDScorer(["fid", "kid"], extractor=extractor, kid_subset_size=12, device="cpu")
    got = scorer.score(real, fake)
    with torch.no_grad():
        real_f = extractor(real.float().div(255).expand(-1, 3, -1, -1)).numpy()
        fake_f = extractor(fake.float().div(255).expand(-1, 3, -1, -1)).numpy()
    expected = FIDScorer.from_features(real_f, fake_f, ["fid", "kid"], kid_subset_size=12)
    assert got["fid"] == pytest.approx(expected["fid"], rel=1e-4)
    assert got["kid_mean"] == pytest.approx(expected["kid_mean"], rel=1e-4, abs=1e-7)
    assert np.isfinite(got["fid"]) and got["fid"] > 0


def test_from_file_reads_a_saved_selftrain_classifier(tmp_path: Path) -> None:
    from medgan_aug.selftrain.result import CLASSIFIER_FORMAT

    model = gray_classifier(3)
    torch.save(
        {"format": CLASSIFIER_FORMAT, "model": "test_resnet", "class_names": ["a", "b", "c"], "in_chans": 1,
         "image_size": 16, "stage": "real 100%", "state_dict": model.state_dict()},
        tmp_path / "classifier.pt",
    )  # fmt: skip
    loaded = ClassifierFeatures.from_file(tmp_path / "classifier.pt")
    images = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(loaded(images), ClassifierFeatures(model, 1, 16)(images))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": torch.nn.Linear(2, 2), "in_chans": 1, "image_size": 16}, TypeError, "timm classifier"),
        ({"in_chans": 2, "image_size": 16}, ValueError, "in_chans must be 1 or 3"),
        ({"in_chans": 1, "image_size": 0}, ValueError, "image_size must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, message: str) -> None:
    kwargs = {"model": gray_classifier(), **kwargs}
    with pytest.raises(error, match=message):
        ClassifierFeatures(**kwargs)
