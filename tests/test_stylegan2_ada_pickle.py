"""Loading StyleGAN2-ADA snapshot pickles without executing anything from them."""

from __future__ import annotations

import io
import os
import pickle
import re
import shlex
import shutil
import struct
import sys
import types
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from medgan_aug.nets.discriminator import StyleDiscriminator
from medgan_aug.nets.errors import CheckpointError, StateDictMismatchError, UnsafeCheckpointError
from medgan_aug.nets.generator import StyleGenerator
from medgan_aug.nets.stylegan2_ada import _flatten_state, _read_snapshot, load_stylegan2_ada
from tests.conftest import SG2ADA

G32_PKL = SG2ADA / "g32.pkl"
G32_PT = SG2ADA / "g32.pt"

needs_posix_shell = pytest.mark.skipif(
    os.name != "posix" or shutil.which("touch") is None, reason="the payloads run `touch` through a POSIX shell"
)


@pytest.fixture(scope="module")
def g32() -> dict[str, Any]:
    """The reference numbers for g32.pkl (skips without ../shared)."""
    if not (G32_PKL.is_file() and G32_PT.is_file()):
        pytest.skip(f"{SG2ADA} is absent")
    return torch.load(G32_PT, weights_only=True)


# --- Hand-assembled pickles -------------------------------------------------------------------
# The malicious payloads are written opcode by opcode, so each names exactly the global under
# test (the pickle module would write os.system as posix.system, for instance).


def _text(proto: int, text: str) -> bytes:
    if proto == 0:
        assert "\n" not in text and "\\" not in text
        return pickle.UNICODE + text.encode("raw_unicode_escape") + b"\n"
    data = text.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def _global(proto: int, dotted: str) -> bytes:
    module, name = dotted.rsplit(".", 1)
    if proto >= 4:
        return _text(proto, module) + _text(proto, name) + pickle.STACK_GLOBAL
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _call(func: bytes, *args: bytes) -> bytes:
    return func + pickle.MARK + b"".join(args) + pickle.TUPLE + pickle.REDUCE


def _program(proto: int, body: bytes) -> bytes:
    return (pickle.PROTO + bytes([proto]) if proto >= 2 else b"") + body + pickle.STOP


PAYLOADS = ["os.system", "posix.system", "builtins.eval", "builtins.getattr", "subprocess.Popen"]


def _payload(kind: str, proto: int, marker: Path) -> bytes:
    """A pickle that creates ``marker`` when loaded by an unrestricted unpickler."""
    touch = f"touch {shlex.quote(str(marker))}"
    if kind in ("os.system", "posix.system"):
        body = _call(_global(proto, kind), _text(proto, touch))
    elif kind == "builtins.eval":
        body = _call(_global(proto, kind), _text(proto, f"open({str(marker)!r}, 'w').close()"))
    elif kind == "builtins.getattr":
        system = _call(
            _global(proto, "builtins.getattr"),
            _call(_global(proto, "builtins.__import__"), _text(proto, "os")),
            _text(proto, "system"),
        )
        body = _call(system, _text(proto, touch))
    else:
        args = pickle.MARK + _text(proto, "touch") + _text(proto, str(marker)) + pickle.LIST
        body = _call(_global(proto, kind), args)
    return _program(proto, body)


def _legacy_torch_bytes(main_pickle: bytes) -> bytes:
    """The legacy (non-zip) torch.save layout that ``torch.storage._load_from_bytes`` reads."""
    header = [
        torch.serialization.MAGIC_NUMBER,
        torch.serialization.PROTOCOL_VERSION,
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}},
    ]
    return b"".join(pickle.dumps(part, protocol=2) for part in header) + main_pickle + pickle.dumps([], protocol=2)


class _Reduce:
    """Pickles as ``func(*args)``."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


# --- Snapshots written like the reference training loop ---------------------------------------


@pytest.fixture
def reference_names(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Importable stand-ins for the reference's names, so pickle can write them by reference."""

    def _reconstruct_persistent_obj(meta: dict) -> None:
        raise AssertionError("the loader under test must never call the reference function")

    class EasyDict(dict):
        pass

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    modules = {
        name: types.ModuleType(name) for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    }
    modules["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    modules["dnnlib.util"].EasyDict = EasyDict
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDict)


def _persistent(names: types.SimpleNamespace, class_name: str, state: dict[str, Any]) -> _Reduce:
    meta = {"type": "class", "version": 6, "module_src": "raise SystemExit('executed')\n", "class_name": class_name}
    return _Reduce(names.reconstruct, {**meta, "state": state})


def _module_state(**entries: Any) -> dict[str, Any]:
    """A module ``__dict__`` as torch pickles it, with the reference's numpy-float attributes."""
    state: dict[str, Any] = {
        "training": False,
        "_parameters": OrderedDict(),
        "_buffers": OrderedDict(),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(),
        "_forward_hooks": OrderedDict(),
        "_modules": OrderedDict(),
        "_init_args": (),
        "_init_kwargs": {},
        "weight_gain": np.float64(0.125),
        "act_gain": np.float32(1.5),
    }
    state.update(entries)
    return state


def _as_persistent(names: types.SimpleNamespace, module: nn.Module, class_name: str, **entries: Any) -> _Reduce:
    """A persistent-object tree mirroring ``module``'s parameters, buffers and sub-modules."""
    children = OrderedDict(
        (name, _as_persistent(names, child, type(child).__name__)) for name, child in module.named_children()
    )
    state = _module_state(
        _parameters=OrderedDict(module.named_parameters(recurse=False)),
        _buffers=OrderedDict(module.named_buffers(recurse=False)),
        _modules=children,
        **entries,
    )
    return _persistent(names, class_name, state)


def _small_networks(names: types.SimpleNamespace) -> tuple[StyleGenerator, StyleDiscriminator, dict, dict]:
    torch.manual_seed(0)
    g_kwargs = {
        "z_dim": 16,
        "c_dim": 0,
        "w_dim": 16,
        "img_resolution": 8,
        "img_channels": 3,
        "mapping_kwargs": names.EasyDict(num_layers=2),
        "synthesis_kwargs": names.EasyDict(channel_base=256, channel_max=16),
    }
    d_kwargs = {
        "c_dim": 0,
        "img_resolution": 8,
        "img_channels": 3,
        "channel_base": 256,
        "channel_max": 16,
        "epilogue_kwargs": names.EasyDict(mbstd_group_size=2),
    }
    gen, disc = StyleGenerator(**g_kwargs), StyleDiscriminator(**d_kwargs)
    with torch.no_grad():
        # Move every tensor off its initial value, so only a real load reproduces it.
        for tensor in (*gen.state_dict().values(), *disc.state_dict().values()):
            tensor.add_(torch.randn_like(tensor))
    return gen, disc, g_kwargs, d_kwargs


def _write_snapshot(
    path: Path,
    names: types.SimpleNamespace,
    protocol: int = pickle.DEFAULT_PROTOCOL,
    g_state: dict[str, Any] | None = None,
    **overrides: Any,
) -> tuple[StyleGenerator, StyleDiscriminator]:
    """A small snapshot like the reference's; ``g_state`` replaces G_ema's sub-module tree."""
    gen, disc, g_kwargs, d_kwargs = _small_networks(names)
    # The reference passes z_dim positionally in some scripts; put two arguments in _init_args.
    g_args, g_kw = (16, 0), {k: v for k, v in g_kwargs.items() if k not in ("z_dim", "c_dim")}
    augment_pipe = _persistent(
        names,
        "AugmentPipe",
        _module_state(
            _buffers=OrderedDict(p=torch.tensor(0.25), Hz_geom=torch.randn(12)),
            _init_kwargs={"xflip": 1, "rotate90": 1, "xint": 1, "imgfilter_bands": [1, 1, 1, 1]},
            imgfilter_bands=[1.0, 1.0, 1.0, 1.0],
        ),
    )
    snapshot = {
        "G": _as_persistent(names, gen, "Generator", _init_args=g_args, _init_kwargs=g_kw),
        "D": _as_persistent(names, disc, "Discriminator", _init_kwargs=d_kwargs),
        "G_ema": _as_persistent(names, gen, "Generator", _init_args=g_args, _init_kwargs=g_kw),
        "augment_pipe": augment_pipe,
        "training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "resolution": 8, "xflip": False},
        "progress": {"cur_nimg": np.int64(4000), "class_counts": np.array([[3, 5], [1, 2]], dtype=np.float32)},
    }
    if g_state is not None:
        snapshot["G_ema"] = _persistent(names, "Generator", g_state)
    snapshot.update(overrides)
    with open(path, "wb") as file:
        pickle.dump(snapshot, file, protocol=protocol)
    return gen, disc


def _assert_same_state(network: nn.Module, expected: nn.Module) -> None:
    got, want = network.state_dict(), expected.state_dict()
    assert list(got) == list(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key


# --- The reference snapshot -------------------------------------------------------------------


def test_g32_records_flatten_to_the_reference_state_dicts(g32):
    snapshot = _read_snapshot(G32_PKL)
    for key, reference in (("G", "G_state"), ("G_ema", "G_state"), ("D", "D_state")):
        state = _flatten_state(snapshot[key])
        assert list(state) == list(g32[reference])
        for name, value in g32[reference].items():
            assert torch.equal(state[name], value), f"{key}: {name}"


def test_g32_networks_reproduce_the_reference(g32):
    loaded = load_stylegan2_ada(G32_PKL)
    gen, disc = loaded["G_ema"], loaded["D"]
    assert isinstance(gen, StyleGenerator) and isinstance(loaded["G"], StyleGenerator)
    assert isinstance(disc, StyleDiscriminator)
    assert not gen.training and not disc.training
    assert not any(p.requires_grad for p in (*gen.parameters(), *disc.parameters()))
    z, c = g32["z"], g32["c"]
    torch.testing.assert_close(gen(z, c, noise_mode="const"), g32["img"], atol=1e-4, rtol=0)
    torch.testing.assert_close(gen(z, c, truncation_psi=0.7, noise_mode="const"), g32["img_psi07"], atol=1e-4, rtol=0)
    torch.testing.assert_close(disc(g32["img"], c), g32["logits_img"], atol=1e-4, rtol=0)


def test_g32_returns_the_reference_kwargs(g32):
    loaded = load_stylegan2_ada(G32_PKL)
    assert loaded["G_kwargs"] == g32["G_kwargs"]
    assert loaded["D_kwargs"] == g32["D_kwargs"]
    assert loaded["training_set_kwargs"] == {"resolution": 32, "use_labels": False}
    assert "augment_p" not in loaded and "augment_pipe_kwargs" not in loaded


def test_g32_truncated_is_a_checkpoint_error(g32, tmp_path):
    data = G32_PKL.read_bytes()
    for cut in (len(data) // 2, len(data) - 1):
        path = tmp_path / f"cut{cut}.pkl"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=re.escape(str(path))) as info:
            load_stylegan2_ada(path)
        assert not isinstance(info.value, UnsafeCheckpointError)


# --- Snapshots written by the test ----------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_snapshot_round_trip(reference_names, tmp_path, protocol):
    path = tmp_path / "snapshot.pkl"
    gen, disc = _write_snapshot(path, reference_names, protocol=protocol)
    loaded = load_stylegan2_ada(path)
    _assert_same_state(loaded["G"], gen)
    _assert_same_state(loaded["G_ema"], gen)
    _assert_same_state(loaded["D"], disc)
    assert loaded["G_kwargs"] == {
        "z_dim": 16,
        "c_dim": 0,
        "w_dim": 16,
        "img_resolution": 8,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": 2},
        "synthesis_kwargs": {"channel_base": 256, "channel_max": 16},
    }
    assert type(loaded["G_kwargs"]["mapping_kwargs"]) is dict
    assert type(loaded["D_kwargs"]["epilogue_kwargs"]) is dict
    assert loaded["augment_p"] == 0.25 and isinstance(loaded["augment_p"], float)
    assert loaded["augment_pipe_kwargs"] == {"xflip": 1, "rotate90": 1, "xint": 1, "imgfilter_bands": [1, 1, 1, 1]}
    assert loaded["training_set_kwargs"]["resolution"] == 8
    assert loaded["progress"]["cur_nimg"] == 4000 and type(loaded["progress"]["cur_nimg"]) is int
    np.testing.assert_array_equal(loaded["progress"]["class_counts"], np.array([[3, 5], [1, 2]], np.float32))
    z = torch.randn(2, 16)
    torch.testing.assert_close(loaded["G_ema"](z, noise_mode="const"), gen.eval()(z, noise_mode="const"))


def test_numpy_scalars_become_python_numbers(reference_names, tmp_path):
    path = tmp_path / "snapshot.pkl"
    _write_snapshot(path, reference_names)
    record = _read_snapshot(path)["G_ema"]
    assert record.state["weight_gain"] == 0.125 and type(record.state["weight_gain"]) is float
    assert record.state["act_gain"] == 1.5


def test_only_present_networks_are_returned(reference_names, tmp_path):
    path = tmp_path / "snapshot.pkl"
    _, disc = _write_snapshot(path, reference_names, G=None, G_ema=None, augment_pipe=None)
    loaded = load_stylegan2_ada(path)
    assert "G" not in loaded and "G_ema" not in loaded and "G_kwargs" not in loaded
    _assert_same_state(loaded["D"], disc)


def test_img_channels_override_builds_grayscale_networks(reference_names, tmp_path):
    path = tmp_path / "snapshot.pkl"
    gen, _ = _write_snapshot(path, reference_names)
    with pytest.warns(UserWarning, match="img_channels=1"):
        loaded = load_stylegan2_ada(path, img_channels=1)
    assert loaded["G_kwargs"]["img_channels"] == 1 and loaded["D_kwargs"]["img_channels"] == 1
    z = torch.randn(2, 16)
    gray = loaded["G_ema"](z, noise_mode="const")
    assert gray.shape == (2, 1, 8, 8)
    # ToRGB is linear, so averaging its rows yields the mean of the RGB image.
    torch.testing.assert_close(gray, gen.eval()(z, noise_mode="const").mean(dim=1, keepdim=True))
    assert loaded["D"](gray).shape == (2, 1)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"channel_base": 32768, "channel_max": 512, "magnitude_ema_beta": 0.999}, "magnitude_ema_beta"),
        ({"synthesis_kwargs": {"channel_base": 256, "conv_kernel": 1}}, "conv_kernel"),
    ],
)
def test_other_architecture_kwargs_are_a_checkpoint_error(reference_names, tmp_path, extra, named):
    path = tmp_path / "sg3.pkl"
    kwargs = {"z_dim": 16, "c_dim": 0, "w_dim": 16, "img_resolution": 8, "img_channels": 3, **extra}
    _write_snapshot(path, reference_names, G=None, g_state=_module_state(_init_kwargs=kwargs))
    with pytest.raises(CheckpointError, match=named) as info:
        load_stylegan2_ada(path)
    assert str(path) in str(info.value)
    assert not isinstance(info.value, StateDictMismatchError)


@pytest.mark.parametrize("change", ["missing", "unexpected", "mismatched"])
def test_state_dict_mismatch(reference_names, tmp_path, change):
    gen, _, g_kwargs, _ = _small_networks(reference_names)
    params = OrderedDict(gen.mapping.fc0.named_parameters(recurse=False))
    if change == "missing":
        del params["bias"]
    elif change == "unexpected":
        params["extra"] = torch.zeros(3)
    else:
        params["weight"] = torch.zeros(5, 5)
    fc0 = _persistent(reference_names, "FullyConnectedLayer", _module_state(_parameters=params))
    mapping = _as_persistent(reference_names, gen.mapping, "MappingNetwork")
    mapping.args[0]["state"]["_modules"]["fc0"] = fc0
    tree = OrderedDict(synthesis=_as_persistent(reference_names, gen.synthesis, "SynthesisNetwork"), mapping=mapping)
    path = tmp_path / "snapshot.pkl"
    _write_snapshot(path, reference_names, g_state=_module_state(_modules=tree, _init_kwargs=g_kwargs))
    with pytest.raises(StateDictMismatchError) as info:
        load_stylegan2_ada(path)
    error = info.value
    if change == "missing":
        assert error.missing == ["mapping.fc0.bias"] and not error.unexpected and not error.mismatched
    elif change == "unexpected":
        assert error.unexpected == ["mapping.fc0.extra"] and not error.missing and not error.mismatched
    else:
        assert error.mismatched == [("mapping.fc0.weight", (5, 5), (16, 16))] and not error.missing


@pytest.mark.parametrize(
    ("overrides", "found"),
    [
        ({"G": "not a network"}, "str"),
        ({"D": None, "G_ema": None, "G": {"class_name": "Generator"}}, "dict"),
    ],
)
def test_network_entry_of_the_wrong_kind(reference_names, tmp_path, overrides, found):
    path = tmp_path / "snapshot.pkl"
    _write_snapshot(path, reference_names, **overrides)
    with pytest.raises(CheckpointError, match=found) as info:
        load_stylegan2_ada(path)
    assert str(path) in str(info.value)


def test_wrong_class_name(reference_names, tmp_path):
    path = tmp_path / "snapshot.pkl"
    _write_snapshot(path, reference_names, G=_persistent(reference_names, "SynthesisNetwork", _module_state()))
    with pytest.raises(CheckpointError, match="'SynthesisNetwork'") as info:
        load_stylegan2_ada(path)
    assert str(path) in str(info.value) and "Generator" in str(info.value)


@pytest.mark.parametrize(
    ("content", "found"),
    [([1, 2, 3], "list"), ({"weights": 1}, "weights"), ({"G": None, "D": None, "G_ema": None}, "'G_ema'")],
)
def test_not_a_snapshot(tmp_path, content, found):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(CheckpointError, match=found) as info:
        load_stylegan2_ada(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("data", [b"", b"not a pickle at all", b"\x80\x04\x95"])
def test_unreadable_file(tmp_path, data):
    path = tmp_path / "broken.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=re.escape(str(path))) as info:
        load_stylegan2_ada(path)
    assert not isinstance(info.value, UnsafeCheckpointError)


def test_truncated_snapshot(reference_names, tmp_path):
    path = tmp_path / "snapshot.pkl"
    _write_snapshot(path, reference_names)
    data = path.read_bytes()
    for cut in (1, 200, len(data) // 3, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=re.escape(str(path))) as info:
            load_stylegan2_ada(path)
        assert not isinstance(info.value, UnsafeCheckpointError), cut


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.pkl"
    with pytest.raises(FileNotFoundError, match=r"nowhere\.pkl"):
        load_stylegan2_ada(path)


# --- Malicious pickles ------------------------------------------------------------------------


@needs_posix_shell
@pytest.mark.parametrize("kind", PAYLOADS)
def test_payloads_are_real(tmp_path, kind):
    """An unrestricted unpickler does run each payload, so the tests below can fail."""
    marker = tmp_path / "marker"
    result = pickle.loads(_payload(kind, 2, marker))
    if hasattr(result, "wait"):
        result.wait()
    assert marker.exists()
    nested = tmp_path / "nested"
    torch.load(io.BytesIO(_legacy_torch_bytes(_payload("posix.system", 2, nested))), weights_only=False)
    assert nested.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize("kind", PAYLOADS)
def test_malicious_global_is_refused(tmp_path, kind, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_payload(kind, protocol, marker))
    with pytest.raises(UnsafeCheckpointError, match=kind.replace(".", r"\.")) as info:
        load_stylegan2_ada(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_malicious_entry_after_the_networks_is_refused(reference_names, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    _write_snapshot(path, reference_names, training_set_kwargs=_Reduce(os.system, f"touch {shlex.quote(str(marker))}"))
    with pytest.raises(UnsafeCheckpointError, match=r"\.system"):
        load_stylegan2_ada(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("kind", ["os.system", "posix.system", "builtins.eval"])
def test_malicious_nested_storage_is_refused(tmp_path, kind, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    storage = _Reduce(torch.storage._load_from_bytes, _legacy_torch_bytes(_payload(kind, 2, marker)))
    tensor = _Reduce(torch._utils._rebuild_tensor_v2, storage, 0, (1,), (1,), False, OrderedDict())
    path.write_bytes(pickle.dumps({"G": tensor}, protocol=protocol))
    # torch names builtins without their module.
    with pytest.raises(UnsafeCheckpointError, match=kind.removeprefix("builtins.").replace(".", r"\.")) as info:
        load_stylegan2_ada(path)
    assert isinstance(info.value.__cause__, UnsafeCheckpointError)
    assert isinstance(info.value.__cause__.__cause__, pickle.UnpicklingError)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name",
    [
        "numpy.load",
        "numpy.testing._private.utils.runstring",
        "numpy.core.multiarray._reconstruct_from_pickle",
        "torch.load",
        "torch._utils._rebuild_from_type_v2",
        "torch.serialization.load",
        "builtins.open",
        "builtins.exec",
        "builtins.__import__",
        "collections.namedtuple",
        "copyreg._reconstructor",
        "dnnlib.util.call_func_by_name",
        "torch_utils.persistence.import_hook",
    ],
)
def test_globals_off_the_list_are_refused(tmp_path, name):
    path = tmp_path / "evil.pkl"
    path.write_bytes(_program(4, _call(_global(4, name), _text(4, "x"))))
    with pytest.raises(UnsafeCheckpointError, match=name.replace(".", r"\.")):
        load_stylegan2_ada(path)


def _dict(**items: str) -> bytes:
    return pickle.EMPTY_DICT + b"".join(_text(4, k) + _text(4, v) + pickle.SETITEM for k, v in items.items())


_PERSISTENT = "torch_utils.persistence._reconstruct_persistent_obj"
_GENERATOR_META = _dict(type="class", class_name="Generator", module_src="") + _text(4, "state") + pickle.EMPTY_DICT
_F8 = _call(_global(4, "numpy.dtype"), _text(4, "f8"))
_BAD_ARGUMENTS = {
    "codec": (_call(_global(4, "_codecs.encode"), _text(4, "eJw="), _text(4, "zlib_codec")), "latin-1"),
    "object-dtype": (_call(_global(4, "numpy.dtype"), _text(4, "O")), "not a plain numeric type"),
    "scalar-from-text": (_call(_global(4, "numpy.core.multiarray.scalar"), _F8, _text(4, "12345678")), "raw bytes"),
    "array-subtype": (
        _call(_global(4, "numpy._core.multiarray._reconstruct"), _text(4, "matrix"), pickle.EMPTY_TUPLE, _text(4, "b")),
        "only plain numpy arrays",
    ),
    "persistent-function": (_call(_global(4, _PERSISTENT), _dict(type="function")), "type='class'"),
    "record-build": (
        _call(_global(4, _PERSISTENT), _GENERATOR_META + pickle.SETITEM) + pickle.EMPTY_DICT + pickle.BUILD,
        "extra pickled state",
    ),
}


@pytest.mark.parametrize(("body", "message"), _BAD_ARGUMENTS.values(), ids=list(_BAD_ARGUMENTS))
def test_admitted_names_refuse_unexpected_arguments(tmp_path, body, message):
    path = tmp_path / "odd.pkl"
    path.write_bytes(_program(4, body))
    with pytest.raises(CheckpointError, match=re.escape(message)) as info:
        load_stylegan2_ada(path)
    assert str(path) in str(info.value) and not isinstance(info.value, UnsafeCheckpointError)


@pytest.mark.parametrize("data", [b"Pabc\n.", b"\x80\x02X\x03\x00\x00\x00abcQ."])
def test_persistent_ids_are_refused(tmp_path, data):
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafeCheckpointError, match="persistent id"):
        load_stylegan2_ada(path)


@pytest.mark.parametrize(
    ("size", "stride", "hooks", "message"),
    [
        ((100,), (1,), {}, "past the end"),
        ((2, 2), (3, 1), {}, "past the end"),
        ((2,), (-1,), {}, "stride"),
        ((2,), (1,), {"hook": 1}, "hooks"),
    ],
)
def test_bad_tensors_are_refused(tmp_path, size, stride, hooks, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage's deprecation
        storage = torch.arange(4.0).storage()
    tensor = _Reduce(torch._utils._rebuild_tensor_v2, storage, 0, size, stride, False, OrderedDict(hooks))
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({"G": tensor}))
    with pytest.raises(CheckpointError, match=message):
        load_stylegan2_ada(path)


@pytest.mark.parametrize(
    "state", [_dict(x="1"), pickle.NONE + _dict(__defaults__="1") + pickle.TUPLE2], ids=["dict", "slots"]
)
def test_state_set_on_an_admitted_function_is_refused(tmp_path, state):
    from medgan_aug.nets import stylegan2_ada

    path = tmp_path / "evil.pkl"
    path.write_bytes(_program(4, _global(4, "torch._utils._rebuild_tensor_v2") + state + pickle.BUILD))
    with pytest.raises(UnsafeCheckpointError, match="set attributes of an allow-listed function"):
        load_stylegan2_ada(path)
    assert stylegan2_ada._rebuild_tensor_v2.__defaults__ == (None,)
    assert not hasattr(stylegan2_ada._rebuild_tensor_v2, "x")
