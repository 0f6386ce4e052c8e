"""StyleGenerator / StyleDiscriminator against StyleGAN2-ADA numbers and the float64 reference."""

from __future__ import annotations

import math

import pytest
import torch

from medgan_aug.nets import StyleDiscriminator, StyleGenerator
from medgan_aug.nets.errors import StateDictMismatchError
from medgan_aug.ops import ENV_VAR
from tests.conftest import SG2ADA
from tests.sg2_reference import discriminator_forward, generator_forward, mapping_forward

TOL = 1e-4

# The emulated CUDA kernels are checked op by op in the default suite; whole networks on them are slow.
NET_IMPLS = ["ref", "cpp", pytest.param("cuda_emulated", marks=[pytest.mark.cuda_emulated, pytest.mark.slow])]


@pytest.fixture
def ops_impl(impl, monkeypatch):
    """Route every operator of the networks through ``impl``."""
    monkeypatch.setenv(ENV_VAR, impl)
    return impl


@pytest.fixture(scope="module")
def g32():
    path = SG2ADA / "g32.pt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return torch.load(path, weights_only=True)


def perturb(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Move every parameter and buffer off its initial value (filters excepted) so each term counts."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
            if name.endswith("resample_filter"):
                continue
            noise = torch.randn(tensor.shape, generator=gen)
            if name.endswith("affine.bias"):
                tensor.copy_(1 + 0.2 * noise)
            elif name.endswith(("bias", "noise_strength", "w_avg")):
                tensor.copy_(0.3 * noise)
            else:
                tensor.add_(0.1 * noise)
    return net


def max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    return (actual.double() - expected.double()).abs().max().item()


# --- the StyleGAN2-ADA fixture -------------------------------------------------------------------


@pytest.mark.parametrize("impl", NET_IMPLS, indirect=True)
def test_generator_reproduces_stylegan2_ada(g32, ops_impl):
    G = StyleGenerator(**g32["G_kwargs"]).eval()
    G.load_state_dict(g32["G_state"])
    with torch.no_grad():
        ws = G.mapping(g32["z"], g32["c"])
        assert max_error(ws, g32["ws"]) < TOL
        assert max_error(G.mapping(g32["z"], g32["c"], truncation_psi=0.7), g32["ws_psi07"]) < TOL
        assert max_error(G.synthesis(g32["ws"], noise_mode="const"), g32["img"]) < TOL
        assert max_error(G.synthesis(g32["ws"], noise_mode="none"), g32["img_noise_none"]) < TOL
        assert max_error(G(g32["z"], g32["c"], truncation_psi=0.7, noise_mode="const"), g32["img_psi07"]) < TOL
        # Training mode scales activations instead of per-sample weights: same numbers.
        assert max_error(G.train().synthesis(g32["ws"], noise_mode="const"), g32["img"]) < TOL


@pytest.mark.parametrize("impl", NET_IMPLS, indirect=True)
def test_discriminator_reproduces_stylegan2_ada(g32, ops_impl):
    D = StyleDiscriminator(**g32["D_kwargs"]).eval()
    D.load_state_dict(g32["D_state"])
    with torch.no_grad():
        assert max_error(D(g32["img"], g32["c"]), g32["logits_img"]) < TOL
        assert max_error(D(g32["x_random"], g32["c"]), g32["logits_random"]) < TOL


def test_state_dict_keys_are_the_checkpoints(g32):
    assert list(StyleGenerator(**g32["G_kwargs"]).state_dict()) == list(g32["G_state"])
    assert list(StyleDiscriminator(**g32["D_kwargs"]).state_dict()) == list(g32["D_state"])


# --- configurations the fixture does not cover, against the float64 reference ----------------

CONFIGS = {
    "conditional-gray": (
        {
            "z_dim": 32,
            "c_dim": 3,
            "w_dim": 32,
            "img_resolution": 32,
            "img_channels": 1,
            "mapping_kwargs": {"num_layers": 4},
            "synthesis_kwargs": {"channel_base": 512, "channel_max": 32},
        },
        {
            "c_dim": 3,
            "img_resolution": 32,
            "img_channels": 1,
            "channel_base": 512,
            "channel_max": 32,
            "cmap_dim": 16,
            "conv_clamp": 0.5,
            "mapping_kwargs": {"num_layers": 3},
        },
    ),
    "orig-G-skip-D-clamp-mbstd2": (
        {
            "z_dim": 24,
            "c_dim": 0,
            "w_dim": 40,
            "img_resolution": 16,
            "img_channels": 3,
            "mapping_kwargs": {"num_layers": 8},
            "synthesis_kwargs": {"channel_base": 256, "channel_max": 32, "architecture": "orig", "conv_clamp": 0.8},
        },
        {
            "c_dim": 0,
            "img_resolution": 16,
            "img_channels": 3,
            "architecture": "skip",
            "channel_base": 256,
            "channel_max": 32,
            "conv_clamp": 0.8,
            "epilogue_kwargs": {"mbstd_group_size": 2, "mbstd_num_channels": 2},
        },
    ),
    "resnet-G-orig-D-conditional-rgb": (
        {
            "z_dim": 16,
            "c_dim": 5,
            "w_dim": 48,
            "img_resolution": 16,
            "img_channels": 3,
            "mapping_kwargs": {"num_layers": 3, "embed_features": 8, "layer_features": 24},
            "synthesis_kwargs": {"channel_base": 256, "channel_max": 24, "architecture": "resnet", "conv_clamp": 0.5},
        },
        {
            "c_dim": 5,
            "img_resolution": 16,
            "img_channels": 3,
            "architecture": "orig",
            "channel_base": 256,
            "channel_max": 24,
            "epilogue_kwargs": {"mbstd_group_size": None},
            "block_kwargs": {"freeze_layers": 2},
        },
    ),
}


def conditioning(c_dim: int, batch: int, seed: int) -> torch.Tensor | None:
    if c_dim == 0:
        return None
    labels = torch.randint(c_dim, (batch,), generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.one_hot(labels, c_dim).float()


@pytest.mark.parametrize("impl", NET_IMPLS, indirect=True)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_networks_match_float64_reference(config, ops_impl):
    G_kwargs, D_kwargs = CONFIGS[config]
    torch.manual_seed(0)
    G = perturb(StyleGenerator(**G_kwargs), seed=1).eval()
    D = perturb(StyleDiscriminator(**D_kwargs), seed=2).eval()
    G_state = {k: v.detach() for k, v in G.state_dict().items()}
    D_state = {k: v.detach() for k, v in D.state_dict().items()}
    z = torch.randn(4, G_kwargs["z_dim"], generator=torch.Generator().manual_seed(3))
    c = conditioning(G_kwargs["c_dim"], 4, seed=4)

    with torch.no_grad():
        for psi, cutoff in [(1.0, None), (0.6, None), (0.5, 3)]:
            ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            expected = mapping_forward(
                G_state, G_kwargs, z, c, truncation_psi=psi, truncation_cutoff=cutoff, num_ws=G.num_ws
            )
            assert max_error(ws, expected) < TOL, (psi, cutoff)
        for noise_mode in ("const", "none"):
            img = G(z, c, truncation_psi=0.7, noise_mode=noise_mode)
            _, expected = generator_forward(G_state, G_kwargs, z, c, truncation_psi=0.7, noise_mode=noise_mode)
            assert max_error(img, expected) < TOL, noise_mode
            assert max_error(D(img, c), discriminator_forward(D_state, D_kwargs, img.double(), c)) < TOL
        x = torch.randn(img.shape, generator=torch.Generator().manual_seed(5))
        assert max_error(D(x, c), discriminator_forward(D_state, D_kwargs, x.double(), c)) < TOL


def test_clamp_bounds_every_activation():
    G_kwargs, _ = CONFIGS["orig-G-skip-D-clamp-mbstd2"]
    G = perturb(StyleGenerator(**G_kwargs), seed=1).eval()
    with torch.no_grad():
        img = G(torch.randn(4, G_kwargs["z_dim"]), noise_mode="const")
    # ToRGB clamps at conv_clamp; with 'orig' there is a single ToRGB, so the image is bounded too.
    assert img.abs().max().item() <= 0.8 + 1e-6
    assert img.abs().max().item() > 0.5


# --- behaviour -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("resolution", "num_ws"), [(4, 2), (8, 4), (64, 10), (1024, 18)])
def test_num_ws_and_output_shape(resolution, num_ws):
    G = StyleGenerator(
        z_dim=8,
        c_dim=0,
        w_dim=8,
        img_resolution=resolution,
        img_channels=1,
        mapping_kwargs={"num_layers": 1},
        synthesis_kwargs={"channel_base": resolution * 2, "channel_max": 4},
    )
    assert G.num_ws == num_ws
    if resolution <= 64:
        with torch.no_grad():
            assert G(torch.randn(2, 8)).shape == (2, 1, resolution, resolution)


@pytest.mark.parametrize("resolution", [4, 8, 32])
def test_discriminator_output_shape(resolution):
    D = StyleDiscriminator(c_dim=0, img_resolution=resolution, img_channels=1, channel_base=64, channel_max=8)
    logits = D(torch.randn(8, 1, resolution, resolution))
    assert logits.shape == (8, 1) and torch.isfinite(logits).all()


def test_w_avg_tracks_mapping_output_in_training_only():
    G = StyleGenerator(8, 0, 8, 8, 1, mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_max": 8})
    z = torch.randn(16, 8)
    G.eval()
    G(z)
    assert torch.equal(G.mapping.w_avg, torch.zeros(8))
    G.train()
    w = G.mapping(z, None, update_w_avg=False)[:, 0]
    assert torch.equal(G.mapping.w_avg, torch.zeros(8))
    G.mapping(z, None)
    torch.testing.assert_close(G.mapping.w_avg, (1 - 0.995) * w.detach().mean(0))


def test_random_noise_is_fresh_and_scaled_by_strength():
    G = StyleGenerator(8, 0, 8, 16, 1, synthesis_kwargs={"channel_max": 8}).eval()
    z = torch.randn(2, 8)
    strengths = [param for name, param in G.named_parameters() if name.endswith("noise_strength")]
    with torch.no_grad():
        quiet = G(z, noise_mode="none")
        for param in strengths:
            param.fill_(0.5)
        assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
        assert not torch.equal(G(z, noise_mode="const"), quiet)
        for param in strengths:
            param.zero_()
        torch.testing.assert_close(G(z, noise_mode="random"), quiet)
        torch.testing.assert_close(G(z, noise_mode="const"), quiet)


def test_fp16_resolutions_compute_in_float32_on_cpu():
    kwargs = {"z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 32, "img_channels": 1}
    torch.manual_seed(0)
    G16 = StyleGenerator(**kwargs, synthesis_kwargs={"channel_max": 8, "num_fp16_res": 4}).eval()
    G32 = StyleGenerator(**kwargs, synthesis_kwargs={"channel_max": 8}).eval()
    G32.load_state_dict(G16.state_dict())
    assert G16.synthesis.b32.use_fp16 and G16.synthesis.b8.use_fp16 and not G16.synthesis.b4.use_fp16
    z = torch.randn(2, 8)
    with torch.no_grad():
        img = G16(z, noise_mode="const")
        assert img.dtype == torch.float32
        assert torch.equal(img, G32(z, noise_mode="const"))


def test_gradients_reach_every_trainable_parameter_and_skip_frozen_layers():
    G_kwargs, D_kwargs = CONFIGS["resnet-G-orig-D-conditional-rgb"]
    G, D = StyleGenerator(**G_kwargs).train(), StyleDiscriminator(**D_kwargs).train()
    c = conditioning(5, 4, seed=0)
    loss = torch.nn.functional.softplus(-D(G(torch.randn(4, 16), c), c)).mean()
    loss.backward()
    for name, param in [*G.named_parameters(), *D.named_parameters()]:
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    frozen = {name for name, _ in D.named_buffers() if not name.endswith("resample_filter")}
    # freeze_layers=2 freezes b16's fromrgb and conv0; their weights are buffers under the same names.
    assert frozen == {"b16.fromrgb.weight", "b16.fromrgb.bias", "b16.conv0.weight", "b16.conv0.bias"}


# --- bad input -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cond_nets():
    G_kwargs, D_kwargs = CONFIGS["conditional-gray"]
    return StyleGenerator(**G_kwargs).eval(), StyleDiscriminator(**D_kwargs).eval()


@pytest.fixture(scope="module")
def uncond_G():
    return StyleGenerator(8, 0, 8, 8, 1, synthesis_kwargs={"channel_max": 8}).eval()


def test_wrong_z_shape_is_named(uncond_G):
    with pytest.raises(ValueError, match=r"z must have shape \[N, 8\], got \(2, 9\)"):
        uncond_G(torch.randn(2, 9))
    with pytest.raises(ValueError, match=r"z must have shape \[N, 8\], got \(8,\)"):
        uncond_G(torch.randn(8))


def test_label_given_to_unconditional_model(uncond_G):
    with pytest.raises(ValueError, match="unconditional"):
        uncond_G(torch.randn(2, 8), torch.ones(2, 3))
    # The reference passes an empty [N, 0] label to unconditional models: accepted.
    assert uncond_G(torch.randn(2, 8), torch.zeros(2, 0)).shape == (2, 1, 8, 8)


def test_label_missing_or_misshaped_for_conditional_model(cond_nets):
    G, D = cond_nets
    z = torch.randn(2, 32)
    with pytest.raises(ValueError, match=r"conditional \(c_dim=3\)"):
        G(z)
    with pytest.raises(ValueError, match=r"c must have shape \[N, 3\]"):
        G(z, torch.ones(2, 4))
    with pytest.raises(ValueError, match="different batch sizes"):
        G(z, torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"conditional \(c_dim=3\)"):
        D(torch.randn(2, 1, 32, 32))


def test_wrong_image_shape_for_discriminator(cond_nets):
    _, D = cond_nets
    with pytest.raises(ValueError, match=r"img must have shape \[N, 1, 32, 32\], got \(2, 3, 32, 32\)"):
        D(torch.randn(2, 3, 32, 32), torch.ones(2, 3))


def test_ws_shape_and_noise_mode(uncond_G):
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 4, 8\]"):
        uncond_G.synthesis(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="noise_mode must be one of random, const, none"):
        uncond_G.synthesis(torch.randn(2, 4, 8), noise_mode="fixed")


@pytest.mark.parametrize("resolution", [0, 2, 48, 100, 64.0])
def test_resolution_must_be_a_power_of_two(resolution):
    with pytest.raises(ValueError, match="img_resolution must be a power of two"):
        StyleGenerator(8, 0, 8, resolution, 1)
    with pytest.raises(ValueError, match="img_resolution must be a power of two"):
        StyleDiscriminator(0, resolution, 1)


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="architecture must be one of orig, skip, resnet, got 'dense'"):
        StyleDiscriminator(0, 16, 1, architecture="dense")
    with pytest.raises(ValueError, match="architecture must be one of"):
        StyleGenerator(8, 0, 8, 16, 1, synthesis_kwargs={"architecture": "dense"})


def test_minibatch_not_divisible_by_group_size():
    D = StyleDiscriminator(0, 8, 1, channel_max=8, epilogue_kwargs={"mbstd_group_size": 4})
    with pytest.raises(ValueError, match="divisible by its group size 4, got 6"):
        D(torch.randn(6, 1, 8, 8))


def test_state_dict_of_another_architecture_lists_every_mismatch(g32):
    G = StyleGenerator(**{**g32["G_kwargs"], "img_resolution": 16})
    with pytest.raises(StateDictMismatchError) as info:
        G.load_state_dict(g32["G_state"])
    error = info.value
    assert "synthesis.b32.conv0.weight" in error.unexpected
    assert error.missing == []
    D = StyleDiscriminator(**{**g32["D_kwargs"], "channel_max": 32})
    with pytest.raises(StateDictMismatchError, match=r"b16.conv0.weight: shape \[64, 64, 3, 3\] in the state dict"):
        D.load_state_dict(g32["D_state"])
    G_skip = StyleGenerator(**{**g32["G_kwargs"], "synthesis_kwargs": {**g32["G_kwargs"]["synthesis_kwargs"]}})
    state = dict(g32["G_state"])
    del state["mapping.w_avg"]
    with pytest.raises(StateDictMismatchError, match=r"missing keys \(1\): mapping.w_avg"):
        G_skip.load_state_dict(state)


def test_he_constants_are_the_published_ones():
    G = StyleGenerator(16, 0, 32, 8, 1, mapping_kwargs={"num_layers": 2})
    assert G.mapping.fc0.weight_gain == pytest.approx(0.01 / math.sqrt(16))
    assert G.mapping.fc0.bias_gain == 0.01
    assert G.synthesis.b8.torgb.weight_gain == pytest.approx(1 / math.sqrt(512))


def test_docstring_example_runs():
    import doctest

    from medgan_aug.nets import generator

    result = doctest.testmod(generator, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
