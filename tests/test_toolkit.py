"""Finding the CUDA toolkit behind wrapper scripts and environment variables."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from medgan_aug.ops._toolkit import find_cuda_toolkit


def make_toolkit(root: Path, release: str) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "include" / "cuda_runtime.h").write_text("")
    nvcc = root / "bin" / "nvcc"
    nvcc.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.1'\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IEXEC)
    return root


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return monkeypatch


def test_wrapper_script_is_followed_to_the_real_toolkit(clean_env, tmp_path):
    real = make_toolkit(tmp_path / "cuda-12.4", "12.4")
    wrapper_dir = tmp_path / "local" / "bin"
    wrapper_dir.mkdir(parents=True)
    wrapper = wrapper_dir / "nvcc"
    wrapper.write_text(f'#!/bin/sh\nexec {real}/bin/nvcc "$@"\n')
    wrapper.chmod(0o755)
    clean_env.setenv("PATH", str(wrapper_dir))
    toolkit = find_cuda_toolkit()
    assert toolkit is not None
    assert toolkit.root == real
    assert toolkit.source == f"target of {wrapper}"
    assert toolkit.version == "12.4"
    assert toolkit.nvcc == real / "bin" / "nvcc"


def test_symlinked_nvcc_is_resolved(clean_env, tmp_path):
    real = make_toolkit(tmp_path / "cuda", "13.0")
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    os.symlink(real / "bin" / "nvcc", link_dir / "nvcc")
    clean_env.setenv("PATH", str(link_dir))
    toolkit = find_cuda_toolkit()
    assert toolkit is not None and toolkit.root.resolve() == real.resolve()


def test_cuda_home_wins_and_an_incomplete_one_is_skipped(clean_env, tmp_path):
    home = make_toolkit(tmp_path / "home", "12.1")
    clean_env.setenv("CUDA_HOME", str(home))
    assert find_cuda_toolkit().root == home
    assert find_cuda_toolkit().source == "$CUDA_HOME"
    incomplete = tmp_path / "incomplete"
    (incomplete / "bin").mkdir(parents=True)
    clean_env.setenv("CUDA_HOME", str(incomplete))
    clean_env.setenv("CUDA_PATH", str(home))
    assert find_cuda_toolkit().root == home
