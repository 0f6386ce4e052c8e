"""GAN training speed per torch thread count on an idle machine and beside busy processes, and the demo's time.

Each cell trains a class-conditional StyleGAN2 with ADA (:class:`GANTrainer`, in-memory grayscale images, three
classes, no workers) in a fresh process for about ``--seconds`` and reports the images per second of its steady
tick (every minibatch after the first). Networks:

- ``demo``: ``medgan-aug demo``'s default preset (32 px, channel base 2048, at most 64 channels, batch 32);
- ``auto64``: the trainer's ``auto`` preset at 64 px (channel base 16384, at most 512 channels, batch 32).

Thread settings: ``1``, ``2``, ... fixed (``torch.set_num_threads``), ``2-passive`` (two threads with
``OMP_WAIT_POLICY=PASSIVE``: waiting threads sleep instead of spinning) and ``auto``
(:class:`medgan_aug.threads.ThreadPolicy`, what the command line does by default). Competing load: 0, 1, 2, ...
busy processes (a Python loop each) started a second before the cell and stopped after it. Settings take turns
within each of ``--rounds`` rounds and the table shows the median.

``--demo`` also times ``medgan-aug demo`` (the default preset) idle and beside each competing load, and reports
the ratio to the idle time (the done-when of the thread policy: within 2x with one busy process on 2 cores).

Usage::

    python benchmarks/threads_bench.py [--networks demo auto64] [--threads 1 2 2-passive auto] [--busy 0 1 2]
        [--rounds 2] [--seconds 20] [--demo] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NETWORKS = {
    # resolution, channel_base, channel_max, z/w dims (None: the preset's), batch, images per second at 1 thread
    "demo": {"resolution": 32, "channel_base": 2048, "channel_max": 64, "latent": 64, "batch": 32},
    "auto64": {"resolution": 64, "channel_base": None, "channel_max": None, "latent": None, "batch": 32},
}
_BUSY = "while True:\n    pass\n"


def worker(network: str, threads: str, seconds: float) -> dict:
    """Train one network in this process at ``threads`` and return its steady images per second."""
    import torch

    from medgan_aug.runtime import retain_freed_memory
    from medgan_aug.threads import use_threads
    from medgan_aug.train import GANTrainer, read_stats, resolve_config

    retain_freed_memory()
    policy = use_threads("auto" if threads == "auto" else int(threads.split("-")[0]))
    spec = NETWORKS[network]
    res, classes = spec["resolution"], 3
    config = resolve_config(
        "auto", resolution=res, img_channels=1, c_dim=classes, batch=spec["batch"], kimg=1.0,
        channel_base=spec["channel_base"], channel_max=spec["channel_max"],
    )  # fmt: skip
    if spec["latent"]:
        config.G_kwargs.update(z_dim=spec["latent"], w_dim=spec["latent"])
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(256, 1, res, res, generator=generator) * 2 - 1
    labels = torch.eye(classes)[torch.arange(256) % classes]
    dataset = torch.utils.data.TensorDataset(images, labels)
    with tempfile.TemporaryDirectory() as outdir:
        # A short calibration tick sizes the measured one to about ``seconds``.
        trainer = GANTrainer(
            config, dataset, outdir, augment="ada", device="cpu", kimg_per_tick=2 * config.batch / 1000,
            snapshot_ticks=10**6, image_snapshot_ticks=10**6, num_workers=0, progress=False,
        )  # fmt: skip
        trainer.train(kimg=3 * config.batch / 1000)
        rate = read_stats(f"{outdir}/stats.jsonl")[-1]["img_per_sec"]
        steps = max(2, round(rate * seconds / config.batch))
        trainer.kimg_per_tick = steps * config.batch / 1000
        trainer.train(kimg=trainer.cur_nimg / 1000 + trainer.kimg_per_tick)
        row = read_stats(f"{outdir}/stats.jsonl")[-1]
    return {
        "img_per_sec": row["img_per_sec"],
        "seconds": row["sec_per_tick"],
        "threads_used": sorted({change.threads for change in policy.history}),
        "final_threads": policy.threads,
    }


def start_busy(count: int) -> list[subprocess.Popen]:
    processes = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(count)]
    time.sleep(1.0 if processes else 0.0)
    return processes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.kill()
        process.wait()


def cell(network: str, threads: str, busy: int, seconds: float) -> dict:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if threads.endswith("-passive"):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    processes = start_busy(busy)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", network, threads, str(seconds)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        stop(processes)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_demo(busy: int, out_dir: Path, extra: list[str]) -> dict:
    """Run the demo beside ``busy`` busy processes: its wall time, GAN-training time, expectation and threads."""
    processes = start_busy(busy)
    try:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "medgan_aug.cli", "demo", "--out", str(out_dir), "--overwrite", *extra],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wall = time.perf_counter() - start
    finally:
        stop(processes)
    summary = (out_dir / "summary.md").read_text()
    gan = re.search(r"^\| train conditional GAN with ADA \| ([\d.]+) \|", summary, re.MULTILINE)
    steps = re.search(r"^\| total \| ([\d.]+) \|", summary, re.MULTILINE)
    expected = re.search(r"expected duration on this machine: about ([\d.]+) (min|s)", summary)
    threads = re.search(r"^- (torch threads: .*)$", summary, re.MULTILINE)
    return {
        "wall": wall,
        "steps": float(steps.group(1)) if steps else math.nan,
        "gan": float(gan.group(1)) if gan else math.nan,
        "expected": float(expected.group(1)) * (60 if expected.group(2) == "min" else 1) if expected else math.nan,
        "threads": threads.group(1) if threads else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--threads", nargs="+", default=["1", "2", "2-passive", "auto"])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2], help="competing busy processes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured tick")
    parser.add_argument("--demo", action="store_true", help="also time the default demo idle and under load")
    parser.add_argument("--demo-args", nargs=argparse.REMAINDER, default=[], help="extra demo arguments")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        network, threads, seconds = args.worker
        print(json.dumps(worker(network, threads, float(seconds))))
        return

    results: dict[tuple[str, str, int], list[dict]] = {}
    for round_index in range(args.rounds):
        for network in args.networks:
            for busy in args.busy:
                for threads in args.threads:
                    found = cell(network, threads, busy, args.seconds)
                    results.setdefault((network, threads, busy), []).append(found)
                    print(
                        f"round {round_index + 1}: {network:>6} threads {threads:>9} busy {busy}: "
                        f"{found['img_per_sec']:7.2f} img/s (threads used {found['threads_used']})",
                        flush=True,
                    )

    cores = len(os.sched_getaffinity(0))
    lines = [
        f"Training img/s on {cores} cores (median of {args.rounds} rounds); in brackets: the ratio to the "
        "network's best idle rate.",
        "",
        "| network | threads | " + " | ".join(f"{busy} busy" for busy in args.busy) + " |",
        "|---|---|" + "---:|" * len(args.busy),
    ]
    table = {}
    for network in args.networks:
        medians = {
            (threads, busy): statistics.median(r["img_per_sec"] for r in results[(network, threads, busy)])
            for threads in args.threads
            for busy in args.busy
        }
        best_idle = max(medians[(threads, args.busy[0])] for threads in args.threads)
        for threads in args.threads:
            cells = [
                f"{medians[(threads, busy)]:.1f} ({medians[(threads, busy)] / best_idle:.2f})" for busy in args.busy
            ]
            lines.append(f"| {network} | {threads} | " + " | ".join(cells) + " |")
        table[network] = {f"{threads}@{busy}": value for (threads, busy), value in medians.items()}

    demo = {}
    if args.demo:
        with tempfile.TemporaryDirectory() as folder:
            for busy in args.busy:
                demo[busy] = time_demo(busy, Path(folder) / "demo", args.demo_args)
                print(f"demo with {busy} busy: {demo[busy]}", flush=True)
        idle = demo[args.busy[0]]
        lines += [
            "",
            f"Demo (default preset, --threads auto); after-GAN steps per GAN second when idle: "
            f"{(idle['steps'] - idle['gan']) / idle['gan']:.2f}",
            "",
            "| competing | wall s | vs idle | GAN training s | expected after tick 1 (s) | threads |",
            "|---|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {busy} busy | {d['wall']:.0f} | {d['wall'] / idle['wall']:.2f}x | {d['gan']:.0f} | "
            f"{d['expected']:.0f} | {d['threads']} |"
            for busy, d in demo.items()
        ]

    import torch

    print()
    print(f"torch {torch.__version__}, {cores} cores, default {torch.get_num_threads()} threads")
    print("\n".join(lines))
    if args.json:
        payload = {"table": table, "demo": demo, "cells": {"|".join(map(str, k)): v for k, v in results.items()}}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
