"""Two processes on the gloo backend, as torchrun would start them: one model, averaged gradients."""

from __future__ import annotations

import json

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from medgan_aug.train import GANTrainer, read_stats
from tests.test_trainer import Blobs, tiny_config


def _worker(rank: int, world: int, tmp: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        config = tiny_config(num_gpus=world)
        trainer = GANTrainer(
            config, Blobs(), f"{tmp}/run", kimg_per_tick=0.008, num_workers=0, progress=False, device="cpu", p=0.2
        )
        trainer.train(kimg=0.024)
        state = {name: torch.cat([p.detach().flatten() for p in getattr(trainer, name).parameters()]) for name in "GD"}
        state["G_ema"] = torch.cat([p.flatten() for p in trainer.G_ema.parameters()])
        state["p"] = trainer.augment.p.clone()
        torch.save(state, f"{tmp}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_train_one_model(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    for key in ("G", "D", "G_ema", "p"):
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    rows = read_stats(tmp_path / "run" / "stats.jsonl")
    # Only rank 0 writes: one row per tick (the first tick ends after the first minibatch).
    assert [row["tick"] for row in rows] == [0, 1, 2, 3] and rows[-1]["kimg"] == 0.024
    assert sorted(path.name for path in (tmp_path / "run").glob("training-*.pt")) == ["training-000000.pt"]


def test_torchrun_launches_the_command_line_trainer(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    from tests.test_trainer import write_folder

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    assert torchrun, "torchrun comes with torch"
    data = write_folder(tmp_path / "data")
    command = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "medgan_aug.cli", "train"]
    command += ["--data", str(data), "--outdir", str(tmp_path / "run"), "--resolution", "16", "--kimg", "0.016"]
    command += ["--batch", "4", "--cbase", "128", "--cmax", "16", "--cond", "--workers", "0", "--tick", "0.008"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["world_size"] == 2 and config["config"]["batch_gpu"] == 2
    assert read_stats(tmp_path / "run" / "stats.jsonl")[-1]["kimg"] == 0.016
