"""Load StyleGAN2-ADA training snapshots (``.pkl``) without running anything from them.

A snapshot written by the reference StyleGAN2-ADA training loop is a plain :mod:`pickle` of
``dict(G=..., D=..., G_ema=..., augment_pipe=..., training_set_kwargs=...)``. Unpickling it the
ordinary way imports the reference code and executes the Python source embedded in every network
(``module_src``), and a pickle can name any importable callable. This loader instead reads the
file with an unpickler that resolves only a short allow-list of names, each to a function of this
module that builds inert data: networks become :class:`PersistentRecord` trees, tensors are
rebuilt from their storages (loaded by torch's weights-only loader), numpy scalars and arrays are
rebuilt from their raw bytes. The records are then turned into this package's own
:class:`~medgan_aug.nets.generator.StyleGenerator` and
:class:`~medgan_aug.nets.discriminator.StyleDiscriminator` from their constructor arguments and
flattened state dicts.
"""

from __future__ import annotations

import inspect
import io
import math
import pickle
import re
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .discriminator import StyleDiscriminator
from .errors import CheckpointError, UnsafeCheckpointError
from .generator import StyleGenerator

__all__ = ["load_stylegan2_ada"]

# Positional parameter order of the reference constructors: `_init_args` holds whatever the
# training script passed positionally, and these names place those values.
_GENERATOR_PARAMS = (
    "z_dim",
    "c_dim",
    "w_dim",
    "img_resolution",
    "img_channels",
    "mapping_kwargs",
    "synthesis_kwargs",
)
_DISCRIMINATOR_PARAMS = (
    "c_dim",
    "img_resolution",
    "img_channels",
    "architecture",
    "channel_base",
    "channel_max",
    "num_fp16_res",
    "conv_clamp",
    "cmap_dim",
    "block_kwargs",
    "mapping_kwargs",
    "epilogue_kwargs",
)
_AUGMENT_PIPE_PARAMS = (
    "xflip",
    "rotate90",
    "xint",
    "xint_max",
    "scale",
    "rotate",
    "aniso",
    "xfrac",
    "scale_std",
    "rotate_max",
    "aniso_std",
    "xfrac_std",
    "brightness",
    "contrast",
    "lumaflip",
    "hue",
    "saturation",
    "brightness_std",
    "contrast_std",
    "hue_max",
    "saturation_std",
    "imgfilter",
    "imgfilter_bands",
    "imgfilter_std",
    "noise",
    "cutout",
    "noise_std",
    "cutout_size",
)

# Snapshot keys holding networks, and the reference class each must be.
_NETWORK_CLASSES = {"G": "Generator", "D": "Discriminator", "G_ema": "Generator"}
_HANDLED_KEYS = frozenset(("G", "D", "G_ema", "augment_pipe", "training_set_kwargs"))

# Numpy type codes whose values are plain numbers; anything else (objects, strings, structured
# and datetime types) is refused rather than interpreted.
_NUMPY_CODES = frozenset(("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"))

# A module tree deeper than this is not a StyleGAN2-ADA network; the bound keeps a hostile
# pickle from exhausting the stack during flattening.
_MAX_DEPTH = 64


class PersistentRecord:
    """Inert stand-in for one network module of a snapshot.

    The reference pickles every network as ``_reconstruct_persistent_obj(meta)``, which would
    execute ``meta["module_src"]``. This record keeps only the class name and the module's
    ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ``_init_args``, ...), never the
    source.

    Parameters
    ----------
    class_name : str
        Name of the reference class, e.g. ``"Generator"``.
    version : int or None
        Version of the reference persistence format.
    state : dict
        The module's pickled ``__dict__``.
    """

    __slots__ = ("class_name", "state", "version")

    def __init__(self, class_name: str, version: int | None, state: dict[str, Any]) -> None:
        self.class_name = class_name
        self.version = version
        self.state = state

    def __setstate__(self, state: object) -> None:
        # The reference never follows the reconstruct call with a BUILD; a pickle that does is
        # trying to smuggle attributes onto the record.
        raise CheckpointError("a persistent network object carries extra pickled state")

    def __repr__(self) -> str:
        return f"PersistentRecord({self.class_name!r})"


class _EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict, without attribute access."""

    def __setstate__(self, state: object) -> None:
        # EasyDict stores attributes as items, so any pickled attribute state is item data.
        if state is None:
            return
        if not isinstance(state, dict):
            raise CheckpointError(f"an EasyDict carries non-dict state of type {type(state).__name__}")
        self.update(state)


class _NumpyDType:
    """Inert record of a numpy dtype restricted to plain numeric type codes."""

    __slots__ = ("byteorder", "code")

    def __init__(self, code: str) -> None:
        self.code = code
        self.byteorder = "="

    def __setstate__(self, state: object) -> None:
        # numpy pickles (version, byteorder, subarray, names, fields, elsize, alignment, flags
        # [, metadata]); a numeric dtype has no subarray, names or fields.
        if not isinstance(state, tuple) or len(state) < 5:
            raise CheckpointError(f"unexpected numpy dtype state {state!r}")
        byteorder, subarray, names, fields = state[1:5]
        if byteorder not in ("<", ">", "|", "=") or subarray is not None or names is not None or fields is not None:
            raise CheckpointError(f"unsupported numpy dtype state {state!r}")
        self.byteorder = byteorder

    def to_numpy(self) -> np.dtype:
        """The numpy dtype this record describes."""
        dtype = np.dtype(self.code)
        return dtype if self.byteorder in ("|", "=") else dtype.newbyteorder(self.byteorder)


class _NumpyArray:
    """Placeholder that numpy's array reconstruction fills in from raw bytes (``BUILD``)."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: object) -> None:
        # ndarray state: ([version,] shape, dtype, is_fortran, rawdata).
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise CheckpointError("unexpected numpy array state")
        shape, dtype, is_fortran, data = state
        self.array = _array_from_bytes(data, dtype, shape, "F" if is_fortran else "C")


# Stands in for the class `numpy.ndarray`, which the pickle passes to numpy's `_reconstruct`.
_NDARRAY = object()


def _reconstruct_persistent_obj(meta: object) -> PersistentRecord:
    """Record a reference "persistent" network object instead of executing its source."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise CheckpointError("a persistent object has unexpected metadata (expected type='class')")
    class_name, state, module_src = meta.get("class_name"), meta.get("state"), meta.get("module_src")
    if not isinstance(class_name, str) or not isinstance(state, dict) or not isinstance(module_src, (str, type(None))):
        raise CheckpointError("a persistent object lacks a class name or a state dict")
    version = meta.get("version")
    return PersistentRecord(class_name, version if isinstance(version, int) else None, state)


def _codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    """Bytes as pickle protocol 2 writes them: ``_codecs.encode(text, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("_codecs.encode is admitted only for latin-1 encoded bytes")
    return text.encode("latin-1")


def _load_from_bytes(data: object) -> torch.storage.TypedStorage:
    """Load a tensor storage from its nested torch pickle with torch's weights-only loader."""
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("a tensor storage is not given as bytes")
    try:
        storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        match = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"asks for {match.group(1)}, which" if match else "is something"
        raise UnsafeCheckpointError(
            f"a tensor storage inside the pickle {what} torch's weights-only loader refuses"
        ) from exc
    except Exception as exc:
        raise CheckpointError(f"a tensor storage inside the pickle cannot be read: {exc}") from exc
    if not isinstance(storage, torch.storage.TypedStorage):
        raise CheckpointError(f"a nested tensor storage pickle holds a {type(storage).__name__}, not a storage")
    return storage


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rebuild_tensor_v2(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object,
    backward_hooks: object,
    metadata: object = None,
) -> torch.Tensor:
    """Tensor view of a storage, checked to lie inside it; hooks and metadata are refused."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise CheckpointError("a tensor is not built on a tensor storage")
    if not (
        _is_int(storage_offset)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and all(_is_int(n) for n in (*size, *stride))
        and storage_offset >= 0
        and min((*size, *stride), default=0) >= 0
    ):
        raise CheckpointError("a tensor has an invalid offset, size or stride")
    if backward_hooks or metadata:
        # Hooks are callables and metadata flips conj/neg bits: neither belongs in a weight.
        raise CheckpointError("a tensor carries backward hooks or metadata")
    if math.prod(size) > 0:
        extent = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1
        if extent > storage.size():
            raise CheckpointError(f"a tensor of size {list(size)} reaches past the end of its storage")
    tensor = torch.empty((0,), dtype=storage.dtype)
    return tensor.set_(storage.untyped(), storage_offset, size, stride)


def _rebuild_parameter(data: object, requires_grad: object, backward_hooks: object) -> torch.Tensor:
    """The parameter's tensor; only its values matter for a state dict."""
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("a parameter is not built on a tensor")
    if backward_hooks:
        raise CheckpointError("a parameter carries backward hooks")
    return data


def _rebuild_parameter_with_state(
    data: object, requires_grad: object, backward_hooks: object, state: object
) -> torch.Tensor:
    """Like :func:`_rebuild_parameter`; the Python attributes in ``state`` are dropped."""
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _torch_device(kind: object, index: object = None) -> torch.device:
    """A ``torch.device`` from its pickled type name and index."""
    if not isinstance(kind, str) or not (index is None or _is_int(index)):
        raise CheckpointError("a torch.device has unexpected arguments")
    return torch.device(kind) if index is None else torch.device(kind, index)


def _numpy_dtype(code: object, align: object = False, copy: object = True) -> _NumpyDType:
    """A numeric numpy dtype record from its pickled type code (e.g. ``"f8"``)."""
    if code not in _NUMPY_CODES:
        raise CheckpointError(f"numpy dtype {code!r} is not a plain numeric type")
    return _NumpyDType(code)


def _array_from_bytes(data: object, dtype: object, shape: object, order: object) -> np.ndarray:
    """A numpy array copied out of raw bytes, checked against its dtype and shape."""
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, (bytes, bytearray)) or order not in ("C", "F"):
        raise CheckpointError("a numpy array is not given as numeric raw bytes")
    if not isinstance(shape, tuple) or not all(_is_int(n) and n >= 0 for n in shape):
        raise CheckpointError("a numpy array has an invalid shape")
    np_dtype = dtype.to_numpy()
    if len(data) != math.prod(shape) * np_dtype.itemsize:
        raise CheckpointError("a numpy array's raw bytes do not match its shape")
    return np.frombuffer(data, dtype=np_dtype).reshape(shape, order=order).copy()


def _numpy_scalar(dtype: object, data: object = None) -> bool | int | float | complex:
    """A numpy scalar as the equivalent Python number."""
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("a numpy scalar is not given as a numeric dtype and raw bytes")
    return _array_from_bytes(data, dtype, (), "C").item()


def _numpy_reconstruct(subtype: object, shape: object, dtype: object) -> _NumpyArray:
    """An empty placeholder that the following ``BUILD`` fills with the array's data."""
    if subtype is not _NDARRAY:
        raise CheckpointError("only plain numpy arrays are supported")
    return _NumpyArray()


def _numpy_frombuffer(buffer: object, dtype: object, shape: object, order: object) -> np.ndarray:
    """Numpy's pickle-protocol-5 array reconstruction, from in-band bytes."""
    return _array_from_bytes(buffer, dtype, shape, order)


_TORCH_DTYPES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
)

# Every global the unpickler resolves; each maps to code of this module (or an inert type).
_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("_codecs", "encode"): _codecs_encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("torch", "device"): _torch_device,
    **{("torch", name): getattr(torch, name) for name in _TORCH_DTYPES},
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): _NDARRAY,
    **{
        (f"numpy.{core}.{module}", name): function
        for core in ("core", "_core")
        for module, name, function in (
            ("multiarray", "scalar", _numpy_scalar),
            ("multiarray", "_reconstruct", _numpy_reconstruct),
            ("numeric", "_frombuffer", _numpy_frombuffer),
        )
    },
}


class _Admitted:
    """An allow-listed function as the unpickler hands it out.

    A pickle may ``BUILD`` on any object it holds, which on a plain function would set its
    attributes (``__defaults__`` included) for the rest of the process; this wrapper has no
    attributes to set and refuses state.
    """

    __slots__ = ("_function",)

    def __init__(self, function: Any) -> None:
        self._function = function

    def __call__(self, *args: object) -> Any:
        return self._function(*args)

    def __setstate__(self, state: object) -> None:
        raise UnsafeCheckpointError("the pickle tries to set attributes of an allow-listed function")


_ALLOWED = {key: _Admitted(value) if inspect.isfunction(value) else value for key, value in _ALLOWED.items()}

# Python 3 writes protocol 0-2 pickles with Python 2 module names (fix_imports: `set` becomes
# `__builtin__.set`); the default find_class translates them, an override has to do it itself.
_PY2_MODULES = {"__builtin__": "builtins"}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the names in ``_ALLOWED`` and refuses persistent ids."""

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allow-listed global; raise before anything else could be created."""
        target = _ALLOWED.get((_PY2_MODULES.get(module, module), name))
        if target is None:
            raise UnsafeCheckpointError(f"the pickle asks for {module}.{name}, which is not on the allow-list")
        return target

    def persistent_load(self, pid: object) -> Any:
        """Refuse persistent ids: snapshots never use them, and they resolve to arbitrary objects."""
        raise UnsafeCheckpointError("the pickle uses a persistent id, which is not allowed")


def _read_snapshot(path: Path) -> object:
    """Unpickle ``path`` with the restricted unpickler; any failure names the file."""
    with open(path, "rb") as file, warnings.catch_warnings():
        # The weights-only loader hands back TypedStorage, whose every use warns about its
        # deprecation; here it is only an intermediate.
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated", category=UserWarning)
        try:
            return _RestrictedUnpickler(file).load()
        except CheckpointError as exc:
            raise type(exc)(f"{path}: {exc}") from exc
        except Exception as exc:
            # Truncated or corrupt pickles raise anything from EOFError to TypeError.
            raise CheckpointError(f"{path} is not a readable pickle ({type(exc).__name__}: {exc})") from exc


def _plain(value: object, depth: int = 0) -> Any:
    """Recursively turn unpickled data into plain Python containers (EasyDicts into dicts)."""
    if depth > _MAX_DEPTH:
        raise CheckpointError("data is nested too deeply")
    if isinstance(value, dict):
        return {key: _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item, depth + 1) for item in value)
    if isinstance(value, _NumpyArray):
        if value.array is None:
            raise CheckpointError("a numpy array was never given its data")
        return value.array
    if isinstance(value, (PersistentRecord, _NumpyDType)) or value is _NDARRAY:
        raise CheckpointError(f"a {type(value).__name__} where plain data was expected")
    return value


def _describe(value: object) -> str:
    """Short description of an unexpected object for error messages."""
    if isinstance(value, PersistentRecord):
        return f"a persistent {value.class_name!r} object"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return f"a {type(value).__name__}"


def _flatten_state(
    record: PersistentRecord,
    prefix: str = "",
    out: dict[str, torch.Tensor] | None = None,
    active: frozenset[int] = frozenset(),
) -> dict[str, torch.Tensor]:
    """State dict of a record tree: its parameters and persistent buffers under dotted keys."""
    out = {} if out is None else out
    if id(record) in active or len(active) >= _MAX_DEPTH:
        raise CheckpointError(f"the module tree at {prefix or 'the root'} is cyclic or too deep")
    active = active | {id(record)}
    state = record.state
    skipped = state.get("_non_persistent_buffers_set") or set()
    if not isinstance(skipped, (set, frozenset)):
        raise CheckpointError(f"{prefix}_non_persistent_buffers_set of a {record.class_name} is not a set")
    for kind in ("_parameters", "_buffers"):
        entries = state.get(kind) or {}
        if not isinstance(entries, dict):
            raise CheckpointError(f"{prefix}{kind} of a {record.class_name} is not a dict")
        for name, tensor in entries.items():
            # Unset parameters are None, and non-persistent buffers are not in a state dict.
            if tensor is None or (kind == "_buffers" and name in skipped):
                continue
            key = f"{prefix}{name}"
            if not isinstance(tensor, torch.Tensor):
                raise CheckpointError(f"{key} is a {type(tensor).__name__}, not a tensor")
            if key in out:
                raise CheckpointError(f"{key} appears twice in the module tree")
            out[key] = tensor
    modules = state.get("_modules") or {}
    if not isinstance(modules, dict):
        raise CheckpointError(f"{prefix}_modules of a {record.class_name} is not a dict")
    for name, child in modules.items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise CheckpointError(f"sub-module {prefix}{name} is {_describe(child)}, not a persistent network object")
        _flatten_state(child, f"{prefix}{name}.", out, active)
    return out


def _init_kwargs(record: PersistentRecord, params: tuple[str, ...], where: str) -> dict[str, Any]:
    """Constructor kwargs of a record: ``_init_args`` placed by ``params``, then ``_init_kwargs``."""
    args = record.state.get("_init_args", ())
    kwargs = record.state.get("_init_kwargs", {})
    if not isinstance(args, (tuple, list)) or not isinstance(kwargs, dict):
        raise CheckpointError(f"{where}: the constructor arguments are not a tuple and a dict")
    if len(args) > len(params):
        raise CheckpointError(f"{where}: {len(args)} positional constructor arguments, at most {len(params)} expected")
    merged = dict(zip(params[: len(args)], _plain(list(args)), strict=True))
    for key, value in _plain(kwargs).items():
        if not isinstance(key, str):
            raise CheckpointError(f"{where}: constructor argument name {key!r} is not a string")
        if key in merged:
            raise CheckpointError(f"{where}: constructor argument {key!r} is given twice")
        merged[key] = value
    return merged


def _unknown_kwargs(cls: type, kwargs: Mapping[str, Any]) -> list[str]:
    """Names in ``kwargs`` that ``cls`` does not accept (none if it takes ``**kwargs``)."""
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return []
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return [key for key in kwargs if key not in names]


def _build_network(
    record: PersistentRecord,
    cls: type[nn.Module],
    params: tuple[str, ...],
    where: str,
    img_channels: int | None,
    device: str | torch.device,
) -> tuple[nn.Module, dict[str, Any]]:
    """Construct ``cls`` from a record's constructor arguments and load its state dict."""
    kwargs = _init_kwargs(record, params, where)
    if img_channels is not None:
        kwargs["img_channels"] = img_channels
    unknown = _unknown_kwargs(cls, kwargs)
    if unknown:
        raise CheckpointError(
            f"{where} was built with {', '.join(map(repr, unknown))}, which {cls.__name__} does not take;"
            f" the file is probably not a StyleGAN2-ADA snapshot (StyleGAN3 shares its class names)"
        )
    try:
        network = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: cannot build {cls.__name__} from {kwargs}: {exc}") from exc
    state = _flatten_state(record)
    try:
        network.load_state_dict(state)
    except CheckpointError as exc:
        if hasattr(exc, "add_note"):  # Python >= 3.11
            exc.add_note(f"while loading {where}")
        raise
    return network.to(device).eval().requires_grad_(False), kwargs


def load_stylegan2_ada(
    path: str | PathLike[str],
    *,
    img_channels: int | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a StyleGAN2-ADA training snapshot without executing anything from it.

    The file is read with an unpickler that admits only the handful of names such snapshots
    use, each resolved to an inert reconstruction of this module; the Python source stored in
    the snapshot is never executed, and the tensor storages nested in it are read by
    ``torch.load(..., weights_only=True)``. The networks are rebuilt as
    :class:`~medgan_aug.nets.generator.StyleGenerator` and
    :class:`~medgan_aug.nets.discriminator.StyleDiscriminator`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pkl`` snapshot, e.g. ``network-snapshot-001000.pkl`` or a published model.
    img_channels : int, optional
        Build the networks for this many image channels instead of the snapshot's; the
        networks' ``load_state_dict`` converts the ToRGB/FromRGB weights (and warns).
    device : str or torch.device, default "cpu"
        Device to move the networks to.

    Returns
    -------
    dict
        ``"G"``, ``"D"``, ``"G_ema"``: the networks in eval mode without gradients (a network
        missing from the file is missing here); ``"G_kwargs"`` (from ``G_ema``, else ``G``) and
        ``"D_kwargs"``: the constructor arguments used, as plain dicts;
        ``"training_set_kwargs"``: a plain dict or None; ``"augment_pipe_kwargs"`` and
        ``"augment_p"`` (float) if the snapshot has an augmentation pipeline; any other
        top-level entries that are plain data.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    UnsafeCheckpointError
        If the pickle, or a tensor storage nested in it, asks for anything outside the
        allow-list. Nothing it asks for is created.
    StateDictMismatchError
        If a network's parameters do not fit the network its constructor arguments describe.
    CheckpointError
        If the file is not a readable pickle, or not a StyleGAN2-ADA snapshot (wrong layout,
        other class names, constructor arguments of another architecture).
    """
    path = Path(path)
    snapshot = _read_snapshot(path)
    if not isinstance(snapshot, dict) or not any(snapshot.get(key) is not None for key in _NETWORK_CLASSES):
        raise CheckpointError(
            f"{path}: expected a StyleGAN2-ADA snapshot (a dict with G, D and G_ema), found {_describe(snapshot)}"
        )

    result: dict[str, Any] = {}
    kwargs_of: dict[str, dict[str, Any]] = {}
    for key, class_name in _NETWORK_CLASSES.items():
        record = snapshot.get(key)
        if record is None:
            continue
        where = f"{path}: {key}"
        if not isinstance(record, PersistentRecord) or record.class_name != class_name:
            raise CheckpointError(f"{where} should be a persistent {class_name!r} object, found {_describe(record)}")
        if class_name == "Generator":
            cls, params = StyleGenerator, _GENERATOR_PARAMS
        else:
            cls, params = StyleDiscriminator, _DISCRIMINATOR_PARAMS
        result[key], kwargs_of[key] = _build_network(record, cls, params, where, img_channels, device)

    for source in ("G_ema", "G"):
        if source in kwargs_of:
            result["G_kwargs"] = kwargs_of[source]
            break
    if "D" in kwargs_of:
        result["D_kwargs"] = kwargs_of["D"]

    training_set_kwargs = snapshot.get("training_set_kwargs")
    if training_set_kwargs is not None and not isinstance(training_set_kwargs, dict):
        raise CheckpointError(f"{path}: training_set_kwargs is {_describe(training_set_kwargs)}, not a dict")
    result["training_set_kwargs"] = _plain(training_set_kwargs)

    augment_pipe = snapshot.get("augment_pipe")
    if augment_pipe is not None:
        where = f"{path}: augment_pipe"
        if not isinstance(augment_pipe, PersistentRecord) or augment_pipe.class_name != "AugmentPipe":
            found = _describe(augment_pipe)
            raise CheckpointError(f"{where} should be a persistent 'AugmentPipe' object, found {found}")
        result["augment_pipe_kwargs"] = _init_kwargs(augment_pipe, _AUGMENT_PIPE_PARAMS, where)
        p = _flatten_state(augment_pipe).get("p")
        if p is None or p.numel() != 1:
            raise CheckpointError(f"{where} has no scalar augmentation probability 'p'")
        result["augment_p"] = float(p.item())

    for key, value in snapshot.items():
        if key in _HANDLED_KEYS:
            continue
        try:
            result[key] = _plain(value)
        except CheckpointError:
            warnings.warn(f"{path}: skipping snapshot entry {key!r}, which is not plain data", stacklevel=2)
    return result
