"""The CPU thread policy: load measured from the kernel's accounting, threads chosen from it, applied everywhere."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from medgan_aug import threads
from medgan_aug.threads import (
    CpuLoad,
    CpuLoadMeter,
    ThreadPolicy,
    parse_threads,
    threads_for_load,
    usable_cores,
)

linux_only = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux's /proc/stat")


@pytest.fixture(autouse=True)
def restore_threads():
    """Every test leaves torch's thread count and the active policy as it found them."""
    before, active = torch.get_num_threads(), threads._active
    yield
    torch.set_num_threads(before)
    threads._active = active


def load(cores: int, others: float, load_average: float | None = None) -> CpuLoad:
    return CpuLoad(cores, others, load_average, 1.0)


@pytest.mark.parametrize(
    ("cores", "others", "max_threads", "expected"),
    [
        (2, 0.0, 2, 2),  # idle: every core
        (2, 0.2, 2, 2),  # a browser tab: the core still counts as free
        (2, 0.3, 2, 1),  # a core used over a quarter of the time gets no thread
        (2, 1.0, 2, 1),  # one busy process on two cores
        (2, 2.0, 2, 1),  # everything busy: still one thread
        (8, 3.2, 8, 5),  # four busy cores and a lightly used one
        (8, 0.0, 4, 4),  # never above torch's own default (OMP_NUM_THREADS)
    ],
)
def test_one_thread_per_free_core(cores: int, others: float, max_threads: int, expected: int) -> None:
    assert threads_for_load(load(cores, others), max_threads) == expected


def test_without_a_measurement_torch_keeps_its_default() -> None:
    assert threads_for_load(None, 3) == 3


def test_busy_means_half_a_core_used_by_other_processes() -> None:
    assert not load(2, 0.4, 1.5).busy
    assert load(2, 0.5).busy
    # A load average above the cores from work that has just ended (or from this process) is not busy.
    assert not load(2, 0.1, 2.5).busy
    assert load(2, 1.0).free == 1.0 and load(2, 3.0).free == 0.0
    assert load(2, 1.04, 1.93).describe() == "other processes use 1.0 of 2 cores (load average 1.9)"


def _write_proc(root: Path, cpus: dict[int, tuple[int, int]], own: int, outside: int = 0) -> None:
    """A /proc with per-CPU (busy, idle) ticks, a CPU outside this process's mask, and this process's ticks."""
    lines = ["cpu  1 2 3 4 5 6 7 8 0 0"]
    for index, (busy, idle) in cpus.items():
        # user nice system idle iowait irq softirq steal guest guest_nice: busy time spread over five fields.
        part = busy // 5
        rest = busy - 4 * part
        lines.append(f"cpu{index} {part} {part} {part} {idle - 10} 10 {part} {rest} 0 7 3")
    lines.append(f"cpu{max(cpus) + 1000} {outside} 0 0 0 0 0 0 0 0 0")
    (root / "self").mkdir(parents=True, exist_ok=True)
    (root / "stat").write_text("\n".join(lines) + "\nintr 0\n")
    # A command name with spaces and a parenthesis: utime (14th field) and stime (15th) follow the last ')'.
    fields = ["S", *["0"] * 10, str(own - own // 3), str(own // 3), *["0"] * 30]
    (root / "self" / "stat").write_text(f"1234 (my (odd) name) {' '.join(fields)}\n")


def test_meter_counts_other_processes_on_this_process_cores_only(tmp_path: Path) -> None:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    _write_proc(tmp_path, {cpu: (1000, 5000) for cpu in cpus}, own=300)
    meter = CpuLoadMeter(tmp_path)
    assert meter.available
    # Over the window each CPU gains 100 ticks: 60 busy, 40 idle; this process used 50 of the busy ticks;
    # a CPU outside the mask is fully busy and must not count.
    _write_proc(tmp_path, {cpu: (1060, 5040) for cpu in cpus}, own=350, outside=10**6)
    measured = meter.read()
    assert measured is not None
    expected = (60 * len(cpus) - 50) / (100 * len(cpus)) * len(cpus)
    assert measured.others == pytest.approx(min(expected, measured.cores))
    # Nothing new since: no window, no measurement.
    assert meter.read() is None


def test_meter_is_unavailable_without_proc(tmp_path: Path) -> None:
    meter = CpuLoadMeter(tmp_path / "missing")
    assert not meter.available and meter.read() is None


def test_usable_cores_follows_a_cgroup_quota(tmp_path: Path) -> None:
    affinity = usable_cores(tmp_path / "missing")
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert usable_cores(quota) == min(affinity, 2)
    quota.write_text("max 100000\n")
    assert usable_cores(quota) == affinity


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@linux_only
def test_meter_sees_a_busy_process_and_not_this_one() -> None:
    """This process spins in both windows; a busy child process in one of them adds about one core."""
    meter = CpuLoadMeter()
    _spin(1.0)
    quiet = meter.read()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        meter.read()
        _spin(1.0)
        loaded = meter.read()
    finally:
        busy.kill()
        busy.wait()
    assert quiet is not None and loaded is not None
    if quiet.cores < 2:
        pytest.skip("one core: the two spinning processes share it")
    assert 0.6 < loaded.others - quiet.others < 1.3


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5", ""])
def test_bad_thread_counts_name_the_option(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--threads"):
        parse_threads(text)
    assert parse_threads("auto") == "auto" and parse_threads("3") == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "all"])
def test_policy_rejects_bad_settings(bad: object) -> None:
    with pytest.raises(ValueError, match="threads"):
        ThreadPolicy(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval"):
        ThreadPolicy("auto", interval=0)


class ScriptedMeter(CpuLoadMeter):
    """Reports the given loads in turn (the last one from then on)."""

    def __init__(self, *others: float, cores: int = 2) -> None:
        self.loads = [load(cores, value) for value in others]
        self.reads = 0

    @property
    def available(self) -> bool:
        return True

    def read(self) -> CpuLoad | None:
        self.reads += 1
        return self.loads[min(self.reads, len(self.loads)) - 1]


def test_a_fixed_count_is_set_and_restored_after_the_block() -> None:
    torch.set_num_threads(2)
    with ThreadPolicy(1) as policy:
        assert torch.get_num_threads() == 1 and threads.active_policy() is policy
        assert policy.adjust() == 1 and policy.last_load is None
    assert torch.get_num_threads() == 2 and threads.active_policy() is not policy


def test_auto_follows_the_load_between_steps() -> None:
    torch.set_num_threads(2)
    meter = ScriptedMeter(0.0, 1.0, 1.0, 0.1)
    policy = ThreadPolicy("auto", interval=0.05, meter=meter)
    assert policy.start(seconds=0) == 2 and policy.max_threads == 2
    # Before the interval has passed nothing is measured.
    assert policy.adjust() == 2 and meter.reads == 1
    time.sleep(0.06)
    assert policy.adjust() == 1 and torch.get_num_threads() == 1
    time.sleep(0.06)
    assert policy.adjust() == 1
    time.sleep(0.06)
    assert policy.adjust() == 2 and torch.get_num_threads() == 2
    # Only the changes are recorded, each with the load it came from.
    assert [(change.threads, change.load.others) for change in policy.history] == [(2, 0.0), (1, 1.0), (2, 0.1)]
    assert policy.last_load == meter.loads[-1]


def test_adjust_threads_is_a_no_op_without_an_active_policy() -> None:
    threads._active = None
    torch.set_num_threads(2)
    assert threads.adjust_threads() == 2


def _tiny_trainer(tmp_path: Path, callbacks):
    from medgan_aug.train import GANTrainer, resolve_config

    config = resolve_config(
        "auto", resolution=8, img_channels=1, batch=4, kimg=0.032, channel_base=64, channel_max=16, mapping_layers=1
    )
    images = torch.rand(16, 1, 8, 8) * 2 - 1
    dataset = torch.utils.data.TensorDataset(images, torch.zeros(16, 0))
    return GANTrainer(
        config, dataset, tmp_path / "run", device="cpu", kimg_per_tick=0.004, snapshot_ticks=10**6,
        image_snapshot_ticks=10**6, num_workers=0, progress=False, callbacks=callbacks,
    )  # fmt: skip


def test_the_trainer_lets_the_active_policy_adjust_between_steps(tmp_path: Path) -> None:
    from medgan_aug.train.callbacks import TrainerCallback

    seen: list[int] = []

    class Threads(TrainerCallback):
        def on_tick(self, trainer, stats) -> None:
            seen.append(torch.get_num_threads())

    torch.set_num_threads(2)
    # Idle at the start, then another process takes a core for the rest of the run.
    with ThreadPolicy("auto", interval=1e-6, meter=ScriptedMeter(0.0, 1.0)) as policy:
        _tiny_trainer(tmp_path, [Threads()]).train()
    assert seen[-1] == 1 and [change.threads for change in policy.history] == [2, 1]
    assert torch.get_num_threads() == 2


def test_every_computing_command_takes_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from medgan_aug import cli

    applied: list[object] = []
    monkeypatch.setattr(cli, "use_threads", applied.append)
    monkeypatch.setattr(cli, "retain_freed_memory", lambda: True)
    parser = cli._parser()
    commands = ["train", "generate", "prepare", "slice", "score", "selftrain", "demo"]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in commands:
        sub = subparsers.choices[command]
        assert any("--threads" in action.option_strings for action in sub._actions), command
        assert sub.get_default("start_threads") is (command != "demo"), command
    with pytest.raises(SystemExit) as exited:
        cli.main(["demo", "--threads", "0"])
    assert exited.value.code == 2
    ran: list[int] = []
    for command, threads_given, expected in [("train", ["--threads", "1"], 1), ("train", [], "auto")]:
        monkeypatch.setattr(cli.train, "run", lambda args: ran.append(args.threads) or 0)
        assert cli.main([command, "--data", "x", "--outdir", "y", *threads_given]) == 0
        assert applied[-1] == expected
    assert ran == [1, "auto"]
