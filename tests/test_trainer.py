"""GANTrainer end to end on tiny networks: run directory, reproducibility, resume, faults."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

from medgan_aug.nets.errors import CheckpointError
from medgan_aug.train import GANTrainer, TrainerCallback, TrainingDivergedError, read_stats, resolve_config
from tests.conftest import SG2ADA

LOSS_KEYS = ("loss_g", "loss_d_real", "loss_d_fake", "r1_penalty", "pl_penalty", "p", "r_t")


class Blobs(torch.utils.data.Dataset):
    """A few random 16 px images with two classes."""

    def __init__(self, n: int = 32, channels: int = 1, c_dim: int = 2, nan: bool = False) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, channels, 16, 16, generator=generator) * 2 - 1
        if nan:
            self.images[:] = float("nan")
        self.labels = torch.nn.functional.one_hot(torch.arange(n) % max(c_dim, 1), max(c_dim, 1)).float()
        if c_dim == 0:
            self.labels = torch.zeros(n, 0)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


def tiny_config(c_dim: int = 2, channels: int = 1, **kwargs):
    config = resolve_config("auto", resolution=16, img_channels=channels, c_dim=c_dim, batch=4, **kwargs)
    config.G_kwargs.update(z_dim=16, w_dim=16)
    config.G_kwargs["synthesis_kwargs"].update(channel_base=128, channel_max=16)
    config.D_kwargs.update(channel_base=128, channel_max=16)
    return config


def make_trainer(outdir, dataset=None, config=None, **kwargs) -> GANTrainer:
    options = {"kimg_per_tick": 0.04, "snapshot_ticks": 1, "image_snapshot_ticks": 1, "num_workers": 0}
    options.update(kwargs)
    return GANTrainer(config or tiny_config(), dataset or Blobs(), outdir, progress=False, **options)


def losses(rows: list[dict]) -> list[dict]:
    return [{key: row.get(key) for key in LOSS_KEYS} for row in rows]


def test_a_run_writes_its_directory(tmp_path):
    trainer = make_trainer(tmp_path / "run", p=0.2)
    last = trainer.train(kimg=0.08)
    run = tmp_path / "run"
    rows = read_stats(run / "stats.jsonl")
    assert [row["tick"] for row in rows] == [0, 1, 2]
    assert rows[-1]["kimg"] == pytest.approx(0.08)
    for key in ("loss_g", "loss_d_real", "loss_d_fake", "img_per_sec"):
        assert all(key in row for row in rows), key
    # Lazy regularisation: R1 every 16 minibatches and path length every 4, so not in every tick.
    assert any("r1_penalty" in row for row in rows) and any("pl_penalty" in row for row in rows)
    for name in ("config.json", "reals.png", "fakes-000000.png", "loss.png", "augment.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "config.json").read_text())["options"]["augment"] == "ada"
    state = torch.load(last, weights_only=True)
    assert state["cur_nimg"] == 80 and state["batch_idx"] == 20
    assert not [name for name in os.listdir(run) if name.endswith(".tmp")]


class _Announces(TrainerCallback):
    def on_tick(self, trainer: GANTrainer, stats: dict) -> None:
        print(f"callback at tick {stats['tick']}", file=sys.stderr)


def test_what_callbacks_print_starts_on_its_own_line_not_after_the_progress_bar(tmp_path, capsys):
    trainer = make_trainer(tmp_path / "run", callbacks=[_Announces()])
    trainer.progress = True
    trainer.train(kimg=0.08)
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert [line for line in lines if "callback at tick" in line] == [f"callback at tick {tick}" for tick in range(3)]
    assert [line.split(":")[0] for line in lines if line.startswith("tick ")] == ["tick 0", "tick 1", "tick 2"]
    assert any(line.startswith("[") and "kimg" in line for line in lines)


def test_the_same_seed_gives_the_same_losses(tmp_path):
    first = make_trainer(tmp_path / "a", seed=3, p=0.3)
    first.train(kimg=0.04)
    second = make_trainer(tmp_path / "b", seed=3, p=0.3)
    second.train(kimg=0.04)
    a, b = read_stats(tmp_path / "a" / "stats.jsonl"), read_stats(tmp_path / "b" / "stats.jsonl")
    assert losses(a) == losses(b)
    third = make_trainer(tmp_path / "c", seed=4, p=0.3)
    third.train(kimg=0.04)
    assert losses(read_stats(tmp_path / "c" / "stats.jsonl")) != losses(a)


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    straight = make_trainer(tmp_path / "straight", p=0.2, ada_interval=2, ada_kimg=1)
    straight.train(kimg=0.08)
    first = make_trainer(tmp_path / "resumed", p=0.2, ada_interval=2, ada_kimg=1)
    checkpoint = first.train(kimg=0.04)
    resumed = make_trainer(tmp_path / "resumed", p=0.2, ada_interval=2, ada_kimg=1, resume=checkpoint)
    assert resumed.cur_nimg == 40 and resumed.augment.p.item() == first.augment.p.item()
    resumed.train(kimg=0.08)
    # Ticks end at other places (the first run's last tick ends at 0.04 kimg), so compare the states.
    for name in ("G", "D", "G_ema", "augment", "loss"):
        for (key, a), b in zip(
            getattr(straight, name).state_dict().items(), getattr(resumed, name).state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), f"{name}.{key}"
    assert resumed.ada.r_t == straight.ada.r_t
    assert read_stats(tmp_path / "resumed" / "stats.jsonl")[-1]["kimg"] == pytest.approx(0.08)


def test_non_finite_losses_stop_the_run_and_keep_the_last_checkpoint(tmp_path):
    good = make_trainer(tmp_path / "run")
    checkpoint = good.train(kimg=0.04)
    before = checkpoint.read_bytes()
    bad = make_trainer(tmp_path / "run", dataset=Blobs(nan=True), resume=checkpoint)
    with pytest.raises(TrainingDivergedError, match="non-finite"):
        bad.train(kimg=0.12)
    assert checkpoint.read_bytes() == before
    assert sorted(path.name for path in (tmp_path / "run").glob("training-*.pt")) == [checkpoint.name]


def test_a_crash_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path / "run")
    checkpoint = trainer.train(kimg=0.04)
    before = checkpoint.read_bytes()

    def crash(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr("medgan_aug.nets.checkpoint.torch.save", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint()
    monkeypatch.undo()
    assert checkpoint.read_bytes() == before
    assert not [name for name in os.listdir(tmp_path / "run") if name.endswith(".tmp")]
    resumed = make_trainer(tmp_path / "run", resume=checkpoint)
    assert resumed.cur_nimg == 40
    resumed.train(kimg=0.08)


def test_fixed_and_no_augmentation(tmp_path):
    fixed = make_trainer(tmp_path / "fixed", augment="fixed", p=0.3)
    fixed.train(kimg=0.04)
    assert fixed.augment.p.item() == pytest.approx(0.3)
    none = make_trainer(tmp_path / "none", augment="noaug")
    none.train(kimg=0.02)
    assert none.augment is None and read_stats(tmp_path / "none" / "stats.jsonl")[-1]["p"] == 0.0


def test_freeze_d_keeps_the_first_layers_fixed(tmp_path):
    trainer = make_trainer(tmp_path / "run", freeze_d=2)
    before = {name: tensor.clone() for name, tensor in trainer.D.named_buffers() if "fromrgb" in name}
    assert before
    trainer.train(kimg=0.02)
    for name, tensor in trainer.D.named_buffers():
        if name in before:
            assert torch.equal(tensor, before[name]), name


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="conditional run needs labels of 2 classes"):
        make_trainer(tmp_path, dataset=Blobs(c_dim=0))
    with pytest.raises(ValueError, match=r"dataset images have shape \(3, 16, 16\)"):
        make_trainer(tmp_path, dataset=Blobs(channels=3))
    with pytest.raises(ValueError, match="augment must be one of ada, fixed, noaug"):
        make_trainer(tmp_path, augment="always")
    with pytest.raises(ValueError, match="augpipe must be one of"):
        make_trainer(tmp_path, augpipe="xyz")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        make_trainer(tmp_path, resume=tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a medgan-aug training checkpoint"):
        make_trainer(tmp_path, resume=tmp_path / "other.pt")


def test_resume_from_a_stylegan2_ada_snapshot_transfers_its_weights(tmp_path):
    path = SG2ADA / "g32.pkl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = torch.load(SG2ADA / "g32.pt", weights_only=True)
    config = resolve_config("auto", resolution=32, img_channels=1, c_dim=2, batch=4)
    config.G_kwargs.update({k: v for k, v in data["G_kwargs"].items() if k not in ("c_dim", "img_channels")})
    config.D_kwargs.update({k: v for k, v in data["D_kwargs"].items() if k not in ("c_dim", "img_channels")})

    class Blobs32(Blobs):
        def __init__(self) -> None:
            super().__init__()
            self.images = torch.nn.functional.interpolate(self.images, size=32)

    with pytest.warns(UserWarning):
        trainer = make_trainer(tmp_path / "run", dataset=Blobs32(), config=config, resume=path)
    weight = data["G_state"]["synthesis.b16.conv1.weight"]
    assert torch.equal(trainer.G_ema.synthesis.b16.conv1.weight, weight)
    assert trainer.cur_nimg == 0
    trainer.train(kimg=0.008)


def write_folder(root, classes=("benign", "malignant"), per_class=4):
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (torch.rand(16, 16, generator=generator) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels, mode="L").save(root / name / f"{i}.png")
    return root


def test_command_line_training_run(tmp_path, capsys):
    from medgan_aug.cli import main

    data = write_folder(tmp_path / "data")
    args = ["train", "--data", str(data), "--outdir", str(tmp_path / "run"), "--resolution", "16", "--kimg", "0.008"]
    args += ["--batch", "4", "--cbase", "128", "--cmax", "16", "--map", "1", "--cond", "--mirror", "--workers", "0"]
    args += ["--snap", "1", "--tick", "0.004", "--aug", "fixed", "--p", "0.3", "--no-color"]
    assert main(args) == 0
    assert "done:" in capsys.readouterr().out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["c_dim"] == 2 and config["config"]["G_kwargs"]["mapping_kwargs"]["num_layers"] == 1
    assert config["dataset"]["mirror"] and config["options"]["color"] is False
    assert read_stats(tmp_path / "run" / "stats.jsonl")[-1]["kimg"] == pytest.approx(0.008)
    resumed = [*args[:8], "0.016", *args[9:], "--resume", str(tmp_path / "run" / "training-000000.pt")]
    assert main(resumed) == 0
    assert read_stats(tmp_path / "run" / "stats.jsonl")[-1]["kimg"] == pytest.approx(0.016)


def test_command_line_errors(tmp_path, capsys):
    from medgan_aug.cli import main

    data = write_folder(tmp_path / "flat", classes=("all",))
    assert main(["train", "--data", str(data), "--outdir", str(tmp_path / "run"), "--cond"]) == 2
    assert "--cond needs labels" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--outdir", str(tmp_path / "run")]) == 1
    assert "nowhere" in capsys.readouterr().err


def test_channels_last_training_follows_the_contiguous_run(tmp_path):
    contiguous = make_trainer(tmp_path / "nchw", seed=1, augment="noaug")
    contiguous.train(kimg=0.016)
    channels_last = make_trainer(tmp_path / "nhwc", config=tiny_config(channels_last=True), seed=1, augment="noaug")
    assert channels_last.G.memory_format == channels_last.D.memory_format == torch.channels_last
    assert channels_last.G_ema.memory_format == torch.channels_last
    last = channels_last.train(kimg=0.016)
    a, b = read_stats(tmp_path / "nchw" / "stats.jsonl"), read_stats(tmp_path / "nhwc" / "stats.jsonl")
    for row_a, row_b in zip(losses(a), losses(b), strict=True):
        for key, value in row_a.items():
            # Float32 sums in another order drift apart a little over the steps.
            assert (value is None) == (row_b[key] is None), key
            assert value is None or value == pytest.approx(row_b[key], rel=1e-3, abs=1e-4), key
    assert json.loads((tmp_path / "nhwc" / "config.json").read_text())["config"]["channels_last"] is True
    # A channels-last checkpoint resumes into a contiguous run (and the other way round).
    resumed = make_trainer(tmp_path / "nhwc", seed=1, augment="noaug", resume=last)
    assert resumed.G.memory_format == torch.contiguous_format
    for key, value in channels_last.G.state_dict().items():
        assert torch.equal(resumed.G.state_dict()[key], value), key


def test_channels_last_is_a_stylegan2_option():
    with pytest.raises(ValueError, match="channels_last"):
        resolve_config("auto", resolution=16, img_channels=1, arch="dcgan", channels_last=True)


@pytest.mark.parametrize("allow", [False, True])
def test_allow_tf32_holds_while_training_and_is_restored(tmp_path, monkeypatch, allow):
    seen = []

    def fake_train(self, kimg):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return tmp_path

    monkeypatch.setattr(GANTrainer, "_train", fake_train)
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not allow
    try:
        trainer = make_trainer(tmp_path / "run", config=tiny_config(allow_tf32=allow))
        assert trainer.train() == tmp_path
        assert seen == [(allow, allow)]
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (not allow, not allow)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_tf32_is_off_by_default_as_in_stylegan2_ada():
    config = resolve_config("auto", resolution=16, img_channels=1)
    assert config.allow_tf32 is False and config.channels_last is False


def test_command_line_channels_last_and_tf32(tmp_path, capsys):
    from medgan_aug.cli import main

    data = write_folder(tmp_path / "data")
    args = ["train", "--data", str(data), "--outdir", str(tmp_path / "run"), "--resolution", "16", "--kimg", "0.004"]
    args += ["--batch", "4", "--cbase", "128", "--cmax", "16", "--map", "1", "--workers", "0", "--snap", "1"]
    args += ["--tick", "0.004", "--aug", "noaug", "--channels-last", "--allow-tf32"]
    assert main(args) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["channels_last"] is True and config["allow_tf32"] is True
