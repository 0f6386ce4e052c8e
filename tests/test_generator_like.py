"""Generators that are not this library's: synthesize, score_generator and GeneratorPool take any GeneratorLike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from medgan_aug.data import read_manifest
from medgan_aug.generate import generator_inputs, synthesize
from medgan_aug.metrics import FIDScorer
from medgan_aug.nets import GeneratorLike, check_generator
from medgan_aug.nets.generator_like import generator_device, is_native_generator
from medgan_aug.selftrain import GeneratorPool
from tests.test_metrics import METRICS_NO_ISC, TinyFeatures, _uint8_images
from tests.test_synthetic import make_generator

# The scorer warns that FID from a few images is biased; these tests compare like with like.
pytestmark = pytest.mark.filterwarnings("ignore:FID from")


class LinearGenerator(nn.Module):
    """A generator written by a user: tanh of a linear map of ``[z, c]``; none of the library's classes."""

    def __init__(self, z_dim: int = 8, c_dim: int = 0, resolution: int = 8, channels: int = 1) -> None:
        super().__init__()
        self.z_dim, self.c_dim = z_dim, c_dim
        self.img_resolution, self.img_channels = resolution, channels
        generator = torch.Generator().manual_seed(1)
        self.fc = nn.Linear(z_dim + c_dim, channels * resolution * resolution)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=generator))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = z if c is None else torch.cat([z, c], dim=1)
        return torch.tanh(self.fc(x)).view(-1, self.img_channels, self.img_resolution, self.img_resolution)


class CallableGenerator:
    """Not a module at all: a function of ``z`` with the four attributes."""

    z_dim, c_dim, img_resolution, img_channels = 4, 0, 4, 1

    def __call__(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return torch.tanh(z.sum(dim=1)).view(-1, 1, 1, 1).expand(-1, 1, 4, 4) * torch.linspace(0, 1, 16).view(4, 4)


def _expected_pixels(G, seeds, labels) -> np.ndarray:
    """What synthesize must write: the float64 definition of the 8-bit encoding of G's output."""
    z, c = generator_inputs(G, seeds, labels, "cpu")
    with torch.no_grad():
        x = G(z, c).double()
    return np.round((x * 0.5 + 0.5).clamp(0, 1).numpy() * 255).astype(np.uint8)


def test_protocol_describes_both_kinds():
    assert isinstance(LinearGenerator(), GeneratorLike)
    assert isinstance(make_generator(), GeneratorLike)
    assert is_native_generator(make_generator()) and not is_native_generator(LinearGenerator())
    assert generator_device(CallableGenerator()) == torch.device("cpu")


@pytest.mark.parametrize("c_dim", [0, 2])
def test_synthesize_writes_a_user_generators_images(tmp_path, c_dim):
    G = LinearGenerator(c_dim=c_dim).eval()
    classes = [1, 0] if c_dim else None
    out = synthesize(G, 4, tmp_path / "set", classes=classes, seeds=[7, 3, 9, 11], manifest="json", progress=False)
    rows = read_manifest(out / "manifest.json")
    labels = [row["class_index"] for row in rows]
    assert labels == ([1, 1, 0, 0] if c_dim else [None] * 4)
    expected = _expected_pixels(G, [7, 3, 9, 11], labels)
    for row, pixels in zip(rows, expected, strict=True):
        written = np.asarray(Image.open(out / row["file"]))
        # float32 rounding may move a pixel by one level.
        assert np.abs(written.astype(int) - pixels[0].astype(int)).max() <= 1
        assert row["psi"] == 1.0 and row["noise_mode"] == "" and row["generator"] == "LinearGenerator 8x8"


def test_plain_callable_generator(tmp_path):
    G = CallableGenerator()
    out = synthesize(G, 3, tmp_path / "set", manifest="json", progress=False)
    rows = read_manifest(out / "manifest.json")
    expected = _expected_pixels(G, [row["seed"] for row in rows], [None] * 3)
    written = np.stack([np.asarray(Image.open(out / row["file"])) for row in rows])
    assert np.abs(written.astype(int) - expected[:, 0].astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("option", "match"),
    [({"truncation_psi": 0.7}, "truncation_psi=0.7 applies"), ({"noise_mode": "const"}, "noise_mode='const' applies")],
)
def test_options_only_the_librarys_generators_take_are_refused(tmp_path, option, match):
    G = LinearGenerator()
    with pytest.raises(ValueError, match=match):
        synthesize(G, 2, tmp_path / "set", progress=False, **option)
    assert not (tmp_path / "set").exists()
    with pytest.raises(ValueError, match=match):
        GeneratorPool(G, 2, progress=False, **option)
    scorer = FIDScorer(METRICS_NO_ISC, extractor=TinyFeatures(), kid_subset_size=2, device="cpu")
    with pytest.raises(ValueError, match=match):
        scorer.score_generator(G, _uint8_images(4, 1, 1, size=8), 4, **option)


@pytest.mark.parametrize("attribute", ["z_dim", "c_dim", "img_resolution", "img_channels"])
def test_a_missing_attribute_is_named(tmp_path, attribute):
    G = LinearGenerator()
    delattr(G, attribute)
    with pytest.raises(TypeError, match=f"LinearGenerator\\) has no attribute '{attribute}'"):
        synthesize(G, 2, tmp_path / "set", progress=False)
    with pytest.raises(TypeError, match=f"has no attribute '{attribute}'"):
        GeneratorPool(G, 2, progress=False)
    scorer = FIDScorer(METRICS_NO_ISC, extractor=TinyFeatures(), kid_subset_size=2, device="cpu")
    with pytest.raises(TypeError, match=f"has no attribute '{attribute}'"):
        scorer.score_generator(G, _uint8_images(4, 1, 1, size=8), 4)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"z_dim": 0}, TypeError, r"G.z_dim must be an integer >= 1, got 0"),
        ({"img_channels": 1.5}, TypeError, r"G.img_channels must be an integer >= 1"),
        ({"mask_channels": 1}, TypeError, r"G.mask_channels must be an integer in \[0, img_channels\)"),
        (
            {"img_resolution": 4},
            ValueError,
            r"must return floating-point images of shape \[2, 1, 4, 4\].*got \(8, 1, 4, 4\)",
        ),
    ],
)
def test_bad_attributes_and_outputs(tmp_path, change, error, match):
    G = LinearGenerator()
    for name, value in change.items():
        setattr(G, name, value)
    with pytest.raises(error, match=match):
        synthesize(G, 2, tmp_path / "set", progress=False)
    assert not (tmp_path / "set").exists()


def test_not_callable():
    class Attributes:
        z_dim, c_dim, img_resolution, img_channels = 4, 0, 4, 1

    with pytest.raises(TypeError, match="Attributes\\) is not callable"):
        check_generator(Attributes())


def test_pool_and_scorer_see_the_images_synthesize_writes(tmp_path):
    G = LinearGenerator(resolution=16).eval()
    out = synthesize(G, 6, tmp_path / "set", seeds=range(6), manifest="json", progress=False)
    pool = GeneratorPool(G, 6, progress=False)
    rows = read_manifest(out / "manifest.json")
    written = np.stack([np.asarray(Image.open(out / row["file"])) for row in rows])
    np.testing.assert_array_equal(np.stack([pool.pixels(i) for i in range(6)]), written)

    real = _uint8_images(8, 1, 1)
    scorer = FIDScorer(METRICS_NO_ISC, extractor=TinyFeatures(), kid_subset_size=4, device="cpu")
    from_files = scorer.score(real, torch.from_numpy(written).unsqueeze(1))
    in_memory = scorer.score_generator(G, real, 6, seed=0)
    for key, value in from_files.items():
        assert in_memory[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
