"""GANTrainer with the caller's own networks, augmentation pipeline and loss, and its own random streams."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from medgan_aug.augment import AdaptiveAugment
from medgan_aug.generate import load_generator
from medgan_aug.nets.errors import CheckpointError
from medgan_aug.train import GANLoss, LossStats, StyleGAN2Loss, read_stats
from tests.test_trainer import losses, make_trainer, tiny_config


class MLPGenerator(nn.Module):
    """A small conditional generator that is none of the library's."""

    def __init__(self, z_dim: int = 8, c_dim: int = 2, resolution: int = 16) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = z_dim, c_dim, resolution, 1
        self.net = nn.Sequential(nn.Linear(z_dim + c_dim, 64), nn.LeakyReLU(0.2), nn.Linear(64, resolution**2))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = torch.cat([z, c], dim=1) if c is not None else z
        return torch.tanh(self.net(x)).view(-1, 1, self.img_resolution, self.img_resolution)


class MLPDiscriminator(nn.Module):
    def __init__(self, c_dim: int = 2, resolution: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(resolution**2 + c_dim, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def forward(self, images: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        x = images.flatten(1)
        return self.net(torch.cat([x, c], dim=1) if c is not None else x)


class LeastSquaresLoss(nn.Module):
    """LSGAN, with a running mean of the real logits as a buffer the trainer must checkpoint."""

    def __init__(self, G: nn.Module, D: nn.Module, augment: AdaptiveAugment | None = None) -> None:
        super().__init__()
        self.G, self.D, self.augment = G, D, augment
        self.register_buffer("real_mean", torch.zeros([]))

    def _d(self, images: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self.D(self.augment(images) if self.augment is not None else images, c)

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain=1.0) -> LossStats:
        stats = LossStats()
        if phase in ("Gmain", "Gboth"):
            logits = self._d(self.G(gen_z, gen_c), gen_c)
            loss = (logits - 1).square()
            loss.mean().mul(gain).backward()
            stats.loss_g, stats.fake_logits = loss.detach(), logits.detach()
        if phase in ("Dmain", "Dboth"):
            with torch.no_grad():
                fakes = self.G(gen_z, gen_c)
            fake_logits, real_logits = self._d(fakes, gen_c), self._d(real_img, real_c)
            loss_fake, loss_real = fake_logits.square(), (real_logits - 1).square()
            (loss_fake + loss_real).mean().mul(gain).backward()
            with torch.no_grad():
                self.real_mean.lerp_(real_logits.mean(), 0.1)
            stats.loss_d_fake, stats.loss_d_real = loss_fake.detach(), loss_real.detach()
            stats.real_logits, stats.fake_logits = real_logits.detach(), fake_logits.detach()
        return stats


def own_config():
    config = tiny_config()
    # Path length and style mixing act on a StyleGenerator's w; an MLP has none.
    config.pl_weight = config.style_mixing_prob = 0.0
    return config


def own_parts(with_loss: bool = False, with_pipe: bool = False) -> dict:
    torch.manual_seed(0)
    G, D = MLPGenerator(), MLPDiscriminator()
    parts = {"G": G, "D": D}
    if with_pipe:
        parts["augment_pipe"] = AdaptiveAugment("bg", p=0.25, xflip=1, rotate90=0)
    if with_loss:
        parts["loss"] = LeastSquaresLoss(G, D, parts.get("augment_pipe"))
    return parts


def test_a_run_leaves_the_callers_random_stream_untouched(tmp_path):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    trainer = make_trainer(tmp_path / "run", seed=3, p=0.3)
    trainer.train(kimg=0.04)
    assert torch.equal(torch.get_rng_state(), before)
    # And what the caller draws in between does not change the run.
    torch.rand(1000)
    again = make_trainer(tmp_path / "again", seed=3, p=0.3)
    again.train(kimg=0.04)
    assert losses(read_stats(tmp_path / "again" / "stats.jsonl")) == losses(
        read_stats(tmp_path / "run" / "stats.jsonl")
    )


def test_own_networks_train_checkpoint_and_resume_exactly(tmp_path):
    straight = make_trainer(tmp_path / "straight", config=own_config(), **own_parts())
    straight.train(kimg=0.08)
    first = make_trainer(tmp_path / "resumed", config=own_config(), **own_parts())
    checkpoint = first.train(kimg=0.04)
    torch.rand(10)  # the caller's draws between the runs do not matter
    resumed = make_trainer(tmp_path / "resumed", config=own_config(), resume=checkpoint, **own_parts())
    resumed.train(kimg=0.08)
    for name in ("G", "D", "G_ema"):
        for key, value in getattr(straight, name).state_dict().items():
            assert torch.equal(value, getattr(resumed, name).state_dict()[key]), f"{name}.{key}"
    rows = read_stats(tmp_path / "straight" / "stats.jsonl")
    assert all(row["loss_g"] is not None and row["loss_d_real"] is not None for row in rows)
    assert (tmp_path / "straight" / "fakes-000000.png").is_file()
    info = json.loads((tmp_path / "straight" / "config.json").read_text())
    assert info["options"]["own_parts"] == {"G": "MLPGenerator", "D": "MLPDiscriminator"}
    with pytest.raises(CheckpointError, match="generator built by your own code"):
        load_generator(checkpoint)
    state = torch.load(checkpoint, weights_only=True)
    assert state["G_init_kwargs"] is None
    rebuilt = MLPGenerator()
    rebuilt.load_state_dict(state["G_ema"])
    # The resumed run wrote the last checkpoint under the same name.
    assert torch.equal(rebuilt.net[0].weight, resumed.G_ema.net[0].weight)


def test_own_loss_and_augmentation_pipeline(tmp_path):
    parts = own_parts(with_loss=True, with_pipe=True)
    trainer = make_trainer(tmp_path / "run", config=own_config(), ada_interval=1, ada_kimg=0.1, **parts)
    assert trainer.loss is parts["loss"] and trainer.augment is parts["augment_pipe"]
    assert trainer.augment.p.item() == pytest.approx(0.25)
    pipe, p_values = parts["augment_pipe"], []
    set_p = pipe.set_p
    pipe.set_p = lambda value: (p_values.append(round(value, 6)), set_p(value))
    checkpoint = trainer.train(kimg=0.04)
    # ADA measured the own loss's real logits and tuned the pipe's p (0.04 per minibatch here).
    assert trainer.ada.r_t is not None
    assert len(set(p_values)) > 1
    assert parts["loss"].real_mean.item() != 0
    state = torch.load(checkpoint, weights_only=True)
    assert set(state["loss_buffers"]) == {"real_mean"}
    assert torch.equal(state["loss_buffers"]["real_mean"], parts["loss"].real_mean)
    fresh = own_parts(with_loss=True, with_pipe=True)
    resumed = make_trainer(tmp_path / "run", config=own_config(), resume=checkpoint, **fresh)
    assert torch.equal(fresh["loss"].real_mean, parts["loss"].real_mean)
    assert resumed.augment.p.item() == trainer.augment.p.item()
    assert isinstance(parts["loss"], GANLoss)


def test_the_default_loss_keeps_only_its_own_buffer_in_checkpoints(tmp_path):
    trainer = make_trainer(tmp_path / "run")
    assert isinstance(trainer.loss, StyleGAN2Loss)
    assert set(trainer.state_dict()["loss_buffers"]) == {"pl_mean"}


def test_a_checkpoint_from_before_loss_buffers_resumes(tmp_path):
    trainer = make_trainer(tmp_path / "run")
    checkpoint = trainer.train(kimg=0.04)
    state = torch.load(checkpoint, weights_only=True)
    state["pl_mean"] = torch.tensor(1.25)
    del state["loss_buffers"], state["rng_cuda"]
    torch.save(state, tmp_path / "old.pt")
    resumed = make_trainer(tmp_path / "resumed", resume=tmp_path / "old.pt")
    assert resumed.loss.pl_mean.item() == 1.25 and resumed.cur_nimg == trainer.cur_nimg


def test_bad_own_parts_are_named(tmp_path):
    G, D = MLPGenerator(), MLPDiscriminator()
    config = own_config()
    with pytest.raises(ValueError, match="G and D go together"):
        make_trainer(tmp_path, config=config, G=G)
    with pytest.raises(ValueError, match="loss needs the networks"):
        make_trainer(tmp_path, config=config, loss=LeastSquaresLoss(G, D))
    with pytest.raises(TypeError, match="no accumulate_gradients"):
        make_trainer(tmp_path, config=config, G=G, D=D, loss=object())
    with pytest.raises(TypeError, match="has no attribute 'z_dim'"):
        make_trainer(tmp_path, config=config, G=MLPDiscriminator(), D=D)
    with pytest.raises(TypeError, match=r"D must be a torch\.nn\.Module"):
        make_trainer(tmp_path, config=config, G=G, D=lambda x, c: x)
    with pytest.raises(ValueError, match=r"G\.img_resolution is 32, but the config and dataset need 16"):
        make_trainer(tmp_path, config=config, G=MLPGenerator(resolution=32), D=D)
    with pytest.raises(ValueError, match=r"G\.c_dim is 0"):
        make_trainer(tmp_path, config=config, G=MLPGenerator(c_dim=0), D=D)
    with pytest.raises(ValueError, match="path-length regularisation"):
        make_trainer(tmp_path, config=tiny_config(), G=G, D=D)
    with pytest.raises(ValueError, match="freeze_d freezes"):
        make_trainer(tmp_path, config=config, G=G, D=D, freeze_d=1)
    pipe = AdaptiveAugment("bg")
    with pytest.raises(ValueError, match="augment='noaug'"):
        make_trainer(tmp_path, augment_pipe=pipe, augment="noaug")
    with pytest.raises(ValueError, match=r"p=0\.2 was given with augment_pipe"):
        make_trainer(tmp_path, augment_pipe=pipe, p=0.2)
    with pytest.raises(TypeError, match="augment_pipe must be an AdaptiveAugment"):
        make_trainer(tmp_path, augment_pipe=nn.Identity())
    with pytest.raises(ValueError, match="another pipeline than augment_pipe"):
        make_trainer(
            tmp_path, config=config, G=G, D=D, augment_pipe=pipe, loss=LeastSquaresLoss(G, D, AdaptiveAugment())
        )
    (tmp_path / "snapshot.pkl").write_bytes(b"")
    with pytest.raises(ValueError, match="cannot start a MLPGenerator/MLPDiscriminator run"):
        make_trainer(tmp_path, config=config, G=G, D=D, resume=tmp_path / "snapshot.pkl")


def test_the_best_snapshot_of_own_networks_is_their_state_dict(tmp_path):
    from tests.test_trainer_metrics import PooledConv, tracker

    run = tmp_path / "run"
    parts = own_parts()
    trainer = make_trainer(run, config=own_config(), metrics=tracker(tmp_path, PooledConv(), every_ticks=1), **parts)
    trainer.train(kimg=0.08)
    scored = [row for row in read_stats(run / "stats.jsonl") if "fid" in row]
    best = min(scored, key=lambda row: row["fid"])
    saved = torch.load(run / "best-network.pt", weights_only=True)
    assert saved["kimg"] == best["kimg"] and saved["metrics"]["fid"] == pytest.approx(best["fid"])
    rebuilt = MLPGenerator()
    rebuilt.load_state_dict(saved["G_ema"])
    if best["kimg"] == scored[-1]["kimg"]:
        assert torch.equal(rebuilt.net[0].weight, trainer.G_ema.net[0].weight)
