"""Training configuration presets, the StyleGAN2 losses and the generator EMA."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from medgan_aug import AdaptiveAugment, StyleGenerator
from medgan_aug.train import StyleGAN2Loss, ema_beta, resolve_config, update_ema

# --- configuration presets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "gpus", "batch", "batch_gpu", "gamma", "ema", "channel_base", "lr"),
    [
        (64, 1, 32, 32, 0.0002 * 64**2 / 32, 10.0, 16384, 0.0025),
        (256, 1, 16, 16, 0.0002 * 256**2 / 16, 5.0, 16384, 0.0025),
        (256, 2, 32, 16, 0.0002 * 256**2 / 32, 10.0, 16384, 0.0025),
        (512, 1, 8, 8, 0.0002 * 512**2 / 8, 2.5, 32768, 0.0025),
        (1024, 8, 32, 4, 0.0002 * 1024**2 / 32, 10.0, 32768, 0.002),
    ],
)
def test_auto_config_follows_the_published_rules(resolution, gpus, batch, batch_gpu, gamma, ema, channel_base, lr):
    config = resolve_config("auto", resolution=resolution, img_channels=1, num_gpus=gpus)
    assert (config.batch, config.batch_gpu) == (batch, batch_gpu)
    assert config.r1_gamma == pytest.approx(gamma)
    assert config.ema_kimg == pytest.approx(ema) and config.ema_rampup == 0.05
    assert config.G_kwargs["synthesis_kwargs"]["channel_base"] == channel_base
    assert config.D_kwargs["channel_base"] == channel_base and config.lr == lr
    assert config.G_kwargs["mapping_kwargs"]["num_layers"] == 2
    assert config.D_kwargs["epilogue_kwargs"]["mbstd_group_size"] == min(batch_gpu, 4)


def test_paper_and_cifar_presets():
    paper = resolve_config("paper256", resolution=256, img_channels=3, c_dim=2)
    assert (paper.batch, paper.batch_gpu, paper.r1_gamma, paper.ema_kimg, paper.lr) == (64, 8, 1, 20, 0.0025)
    assert paper.G_kwargs["mapping_kwargs"]["num_layers"] == 8 and paper.G_kwargs["c_dim"] == 2
    assert paper.D_kwargs["epilogue_kwargs"]["mbstd_group_size"] == 8
    cifar = resolve_config("cifar", resolution=32, img_channels=3, c_dim=10)
    assert cifar.pl_weight == 0 and cifar.style_mixing_prob == 0 and cifar.D_kwargs["architecture"] == "orig"
    assert cifar.r1_gamma == 0.01 and cifar.kimg == 100000
    stylegan2 = resolve_config("stylegan2", resolution=1024, img_channels=3)
    assert stylegan2.r1_gamma == 10 and stylegan2.pl_weight == 2 and stylegan2.style_mixing_prob == 0.9


def test_overrides_and_minibatch_std_group_divides_the_per_gpu_batch():
    config = resolve_config("auto", resolution=64, img_channels=1, batch=12, gamma=0.5, kimg=100)
    assert (config.batch, config.batch_gpu, config.r1_gamma, config.kimg) == (12, 12, 0.5, 100)
    assert config.D_kwargs["epilogue_kwargs"]["mbstd_group_size"] == 4
    config = resolve_config("auto", resolution=64, img_channels=1, batch=6)
    assert config.D_kwargs["epilogue_kwargs"]["mbstd_group_size"] == 3


def test_width_overrides_reach_both_networks_and_build_small_ones():
    config = resolve_config("auto", resolution=32, img_channels=1, c_dim=3, channel_base=256, channel_max=32,
                            mapping_layers=1)  # fmt: skip
    for kwargs in (config.G_kwargs["synthesis_kwargs"], config.D_kwargs):
        assert (kwargs["channel_base"], kwargs["channel_max"]) == (256, 32)
    assert config.G_kwargs["mapping_kwargs"]["num_layers"] == 1
    G = StyleGenerator(**config.G_kwargs)
    # Features at resolution r are min(channel_base // r, channel_max): 32 at 4 and 8 px, 16 at 16 px, 8 at 32 px.
    widths = {name: p.shape[0] for name, p in G.named_parameters() if name.endswith("conv1.weight")}
    assert widths == {"synthesis.b4.conv1.weight": 32, "synthesis.b8.conv1.weight": 32,
                      "synthesis.b16.conv1.weight": 16, "synthesis.b32.conv1.weight": 8}  # fmt: skip
    with pytest.raises(ValueError, match="channel_max must be a positive integer"):
        resolve_config("auto", resolution=32, img_channels=1, channel_max=0)


def test_bad_configurations_are_named():
    with pytest.raises(ValueError, match="cfg must be one of auto, stylegan2"):
        resolve_config("huge", resolution=64, img_channels=1)
    with pytest.raises(ValueError, match="multiple of the number of GPUs"):
        resolve_config("auto", resolution=64, img_channels=1, batch=5, num_gpus=2)
    with pytest.raises(ValueError, match="batch_gpu"):
        resolve_config("auto", resolution=64, img_channels=1, batch=8, batch_gpu=3)


# --- losses ---------------------------------------------------------------------------------------


class LinearD(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w for every sample, so R1 is ||w||^2."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape, dtype=torch.float64) * 0.1)
        self.b = nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return ((x * self.w).sum(dim=[1, 2, 3]) + self.b).unsqueeze(1)


def tiny_generator() -> StyleGenerator:
    torch.manual_seed(0)
    return StyleGenerator(8, 0, 8, 8, 1, mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_max": 8})


@pytest.mark.parametrize("gain", [1.0, 16.0])
def test_r1_penalty_is_the_squared_input_gradient(gain):
    D = LinearD((1, 8, 8))
    loss = StyleGAN2Loss(tiny_generator(), D, r1_gamma=3.0)
    real = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    stats = loss.accumulate_gradients("Dreg", real, None, torch.randn(4, 8), None, gain=gain)
    norm = D.w.detach().square().sum()
    torch.testing.assert_close(stats.r1_penalty, norm.expand(4))
    # d/dw of gain * gamma/2 * ||w||^2 (the logits * 0 term adds nothing).
    torch.testing.assert_close(D.w.grad, gain * 3.0 * D.w.detach())
    assert D.b.grad.item() == 0


def test_discriminator_main_loss_matches_its_definition():
    G = tiny_generator()
    D = LinearD((1, 8, 8))
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0.0)
    real, z = torch.randn(4, 1, 8, 8, dtype=torch.float64), torch.randn(4, 8)
    torch.manual_seed(1)
    stats = loss.accumulate_gradients("Dmain", real, None, z, None)
    got = D.w.grad.clone()
    D.zero_grad()
    torch.manual_seed(1)
    fake = G(z).detach().double()
    expected = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
    expected.backward()
    torch.testing.assert_close(got, D.w.grad)
    torch.testing.assert_close(stats.loss_d_real, F.softplus(-D(real)).detach())
    assert stats.real_logits.shape == (4, 1)


def test_generator_loss_is_non_saturating_and_reaches_only_what_requires_grad():
    G = tiny_generator()
    D = LinearD((1, 8, 8)).float()
    D.requires_grad_(False)
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0.0)
    torch.manual_seed(2)
    z = torch.randn(4, 8)
    stats = loss.accumulate_gradients("Gmain", torch.zeros(4, 1, 8, 8), None, z, None)
    torch.testing.assert_close(stats.loss_g, F.softplus(-stats.fake_logits))
    assert D.w.grad is None
    assert all(p.grad is not None for p in G.parameters())


def test_path_length_penalty_matches_the_jacobian():
    G = tiny_generator()
    with torch.no_grad():
        for name, param in G.named_parameters():
            if name.endswith("noise_strength"):
                param.zero_()  # noise then cannot change the Jacobian
    loss = StyleGAN2Loss(G, LinearD((1, 8, 8)).float(), style_mixing_prob=0.0, pl_batch_shrink=2, pl_decay=0.01)
    z = torch.randn(4, 8)
    torch.manual_seed(3)
    stats = loss.accumulate_gradients("Greg", torch.zeros(4, 1, 8, 8), None, z, None)

    torch.manual_seed(3)
    ws = G.mapping(z[:2], None).detach()
    img = G.synthesis(ws)
    direction = torch.randn_like(img) / math.sqrt(64)
    jac = torch.autograd.functional.jacobian(lambda w: (G.synthesis(w, noise_mode="none") * direction).sum(), ws)
    lengths = jac.square().sum(dim=2).mean(dim=1).sqrt()
    pl_mean = 0.01 * lengths.mean()
    torch.testing.assert_close(loss.pl_mean, pl_mean, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(stats.pl_penalty, (lengths - pl_mean).square(), rtol=1e-3, atol=1e-6)


def test_style_mixing_switches_latents_at_a_layer():
    G = tiny_generator()
    loss = StyleGAN2Loss(G, LinearD((1, 8, 8)), style_mixing_prob=1.0)
    z = torch.randn(3, 8)
    own = G.mapping(z, None, update_w_avg=False)
    cutoffs = set()
    for seed in range(20):
        torch.manual_seed(seed)
        _, ws = loss.run_G(z, None)
        same = (ws == own).all(dim=2).all(dim=0)
        cutoff = int(same.long().argmin())
        assert same[:cutoff].all() and not same[cutoff:].any()
        cutoffs.add(cutoff)
    assert cutoffs <= set(range(1, G.num_ws)) and len(cutoffs) > 1


def test_augmentation_is_applied_to_what_d_sees():
    D = LinearD((1, 8, 8))
    augment = AdaptiveAugment("blit", p=1.0)
    loss = StyleGAN2Loss(tiny_generator(), D, augment=augment)
    real = torch.randn(64, 1, 8, 8, dtype=torch.float64)
    torch.manual_seed(4)
    augmented = loss.run_D(real, None)
    assert not torch.allclose(augmented, D(real))


def test_unknown_phase():
    loss = StyleGAN2Loss(tiny_generator(), LinearD((1, 8, 8)))
    with pytest.raises(ValueError, match="phase must be one of Gmain"):
        loss.accumulate_gradients("G", torch.zeros(1, 1, 8, 8), None, torch.zeros(1, 8), None)


# --- generator EMA -----------------------------------------------------------------------------


def test_ema_half_life_and_rampup():
    assert ema_beta(batch=32, ema_kimg=10, cur_nimg=10**6) ** (10_000 / 32) == pytest.approx(0.5)
    # Early in training the ramp-up caps the half-life at 5% of the images seen.
    assert ema_beta(32, 10, cur_nimg=64_000, ema_rampup=0.05) == pytest.approx(0.5 ** (32 / 3200))
    assert ema_beta(32, 10, cur_nimg=0, ema_rampup=0.05) == 0.0


def test_update_ema_averages_parameters_and_copies_buffers():
    G, G_ema = tiny_generator(), tiny_generator()
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
        G.mapping.w_avg.fill_(0.5)
    before = [p.clone() for p in G_ema.parameters()]
    update_ema(G_ema, G, beta=0.9)
    for p_ema, p, old in zip(G_ema.parameters(), G.parameters(), before, strict=True):
        torch.testing.assert_close(p_ema, 0.9 * old + 0.1 * p)
    assert torch.equal(G_ema.mapping.w_avg, G.mapping.w_avg)
