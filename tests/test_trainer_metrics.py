"""FID tracking during training: scores in the stats, the best snapshot, early stopping, resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medgan_aug.metrics import FIDScorer
from medgan_aug.nets import load_network
from medgan_aug.train import MetricTracker, read_stats
from tests.test_trainer import make_trainer


class PooledConv(nn.Module):
    """A fixed random convolution and global average pooling: 8 features that depend on the images."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


class Constant(nn.Module):
    """The same features for every image: FID is the same at every evaluation, so nothing ever improves."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.arange(4.0).expand(x.shape[0], 4) + 0 * x.mean()


def tracker(tmp_path, extractor: nn.Module, **kwargs) -> MetricTracker:
    # As `train --metrics` builds it: tracking compares FIDs at one size, without interval or floor.
    scorer = FIDScorer(
        ["fid", "kid"],
        extractor=extractor,
        kid_subset_size=8,
        cache_dir=tmp_path / "cache",
        fid_bootstrap=0,
        fid_floor=False,
    )
    return MetricTracker(scorer, **{"num_samples": 16, **kwargs})


def test_scores_join_the_stats_and_the_best_snapshot_is_kept(tmp_path):
    run = tmp_path / "run"
    trainer = make_trainer(run, metrics=tracker(tmp_path, PooledConv(), every_ticks=2))
    trainer.train(kimg=0.16)
    rows = read_stats(run / "stats.jsonl")
    scored = [row for row in rows if "fid" in row]
    # Ticks 0, 2 and the last one (4) are evaluated.
    assert [row["tick"] for row in scored] == [0, 2, 4]
    assert all(row["fid"] >= 0 and "kid_mean" in row for row in scored)
    best = min(scored, key=lambda row: row["fid"])
    assert scored[-1]["best_fid"] == best["fid"]
    network = load_network(run / "best-network.pt")
    assert network.checkpoint_metadata["kimg"] == best["kimg"]
    assert network.checkpoint_metadata["fid"] == pytest.approx(best["fid"])
    assert (run / "metrics.png").is_file()


def test_the_best_snapshot_is_the_generator_that_scored_it(tmp_path):
    run = tmp_path / "run"
    trainer = make_trainer(run, metrics=tracker(tmp_path, PooledConv(), every_ticks=1))
    trainer.train(kimg=0.12)
    scored = [row for row in read_stats(run / "stats.jsonl") if "fid" in row]
    assert len(scored) == 4
    # Scoring best-network.pt on the evaluation latents again gives the best FID recorded during the run.
    network = load_network(run / "best-network.pt")
    z, c = trainer.metric_inputs()
    with torch.no_grad():
        images = network(z, c, noise_mode="const")
    rescored = trainer.metrics.scorer.score(trainer.dataset, images)
    assert rescored["fid"] == pytest.approx(min(row["fid"] for row in scored), rel=1e-5)


def test_patience_stops_a_run_that_no_longer_improves(tmp_path):
    run = tmp_path / "run"
    trainer = make_trainer(run, metrics=tracker(tmp_path, Constant(), every_ticks=1, patience=2))
    trainer.train(kimg=0.4)
    rows = read_stats(run / "stats.jsonl")
    # Tick 0 sets the best; ticks 1 and 2 do not beat it: the run stops after tick 2, well before 0.4 kimg.
    assert [row["tick"] for row in rows] == [0, 1, 2]
    assert trainer.cur_nimg < 400
    assert (run / f"training-{trainer.cur_nimg // 1000:06d}.pt").is_file()


def test_resume_continues_the_best_score_and_patience(tmp_path):
    run = tmp_path / "run"
    first = make_trainer(run, metrics=tracker(tmp_path, Constant(), every_ticks=1, patience=3))
    last = first.train(kimg=0.04)
    assert first.metrics.since_best == 1
    again = make_trainer(run, metrics=tracker(tmp_path, Constant(), every_ticks=1, patience=3), resume=last)
    assert again.metrics.state_dict() == first.metrics.state_dict()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"every_ticks": 0}, "every_ticks"), ({"num_samples": 1}, "num_samples"), ({"patience": 0}, "patience")],
)
def test_bad_tracker_arguments_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tracker(tmp_path, PooledConv(), **kwargs)


def test_an_unknown_key_is_reported(tmp_path):
    trainer = make_trainer(tmp_path / "run", metrics=tracker(tmp_path, PooledConv(), key="precision"))
    with pytest.raises(KeyError, match="precision"):
        trainer.train(kimg=0.04)


def _folder(tmp_path):
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(6):
            pixels = (torch.rand(16, 16, generator=generator) * 255).byte().numpy()
            Image.fromarray(pixels).save(tmp_path / "data" / label / f"{i}.png")
    return tmp_path / "data"


def _small_train_args(tmp_path) -> list[str]:
    args = ["train", "--data", str(_folder(tmp_path)), "--outdir", str(tmp_path / "run"), "--resolution", "16"]
    return [*args, "--kimg", "0.02", "--tick", "0.01", "--batch", "4", "--cbase", "128", "--cmax", "16"]


def test_cli_tracks_fid_with_a_local_timm_extractor(tmp_path):
    timm = pytest.importorskip("timm")
    from medgan_aug.cli import main

    weights = tmp_path / "features.pth"
    torch.save(timm.create_model("test_resnet", pretrained=False, num_classes=0).state_dict(), weights)
    args = [*_small_train_args(tmp_path), "--workers", "0", "--metrics", "fid", "--metric-ticks", "1"]
    args += ["--metric-samples", "8", "--metric-extractor", "timm:test_resnet", "--metric-weights", str(weights)]
    assert main(args) == 0
    rows = read_stats(tmp_path / "run" / "stats.jsonl")
    assert all("fid" in row for row in rows) and (tmp_path / "run" / "best-network.pt").is_file()


def test_cli_reports_missing_inception_weights_before_training(tmp_path, capsys):
    from medgan_aug.cli import main
    from medgan_aug.metrics.weights import MetricsWeightsError, check_weights_available

    try:
        check_weights_available("inception-v3-compat")
    except MetricsWeightsError:
        pass
    else:
        pytest.skip("the Inception weights are available here")
    assert main([*_small_train_args(tmp_path), "--metrics", "fid,kid"]) == 1
    err = capsys.readouterr().err
    assert "weights of feature extractor 'inception-v3-compat' are missing" in err and "--metric-weights" in err
    assert not (tmp_path / "run").exists()


def test_cli_patience_needs_metrics(tmp_path, capsys):
    from medgan_aug.cli import main

    assert main([*_small_train_args(tmp_path), "--patience", "3"]) == 1
    assert "--patience needs --metrics" in capsys.readouterr().err


def test_training_time_tracking_refuses_the_copying_audit():
    scorer = FIDScorer(["fid", "copying"], extractor="pixels", fid_bootstrap=0, fid_floor=False)
    with pytest.raises(ValueError, match="copying audit needs held-out real images"):
        MetricTracker(scorer)
