"""The DCGAN baselines and image + mask pairs on the same GANTrainer: configs, runs, checkpoints, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from medgan_aug.generate import load_generator
from medgan_aug.metrics import FIDScorer
from medgan_aug.nets import DCGAN_PRESETS, DCGANDiscriminator, DCGANGenerator, StyleGenerator
from medgan_aug.nets.errors import CheckpointError
from medgan_aug.train import DCGAN_DEFAULTS, MetricTracker, StyleGAN2Loss, read_stats, resolve_config
from tests.test_trainer import Blobs, make_trainer, tiny_config
from tests.test_trainer_metrics import PooledConv


class BlobPairs(Blobs):
    """Blobs with a binary mask channel (+1 where the image is bright) after the image."""

    mask_channels = 1

    def __init__(self, n: int = 32, c_dim: int = 0) -> None:
        super().__init__(n=n, channels=1, c_dim=c_dim)
        masks = torch.where(self.images > 0.3, 1.0, -1.0)
        self.images = torch.cat([self.images, masks], dim=1)


def dcgan_config(c_dim: int = 2, mask_channels: int = 0, **kwargs):
    return resolve_config(
        resolution=16,
        img_channels=1,
        c_dim=c_dim,
        batch=4,
        arch="dcgan",
        channel_max=16,
        mask_channels=mask_channels,
        **kwargs,
    )


def test_dcgan_configs_carry_the_published_settings():
    config = resolve_config(resolution=28, img_channels=1, c_dim=10, arch="dcgan", dcgan_preset="mnist28")
    preset = DCGAN_PRESETS["mnist28"]
    assert config.G_kwargs == {**preset["G"], "c_dim": 10}
    assert config.D_kwargs == {**preset["D"], "c_dim": 10}
    assert (config.lr, config.betas) == (2e-4, (0.5, 0.999))
    assert config.G_reg_interval is None and config.D_reg_interval is None
    assert (config.r1_gamma, config.pl_weight, config.style_mixing_prob, config.ema_kimg) == (0, 0, 0, 0)
    assert config.batch == DCGAN_DEFAULTS["batch"] and config.to_dict()["arch"] == "dcgan"
    # The dermoscopy study gave no optimiser: the DCGAN paper's, and the data's channel count wins.
    derm = resolve_config(resolution=128, img_channels=1, arch="dcgan", dcgan_preset="dermoscopy128", gamma=1.0)
    assert derm.G_kwargs["img_channels"] == derm.D_kwargs["img_channels"] == 1
    assert (derm.lr, derm.betas, derm.r1_gamma) == (DCGAN_DEFAULTS["lr"], DCGAN_DEFAULTS["betas"], 1.0)
    G = DCGANGenerator(**derm.G_kwargs)
    assert G(torch.randn(2, 100)).shape == (2, 1, 128, 128)


def test_dcgan_config_errors_are_named():
    with pytest.raises(
        ValueError, match="dcgan_preset 'mnist28' is the 28 px architecture; the data is at resolution 32"
    ):
        resolve_config(resolution=32, img_channels=1, arch="dcgan", dcgan_preset="mnist28")
    with pytest.raises(ValueError, match="dcgan_preset must be one of"):
        resolve_config(resolution=32, img_channels=1, arch="dcgan", dcgan_preset="cifar")
    with pytest.raises(ValueError, match="dcgan_preset='mnist28' needs arch='dcgan'"):
        resolve_config(resolution=28, img_channels=1, dcgan_preset="mnist28")
    with pytest.raises(ValueError, match="channel_base is a StyleGAN2 setting"):
        resolve_config(resolution=32, img_channels=1, arch="dcgan", channel_base=1024)
    with pytest.raises(ValueError, match="arch must be one of stylegan2, dcgan"):
        resolve_config(resolution=32, img_channels=1, arch="vae")


def test_a_dcgan_run_trains_saves_and_reloads(tmp_path):
    run = tmp_path / "run"
    trainer = make_trainer(run, config=dcgan_config(), p=0.2)
    assert isinstance(trainer.G, DCGANGenerator) and isinstance(trainer.D, DCGANDiscriminator)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    last = trainer.train(kimg=0.08)
    rows = read_stats(run / "stats.jsonl")
    assert all("loss_g" in row and "loss_d_real" in row for row in rows)
    assert not any("r1_penalty" in row or "pl_penalty" in row for row in rows)
    assert any(not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items())
    # No weight averaging: G_ema is G, batch-norm statistics included.
    for key, value in trainer.G.state_dict().items():
        assert torch.equal(trainer.G_ema.state_dict()[key], value), key
    G = load_generator(last)
    assert isinstance(G, DCGANGenerator)
    z = torch.randn(4, G.z_dim)
    c = torch.eye(2)[[0, 1, 0, 1]]
    torch.testing.assert_close(G(z, c), trainer.G_ema(z, c))


def test_a_dcgan_run_resumes_exactly(tmp_path):
    whole = make_trainer(tmp_path / "whole", config=dcgan_config(), seed=1, p=0.2)
    whole.train(kimg=0.032)
    first = make_trainer(tmp_path / "part", config=dcgan_config(), seed=1, p=0.2)
    checkpoint = first.train(kimg=0.016)
    second = make_trainer(tmp_path / "part", config=dcgan_config(), seed=1, p=0.2, resume=checkpoint)
    second.train(kimg=0.032)
    for key, value in whole.G.state_dict().items():
        torch.testing.assert_close(second.G.state_dict()[key], value, msg=key)


def test_checkpoints_of_another_architecture_or_mask_count_are_refused(tmp_path):
    style = make_trainer(tmp_path / "style", config=tiny_config()).train(kimg=0.004)
    with pytest.raises(CheckpointError, match="was trained with arch='stylegan2'; this run has arch='dcgan'"):
        make_trainer(tmp_path / "d", config=dcgan_config(), resume=style)
    plain = make_trainer(tmp_path / "plain", config=dcgan_config(c_dim=0), dataset=Blobs(c_dim=0)).train(kimg=0.004)
    with pytest.raises(CheckpointError, match="was trained with mask_channels=0; this run has mask_channels=1"):
        make_trainer(tmp_path / "m", config=dcgan_config(c_dim=0, mask_channels=1), dataset=BlobPairs(), resume=plain)


def test_resuming_with_networks_of_another_shape_names_the_setting(tmp_path):
    # A WGAN-GP DCGAN has a layer-norm critic: resuming it as a logistic run (batch norm) cannot load.
    wgan = make_trainer(tmp_path / "wgan", config=dcgan_config(loss="wgan-gp")).train(kimg=0.004)
    changed = r"another shape than this run's \(D_kwargs\['norm'\]='layer' there, 'batch' here\)"
    with pytest.raises(CheckpointError, match=changed):
        make_trainer(tmp_path / "logistic", config=dcgan_config(), resume=wgan)
    make_trainer(tmp_path / "again", config=dcgan_config(loss="wgan-gp"), resume=wgan)


def test_stylegan_only_options_are_refused_for_dcgan(tmp_path):
    with pytest.raises(ValueError, match="freeze_d freezes StyleGAN2 discriminator blocks"):
        make_trainer(tmp_path / "f", config=dcgan_config(), freeze_d=2)
    G, D = DCGANGenerator(img_resolution=16, channel_max=16), DCGANDiscriminator(img_resolution=16, channel_max=16)
    with pytest.raises(ValueError, match=r"pl_weight=2.0\) and style mixing .* a DCGANGenerator needs both at 0"):
        StyleGAN2Loss(G, D)


@pytest.mark.parametrize("arch", ["stylegan2", "dcgan"])
def test_image_and_mask_pairs_train_together(tmp_path, arch):
    config = dcgan_config(c_dim=0, mask_channels=1) if arch == "dcgan" else tiny_config(c_dim=0, mask_channels=1)
    assert config.G_kwargs["img_channels"] == config.D_kwargs["img_channels"] == 2
    run = tmp_path / "run"
    trainer = make_trainer(run, config=config, dataset=BlobPairs(), p=0.5)
    assert trainer.G.mask_channels == 1 and trainer.augment.mask_channels == 1
    last = trainer.train(kimg=0.04)
    # Grids show 8 pairs per row: image then mask.
    assert Image.open(run / "fakes-000000.png").size == (16 * 16, 4 * 16)
    reals = Image.open(run / "reals.png")
    first_mask = torch.from_numpy(np.asarray(reals)[:16, 16:32].copy())
    assert torch.equal(first_mask == 255, BlobPairs().images[0, 1] > 0)
    G = load_generator(last)
    assert type(G) is (DCGANGenerator if arch == "dcgan" else StyleGenerator) and G.mask_channels == 1


def test_metrics_score_the_image_channels_of_pairs(tmp_path):
    scorer = FIDScorer(["fid"], extractor=PooledConv(), fid_bootstrap=0, fid_floor=False)
    tracker = MetricTracker(scorer, every_ticks=1, num_samples=16)
    dataset = BlobPairs()
    trainer = make_trainer(
        tmp_path / "run", config=dcgan_config(c_dim=0, mask_channels=1), dataset=dataset, metrics=tracker
    )
    trainer.train(kimg=0.004)
    rows = read_stats(tmp_path / "run" / "stats.jsonl")
    fakes = trainer._sample(*trainer.metric_inputs())[:, :1]
    expected = FIDScorer(["fid"], extractor=PooledConv()).score(dataset.images[:, :1], fakes)["fid"]
    assert rows[-1]["fid"] == pytest.approx(expected, rel=1e-6)


def test_dataset_and_config_must_agree_on_masks(tmp_path):
    with pytest.raises(ValueError, match=r"the dataset has 1 mask channel\(s\) but the config was resolved for 0"):
        make_trainer(tmp_path / "a", config=dcgan_config(c_dim=0), dataset=BlobPairs())
    with pytest.raises(ValueError, match=r"the dataset has 0 mask channel\(s\) but the config was resolved for 1"):
        make_trainer(tmp_path / "b", config=dcgan_config(c_dim=0, mask_channels=1), dataset=Blobs(c_dim=0))


def write_digits(root, size: int = 28, per_class: int = 4):
    """Two classes of 28 px images: a bright vertical bar ("1") or a ring ("0")."""
    y, x = np.mgrid[:size, :size]
    ring = np.abs(np.hypot(x - size / 2, y - size / 2) - size / 4) < 2
    bar = np.abs(x - size / 2) < 2
    rng = np.random.default_rng(0)
    for name, shape in (("zero", ring), ("one", bar)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(shape * 220 + rng.integers(0, 30, shape.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / name / f"{i}.png")
    return root


def test_command_line_trains_the_mnist_dcgan_and_generates_from_it(tmp_path, capsys):
    from medgan_aug.cli import main

    data = write_digits(tmp_path / "digits")
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--outdir", str(run), "--resolution", "28", "--arch", "dcgan"]
    args += ["--dcgan-preset", "mnist28", "--cond", "--batch", "8", "--kimg", "0.016", "--tick", "0.008"]
    args += ["--workers", "0", "--snap", "1", "--loss", "minimax"]
    assert main(args) == 0
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["arch"] == "dcgan" and config["loss"] == "minimax"
    assert config["G_kwargs"]["channels"] == [128, 64] and config["lr"] == 2e-4
    checkpoint = sorted(run.glob("training-*.pt"))[-1]
    capsys.readouterr()
    out = tmp_path / "synthetic"
    assert main(["generate", "--network", str(checkpoint), "--n", "4", "--classes", "0,1", "--out", str(out)]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(written) == 4 and all(Image.open(out / p).size == (28, 28) for p in written)
    G = load_generator(checkpoint)
    assert isinstance(G, DCGANGenerator) and G.c_dim == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--arch", "dcgan", "--cbase", "128"], "channel_base is a StyleGAN2 setting"),
        (["--arch", "dcgan", "--dcgan-preset", "mnist28"], "is the 28 px architecture; the data is at resolution 16"),
        (["--dcgan-preset", "mnist28"], "needs arch='dcgan'"),
        (["--arch", "dcgan", "--freezed", "2"], "freeze_d freezes StyleGAN2 discriminator blocks"),
    ],
)
def test_command_line_dcgan_errors(tmp_path, capsys, extra, message):
    from medgan_aug.cli import main

    data = write_digits(tmp_path / "digits", size=16)
    args = ["train", "--data", str(data), "--outdir", str(tmp_path / "run"), "--resolution", "16", "--workers", "0"]
    assert main(args + extra) == 1
    assert message in capsys.readouterr().err
