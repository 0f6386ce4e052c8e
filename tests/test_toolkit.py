"""Finding the CUDA toolkit behind wrapper scripts and environment variables, and matching torch's CUDA."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from medgan_aug.ops import _toolkit
from medgan_aug.ops._toolkit import find_cuda_toolkit


def make_toolkit(root: Path, release: str, exe: bool = False) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "include" / "cuda_runtime.h").write_text("")
    nvcc = root / "bin" / ("nvcc.exe" if exe else "nvcc")
    nvcc.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.1'\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IEXEC)
    return root


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No toolkit anywhere: no CUDA_* variables, an empty PATH, no standard locations."""
    for name in list(os.environ):
        if name.upper().startswith("CUDA_PATH") or name == "CUDA_HOME":
            monkeypatch.delenv(name)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(_toolkit, "_standard_locations", list)
    return monkeypatch


def test_wrapper_script_is_followed_to_the_real_toolkit(clean_env, tmp_path):
    real = make_toolkit(tmp_path / "cuda-12.4", "12.4")
    wrapper_dir = tmp_path / "local" / "bin"
    wrapper_dir.mkdir(parents=True)
    wrapper = wrapper_dir / "nvcc"
    wrapper.write_text(f'#!/bin/sh\nexec {real}/bin/nvcc "$@"\n')
    wrapper.chmod(0o755)
    clean_env.setenv("PATH", str(wrapper_dir))
    toolkit = find_cuda_toolkit(torch_cuda="12.1")
    assert toolkit is not None
    assert toolkit.root == real
    assert toolkit.source == f"target of {wrapper}"
    assert toolkit.version == "12.4"
    assert toolkit.nvcc == real / "bin" / "nvcc"
    assert toolkit.matches_torch and toolkit.mismatch() is None


def test_symlinked_nvcc_is_resolved(clean_env, tmp_path):
    real = make_toolkit(tmp_path / "cuda", "13.0")
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    os.symlink(real / "bin" / "nvcc", link_dir / "nvcc")
    clean_env.setenv("PATH", str(link_dir))
    toolkit = find_cuda_toolkit(torch_cuda="13.0")
    assert toolkit is not None and toolkit.root.resolve() == real.resolve()


def test_cuda_home_wins_and_an_incomplete_one_is_skipped(clean_env, tmp_path):
    home = make_toolkit(tmp_path / "home", "12.1")
    clean_env.setenv("CUDA_HOME", str(home))
    assert find_cuda_toolkit(torch_cuda="12.4").root == home
    assert find_cuda_toolkit(torch_cuda="12.4").source == "$CUDA_HOME"
    incomplete = tmp_path / "incomplete"
    (incomplete / "bin").mkdir(parents=True)
    clean_env.setenv("CUDA_HOME", str(incomplete))
    clean_env.setenv("CUDA_PATH", str(home))
    assert find_cuda_toolkit(torch_cuda="12.4").root == home


def test_windows_nvcc_exe_and_versioned_cuda_path_variables(clean_env, tmp_path):
    older = make_toolkit(tmp_path / "v12.4", "12.4", exe=True)
    newer = make_toolkit(tmp_path / "v12.10", "12.10", exe=True)
    clean_env.setenv("CUDA_PATH_V12_4", str(older))
    clean_env.setenv("CUDA_PATH_V12_10", str(newer))
    toolkit = find_cuda_toolkit(torch_cuda="12.8")
    assert toolkit.root == newer, "CUDA_PATH_V12_10 is newer than CUDA_PATH_V12_4"
    assert toolkit.source == "$CUDA_PATH_V12_10"
    assert toolkit.nvcc == newer / "bin" / "nvcc.exe"
    assert toolkit.version == "12.10"


def test_standard_folders_are_sorted_by_version_not_as_text(clean_env, tmp_path):
    for release in ("12.9", "12.10", "11.8", "12.2"):
        make_toolkit(tmp_path / "local" / f"cuda-{release}", release)
    folders = _toolkit._by_version((tmp_path / "local").glob("cuda-*"))
    assert [p.name for p in folders] == ["cuda-12.10", "cuda-12.9", "cuda-12.2", "cuda-11.8"]
    clean_env.setattr(_toolkit, "_standard_locations", lambda: folders)
    assert find_cuda_toolkit(torch_cuda="12.4").root.name == "cuda-12.10"
    assert find_cuda_toolkit(torch_cuda="11.8").root.name == "cuda-11.8", "the newest toolkit of torch's major"


def test_a_toolkit_matching_torch_is_preferred_and_a_mismatch_names_both_versions(clean_env, tmp_path):
    wrong = make_toolkit(tmp_path / "cuda-12.4", "12.4")
    right = make_toolkit(tmp_path / "cuda-13.0", "13.0")
    clean_env.setenv("CUDA_HOME", str(wrong))
    clean_env.setattr(_toolkit, "_standard_locations", lambda: [right])
    toolkit = find_cuda_toolkit(torch_cuda="13.0")
    assert toolkit.root == right
    assert toolkit.passed_over == (f"{wrong} (via $CUDA_HOME, release 12.4)",)

    clean_env.setattr(_toolkit, "_standard_locations", list)
    toolkit = find_cuda_toolkit(torch_cuda="13.0")
    assert toolkit.root == wrong, "with no matching toolkit, the first complete one is reported"
    assert toolkit.matches_torch is False
    message = toolkit.mismatch()
    assert "release 12.4" in message and "CUDA 13.0" in message and str(wrong) in message


def test_a_torch_without_cuda_accepts_any_toolkit(clean_env, tmp_path):
    home = make_toolkit(tmp_path / "home", "12.1")
    clean_env.setenv("CUDA_HOME", str(home))
    toolkit = find_cuda_toolkit(torch_cuda=None)
    assert toolkit.root == home and toolkit.matches_torch is None and toolkit.mismatch() is None


def test_no_toolkit(clean_env):
    assert find_cuda_toolkit() is None
