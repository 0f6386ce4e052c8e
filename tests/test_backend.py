"""Choosing implementations, lazy builds and the fallback after a failed build."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch

from medgan_aug.ops import _backend, extension, resolve_impl, setup_filter, upfirdn2d


def test_auto_picks_the_compiled_cpu_kernels_for_cpu_tensors(monkeypatch):
    monkeypatch.delenv(_backend.ENV_VAR, raising=False)
    assert resolve_impl(None, torch.device("cpu")) == "cpp"
    assert resolve_impl("auto", torch.device("cpu")) == "cpp"
    assert resolve_impl("ref", torch.device("cpu")) == "ref"
    assert resolve_impl("auto", torch.device("meta")) == "ref"


def test_environment_variable_forces_an_implementation(monkeypatch):
    monkeypatch.setenv(_backend.ENV_VAR, "ref")
    assert resolve_impl(None, torch.device("cpu")) == "ref"
    assert resolve_impl("cpp", torch.device("cpu")) == "cpp", "an explicit impl wins over the variable"
    monkeypatch.setenv(_backend.ENV_VAR, "cuda")
    with pytest.raises(ValueError, match="impl='cuda' runs on cuda tensors"):
        resolve_impl(None, torch.device("cpu"))
    monkeypatch.setenv(_backend.ENV_VAR, "fastest")
    with pytest.raises(ValueError, match=r"\$MEDGAN_AUG_OPS must be one of"):
        resolve_impl(None, torch.device("cpu"))


def test_failed_build_warns_once_then_falls_back_to_ref(monkeypatch):
    calls = []

    def broken_compile(library, verbose, arch_list):
        calls.append(library)
        raise RuntimeError("error: command 'c++' failed: No such file or directory")

    monkeypatch.setattr(extension, "_loaded", set())
    monkeypatch.setattr(extension, "_failed", {})
    monkeypatch.setattr(extension, "_compile", broken_compile)
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1])
    with pytest.warns(RuntimeWarning, match=r"(?s)could not be built.*'c\+\+' failed.*ops doctor"):
        y = upfirdn2d(x, f, impl="cpp")
    assert torch.equal(y, upfirdn2d(x, f, impl="ref"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        upfirdn2d(x, f, impl="cpp")
    assert calls == ["cpu"], "a failed build is not retried in the same process"
    assert "'c++' failed" in extension.load_error("cpu")
    with pytest.raises(extension.BuildError, match="building the cpu operator library failed"):
        extension.build("cpu")


def test_importing_compiles_nothing():
    code = "import sys, medgan_aug, medgan_aug.ops; print('torch.utils.cpp_extension' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_available_impls_on_cpu():
    assert _backend.available_impls("cpu") == ["ref", "cpp"]


@pytest.mark.cuda_emulated
def test_available_impls_lists_the_emulation_only_when_asked():
    assert _backend.available_impls("cpu", include_emulated=True) == ["ref", "cpp", "cuda_emulated"]


def test_ninja_from_the_wheel_is_found_without_an_activated_environment(monkeypatch, tmp_path):
    import ninja

    monkeypatch.setenv("PATH", str(tmp_path))
    assert extension.ninja_path() == os.path.join(ninja.BIN_DIR, "ninja")
    with extension._ninja_on_path():
        assert os.environ["PATH"].split(os.pathsep)[0] == ninja.BIN_DIR
    assert os.environ["PATH"] == str(tmp_path)
