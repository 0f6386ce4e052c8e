"""The `medgan-aug ops` command line."""

from __future__ import annotations

import pytest

from medgan_aug.cli import main


def test_ops_doctor_reports_toolchain_and_backends(capsys):
    assert main(["ops", "doctor"]) == 0
    out = capsys.readouterr().out
    for field in ("torch ", "C++ compiler", "ninja", "CUDA toolkit", "nvcc", "CUDA arch list", "backends:"):
        assert field in out
    assert "cpp            loads (" in out
    assert "ops cache       " in out
    for library in ("cpu", "cuda", "emulated"):
        assert f"\n  {library:<13} key " in out
    assert "  cpu           key " in out and "built: " in out


def test_ops_doctor_shows_the_prebuilt_library_variable(capsys, monkeypatch, tmp_path):
    from medgan_aug.ops import doctor

    monkeypatch.setenv("MEDGAN_AUG_OPS_LIB", str(tmp_path))
    report = doctor.doctor_report(load_cuda=False)
    assert f"$MEDGAN_AUG_OPS_LIB {tmp_path} (prebuilt libraries are loaded; nothing is built)" in report


def test_ops_doctor_shows_the_cpu_convolution_algorithm(monkeypatch):
    from medgan_aug.ops import doctor

    monkeypatch.delenv("MEDGAN_AUG_CPU_CONV", raising=False)
    assert "$MEDGAN_AUG_CPU_CONV  unset (winograd)" in doctor.doctor_report(load_cuda=False)
    monkeypatch.setenv("MEDGAN_AUG_CPU_CONV", "direct")
    assert "$MEDGAN_AUG_CPU_CONV  direct" in doctor.doctor_report(load_cuda=False)


def test_ops_doctor_reports_a_toolkit_that_does_not_match_torch(monkeypatch):
    from pathlib import Path

    from medgan_aug.ops import doctor
    from medgan_aug.ops._toolkit import CudaToolkit

    toolkit = CudaToolkit(Path("/opt/cuda-11.8"), "$CUDA_HOME", "11.8", torch_cuda="13.0")
    monkeypatch.setattr(doctor.torch.version, "cuda", "13.0")
    lines = "\n".join(doctor._toolkit_lines(toolkit))
    assert "release 11.8; MISMATCH: torch was built with CUDA 13.0" in lines
    matching = CudaToolkit(
        Path("/usr/local/cuda-13.0"), "standard location", "13.0", "13.0", ("/x (via $CUDA_HOME, release 11.8)",)
    )
    lines = "\n".join(doctor._toolkit_lines(matching))
    assert "release 13.0; matches torch's CUDA 13.0" in lines and "skipped       /x (via $CUDA_HOME" in lines


def test_ops_build_builds_the_cpu_library(capsys, tmp_path):
    from medgan_aug.ops import extension

    assert main(["ops", "build", "--output", str(tmp_path / "libs")]) == 0
    out = capsys.readouterr().out
    assert "cpu ready in" in out
    assert f"copied to {tmp_path / 'libs' / 'medgan_aug_ops_cpu'}{extension.LIB_EXT}" in out
    assert (tmp_path / "libs" / "medgan_aug_ops_cpu.json").is_file()


def test_ops_build_reports_failure_with_nonzero_exit(monkeypatch, capsys):
    from medgan_aug.ops import extension

    def broken(library, verbose, arch_list):
        raise RuntimeError("nvcc fatal: Unsupported gpu architecture 'compute_10'")

    monkeypatch.setattr(extension, "_loaded", set())
    monkeypatch.setattr(extension, "_compile", broken)
    assert main(["ops", "build"]) == 1
    err = capsys.readouterr().err
    assert "Unsupported gpu architecture" in err and "ops doctor" in err


def test_unknown_command_exits_with_usage_error():
    with pytest.raises(SystemExit) as excinfo:
        main(["ops", "rebuild"])
    assert excinfo.value.code == 2
