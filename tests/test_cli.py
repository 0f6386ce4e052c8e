"""The `medgan-aug ops` command line."""

from __future__ import annotations

import pytest

from medgan_aug.cli import main


def test_ops_doctor_reports_toolchain_and_backends(capsys):
    assert main(["ops", "doctor"]) == 0
    out = capsys.readouterr().out
    for field in ("torch ", "C++ compiler", "ninja", "CUDA toolkit", "nvcc", "CUDA arch list", "backends:"):
        assert field in out
    assert "cpp            loads" in out


def test_ops_build_builds_the_cpu_library(capsys):
    assert main(["ops", "build"]) == 0
    assert "built and loaded cpu" in capsys.readouterr().out


def test_ops_build_reports_failure_with_nonzero_exit(monkeypatch, capsys):
    from medgan_aug.ops import _extension

    def broken(library, verbose, arch_list):
        raise RuntimeError("nvcc fatal: Unsupported gpu architecture 'compute_10'")

    monkeypatch.setattr(_extension, "_loaded", set())
    monkeypatch.setattr(_extension, "_compile", broken)
    assert main(["ops", "build"]) == 1
    err = capsys.readouterr().err
    assert "Unsupported gpu architecture" in err and "ops doctor" in err


def test_unknown_command_exits_with_usage_error():
    with pytest.raises(SystemExit) as excinfo:
        main(["ops", "rebuild"])
    assert excinfo.value.code == 2
