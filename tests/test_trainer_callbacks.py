"""GANTrainer callbacks: what a hook sees at every tick, grid, snapshot and the end; TensorBoard events read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from medgan_aug.train import TensorBoardCallback, TrainerCallback, read_stats
from tests.test_trainer import make_trainer


class Recorder(TrainerCallback):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_tick(self, trainer, stats):
        self.events.append(("tick", dict(stats)))

    def on_images(self, trainer, images, kimg):
        self.events.append(("images", (tuple(images.shape), kimg, images.min().item(), images.max().item())))

    def on_snapshot(self, trainer, path):
        self.events.append(("snapshot", path))

    def on_end(self, trainer, checkpoint):
        self.events.append(("end", checkpoint))


def test_callbacks_see_every_tick_grid_and_checkpoint_in_order(tmp_path: Path) -> None:
    recorder = Recorder()
    trainer = make_trainer(tmp_path / "run", callbacks=[recorder], snapshot_ticks=2)
    last = trainer.train(kimg=0.08)
    kinds = [kind for kind, _ in recorder.events]
    # Ticks 0, 1, 2 each with a grid; checkpoints at ticks 0 and 2 (the end); then the end.
    assert kinds == ["tick", "images", "snapshot", "tick", "images", "tick", "images", "snapshot", "end"]
    ticks = [payload for kind, payload in recorder.events if kind == "tick"]
    assert ticks == read_stats(tmp_path / "run" / "stats.jsonl")
    images = [payload for kind, payload in recorder.events if kind == "images"]
    assert [kimg for _, kimg, _, _ in images] == pytest.approx([row["kimg"] for row in ticks])
    assert all(shape[1:] == (1, 16, 16) for shape, _, _, _ in images)
    snapshots = [payload for kind, payload in recorder.events if kind == "snapshot"]
    assert snapshots[-1] == last == recorder.events[-1][1] and all(Path(p).is_file() for p in snapshots)


def test_callbacks_must_be_trainer_callbacks(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="callbacks must be TrainerCallback instances, got function"):
        make_trainer(tmp_path / "run", callbacks=[lambda trainer, stats: None])


def test_tensorboard_events_hold_the_ticks_and_the_grids(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = make_trainer(tmp_path / "run", callbacks=[TensorBoardCallback()])
    trainer.train(kimg=0.08)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    rows = read_stats(tmp_path / "run" / "stats.jsonl")
    losses = events.Scalars("scalar/loss_g")
    assert [event.step for event in losses] == [round(row["kimg"] * 1000) for row in rows]
    assert [event.value for event in losses] == pytest.approx([row["loss_g"] for row in rows], rel=1e-6)
    assert "scalar/p" in events.Tags()["scalars"]
    grids = events.Images("fakes")
    # One grid per tick: the 16 sample images, 8 to a row.
    assert len(grids) == len(rows) and (grids[0].width, grids[0].height) == (8 * 16, 2 * 16)


@pytest.mark.parametrize("flag", [None, "--tensorboard", "--no-tensorboard"])
def test_command_line_tensorboard_flag(tmp_path: Path, capsys, flag) -> None:
    from medgan_aug.cli import main
    from medgan_aug.train import callbacks
    from tests.test_trainer import write_folder

    installed = callbacks.tensorboard_available()
    if flag == "--tensorboard" and not installed:
        pytest.skip("tensorboard is not installed")
    data = write_folder(tmp_path / "data")
    args = ["train", "--data", str(data), "--outdir", str(tmp_path / "run"), "--resolution", "16", "--kimg", "0.004"]
    args += ["--batch", "4", "--cbase", "128", "--cmax", "16", "--map", "1", "--workers", "0", "--tick", "0.004"]
    assert main(args + ([flag] if flag else [])) == 0
    events = list((tmp_path / "run").glob("tensorboard/events.out.tfevents.*"))
    assert bool(events) == (flag == "--tensorboard" or (flag is None and installed))


def test_command_line_tensorboard_without_the_package(tmp_path: Path, capsys, monkeypatch) -> None:
    from medgan_aug.cli import main
    from medgan_aug.train import callbacks
    from tests.test_trainer import write_folder

    monkeypatch.setattr(callbacks, "tensorboard_available", lambda: False)
    data = write_folder(tmp_path / "data")
    args = ["train", "--data", str(data), "--outdir", str(tmp_path / "run"), "--resolution", "16", "--kimg", "0.004"]
    assert main([*args, "--tensorboard"]) != 0
    assert "--tensorboard needs the tensorboard package" in capsys.readouterr().err
    with pytest.raises(ImportError, match=r"pip install 'medgan-aug\[tensorboard\]'"):
        TensorBoardCallback()
