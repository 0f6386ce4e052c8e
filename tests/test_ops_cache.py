"""The compiled-ops cache: one library per key, no rebuild across environments, loading without a toolchain.

The cache logic is exercised on a tiny extension (one C++ file without torch headers, ~2 s to build) so that
switching between simulated environments really compiles and really loads; the real cpu and emulated libraries
are loaded from the cache in a subprocess with no compiler on PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from medgan_aug.ops import _backend, extension, setup_filter, upfirdn2d
from tests.test_toolkit import make_toolkit

SRC = str(Path(extension.__file__).resolve().parents[2])


def tiny_spec(folder: Path, cflags: tuple[str, ...] = ("-O1",), cuda: bool = False) -> extension._Spec:
    """A one-function extension whose header is part of its key."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "probe.h").exists():
        (folder / "probe.h").write_text("#define PROBE_VALUE 7\n")
        body = 'extern "C" int medgan_cache_probe() { return PROBE_VALUE; }'
        (folder / "probe.cpp").write_text(f'#include "probe.h"\n{body}\n')
    sources = (folder / "probe.cpp",)
    return extension._Spec(
        library="probe",
        base_name="medgan_aug_cache_probe",
        sources=sources,
        hashed=tuple(extension._with_local_includes(sources, folder)),
        hash_root=folder,
        cflags=cflags,
        ldflags=(),
        include_paths=(folder,),
        cuda=cuda,
        arch_list="8.0;9.0+PTX" if cuda else None,
        duration="a second",
    )


def compiler_wrapper(folder: Path, log: Path) -> Path:
    """A `c++` that logs every compile or link command, standing in for one environment's compiler."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "c++"
    real = "/usr/bin/c++" if os.path.exists("/usr/bin/c++") else "c++"
    wrapper.write_text(f'#!/bin/sh\ncase " $* " in *" -o "*) echo "$*" >> {log} ;; esac\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def file_state(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_ino, stat.st_mtime_ns


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(extension.LIB_ENV_VAR, raising=False)
    return tmp_path / "cache" / "medgan_aug"


def no_rebuild(*args, **kwargs):
    raise AssertionError("cpp_extension.load was called: the library was rebuilt")


def test_two_environments_share_one_cache_and_never_rebuild_each_other(cache, tmp_path, monkeypatch, capfd):
    log = tmp_path / "compiler.log"
    spec = tiny_spec(tmp_path / "src")
    real_torch = extension._torch_identity()
    environments = {
        "A": (compiler_wrapper(tmp_path / "venv-a" / "bin", log), real_torch),
        "B": (compiler_wrapper(tmp_path / "venv-b" / "bin", log), {**real_torch, "path": "/elsewhere/venv-b/torch"}),
    }

    def enter(name):
        cxx, torch_identity = environments[name]
        monkeypatch.setenv("CXX", str(cxx))
        monkeypatch.setattr(extension, "_torch_identity", lambda: torch_identity)

    built = {}
    for name in ("A", "B"):
        enter(name)
        log.write_text("")
        built[name] = extension._load_or_build(spec)
        assert str(environments[name][0]) in extension._entry(spec).fingerprint["compilers"]["cxx"]
        assert log.read_text().count("probe") >= 1, f"environment {name} compiled its library"
        assert "compiling the C++ ops (probe)" in capfd.readouterr().err
    assert built["A"] != built["B"]
    assert sorted(p.name for p in cache.iterdir()) == sorted(Path(p).parent.name for p in built.values())
    before = {name: file_state(path) for name, path in built.items()}

    monkeypatch.setattr(extension.cpp_extension_module(), "load", no_rebuild)
    for name in ("A", "B", "A"):
        enter(name)
        log.write_text("")
        assert extension._load_or_build(spec) == built[name]
        assert log.read_text() == "", "no compiler ran on switching back"
        assert capfd.readouterr().err == "", "a cached load prints nothing"
    assert {name: file_state(path) for name, path in built.items()} == before


def test_the_key_changes_with_sources_headers_flags_archs_and_torch(cache, tmp_path, monkeypatch):
    spec = tiny_spec(tmp_path / "src")
    key = extension._entry(spec).key
    assert key == extension._entry(spec).key, "the key is deterministic"
    assert extension._entry(tiny_spec(tmp_path / "src", cflags=("-O2",))).key != key
    (tmp_path / "src" / "probe.h").write_text("#define PROBE_VALUE 8\n")
    assert extension._entry(spec).key != key, "an included header is part of the key"
    (tmp_path / "src" / "probe.h").write_text("#define PROBE_VALUE 7\n")
    assert extension._entry(spec).key == key
    monkeypatch.setattr(extension, "_torch_identity", lambda: {"version": "2.4.1", "path": "/other"})
    assert extension._entry(spec).key != key
    monkeypatch.undo()
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    cuda = tiny_spec(tmp_path / "src", cuda=True)
    assert extension._entry(cuda).key != extension._entry(extension.dataclasses.replace(cuda, arch_list="8.0;9.0")).key


def test_a_cached_library_loads_without_compiler_or_cuda_toolkit(cache, tmp_path, monkeypatch):
    """The CUDA-like spec needs nvcc in its key; with none, the newest library for this torch/flags/sources loads."""
    toolkit = make_toolkit(tmp_path / "cuda", torch.version.cuda or "13.0")
    monkeypatch.setenv("CUDA_HOME", str(toolkit))
    spec = tiny_spec(tmp_path / "src", cuda=True)
    built = extension._load_or_build(spec)
    state = file_state(built)

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.delenv("CUDA_HOME")
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("CXX", str(empty / "c++"))
    monkeypatch.setattr(extension, "find_cuda_toolkit", lambda: None)
    monkeypatch.setattr(extension.cpp_extension_module(), "load", no_rebuild)
    entry = extension._entry(spec)
    assert entry.fingerprint["compilers"] == {"cxx": None, "nvcc": None}
    assert entry.built and str(entry.library_file) == built
    assert extension._load_or_build(spec) == built
    assert file_state(built) == state

    # Without a cached library there is nothing to load, and the error says which tool is missing.
    other = tiny_spec(tmp_path / "src", cflags=("-O2",), cuda=True)
    with pytest.raises(extension.BuildError, match="no CUDA toolkit found"):
        extension._load_or_build(other)
    with pytest.raises(extension.BuildError, match="no C\\+\\+ compiler found"):
        extension._load_or_build(extension.dataclasses.replace(other, cuda=False))


def plant_damaged_library(spec) -> extension.CacheEntry:
    """A cache entry for ``spec`` whose record is complete but whose library is a truncated file."""
    entry = extension._entry(spec)
    name = f"{spec.base_name}_{entry.key}"
    entry.directory.mkdir(parents=True)
    (entry.directory / f"{name}{extension.LIB_EXT}").write_bytes(b"truncated")
    extension._write_stamp(entry.directory, name, entry)
    return entry


def test_a_damaged_cached_library_is_built_again(cache, tmp_path, monkeypatch):
    spec = tiny_spec(tmp_path / "src", cflags=("-O0",))
    entry = plant_damaged_library(spec)
    name = f"{spec.base_name}_{entry.key}"
    assert extension._entry(spec).built
    path = extension._load_or_build(spec)
    assert path == str(entry.directory / f"{name}{extension.LIB_EXT}")
    assert Path(path).stat().st_size > len(b"truncated") and extension._entry(spec).built

    # Without a compiler the damaged file cannot be replaced: a clear error instead of a rebuild attempt.
    other = tiny_spec(tmp_path / "src", cflags=("-Os",))
    plant_damaged_library(other)
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-c++"))
    with pytest.raises(extension.BuildError, match=r"does not load .* no compiler to build it again"):
        extension._load_or_build(other)


def _run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)


def _toolless_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment's variables with no compiler, ninja or CUDA toolkit reachable."""
    env = {k: v for k, v in os.environ.items() if k not in {"CUDA_HOME", "CUDA_PATH", "CXX", "CC"}}
    empty = tmp_path / "no-tools"
    empty.mkdir(exist_ok=True)
    env.update(PATH=str(empty), PYTHONPATH=SRC, CXX=str(empty / "c++"), **extra)
    env.pop(extension.LIB_ENV_VAR, None)
    return env


CHECK_LOADED = """
import os, shutil, torch
from medgan_aug.ops import extension, upfirdn2d, setup_filter
assert shutil.which("c++") is None and shutil.which("nvcc") is None and "CUDA_HOME" not in os.environ
assert extension.load({library!r}), extension.load_error({library!r})
print(extension.loaded_from({library!r}))
x, f = torch.randn(1, 2, 8, 8, dtype=torch.float64), setup_filter([1, 3, 3, 1])
assert torch.allclose(upfirdn2d(x, f, up=2, impl={impl!r}), upfirdn2d(x, f, up=2, impl="ref"))
"""


@pytest.mark.parametrize(
    ("library", "impl"),
    [("cpu", "cpp"), pytest.param("emulated", "cuda_emulated", marks=pytest.mark.cuda_emulated)],
)
def test_the_real_libraries_load_from_the_cache_with_no_toolchain(library, impl, tmp_path):
    assert extension.load(library), extension.load_error(library)
    cached = extension.cache_entry(library)
    assert cached.built
    result = _run_python(CHECK_LOADED.format(library=library, impl=impl), _toolless_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(cached.library_file)
    assert "compiling" not in result.stderr


def test_ops_lib_variable_loads_an_exported_library_without_building(tmp_path):
    exported = extension.export("cpu", tmp_path / "prebuilt")
    assert exported == tmp_path / "prebuilt" / f"medgan_aug_ops_cpu{extension.LIB_EXT}"
    record = json.loads(exported.with_suffix(".json").read_text())
    assert record["fingerprint"]["torch"]["version"] == torch.__version__
    # An empty cache and no compiler: only the variable can provide the library.
    env = _toolless_env(tmp_path, TORCH_EXTENSIONS_DIR=str(tmp_path / "empty-cache"))
    env[extension.LIB_ENV_VAR] = str(tmp_path / "prebuilt")
    result = _run_python(CHECK_LOADED.format(library="cpu", impl="cpp"), env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(exported)
    # A list: a directory without the library is passed over; a file is recognised by its name.
    (tmp_path / "other-libs").mkdir()
    value = os.pathsep.join([str(tmp_path / "other-libs"), str(exported)])
    assert extension._prebuilt_file("cpu", value) == exported
    cached = extension.cache_entry("cpu").library_file
    assert extension._prebuilt_file("cpu", str(cached)) == cached, "a file from the cache, with its key suffix"
    assert not (tmp_path / "empty-cache").exists()


def test_ops_lib_variable_bad_paths_name_the_variable_and_the_path(tmp_path, monkeypatch):
    var = extension.LIB_ENV_VAR
    missing = tmp_path / "missing.so"
    monkeypatch.setenv(var, str(missing))
    with pytest.raises(extension.BuildError, match=f"\\${var} names {missing}, which does not exist"):
        extension._compile("cpu", False, None)

    empty_dir = tmp_path / "libs"
    empty_dir.mkdir()
    monkeypatch.setenv(var, str(empty_dir))
    with pytest.raises(extension.BuildError, match=f"\\${var}=.*holds no cpu library"):
        extension._compile("cpu", False, None)

    broken = empty_dir / f"medgan_aug_ops_emulated{extension.LIB_EXT}"
    broken.write_bytes(b"not a shared library")
    with pytest.raises(extension.BuildError, match=f"\\${var}: loading {broken} failed"):
        extension._compile("emulated", False, None)

    broken.with_suffix(".json").write_text(json.dumps({"fingerprint": {"torch": {"version": "2.4.1"}}}))
    with pytest.raises(extension.BuildError, match=r"built for torch 2\.4\.1, this is torch"):
        extension._compile("emulated", False, None)

    # Through the lazy loader: one warning naming the variable, then the pure PyTorch path.
    monkeypatch.setattr(extension, "_loaded", set())
    monkeypatch.setattr(extension, "_failed", {})
    monkeypatch.setattr(_backend, "_registered", set(_backend._registered))
    monkeypatch.setenv(var, str(missing))
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1])
    with pytest.warns(RuntimeWarning, match=f"(?s)could not be built.*\\${var} names {missing}"):
        y = upfirdn2d(x, f, impl="cpp")
    assert torch.equal(y, upfirdn2d(x, f, impl="ref"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        upfirdn2d(x, f, impl="cpp")


def test_default_arch_list_ends_in_ptx(monkeypatch):
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert extension.cuda_arch_list() == ("8.0;9.0+PTX", "default without a GPU")
    assert extension.DEFAULT_CUDA_ARCHS.endswith("+PTX")
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.6")
    assert extension.cuda_arch_list() == ("8.6", "$TORCH_CUDA_ARCH_LIST")
    assert extension.cuda_arch_list("7.5;8.0") == ("7.5;8.0", "given")


def test_visible_gpus_get_ptx_on_the_newest(monkeypatch):
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: [(9, 0), (8, 6), (12, 0)][i])
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_80", "sm_86", "sm_90", "sm_100"])
    assert extension.cuda_arch_list() == ("8.6;9.0;10.0+PTX", "visible GPUs")


def test_compiler_identity_covers_the_whole_version_output(tmp_path):
    """nvcc names its release on the fourth line: an upgrade in place must change the key."""
    fake = tmp_path / "nvcc"
    for release in ("12.4", "12.6"):
        fake.write_text(
            f"#!/bin/sh\necho 'nvcc: NVIDIA (R) Cuda compiler driver'\necho 'release {release}, V{release}.1'\n"
        )
        fake.chmod(0o755)
        identity = extension._compiler_identity(str(fake))
        assert identity.startswith(f"{fake}: nvcc: NVIDIA") and f"release {release}" in identity
    assert extension._compiler_identity(str(tmp_path / "missing")) is None
