"""retain_freed_memory: freed tensor memory is reused without new page faults."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="needs Linux with glibc"
)

# Allocates, fills and frees a 64 MiB tensor six times and reports the page faults of the last five.
_PROBE = """
import json, resource, sys
import torch
from medgan_aug.runtime import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else None
torch.empty(16 * 2**20).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.empty(16 * 2**20).fill_(1.0)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults, "again": retain_freed_memory() if applied else None}))
"""


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc_only
def test_repeated_large_allocations_reuse_freed_pages() -> None:
    pages = 5 * 64 * 2**20 // 4096
    system = _probe("system")
    retained = _probe("retain")
    # The default allocator maps each block afresh and faults on every page (every huge page where
    # transparent huge pages are always on).
    assert system["faults"] >= pages // 512
    assert retained["applied"] is True and retained["again"] is True
    # A freed block that memalign cannot reuse exactly (the next request is a little larger) may cost one
    # more heap extension; after that the blocks are reused.
    assert retained["faults"] <= system["faults"] // 4


def test_reports_false_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    from medgan_aug import runtime

    monkeypatch.setattr(runtime, "_applied", False)
    monkeypatch.setattr(runtime.platform, "libc_ver", lambda: ("", ""))
    assert runtime.retain_freed_memory() is False


def test_every_command_runs_with_freed_memory_retained(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from medgan_aug import cli

    calls = []
    monkeypatch.setattr(cli, "retain_freed_memory", lambda: calls.append(True) or True)
    assert cli.main(["ops", "doctor"]) == 0
    assert calls == [True]
    assert "cpp" in capsys.readouterr().out
