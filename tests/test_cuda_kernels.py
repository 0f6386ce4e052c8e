"""The CUDA kernels' specialisations, layouts and launch limits, run through the emulation layer.

Each upfirdn2d call picks one of the compile-time specialisations of
csrc/cuda/upfirdn2d_special.cuh (up 2, down 2, or up 1 down 1 on both axes
with 2-D filters up to 4x4 or 1-D filters up to 12 taps; NHWC with filters up
to 4x4) or the generic kernels; these tests reach each of them and compare with the float64
definition (the pure PyTorch path on float64 tensors).  Emulation runs one
host thread per CUDA thread, so the images are small.
"""

from __future__ import annotations

import pytest
import torch

from medgan_aug.ops import bias_act, setup_filter, upfirdn2d
from tests.conftest import reference_cases, relative_error, run_bias_act_case, run_upfirdn2d_case

pytestmark = [pytest.mark.cuda_emulated, pytest.mark.parametrize("impl", ["cuda_emulated"], indirect=True)]

MODES = [((2, 2), (1, 1)), ((1, 1), (2, 2)), ((1, 1), (1, 1))]
MODE_IDS = ["up2", "down2", "filter"]


def _filter(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen, dtype=torch.float64) + 0.1


def _check(x, f, impl, *, up=1, down=1, padding=0, flip_filter=False, gain=1.3, tolerance=1e-12):
    y = upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain, impl=impl)
    expected = upfirdn2d(
        x.double(), f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain, impl="ref"
    )
    assert relative_error(y, expected) < tolerance
    return y


@pytest.mark.parametrize(("up", "down"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize("fshape", [(1, 1), (2, 2), (3, 3), (4, 4), (4, 2), (1, 3)])
@pytest.mark.parametrize("flip", [False, True])
def test_2d_specialisations_match_float64(impl, up, down, fshape, flip):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 7, 9, dtype=torch.float64, generator=gen)
    f = _filter(fshape, 1)
    # Uneven and negative padding moves the polyphase phases and crops.
    _check(x, f, impl, up=up, down=down, padding=[2, 1, -1, 3], flip_filter=flip)


@pytest.mark.parametrize(("up", "down"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize("taps", [1, 2, 3, 4, 5, 8, 12])
def test_separable_specialisations_match_float64(impl, up, down, taps):
    gen = torch.Generator().manual_seed(taps)
    x = torch.randn(1, 2, 9, 8, dtype=torch.float64, generator=gen)
    f = _filter((taps,), 2)
    pad = [taps // 2 + 1, taps // 2, taps // 2, taps // 2 + 1]
    _check(x, f, impl, up=up, down=down, padding=pad, flip_filter=taps % 2 == 0)


@pytest.mark.parametrize(
    ("up", "down", "fshape"),
    [
        # Per-axis factors that differ, factor pairs without a specialisation, larger filters.
        ((2, 1), (1, 1), (4, 4)),
        ((1, 1), (1, 2), (3, 3)),
        ((2, 2), (2, 2), (4, 4)),
        ((4, 4), (1, 1), (4, 4)),
        ((1, 1), (3, 3), (2, 2)),
        ((2, 2), (1, 1), (5, 5)),
        ((1, 1), (2, 2), (7, 3)),
        ((1, 1), (1, 1), (3, 7)),
        ((2, 2), (1, 1), (13,)),
        ((1, 2), (2, 1), (12,)),
        ((4, 4), (2, 2), (6,)),
    ],
)
def test_generic_kernels_take_the_rest(impl, up, down, fshape):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 1, 8, 10, dtype=torch.float64, generator=gen)
    fw, fh = fshape[-1], fshape[0]
    _check(x, _filter(fshape, 6), impl, up=up, down=down, padding=[fw // 2, fw - 1, fh - 1, fh // 2])


@pytest.mark.parametrize(
    ("up", "down", "fshape", "size"),
    [
        # Outputs of several tiles along both axes (tiles: 64x32, 32x32 and 64x32 outputs;
        # separable 32x16 for down 2 and 64x16 for filter).
        (2, 1, (4, 4), (20, 40)),
        (1, 2, (4, 4), (70, 68)),
        (1, 1, (3, 3), (40, 70)),
        (2, 1, (12,), (20, 40)),
        (1, 2, (12,), (40, 70)),
        (1, 1, (4,), (20, 70)),
        (2, 1, (3, 5), (20, 40)),  # the generic tiled kernel
    ],
)
def test_multi_tile_planes(impl, up, down, fshape, size):
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 1, *size, dtype=torch.float64, generator=gen)
    fw, fh = fshape[-1], fshape[0]
    _check(x, _filter(fshape, 8), impl, up=up, down=down, padding=[fw - 1, fw // 2, fh // 2, fh - 1])


# Emulation runs the 65,535 blocks one after another (about a minute): slow.
@pytest.mark.slow
def test_more_planes_than_the_grid_holds(impl):
    # 70,000 planes > 65,535 blocks in y: blocks loop over planes.  1x1 planes keep the
    # blocks to one thread each.
    x = torch.randn(35_000, 2, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    f = torch.tensor([[0.5]], dtype=torch.float64)
    y = _check(x, f, impl, padding=[0, 0, 0, 0], gain=3.0)
    assert y.shape == (35_000, 2, 1, 1)
    # channels_last: the direct kernel, whose grid-stride loop covers every plane.
    y = _check(x.to(memory_format=torch.channels_last), f, impl, up=2, padding=[0, 1, 1, 0], gain=3.0)
    assert y.shape == (35_000, 2, 3, 3)


@pytest.mark.slow
# Blocks of 9 to 16 threads: 1-2 minutes each (a 12-tap filter's 144-thread blocks take 15).
@pytest.mark.parametrize(("up", "down", "fshape"), [(2, 1, (4, 4)), (1, 2, (4,)), ((2, 1), 1, (2, 2))])
def test_more_planes_than_the_grid_holds_with_wider_blocks(impl, up, down, fshape):
    x = torch.randn(70_000, 1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    fw, fh = fshape[-1], fshape[0]
    _check(x, _filter(fshape, 11), impl, up=up, down=down, padding=[fw // 2, fw // 2, fh // 2, fh // 2])


@pytest.mark.parametrize(("up", "down"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize("fshape", [(4, 4), (12,), (5, 3)])
def test_channels_last_and_strided_inputs_keep_their_layout(impl, up, down, fshape):
    gen = torch.Generator().manual_seed(12)
    base = torch.randn(2, 5, 9, 11, dtype=torch.float64, generator=gen)
    f = _filter(fshape, 13)
    fw, fh = fshape[-1], fshape[0]
    pad = [fw // 2, fw - 1, fh - 1, fh // 2]
    kwargs = {"up": up, "down": down, "padding": pad}
    channels_last = base.to(memory_format=torch.channels_last)
    y = _check(channels_last, f, impl, **kwargs)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    # A slice of a channels_last tensor is still laid out channels-last.
    y = _check(channels_last[:, 1:, :, 2:], f, impl, **kwargs)
    assert y.is_contiguous(memory_format=torch.channels_last)
    # Strided NCHW views come back NCHW-contiguous.
    for view in (base[:, :, 1:, ::2], base.transpose(2, 3)):
        y = _check(view, f, impl, **kwargs)
        assert y.is_contiguous()


@pytest.mark.parametrize(("up", "down"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize("fshape", [(1, 1), (2, 3), (4, 4), (3,), (4,)])
def test_channels_last_specialisations_match_float64(impl, up, down, fshape):
    # NHWC takes the 2-D rows of the table for filters up to 4x4, 1-D ones as their outer product.
    x = torch.randn(1, 3, 7, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(17))
    x = x.to(memory_format=torch.channels_last)
    y = _check(x, _filter(fshape, 18), impl, up=up, down=down, padding=[2, 1, -1, 3], flip_filter=True)
    assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("case", reference_cases("upfirdn2d"))
def test_channels_last_matches_stylegan2_ada_reference(impl, case):
    case = {**case, "x": case["x"].to(memory_format=torch.channels_last)}
    y, dx = run_upfirdn2d_case(case, impl)
    assert relative_error(y, case["y"]) < 1e-6
    assert relative_error(dx, case["dx"]) < 1e-6


@pytest.mark.parametrize("fdtype", [torch.float32, torch.float16, torch.bfloat16])
def test_filter_gain_is_rounded_in_the_filters_dtype(impl, fdtype):
    # The reference scales f in its own dtype before use; the kernels do the same while staging.
    gen = torch.Generator().manual_seed(14)
    x = torch.randn(1, 2, 6, 7, dtype=torch.float64, generator=gen)
    for f in (torch.rand(4, 4, generator=gen).to(fdtype), torch.rand(12, generator=gen).to(fdtype)):
        _check(x, f, impl, up=2, padding=[2, 1, 2, 1], gain=1.7, tolerance=1e-12)
        _check(x, f[..., :3], impl, padding=1, gain=2.9, flip_filter=True, tolerance=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fshape", [(4, 4), (12,)])
def test_low_precision_inputs(impl, dtype, fshape):
    gen = torch.Generator().manual_seed(15)
    x = torch.randn(1, 3, 8, 10, dtype=torch.float64, generator=gen)
    f = setup_filter(torch.rand(fshape[0], generator=gen) + 0.1, separable=len(fshape) == 1)
    y = upfirdn2d(x.to(dtype), f, up=2, padding=[2, 1, 2, 1], impl=impl)
    expected = upfirdn2d(x.to(dtype).double(), f, up=2, padding=[2, 1, 2, 1], impl="ref")
    assert y.dtype == dtype
    tolerance = {torch.float32: 1e-6, torch.float16: 2e-3, torch.bfloat16: 2e-2}[dtype]
    assert relative_error(y, expected) < tolerance


@pytest.mark.parametrize("fshape", [(4, 4), (12,), (5, 5)])
def test_one_call_is_one_kernel_launch(impl, fshape):
    # Scaling, flipping and the outer product happen while the kernel stages its taps:
    # no ATen op runs inside the call besides the output's allocation.
    x = torch.randn(1, 2, 6, 6)
    f = torch.rand(fshape) + 0.1
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], gain=2.0, impl=impl)
    names = {event.name for event in prof.events()}
    assert "medgan_aug_emulated::upfirdn2d" in names
    aten = {name for name in names if name.startswith("aten::")}
    assert aten <= {"aten::empty", "aten::empty_strided"}, aten


@pytest.mark.parametrize(
    ("shape", "dim", "layout"),
    [
        ((2, 6, 5, 4), 1, "channels_last"),
        ((2, 6, 5, 4), 3, "channels_last"),
        ((2, 6, 5, 4), 1, "strided"),
        ((2, 3, 4, 5, 6), 1, "channels_last_3d"),
        ((7, 6), 1, "strided"),
    ],
)
def test_bias_act_keeps_the_layout(impl, shape, dim, layout):
    gen = torch.Generator().manual_seed(16)
    base = torch.randn(shape, dtype=torch.float64, generator=gen)
    b = torch.randn(shape[dim], dtype=torch.float64, generator=gen)
    if layout == "strided":
        x = torch.randn(tuple(reversed(shape)), dtype=torch.float64, generator=gen).permute(
            *reversed(range(len(shape)))
        )
        x = x.clone().requires_grad_()
        format_ = torch.contiguous_format
    else:
        format_ = getattr(torch, layout)
        x = base.to(memory_format=format_).requires_grad_()
    y = bias_act(x, b, dim=dim, act="lrelu", clamp=0.9, impl=impl)
    expected = bias_act(x.detach(), b, dim=dim, act="lrelu", clamp=0.9, impl="ref")
    assert relative_error(y, expected) < 1e-12
    assert y.is_contiguous(memory_format=format_)
    # dy in another layout than x.
    dy = torch.randn(shape, dtype=torch.float64, generator=gen)
    (dx,) = torch.autograd.grad(y, x, dy)
    x_ref = x.detach().clone().requires_grad_()
    (dx_ref,) = torch.autograd.grad(bias_act(x_ref, b, dim=dim, act="lrelu", clamp=0.9, impl="ref"), x_ref, dy)
    assert relative_error(dx, dx_ref) < 1e-12
    assert dx.is_contiguous(memory_format=format_)


@pytest.mark.parametrize("case", reference_cases("bias_act"))
def test_bias_act_channels_last_matches_stylegan2_ada_reference(impl, case):
    if case["x"].ndim != 4:
        pytest.skip("channels_last needs a 4-D input")
    case = {**case, "x": case["x"].to(memory_format=torch.channels_last)}
    y, dx, db = run_bias_act_case(case, impl)
    assert relative_error(y, case["y"]) < 1e-6
    assert relative_error(dx, case["dx"]) < 1e-6
    assert relative_error(db, case["db"]) < 1e-6
