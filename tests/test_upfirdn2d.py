"""upfirdn2d and the resampling helpers, on every CPU implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch._prims_common import suggest_memory_format

from medgan_aug.ops import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d
from medgan_aug.ops.upfirdn2d import centred_padding
from tests.conftest import CPU_IMPLS, reference_cases, relative_error, run_upfirdn2d_case


def upfirdn2d_numpy(x, f, up, down, pad, flip_filter, gain):
    """Direct float64 evaluation of the definition, one output pixel at a time."""
    x = np.asarray(x, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    f = np.outer(f, f) * gain if f.ndim == 1 else f * gain
    if not flip_filter:
        f = f[::-1, ::-1]
    (upx, upy), (downx, downy) = up, down
    padx0, padx1, pady0, pady1 = pad
    n, c, h, w = x.shape
    fh, fw = f.shape
    stuffed = np.zeros((n, c, h * upy, w * upx))
    stuffed[:, :, ::upy, ::upx] = x
    out_h = (h * upy + pady0 + pady1 - fh) // downy + 1
    out_w = (w * upx + padx0 + padx1 - fw) // downx + 1
    y = np.zeros((n, c, out_h, out_w))
    for oy in range(out_h):
        for ox in range(out_w):
            for ty in range(fh):
                iy = oy * downy + ty - pady0
                if not 0 <= iy < h * upy:
                    continue
                for tx in range(fw):
                    ix = ox * downx + tx - padx0
                    if 0 <= ix < w * upx:
                        y[:, :, oy, ox] += f[ty, tx] * stuffed[:, :, iy, ix]
    return y


GEOMETRIES = [
    # up, down, padding, filter shape, flip_filter
    ((2, 2), (1, 1), [2, 1, 2, 1], (4,), False),
    ((1, 1), (2, 2), [1, 1, 1, 1], (4,), True),
    ((3, 1), (1, 2), [1, 2, 0, 3], (3, 5), False),
    ((1, 2), (2, 3), [-1, 2, 3, -2], (4, 2), True),
    ((4, 4), (2, 2), [0, 0, 0, 0], (2, 6), False),
    ((1, 1), (1, 1), [-2, -1, 0, -3], (1,), False),
]


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize("case", reference_cases("upfirdn2d"))
def test_matches_stylegan2_ada_reference(impl, case):
    y, dx = run_upfirdn2d_case(case, impl)
    assert relative_error(y, case["y"]) < 1e-6
    assert relative_error(dx, case["dx"]) < 1e-6


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize(("up", "down", "pad", "fshape", "flip"), GEOMETRIES)
def test_matches_float64_definition_with_per_axis_factors(impl, up, down, pad, fshape, flip):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 7, dtype=torch.float64, generator=gen)
    # A float64 filter: float32 taps are scaled by the gain in float32, as in the reference.
    f = torch.rand(fshape, generator=gen, dtype=torch.float64) + 0.1
    y = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=1.7, impl=impl)
    expected = upfirdn2d_numpy(x, f, up, down, pad, flip, 1.7)
    assert relative_error(y, torch.from_numpy(expected)) < 1e-12


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
# The impl fixture only checks that the backend loads, so sharing it across examples is safe.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    up=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    down=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    pad=st.lists(st.integers(-3, 4), min_size=4, max_size=4),
    fshape=st.one_of(st.tuples(st.integers(1, 6)), st.tuples(st.integers(1, 6), st.integers(1, 6))),
    flip=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_geometry_matches_float64_definition(impl, size, up, down, pad, fshape, flip, seed):
    fw, fh = fshape[-1], fshape[0]
    assume(size[1] * up[0] + pad[0] + pad[1] >= fw and size[0] * up[1] + pad[2] + pad[3] >= fh)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 2, *size, dtype=torch.float64, generator=gen)
    f = torch.rand(fshape, generator=gen, dtype=torch.float64) + 0.1
    y = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=1.3, impl=impl)
    expected = upfirdn2d_numpy(x, f, up, down, pad, flip, 1.3)
    assert relative_error(y, torch.from_numpy(expected)) < 1e-12


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize(("up", "down"), [((2, 2), (1, 1)), ((1, 1), (2, 2)), ((1, 1), (1, 1)), ((2, 1), (1, 3))])
def test_rank_one_2d_filters_match_float64_definition(impl, up, down):
    # Outer products such as the default [1,3,3,1] filter may run as two 1-D passes.
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 11, 10, dtype=torch.float64, generator=gen)
    f = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 2, 1])) / 32
    y = upfirdn2d(x, f, up=up, down=down, padding=[2, 1, 1, 2], gain=4.0, impl=impl)
    expected = upfirdn2d_numpy(x, f, up, down, [2, 1, 1, 2], False, 4.0)
    assert relative_error(y, torch.from_numpy(expected)) < 1e-12


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize(("up", "down", "pad", "fshape", "flip"), GEOMETRIES)
def test_first_and_second_order_gradients(impl, up, down, pad, fshape, flip):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    f = torch.rand(fshape, generator=gen) + 0.1

    def op(t):
        return upfirdn2d(t, f, up=up, down=down, padding=pad, flip_filter=flip, gain=2.0, impl=impl)

    assert torch.autograd.gradcheck(op, (x,))
    # upfirdn2d is linear, so its second derivative is zero: square it to exercise double backward.
    assert torch.autograd.gradgradcheck(lambda t: op(t).square(), (x,))


@pytest.mark.parametrize("impl", ["ref", "cpp"], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_low_precision_inputs_match_float64(impl, dtype):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 16, 12, dtype=torch.float64, generator=gen)
    f = setup_filter([1, 3, 3, 1])
    expected = upsample2d(x, f, impl="ref")
    y = upsample2d(x.to(dtype), f, impl=impl)
    assert y.dtype == dtype
    tolerance = {torch.float32: 1e-6, torch.float16: 2e-3, torch.bfloat16: 2e-2}[dtype]
    assert relative_error(y, expected) < tolerance


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
def test_channels_last_and_strided_inputs(impl):
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(2, 8, 10, 12, dtype=torch.float64, generator=gen)
    f = setup_filter([1, 2, 1])
    expected = downsample2d(base, f, impl="ref")
    channels_last = base.to(memory_format=torch.channels_last)
    strided = torch.randn(2, 12, 10, 8, dtype=torch.float64, generator=gen).permute(0, 3, 2, 1)
    assert relative_error(downsample2d(channels_last, f, impl=impl), expected) < 1e-12
    assert (
        relative_error(downsample2d(strided, f, impl=impl), downsample2d(strided.contiguous(), f, impl="ref")) < 1e-12
    )


def in_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x``'s values in another memory layout: dense NCHW/NHWC or a strided view."""
    if layout == "contiguous":
        return x.contiguous()
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    n, c, h, w = x.shape
    if layout == "strided":  # every other column of a wider NCHW tensor
        wide = torch.zeros(n, c, h, 2 * w, dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    # every other channel of a wider channels-last tensor (channels-last strides, not dense)
    wide = torch.zeros(n, 2 * c, h, w, dtype=x.dtype).contiguous(memory_format=torch.channels_last)
    wide[:, ::2] = x
    return wide[:, ::2]


LAYOUTS = ["channels_last", "strided", "channels_last_strided"]
LAYOUT_GEOMETRIES = [GEOMETRIES[0], GEOMETRIES[1], GEOMETRIES[3], ((1, 1), (1, 1), [2, 1, 2, 1], (4, 4), False)]


@pytest.mark.parametrize("impl", ["ref", "cpp"], indirect=True)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("up", "down", "pad", "fshape", "flip"), LAYOUT_GEOMETRIES)
def test_layouts_match_float64_definition_and_keep_the_memory_format(impl, layout, up, down, pad, fshape, flip):
    gen = torch.Generator().manual_seed(5)
    base = torch.randn(2, 3, 7, 6, dtype=torch.float64, generator=gen)
    f = torch.rand(fshape, generator=gen, dtype=torch.float64) + 0.1
    x = in_layout(base, layout).requires_grad_(True)
    memory_format = suggest_memory_format(x)
    assert memory_format == (torch.contiguous_format if layout == "strided" else torch.channels_last)

    def op(t):
        return upfirdn2d(t, f, up=up, down=down, padding=pad, flip_filter=flip, gain=1.5, impl=impl)

    y = op(x)
    assert relative_error(y, torch.from_numpy(upfirdn2d_numpy(base, f, up, down, pad, flip, 1.5))) < 1e-12
    assert y.is_contiguous(memory_format=memory_format)
    # The gradient keeps x's format even when dy comes in the other one.
    for dy_layout in ("contiguous", "channels_last"):
        dy = in_layout(torch.randn(y.shape, dtype=torch.float64, generator=gen), dy_layout)
        (dx,) = torch.autograd.grad(y, x, dy, retain_graph=True)
        (expected,) = torch.autograd.grad(op(base.requires_grad_(True)), base, dy.contiguous())
        # (the ref path keeps the format of its forward output only)
        assert impl == "ref" or dx.is_contiguous(memory_format=memory_format)
        assert relative_error(dx, expected) < 1e-12


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
@pytest.mark.parametrize(("up", "down", "pad", "fshape", "flip"), LAYOUT_GEOMETRIES[:3])
def test_channels_last_first_and_second_order_gradients(impl, up, down, pad, fshape, flip):
    gen = torch.Generator().manual_seed(6)
    x = in_layout(torch.randn(1, 3, 5, 4, dtype=torch.float64, generator=gen), "channels_last").requires_grad_(True)
    f = torch.rand(fshape, generator=gen) + 0.1

    def op(t):
        y = upfirdn2d(t, f, up=up, down=down, padding=pad, flip_filter=flip, gain=2.0, impl=impl)
        assert y.is_contiguous(memory_format=torch.channels_last)
        return y

    assert torch.autograd.gradcheck(op, (x,))
    assert torch.autograd.gradgradcheck(lambda t: op(t).square(), (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_channels_last_low_precision_matches_nchw(dtype):
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 5, 9, 8, generator=gen).to(dtype)
    for f in (setup_filter([1, 3, 3, 1]), setup_filter([1, 3, 3, 1], separable=True), torch.rand(3, 2, generator=gen)):
        for fn in (upsample2d, downsample2d, filter2d):
            nchw = fn(x, f, impl="cpp")
            nhwc = fn(x.contiguous(memory_format=torch.channels_last), f, impl="cpp")
            assert nhwc.dtype == dtype and nhwc.is_contiguous(memory_format=torch.channels_last)
            assert relative_error(nhwc, nchw) < (1e-6 if dtype == torch.float32 else 1e-2)


# The C++ kernel runs NCHW upsampling by 2 on both axes with a separable filter
# (1-D, or a 2-D outer product) of 2 to 4 taps per axis on a dedicated path;
# everything else takes the generic polyphase path.  Geometries of the
# dedicated path: (filter, padding [x0, x1, y0, y1], input height, width).
UP2_FILTERS = {
    "1d-4": [1.0, 3.0, 3.0, 1.0],
    "1d-3": [1.0, 2.0, 0.5],
    "1d-2": [2.0, 1.0],
    "2d-4x4": np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]),
    "2d-3x4": np.outer([1.0, 2.0, 0.5], [1.0, 3.0, 3.0, 1.0]),
    "2d-4x2": np.outer([0.5, 3.0, 2.0, 1.0], [2.0, 1.0]),
    "2d-2x3": np.outer([2.0, 1.0], [1.0, 2.0, 0.5]),
}
UP2_PADDINGS = [[2, 1, 2, 1], [0, 0, 0, 0], [1, 2, 2, 1], [-1, 2, 3, -2], [-3, 0, 1, -4], [4, 3, 0, 5]]
UP2_SIZES = [(5, 7), (8, 8), (1, 3), (2, 1)]


def _up2_filter(name: str) -> torch.Tensor:
    return torch.tensor(np.asarray(UP2_FILTERS[name]), dtype=torch.float64) / 8


def _up2_fits(size: tuple[int, int], f: torch.Tensor, pad: list[int]) -> bool:
    fh, fw = (f.shape[0], f.shape[0]) if f.ndim == 1 else f.shape
    return 2 * size[1] + pad[0] + pad[1] >= fw and 2 * size[0] + pad[2] + pad[3] >= fh


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
@pytest.mark.parametrize("name", list(UP2_FILTERS))
@pytest.mark.parametrize("flip", [False, True])
def test_up2_path_matches_float64_definition(impl, name, flip):
    gen = torch.Generator().manual_seed(8)
    f = _up2_filter(name)
    for pad in UP2_PADDINGS:
        for size in UP2_SIZES:
            if not _up2_fits(size, f, pad):
                continue
            x = torch.randn(2, 3, *size, dtype=torch.float64, generator=gen)
            y = upfirdn2d(x, f, up=2, padding=pad, flip_filter=flip, gain=1.7, impl=impl)
            expected = upfirdn2d_numpy(x, f, (2, 2), (1, 1), pad, flip, 1.7)
            assert relative_error(y, torch.from_numpy(expected)) < 1e-12, (pad, size)


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
@pytest.mark.parametrize("name", ["1d-4", "1d-3", "2d-3x4", "2d-2x3"])
def test_up2_path_agrees_with_the_generic_path(impl, name):
    # A zero tap at each end of the filter, with the padding grown to match,
    # gives the same output but 3 taps in a phase, which only the generic
    # path runs: both paths are compared with each other and the definition.
    gen = torch.Generator().manual_seed(9)
    f = _up2_filter(name)
    widened = torch.nn.functional.pad(f, (1, 1) if f.ndim == 1 else (1, 1, 1, 1))
    for pad in UP2_PADDINGS:
        for size in UP2_SIZES:
            if not _up2_fits(size, f, pad):
                continue
            x = torch.randn(1, 2, *size, dtype=torch.float64, generator=gen)
            y = upfirdn2d(x, f, up=2, padding=pad, gain=1.3, impl=impl)
            generic = upfirdn2d(x, widened, up=2, padding=[p + 1 for p in pad], gain=1.3, impl=impl)
            expected = torch.from_numpy(upfirdn2d_numpy(x, f, (2, 2), (1, 1), pad, False, 1.3))
            assert relative_error(y, expected) < 1e-12, (pad, size)
            assert relative_error(generic, expected) < 1e-12, (pad, size)


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
@pytest.mark.parametrize(
    ("up", "f"),
    [
        ((2, 1), setup_filter([1, 3, 3, 1])),  # up 2 on one axis only
        ((3, 3), setup_filter([1, 3, 3, 1])),  # up 3
        ((2, 2), setup_filter([1, 3, 3, 3, 1], separable=True)),  # 3 taps in a phase
        ((2, 2), setup_filter([1.0])),  # a phase without taps
        ((2, 2), torch.tensor([[1.0, 2.0, 0.5], [0.5, 1.0, 3.0]])),  # not an outer product
    ],
)
def test_upsampling_outside_the_up2_path_matches_float64_definition(impl, up, f):
    gen = torch.Generator().manual_seed(10)
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, generator=gen)
    f = f.double()
    for pad in ([2, 1, 2, 1], [-1, 2, 3, -2]):
        y = upfirdn2d(x, f, up=up, padding=pad, gain=2.0, impl=impl)
        expected = upfirdn2d_numpy(x, f, up, (1, 1), pad, False, 2.0)
        assert relative_error(y, torch.from_numpy(expected)) < 1e-12


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["1d-4", "1d-3", "2d-4x4", "2d-4x2"])
def test_up2_path_low_precision_matches_float64(impl, dtype, name):
    gen = torch.Generator().manual_seed(11)
    f = _up2_filter(name)
    for pad, size in (([2, 1, 2, 1], (16, 12)), ([-1, 2, 3, -2], (9, 7))):
        x = torch.randn(2, 4, *size, dtype=torch.float64, generator=gen).to(dtype)
        y = upfirdn2d(x, f.float(), up=2, padding=pad, gain=4.0, impl=impl)
        assert y.dtype == dtype
        expected = upfirdn2d_numpy(x.double(), f.float().double(), (2, 2), (1, 1), pad, False, 4.0)
        # bfloat16 rounds the output once; the sums are in float.
        tolerance = {torch.float32: 1e-6, torch.bfloat16: 8e-3}[dtype]
        assert relative_error(y, torch.from_numpy(expected)) < tolerance


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
def test_up2_path_reads_non_contiguous_inputs(impl):
    gen = torch.Generator().manual_seed(12)
    base = torch.randn(2, 3, 9, 7, dtype=torch.float64, generator=gen)
    f = setup_filter([1, 3, 3, 1]).double()
    expected = torch.from_numpy(upfirdn2d_numpy(base, f, (2, 2), (1, 1), [2, 1, 2, 1], False, 4.0))
    # Planes stored transposed: neither NCHW- nor NHWC-dense.
    transposed = base.transpose(2, 3).contiguous().transpose(2, 3)
    every_other_channel = torch.zeros(2, 6, 9, 7, dtype=torch.float64)
    every_other_channel[:, ::2] = base
    for x in (in_layout(base, "strided"), transposed, every_other_channel[:, ::2]):
        assert not x.is_contiguous() and suggest_memory_format(x) == torch.contiguous_format
        assert relative_error(upsample2d(x, f, impl=impl), expected) < 1e-12


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("size", [(8, 8), (9, 7), (3, 5)])
def test_downsample2d_gradient_runs_the_up2_path_exactly(impl, separable, size):
    # The backward of a downsampling by 2 is an upsampling by 2 of dy.
    gen = torch.Generator().manual_seed(13)
    f = setup_filter([1, 3, 3, 1], separable=separable).double()
    x = torch.randn(2, 3, *size, dtype=torch.float64, generator=gen, requires_grad=True)
    y = downsample2d(x, f, padding=[1, 0, 2, 1], impl=impl)
    dy = torch.randn(y.shape, dtype=torch.float64, generator=gen)
    (dx,) = torch.autograd.grad(y, x, dy)
    # The gradient of the definition: x's coefficient in <dy, definition(x)>, one pixel at a time.
    basis = torch.eye(x[0, 0].numel(), dtype=torch.float64).reshape(-1, 1, *size)
    pad = centred_padding(f, [1, 0, 2, 1], down=(2, 2))
    responses = torch.from_numpy(upfirdn2d_numpy(basis, f, (1, 1), (2, 2), pad, False, 1.0))[:, 0]
    expected = torch.einsum("nchw,khw->nck", dy, responses).reshape(x.shape)
    assert relative_error(dx, expected) < 1e-12


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
def test_up2_path_gradcheck(impl):
    gen = torch.Generator().manual_seed(14)
    for f in (setup_filter([1, 3, 3, 1], separable=True), setup_filter([1, 2, 1])):
        x = torch.randn(1, 1, 5, 4, dtype=torch.float64, generator=gen, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t, f=f: upsample2d(t, f, padding=[1, -1, 0, 2], impl=impl), (x,))
        assert torch.autograd.gradcheck(lambda t, f=f: downsample2d(t, f, padding=[1, -1, 0, 2], impl=impl), (x,))


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
def test_resampling_helpers_keep_size_centre_and_mean(impl):
    f = setup_filter([1, 3, 3, 1])
    flat = torch.full((1, 1, 16, 16), 0.5, dtype=torch.float64)
    up = upsample2d(flat, f, impl=impl)
    down = downsample2d(flat, f, impl=impl)
    same = filter2d(flat, f, impl=impl)
    assert up.shape == (1, 1, 32, 32) and down.shape == (1, 1, 8, 8) and same.shape == flat.shape
    # Away from the zero-padded border a constant image stays constant.
    assert torch.allclose(up[..., 2:-2, 2:-2], flat.new_tensor(0.5))
    assert torch.allclose(down[..., 1:-1, 1:-1], flat.new_tensor(0.5))
    assert torch.allclose(same[..., 2:-2, 2:-2], flat.new_tensor(0.5))
    # A centred block stays centred: the output is symmetric about the image centre
    # (filter2d only for odd filters, which have a centre tap).
    block = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    block[..., 3:5, 3:5] = 1
    for image in (
        upsample2d(block, f, impl=impl),
        downsample2d(block, f, impl=impl),
        filter2d(block, setup_filter([1, 2, 1]), impl=impl),
    ):
        assert torch.allclose(image, image.flip([2, 3]))
        assert image.sum() > 0


def test_setup_filter():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    assert torch.allclose(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    assert setup_filter([1, 3, 3, 1], separable=True).shape == (4,)
    assert setup_filter(list(range(1, 9))).shape == (8,)
    assert torch.allclose(setup_filter([1, 2], gain=4, separable=True), torch.tensor([2, 4]) / 3)
    assert torch.equal(setup_filter([[1.0, 2.0]], normalize=False, flip_filter=True), torch.tensor([[2.0, 1.0]]))
    with pytest.raises(ValueError, match="f must be 1-D or 2-D"):
        setup_filter(torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match="sums to zero"):
        setup_filter([1, -1])


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (torch.ones(3, 8, 8), {}, ValueError, "x must be 4-D"),
        (torch.ones(1, 1, 8, 8, dtype=torch.int32), {}, TypeError, "x must be a floating-point"),
        (torch.ones(0, 1, 8, 8), {}, ValueError, "x must not be empty"),
        (torch.ones(1, 1, 8, 8), {"f": torch.ones(2, 2, 2)}, ValueError, "f must be a non-empty 1-D or 2-D"),
        (torch.ones(1, 1, 8, 8), {"f": torch.ones(3, dtype=torch.int64)}, TypeError, "f must be a floating"),
        (torch.ones(1, 1, 8, 8), {"f": torch.ones(12)}, ValueError, "larger than the padded input"),
        (torch.ones(1, 1, 8, 8), {"padding": -5}, ValueError, "larger than the padded input"),
        (torch.ones(1, 1, 8, 8), {"up": 0}, ValueError, "up must be >= 1"),
        (torch.ones(1, 1, 8, 8), {"down": (2, 2, 2)}, ValueError, "down must be an int or an"),
        (torch.ones(1, 1, 8, 8), {"padding": [1, 2, 3]}, ValueError, "padding must be"),
        (torch.ones(1, 1, 8, 8), {"impl": "fast"}, ValueError, "impl must be one of"),
    ],
)
def test_bad_input_is_rejected_with_the_argument_named(impl, x, kwargs, error, match):
    kwargs = {"f": setup_filter([1, 3, 3, 1]), "impl": impl, **kwargs}
    with pytest.raises(error, match=match):
        upfirdn2d(x, **kwargs)


def test_filter_on_another_device_is_rejected():
    x = torch.ones(1, 1, 8, 8)
    f = torch.ones(3, device="meta")
    with pytest.raises(ValueError, match="f is on meta but x is on cpu"):
        upfirdn2d(x, f)


def test_compiled_impl_refuses_tensors_of_another_device():
    x = torch.ones(1, 1, 8, 8, device="meta")
    with pytest.raises(ValueError, match="impl='cpp' runs on cpu tensors"):
        upfirdn2d(x, torch.ones(3, device="meta"), impl="cpp")
