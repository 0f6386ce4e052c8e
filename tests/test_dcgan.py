"""DCGAN generator and discriminator: presets, shapes, initialisation, conditioning, checkpoints, errors."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch import nn

from medgan_aug.nets import CheckpointError, load_network
from medgan_aug.nets.dcgan import DCGAN_PRESETS, DCGANDiscriminator, DCGANGenerator


def one_hot(labels: list[int], c_dim: int) -> torch.Tensor:
    return nn.functional.one_hot(torch.tensor(labels), c_dim).float()


def stride2_shapes(net: nn.Module, layer_type: type[nn.Module], run) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(input shape, output shape) of every ``layer_type`` layer during ``run()``."""
    shapes = []
    hooks = [
        m.register_forward_hook(lambda _m, args, out: shapes.append((tuple(args[0].shape), tuple(out.shape))))
        for m in net.modules()
        if isinstance(m, layer_type)
    ]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


@pytest.mark.parametrize(
    ("name", "resolution", "channels", "sides"),
    [("mnist28", 28, 1, [7, 14, 28]), ("dermoscopy128", 128, 3, [32, 64, 128])],
)
def test_presets_build_the_studies_architectures(name, resolution, channels, sides):
    torch.manual_seed(0)
    G = DCGANGenerator.preset(name).eval()
    D = DCGANDiscriminator.preset(name).eval()
    z = torch.randn(3, 100)
    pre_tanh = []
    last_conv = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)][-1]
    hook = last_conv.register_forward_hook(lambda _m, _a, out: pre_tanh.append(out))
    shapes = stride2_shapes(G, nn.ConvTranspose2d, lambda: G(z))
    img = G(z)
    hook.remove()

    assert img.shape == (3, channels, resolution, resolution)
    # The output is tanh of the last transposed convolution, hence inside [-1, 1].
    torch.testing.assert_close(img, torch.tanh(pre_tanh[-1]))
    assert img.abs().max() <= 1 and img.std() > 0
    # Dense layer to base x base, then each stride-2 transposed convolution doubles the side.
    kernel = DCGAN_PRESETS[name]["G"]["kernel_size"]
    assert [s[0][-1] for s in shapes] + [shapes[-1][1][-1]] == sides
    assert all(m.kernel_size == (kernel, kernel) for m in G.modules() if isinstance(m, nn.ConvTranspose2d))
    assert G.fc.out_features == DCGAN_PRESETS[name]["G"]["channels"][0] * sides[0] ** 2

    d_shapes = stride2_shapes(D, nn.Conv2d, lambda: D(img))
    assert [s[0][-1] for s in d_shapes] + [d_shapes[-1][1][-1]] == sides[::-1]
    assert any(isinstance(m, nn.Dropout) and m.p == 0.3 for m in D.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    logits = D(img)
    assert logits.shape == (3, 1) and torch.isfinite(logits).all()


@pytest.mark.parametrize("kernel_size", [2, 3, 4, 5, 6])
def test_every_stride2_layer_doubles_or_halves_the_side(kernel_size):
    torch.manual_seed(1)
    G = DCGANGenerator(
        z_dim=8, img_resolution=24, img_channels=2, base_resolution=3, channels=(16, 8, 4), kernel_size=kernel_size
    )
    D = DCGANDiscriminator(img_resolution=24, img_channels=2, base_resolution=3, channels=(4, 8, 16), kernel_size=5)
    img = G(torch.randn(2, 8))
    assert img.shape == (2, 2, 24, 24)
    shapes = stride2_shapes(G, nn.ConvTranspose2d, lambda: G(torch.randn(2, 8)))
    assert [(i[1:], o[1:]) for i, o in shapes] == [
        ((16, 3, 3), (8, 6, 6)),
        ((8, 6, 6), (4, 12, 12)),
        ((4, 12, 12), (2, 24, 24)),
    ]
    d_shapes = stride2_shapes(D, nn.Conv2d, lambda: D(img))
    assert [(i[1:], o[1:]) for i, o in d_shapes] == [
        ((2, 24, 24), (4, 12, 12)),
        ((4, 12, 12), (8, 6, 6)),
        ((8, 6, 6), (16, 3, 3)),
    ]
    assert D(img).shape == (2, 1)


def test_default_widths_follow_dcgan():
    G = DCGANGenerator()
    D = DCGANDiscriminator()
    assert [m.in_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == [512, 256, 128, 64]
    assert [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512]
    # Batch norm everywhere in G, in D everywhere but after the first convolution.
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.modules()) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3
    assert G(torch.randn(2, 100)).shape == (2, 1, 64, 64)


def test_mnist28_parameter_count_matches_hand_computation():
    # G: dense 100 -> 7*7*128 (no bias: batch norm follows), BN(128), ConvT 128->64 4x4 (no bias), BN(64),
    # ConvT 64->1 4x4 with bias.
    g_expected = 100 * 7 * 7 * 128 + 2 * 128 + 128 * 64 * 4 * 4 + 2 * 64 + 64 * 1 * 4 * 4 + 1
    # D: Conv 1->64 4x4 + bias, Conv 64->128 4x4 + bias, dense 128*7*7 -> 1 + bias.
    d_expected = (1 * 64 * 16 + 64) + (64 * 128 * 16 + 128) + (128 * 7 * 7 + 1)
    assert g_expected == 759_681 and d_expected == 138_561
    assert sum(p.numel() for p in DCGANGenerator.preset("mnist28").parameters()) == g_expected
    assert sum(p.numel() for p in DCGANDiscriminator.preset("mnist28").parameters()) == d_expected


def test_initialisation_is_normal_with_std_002():
    torch.manual_seed(2)
    nets = [DCGANGenerator.preset("mnist28"), DCGANDiscriminator.preset("mnist28"), DCGANGenerator(c_dim=2)]
    for net in nets:
        for module in net.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)) and module is not getattr(
                net, "embed", None
            ):
                w = module.weight.detach().double().flatten()
                n = w.numel()
                # Six standard errors of the sample mean and sample std of n normal draws.
                assert abs(w.mean().item()) < 6 * 0.02 / math.sqrt(n)
                assert abs(w.std().item() / 0.02 - 1) < 6 / math.sqrt(2 * n)
                if module.bias is not None:
                    assert torch.count_nonzero(module.bias) == 0
            elif isinstance(module, nn.BatchNorm2d):
                scale = module.weight.detach().double()
                assert abs(scale.mean().item() - 1) < 6 * 0.02 / math.sqrt(scale.numel())
                assert torch.count_nonzero(module.bias) == 0
    dense = DCGANGenerator.preset("mnist28").fc.weight.detach().double().flatten().numpy()
    assert stats.kstest(dense, stats.norm(0, 0.02).cdf).pvalue > 1e-3
    # The generator's label embedding starts at the scale of z.
    embed = nets[2].embed.weight.detach().double()
    assert abs(embed.std().item() - 1) < 0.2


def test_dropout_is_active_in_training_and_off_in_eval():
    torch.manual_seed(3)
    D = DCGANDiscriminator.preset("mnist28")
    plain = DCGANDiscriminator.preset("mnist28", dropout=0.0)
    plain.load_state_dict(D.state_dict())
    img = torch.rand(4, 1, 28, 28) * 2 - 1
    D.train()
    assert not torch.equal(D(img), D(img))
    D.eval()
    first = D(img)
    assert torch.equal(first, D(img))
    # In eval the network is exactly the one without dropout.
    torch.testing.assert_close(first, plain.eval()(img), rtol=0, atol=0)


def test_layer_norm_critic_scores_each_sample_on_its_own():
    # A WGAN-GP critic must score a sample the same whatever else is in its batch; batch norm does not.
    torch.manual_seed(5)
    img = torch.rand(6, 1, 16, 16, dtype=torch.float64) * 2 - 1
    layer = DCGANDiscriminator(img_resolution=16, channels=(8, 16), norm="layer").double().train()
    batch = DCGANDiscriminator(img_resolution=16, channels=(8, 16), norm="batch").double().train()
    alone = torch.cat([layer(img[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(layer(img), alone, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(batch(img[:3]), batch(img)[:3])


def test_layer_norm_normalises_each_sample_over_channels_and_pixels():
    D = DCGANDiscriminator(img_resolution=16, channels=(8, 16), norm="layer").double()
    norms = [m for m in D.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 1 and not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    x = torch.randn(3, 16, 4, 4, dtype=torch.float64) * 5 + 2
    flat = x.flatten(1)
    expected = (flat - flat.mean(1, keepdim=True)) / (flat.var(1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(norms[0](x).flatten(1), expected)
    G = DCGANGenerator(z_dim=8, img_resolution=16, channels=(16, 8), norm="layer")
    assert sum(isinstance(m, nn.GroupNorm) for m in G.modules()) == 2
    # A normalised layer's bias would be cancelled by the norm's shift.
    assert G.fc.bias is None and D.features[0].bias is not None and D.features[3].bias is None


def test_label_embedding_is_as_wide_as_the_label_by_default(tmp_path):
    G = DCGANGenerator.preset("mnist28", c_dim=10)
    assert G.embed.weight.shape == (10, 10) and G.fc.in_features == 110
    assert DCGANGenerator.preset("mnist28", c_dim=10, c_embed_dim=32).fc.in_features == 132
    # The checkpoint records the width, so it reloads whatever the default.
    G.save(tmp_path / "g.pt")
    assert load_network(tmp_path / "g.pt").init_kwargs["c_embed_dim"] == 10


def test_conditional_generator_depends_on_the_label():
    torch.manual_seed(4)
    G = DCGANGenerator.preset("mnist28", c_dim=3).eval()
    z = torch.randn(1, 100).repeat(3, 1)
    img = G(z, one_hot([0, 1, 2], 3))
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert (img[a] - img[b]).abs().max() > 1e-3
    torch.testing.assert_close(G(z[:1], one_hot([1], 3)), img[1:2])


def test_conditional_discriminator_is_a_projection():
    torch.manual_seed(5)
    D = DCGANDiscriminator.preset("mnist28", c_dim=3).eval()
    img = torch.rand(2, 1, 28, 28) * 2 - 1
    by_class = torch.cat([D(img, one_hot([k, k], 3)) for k in range(3)], dim=1)
    assert (by_class[:, 0] - by_class[:, 1]).abs().min() > 1e-5
    # The projection term is linear in c: a soft label scores the mixture of the classes' scores.
    soft = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.0, 0.4]])
    torch.testing.assert_close(D(img, soft)[:, 0], (soft * by_class).sum(dim=1))
    # With a zero embedding it is the unconditional discriminator with the same shared weights.
    with torch.no_grad():
        D.embed.weight.zero_()
    plain = DCGANDiscriminator.preset("mnist28").eval()
    plain.load_state_dict({k: v for k, v in D.state_dict().items() if not k.startswith("embed.")})
    torch.testing.assert_close(D(img, one_hot([2, 0], 3)), plain(img))


def test_truncation_scales_z_and_noise_mode_has_no_effect():
    torch.manual_seed(6)
    G = DCGANGenerator.preset("mnist28").eval()
    z = torch.randn(2, 100)
    torch.testing.assert_close(G(z, truncation_psi=0.5), G(0.5 * z))
    assert torch.equal(G(z, noise_mode="const", update_w_avg=False), G(z, noise_mode="random"))


def test_save_and_load_reproduce_outputs_exactly(tmp_path):
    torch.manual_seed(7)
    G = DCGANGenerator.preset("mnist28", c_dim=2)
    D = DCGANDiscriminator(c_dim=2, img_resolution=28, base_resolution=7, channels=(8, 16), norm="batch", dropout=0.3)
    # Training-mode passes move the batch-norm statistics away from their initial values.
    z, c = torch.randn(4, 100), one_hot([0, 1, 1, 0], 2)
    D(G(z, c), c)
    G.eval()
    D.eval()
    img = G(z, c)
    logits = D(img, c)

    g_path = G.save(tmp_path / "g.pt", metadata={"step": 12})
    d_path = D.save(tmp_path / "d.pt")
    G_loaded = DCGANGenerator.from_checkpoint(g_path)
    D_loaded = load_network(d_path)
    assert isinstance(D_loaded, DCGANDiscriminator) and not G_loaded.training
    assert G_loaded.checkpoint_metadata == {"step": 12}
    assert G_loaded.init_kwargs == G.init_kwargs
    assert torch.equal(G_loaded(z, c), img)
    assert torch.equal(D_loaded(img, c), logits)
    # Dropout does not change the state-dict keys, so it can be overridden on loading.
    assert torch.equal(load_network(d_path, dropout=0.0)(img, c), logits)
    assert torch.equal(G_loaded.net[1].running_mean, G.net[1].running_mean)
    with pytest.raises(CheckpointError, match="not a DCGANDiscriminator"):
        DCGANDiscriminator.from_checkpoint(g_path)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: DCGANGenerator(img_resolution=30, base_resolution=7), "img_resolution=30 .*base_resolution=7"),
        (lambda: DCGANGenerator(img_resolution=48, base_resolution=4), "img_resolution=48 is not reachable"),
        (lambda: DCGANDiscriminator(img_resolution=7, base_resolution=7), "img_resolution=7 is not reachable"),
        (lambda: DCGANGenerator(img_resolution=28, base_resolution=7, channels=(8,)), "channels has 1 entries"),
        (lambda: DCGANDiscriminator(img_resolution=28, base_resolution=7, channels=(8, 0)), r"channels\[1\]"),
        (lambda: DCGANGenerator(kernel_size=1), "kernel_size must be an integer >= 2"),
        (lambda: DCGANDiscriminator(kernel_size=4.0), "kernel_size must be an integer"),
        (lambda: DCGANGenerator(norm="group"), "norm must be one of 'batch', 'layer', 'none', got 'group'"),
        (lambda: DCGANDiscriminator(activation="gelu"), "activation must be one of"),
        (lambda: DCGANDiscriminator(dropout=1.0), r"dropout must be a probability in \[0, 1\)"),
        (lambda: DCGANGenerator(z_dim=0), "z_dim must be an integer >= 1"),
        (lambda: DCGANGenerator.preset("celeba64"), "unknown DCGAN preset 'celeba64'; available: dermoscopy128"),
    ],
)
def test_bad_configurations_are_rejected(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_inputs_are_rejected():
    G = DCGANGenerator(z_dim=8, img_resolution=8, base_resolution=4, channels=(4,))
    G_c = DCGANGenerator(z_dim=8, c_dim=2, img_resolution=8, base_resolution=4, channels=(4,))
    D = DCGANDiscriminator(img_resolution=8, base_resolution=4, channels=(4,))
    D_c = DCGANDiscriminator(c_dim=2, img_resolution=8, base_resolution=4, channels=(4,))
    z, img, c = torch.randn(2, 8), torch.randn(2, 1, 8, 8), one_hot([0, 1], 2)
    with pytest.raises(ValueError, match="unconditional"):
        G(z, c)
    with pytest.raises(ValueError, match="unconditional"):
        D(img, c)
    with pytest.raises(ValueError, match=r"conditional \(c_dim=2\): c of shape \[N, 2\] is required"):
        G_c(z)
    with pytest.raises(ValueError, match="c_dim=2"):
        D_c(img)
    with pytest.raises(ValueError, match="different batch sizes"):
        D_c(img, c[:1])
    with pytest.raises(ValueError, match=r"c must have shape \[N, 2\]"):
        G_c(z, torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"z must have shape \[N, 8\]"):
        G(torch.randn(2, 9))
    with pytest.raises(ValueError, match=r"img must have shape \[N, 1, 8, 8\]"):
        D(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="noise_mode must be one of"):
        G(z, noise_mode="fixed")
