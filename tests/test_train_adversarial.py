"""Selectable adversarial objectives (logistic, minimax, hinge, WGAN-GP) and n_critic in the trainer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from medgan_aug.train import ADVERSARIAL_LOSSES, StyleGAN2Loss, adversarial_terms, read_stats
from tests.test_train_loss import LinearD, tiny_generator
from tests.test_trainer import Blobs, make_trainer, tiny_config


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(x))


EXPECTED = {  # float64 numpy definitions, (G, D on fakes, D on reals)
    "logistic": (lambda f: _softplus(-f), lambda f: _softplus(f), lambda r: _softplus(-r)),
    "minimax": (lambda f: -_softplus(f), lambda f: _softplus(f), lambda r: _softplus(-r)),
    "hinge": (lambda f: -f, lambda f: np.maximum(0, 1 + f), lambda r: np.maximum(0, 1 - r)),
    "wgan-gp": (lambda f: -f, lambda f: f, lambda r: -r),
}


@pytest.mark.parametrize("loss", ADVERSARIAL_LOSSES)
def test_terms_match_their_definitions(loss: str) -> None:
    logits = np.linspace(-4, 4, 17)
    t = torch.from_numpy(logits)
    for role, expected in zip(("G", "D_fake", "D_real"), EXPECTED[loss], strict=True):
        np.testing.assert_allclose(adversarial_terms(loss, t, role).numpy(), expected(logits), rtol=1e-12, atol=1e-12)


def test_minimax_saturates_where_the_logistic_loss_does_not() -> None:
    # A confident discriminator (very negative logits on fakes): the minimax generator gradient vanishes.
    f = torch.tensor([-12.0], dtype=torch.float64, requires_grad=True)
    (grad_minimax,) = torch.autograd.grad(adversarial_terms("minimax", f, "G").sum(), f)
    (grad_logistic,) = torch.autograd.grad(adversarial_terms("logistic", f, "G").sum(), f)
    assert abs(grad_minimax.item()) < 1e-5 and grad_logistic.item() == pytest.approx(-1.0, abs=1e-5)


def test_wgan_gp_critic_gradient_with_an_analytic_penalty() -> None:
    # D(x) = <w, x> + b has input gradient w everywhere: the penalty is (||w|| - 1)^2 at every interpolate.
    G = tiny_generator()
    D = LinearD((1, 8, 8))
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0.0, loss="wgan-gp", gp_lambda=10.0, r1_gamma=0.0)
    real, z = torch.randn(4, 1, 8, 8, dtype=torch.float64), torch.randn(4, 8)
    torch.manual_seed(1)
    stats = loss.accumulate_gradients("Dmain", real, None, z, None)
    torch.manual_seed(1)
    fake = G(z).detach().double()
    w = D.w.detach()
    norm = w.square().sum().sqrt()
    torch.testing.assert_close(stats.gp_penalty, ((norm - 1) ** 2).expand(4))
    # d/dw [mean <w, fake> - mean <w, real> + lambda (||w|| - 1)^2]
    expected = fake.mean(0) - real.mean(0) + 10.0 * 2 * (norm - 1) * w / norm
    torch.testing.assert_close(D.w.grad, expected)
    assert D.b.grad.item() == pytest.approx(0.0, abs=1e-12)  # +b on fakes and -b on reals cancel


def test_hinge_discriminator_loss_matches_its_definition() -> None:
    G = tiny_generator()
    D = LinearD((1, 8, 8))
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0.0, loss="hinge")
    real, z = torch.randn(4, 1, 8, 8, dtype=torch.float64) * 20, torch.randn(4, 8)
    torch.manual_seed(1)
    loss.accumulate_gradients("Dmain", real, None, z, None)
    got = D.w.grad.clone()
    D.zero_grad()
    torch.manual_seed(1)
    fake = G(z).detach().double()
    (torch.relu(1 + D(fake)).mean() + torch.relu(1 - D(real)).mean()).backward()
    torch.testing.assert_close(got, D.w.grad)


def test_unknown_loss_is_named() -> None:
    with pytest.raises(ValueError, match="loss must be one of logistic, minimax, hinge, wgan-gp"):
        StyleGAN2Loss(tiny_generator(), LinearD((1, 8, 8)), loss="wasserstein")
    with pytest.raises(ValueError, match="gp_lambda must be"):
        StyleGAN2Loss(tiny_generator(), LinearD((1, 8, 8)), loss="wgan-gp", gp_lambda=math.nan)


def test_n_critic_steps_the_discriminator_n_times_per_generator_step(tmp_path) -> None:
    config = tiny_config()
    config.loss, config.n_critic, config.r1_gamma = "wgan-gp", 3, 0.0
    config.G_reg_interval = config.D_reg_interval = None  # one optimiser step per phase and batch
    trainer = make_trainer(tmp_path / "run", config=config, augment="noaug")
    trainer.train(kimg=0.024)  # 6 batches of 4
    # Adam counts its steps per parameter.
    steps = {p.name: int(p.optimizer.state[next(p.module.parameters())]["step"]) for p in trainer.phases}
    assert steps == {"Gboth": 2, "Dboth": 6}
    rows = read_stats(tmp_path / "run" / "stats.jsonl")
    assert any("gp_penalty" in row for row in rows)


def test_n_critic_must_be_positive(tmp_path) -> None:
    config = tiny_config()
    config.n_critic = 0
    with pytest.raises(ValueError, match="n_critic must be a positive integer"):
        make_trainer(tmp_path / "run", dataset=Blobs(), config=config)


def test_command_line_selects_the_loss_and_drops_r1_for_wgan_gp(tmp_path) -> None:
    from medgan_aug.cli import main
    from tests.test_trainer import write_folder

    data = write_folder(tmp_path / "data")
    args = ["train", "--data", str(data), "--resolution", "16", "--kimg", "0.008", "--batch", "4", "--cbase", "128",
            "--cmax", "16", "--map", "1", "--workers", "0", "--aug", "noaug"]  # fmt: skip
    assert main([*args, "--outdir", str(tmp_path / "wgan"), "--loss", "wgan-gp", "--n-critic", "2"]) == 0
    config = json.loads((tmp_path / "wgan" / "config.json").read_text())["config"]
    assert (config["loss"], config["n_critic"], config["r1_gamma"]) == ("wgan-gp", 2, 0.0)
    assert main([*args, "--outdir", str(tmp_path / "hinge"), "--loss", "hinge", "--gamma", "0.5"]) == 0
    config = json.loads((tmp_path / "hinge" / "config.json").read_text())["config"]
    assert (config["loss"], config["n_critic"], config["r1_gamma"]) == ("hinge", 1, 0.5)
    # The recipe's defaults for a DCGAN critic.
    assert main([*args[:9], "--workers", "0", "--aug", "noaug", "--arch", "dcgan", "--cmax", "16",
                 "--outdir", str(tmp_path / "dcgan"), "--loss", "wgan-gp"]) == 0  # fmt: skip
    config = json.loads((tmp_path / "dcgan" / "config.json").read_text())["config"]
    assert (config["n_critic"], config["r1_gamma"], config["lr"], config["D_kwargs"]["norm"]) == (5, 0.0, 1e-4, "layer")


def test_wgan_gp_configs_follow_the_published_recipe() -> None:
    from medgan_aug.train import WGAN_GP_DEFAULTS, resolve_config

    dcgan = resolve_config(resolution=16, img_channels=1, arch="dcgan", channel_max=16, loss="wgan-gp")
    assert (dcgan.loss, dcgan.n_critic, dcgan.r1_gamma, dcgan.gp_lambda) == ("wgan-gp", 5, 0.0, 10.0)
    assert (dcgan.lr, dcgan.betas) == (1e-4, (0.0, 0.9)) == (WGAN_GP_DEFAULTS["lr"], WGAN_GP_DEFAULTS["betas"])
    # Only the critic loses its batch norm; the generator keeps it.
    assert dcgan.D_kwargs["norm"] == "layer" and "norm" not in dcgan.G_kwargs
    # A preset critic without normalisation stays so; the study's optimiser gives way to the recipe's.
    mnist = resolve_config(resolution=28, img_channels=1, arch="dcgan", dcgan_preset="mnist28", loss="wgan-gp")
    assert mnist.D_kwargs["norm"] == "none" and (mnist.lr, mnist.betas) == (1e-4, (0.0, 0.9))
    # StyleGAN2 keeps its optimiser; explicit gamma and n_critic win.
    style = resolve_config(resolution=16, img_channels=1, loss="wgan-gp", gamma=0.5, n_critic=2)
    plain = resolve_config(resolution=16, img_channels=1)
    assert (style.n_critic, style.r1_gamma, style.lr, style.betas) == (2, 0.5, plain.lr, plain.betas)
    logistic = resolve_config(resolution=16, img_channels=1, arch="dcgan", channel_max=16)
    assert (logistic.loss, logistic.n_critic, logistic.D_kwargs["norm"], logistic.lr) == ("logistic", 1, "batch", 2e-4)
    with pytest.raises(ValueError, match="loss must be one of logistic, minimax, hinge, wgan-gp, got 'wgan'"):
        resolve_config(resolution=16, img_channels=1, loss="wgan")
    with pytest.raises(ValueError, match="n_critic must be a positive integer, got 0"):
        resolve_config(resolution=16, img_channels=1, n_critic=0)


def test_wgan_gp_refuses_a_batch_norm_critic() -> None:
    from medgan_aug.nets import DCGANDiscriminator, DCGANGenerator

    G = DCGANGenerator(z_dim=8, img_resolution=16, channel_max=16)
    options = {"loss": "wgan-gp", "pl_weight": 0.0, "style_mixing_prob": 0.0, "r1_gamma": 0.0}
    with pytest.raises(ValueError, match=r"discriminator has batch norm.*norm='layer' or norm='none'"):
        StyleGAN2Loss(G, DCGANDiscriminator(img_resolution=16, channel_max=16, norm="batch"), **options)
    StyleGAN2Loss(G, DCGANDiscriminator(img_resolution=16, channel_max=16, norm="layer"), **options)


def test_ada_measures_a_critic_against_the_mean_fake(tmp_path) -> None:
    # A WGAN critic's loss ignores a constant shift of its output, so ADA must too: two runs whose critics
    # differ only by +50 on the output bias train identically and tune p identically.
    from medgan_aug.train import resolve_config

    def run(name: str, shift: float) -> list[dict]:
        config = resolve_config(resolution=16, img_channels=1, c_dim=2, batch=4, arch="dcgan", channel_max=16,
                                loss="wgan-gp", n_critic=2)  # fmt: skip
        trainer = make_trainer(tmp_path / name, config=config, seed=2, ada_interval=1, ada_kimg=0.1, target=0.2)
        with torch.no_grad():
            trainer.D.fc.bias += shift
        trainer.train(kimg=0.048)
        return read_stats(tmp_path / name / "stats.jsonl")

    plain, shifted = run("plain", 0.0), run("shifted", 50.0)
    assert [row["p"] for row in plain] == pytest.approx([row["p"] for row in shifted])
    assert [row["r_t"] for row in plain] == pytest.approx([row["r_t"] for row in shifted])
    assert max(row["p"] for row in plain) > 0  # p did move
    assert any(row["r_t"] < 1 for row in shifted if "r_t" in row)  # the uncentred sign gives +1 throughout
