"""The library's own network checkpoints and colour-channel transfer."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from medgan_aug import CheckpointError, StyleDiscriminator, StyleGenerator, load_network
from medgan_aug.nets import checkpoint

G_KWARGS = {
    "z_dim": 16,
    "c_dim": 2,
    "w_dim": 16,
    "img_resolution": 16,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "synthesis_kwargs": {"channel_base": 128, "channel_max": 16},
}
D_KWARGS = {"c_dim": 2, "img_resolution": 16, "img_channels": 3, "channel_base": 128, "channel_max": 16}


def randomized(net: torch.nn.Module) -> torch.nn.Module:
    """Give every tensor a non-default value so a lost tensor shows in the output."""
    with torch.no_grad():
        for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
            if not name.endswith("resample_filter"):
                tensor.add_(0.2 * torch.randn_like(tensor))
    return net.eval()


@pytest.fixture
def labels():
    return torch.eye(2)[torch.tensor([0, 1, 1, 0])]


def test_generator_round_trip_reproduces_images(tmp_path, labels):
    torch.manual_seed(0)
    G = randomized(StyleGenerator(**G_KWARGS))
    path = G.save(tmp_path / "g.pt", metadata={"kimg": 120, "dataset": "mammo"})
    loaded = StyleGenerator.from_checkpoint(path)
    assert loaded.init_kwargs == G.init_kwargs
    assert loaded.checkpoint_metadata == {"kimg": 120, "dataset": "mammo"}
    assert not loaded.training
    z = torch.randn(4, 16)
    with torch.no_grad():
        assert torch.equal(loaded(z, labels, noise_mode="const"), G(z, labels, noise_mode="const"))


def test_discriminator_round_trip_through_load_network(tmp_path, labels):
    torch.manual_seed(1)
    D = randomized(StyleDiscriminator(**D_KWARGS))
    D.save(tmp_path / "d.pt")
    loaded = load_network(tmp_path / "d.pt")
    assert isinstance(loaded, StyleDiscriminator)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x, labels), D(x, labels))


def test_from_checkpoint_checks_the_class(tmp_path):
    StyleDiscriminator(**D_KWARGS).save(tmp_path / "d.pt")
    with pytest.raises(CheckpointError, match="holds a StyleDiscriminator, not a StyleGenerator"):
        StyleGenerator.from_checkpoint(tmp_path / "d.pt")


def test_checkpoint_is_plain_data(tmp_path):
    StyleGenerator(**G_KWARGS).save(tmp_path / "g.pt")
    payload = torch.load(tmp_path / "g.pt", weights_only=True)
    assert payload["format"] == checkpoint.CHECKPOINT_FORMAT
    assert payload["class"] == "StyleGenerator"
    assert payload["init_kwargs"] == G_KWARGS


def test_failed_save_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    G = StyleGenerator(**G_KWARGS)
    path = G.save(tmp_path / "g.pt")
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        randomized(G).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["g.pt"]


def test_save_into_missing_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        StyleGenerator(**G_KWARGS).save(tmp_path / "missing" / "g.pt")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.CHECKPOINT_FORMAT, "payload": _Exploit(marker)}, path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_network(path)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_files_that_are_not_network_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        load_network(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a medgan-aug network checkpoint"):
        load_network(tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_network(tmp_path / "text.pt")
    with open(tmp_path / "snapshot.pkl", "wb") as f:
        pickle.dump({"G": 1}, f)
    with pytest.raises(CheckpointError, match="load_stylegan2_ada"):
        load_network(tmp_path / "snapshot.pkl")


# --- colour channels -----------------------------------------------------------------------------


def test_rgb_generator_into_grayscale_outputs_the_mean_colour(labels):
    torch.manual_seed(2)
    rgb = randomized(StyleGenerator(**G_KWARGS))
    gray = StyleGenerator(**{**G_KWARGS, "img_channels": 1}).eval()
    with pytest.warns(UserWarning, match=r"converted 6 ToRGB/FromRGB tensors to img_channels=1"):
        gray.load_state_dict(rgb.state_dict())
    z = torch.randn(4, 16)
    with torch.no_grad():
        expected = rgb(z, labels, noise_mode="const").mean(dim=1, keepdim=True)
        torch.testing.assert_close(gray(z, labels, noise_mode="const"), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("architecture", ["resnet", "skip"])
def test_rgb_discriminator_into_grayscale_scores_the_replicated_image(architecture, labels):
    torch.manual_seed(3)
    rgb = randomized(StyleDiscriminator(**D_KWARGS, architecture=architecture))
    gray = StyleDiscriminator(**{**D_KWARGS, "img_channels": 1}, architecture=architecture).eval()
    with pytest.warns(UserWarning, match="FromRGB summed"):
        gray.load_state_dict(rgb.state_dict())
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(gray(x, labels), rgb(x.repeat(1, 3, 1, 1), labels), atol=1e-5, rtol=0)


def test_grayscale_into_rgb_replicates(labels):
    torch.manual_seed(4)
    gray_G = randomized(StyleGenerator(**{**G_KWARGS, "img_channels": 1}))
    gray_D = randomized(StyleDiscriminator(**{**D_KWARGS, "img_channels": 1}))
    rgb_G = StyleGenerator(**G_KWARGS).eval()
    rgb_D = StyleDiscriminator(**D_KWARGS).eval()
    with pytest.warns(UserWarning):
        rgb_G.load_state_dict(gray_G.state_dict())
    with pytest.warns(UserWarning):
        rgb_D.load_state_dict(gray_D.state_dict())
    z = torch.randn(4, 16)
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(
            rgb_G(z, labels, noise_mode="const"), gray_G(z, labels, noise_mode="const").repeat(1, 3, 1, 1)
        )
        torch.testing.assert_close(rgb_D(x.repeat(1, 3, 1, 1), labels), gray_D(x, labels), atol=1e-5, rtol=0)


def test_from_checkpoint_with_fewer_channels(tmp_path, labels):
    torch.manual_seed(5)
    rgb = randomized(StyleGenerator(**G_KWARGS))
    rgb.save(tmp_path / "rgb.pt")
    with pytest.warns(UserWarning, match="img_channels=1"):
        gray = StyleGenerator.from_checkpoint(tmp_path / "rgb.pt", img_channels=1)
    assert gray.img_channels == 1 and gray.init_kwargs["img_channels"] == 1
    z = torch.randn(4, 16)
    with torch.no_grad():
        expected = rgb(z, labels, noise_mode="const").mean(dim=1, keepdim=True)
        torch.testing.assert_close(gray(z, labels, noise_mode="const"), expected, atol=1e-5, rtol=0)


def test_other_channel_changes_are_mismatches():
    with pytest.raises(CheckpointError, match=r"synthesis.b4.torgb.weight: shape \[3, 16, 1, 1\]"):
        StyleGenerator(**{**G_KWARGS, "img_channels": 2}).load_state_dict(StyleGenerator(**G_KWARGS).state_dict())


def test_transfer_from_unconditional_rgb_into_conditional_grayscale_at_lower_resolution():
    torch.manual_seed(6)
    source = randomized(StyleGenerator(**{**G_KWARGS, "c_dim": 0, "img_resolution": 32}))
    target = StyleGenerator(**{**G_KWARGS, "img_channels": 1})
    before = {key: value.clone() for key, value in target.state_dict().items()}
    with pytest.warns(UserWarning) as caught:
        report = target.transfer_from(source.state_dict())
    messages = " | ".join(str(w.message) for w in caught)
    assert "converted 6 ToRGB/FromRGB tensors" in messages and "kept the initial values of 2" in messages
    src, dst = source.state_dict(), target.state_dict()

    assert set(report.missing) == {"mapping.embed.weight", "mapping.embed.bias"}
    assert report.mismatched == [("mapping.fc0.weight", (16, 16), (16, 32))]
    assert "synthesis.b32.conv0.weight" in report.unexpected
    for key in [*report.missing, "mapping.fc0.weight"]:
        assert torch.equal(dst[key], before[key]), key
    assert set(report.copied) == set(dst) - set(report.missing) - {"mapping.fc0.weight"}
    assert torch.equal(dst["synthesis.b16.conv1.weight"], src["synthesis.b16.conv1.weight"])
    assert torch.equal(dst["mapping.w_avg"], src["mapping.w_avg"])
    torch.testing.assert_close(dst["synthesis.b8.torgb.weight"], src["synthesis.b8.torgb.weight"].mean(0, keepdim=True))


def test_transfer_between_equal_configurations_copies_everything_silently(recwarn):
    source = randomized(StyleDiscriminator(**D_KWARGS))
    target = StyleDiscriminator(**D_KWARGS)
    report = target.transfer_from(source.state_dict())
    assert report.missing == report.unexpected == report.mismatched == []
    assert all(torch.equal(target.state_dict()[key], value) for key, value in source.state_dict().items())
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
