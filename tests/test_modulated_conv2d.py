"""modulated_conv2d, conv2d_resample and modulate_weight on every CPU implementation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from medgan_aug.ops import conv2d_resample, modulate_weight, modulated_conv2d, setup_filter, upfirdn2d
from tests.conftest import CPU_IMPLS, reference_cases, relative_error, run_modulated_conv2d_case

FILTER = setup_filter([1, 3, 3, 1])


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize("case", reference_cases("modulated_conv2d"))
def test_matches_stylegan2_ada_reference(impl, case):
    assert relative_error(run_modulated_conv2d_case(case, impl), case["y"]) < 1e-4


def conv2d_resample_by_definition(x, w, f, up, down, padding, groups, flip_weight):
    """Upsample + pad, convolve, downsample — the slow order that defines the result."""
    fw = f.shape[-1]
    p = padding
    pad = [p, p, p, p]
    if up > 1:
        pad = [pad[0] + (fw + up - 1) // 2, pad[1] + (fw - up) // 2] * 2
    if down > 1:
        pad = [pad[0] + (fw - down + 1) // 2, pad[1] + (fw - down) // 2] * 2
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=pad, gain=up**2, impl="ref")
    x = F.conv2d(x, w if flip_weight else w.flip([2, 3]), groups=groups)
    return upfirdn2d(x, f, down=down, impl="ref") if down > 1 else x


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize(("up", "down"), [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("flip_weight", [True, False])
def test_conv2d_resample_fast_paths_equal_the_definition(impl, kernel, up, down, padding, groups, flip_weight):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64, generator=gen)
    w = torch.randn(6, 4 // groups, kernel, kernel, dtype=torch.float64, generator=gen)
    expected = conv2d_resample_by_definition(x, w, FILTER, up, down, padding, groups, flip_weight)
    y = conv2d_resample(
        x, w, FILTER, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight, impl=impl
    )
    assert relative_error(y, expected) < 1e-12


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulate_weight_matches_float64_math(impl, demodulate):
    gen = torch.Generator().manual_seed(1)
    weight = torch.randn(5, 3, 3, 3, dtype=torch.float64, generator=gen)
    styles = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    w, dcoefs = modulate_weight(weight, styles, demodulate, impl=impl)
    expected = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        norms = expected.flatten(2).norm(dim=2)
        assert relative_error(dcoefs, 1 / torch.sqrt(norms**2 + 1e-8)) < 1e-12
        expected = expected / torch.sqrt(norms**2 + 1e-8)[:, :, None, None, None]
    else:
        assert torch.equal(dcoefs, torch.ones(4, 5, dtype=torch.float64))
    assert relative_error(w, expected) < 1e-12


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize(("up", "down"), [(1, 1), (2, 1), (1, 2)])
@pytest.mark.parametrize("demodulate", [True, False])
def test_fused_and_unfused_paths_agree(impl, up, down, demodulate):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, 8, 8, dtype=torch.float64, generator=gen)
    weight = torch.randn(5, 4, 3, 3, dtype=torch.float64, generator=gen)
    styles = torch.randn(3, 4, dtype=torch.float64, generator=gen)
    noise = torch.randn(3, 1, 1, 1, dtype=torch.float64, generator=gen)
    kwargs = {
        "noise": noise,
        "up": up,
        "down": down,
        "padding": 1,
        "resample_filter": FILTER,
        "demodulate": demodulate,
        "impl": impl,
    }
    fused = modulated_conv2d(x, weight, styles, fused_modconv=True, **kwargs)
    unfused = modulated_conv2d(x, weight, styles, fused_modconv=False, **kwargs)
    assert fused.shape == (3, 5, 8 * up // down, 8 * up // down)
    assert relative_error(fused, unfused) < 1e-12


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize("fused_modconv", [True, False])
@pytest.mark.parametrize(("up", "down"), [(1, 1), (2, 1), (1, 2)])
def test_first_and_second_order_gradients(impl, fused_modconv, up, down):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(2, 2, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    styles = torch.randn(2, 2, dtype=torch.float64, generator=gen, requires_grad=True)

    def op(x, weight, styles):
        return modulated_conv2d(
            x,
            weight,
            styles,
            up=up,
            down=down,
            padding=1,
            resample_filter=FILTER,
            fused_modconv=fused_modconv,
            impl=impl,
        )

    # fast_mode checks random projections of the Jacobians: full ones cost minutes here.
    assert torch.autograd.gradcheck(op, (x, weight, styles), fast_mode=True)
    assert torch.autograd.gradgradcheck(op, (x, weight, styles), fast_mode=True)


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
def test_modulate_weight_second_order_gradients(impl):
    gen = torch.Generator().manual_seed(4)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    styles = torch.randn(2, 2, dtype=torch.float64, generator=gen, requires_grad=True)

    def op(weight, styles):
        w, dcoefs = modulate_weight(weight, styles, True, impl=impl)
        return w, dcoefs

    assert torch.autograd.gradcheck(op, (weight, styles))
    assert torch.autograd.gradgradcheck(op, (weight, styles))


@pytest.mark.parametrize(
    ("shapes", "error", "match"),
    [
        (((2, 3, 8), (4, 3, 3, 3), (2, 3)), ValueError, "x must be 4-D"),
        (((2, 3, 8, 8), (4, 2, 3, 3), (2, 3)), ValueError, "weight has 2 input channels but x has 3"),
        (((2, 3, 8, 8), (4, 3, 3, 3), (3, 3)), ValueError, r"styles must have shape \[2, 3\]"),
        (((2, 3, 8, 8), (4, 3, 3, 3), (2,)), ValueError, "styles must be 2-D"),
    ],
)
def test_bad_shapes_are_rejected(shapes, error, match):
    x, weight, styles = (torch.ones(shape) for shape in shapes)
    with pytest.raises(error, match=match):
        modulated_conv2d(x, weight, styles)


def test_bad_dtype_and_device_are_rejected():
    with pytest.raises(TypeError, match="weight must be a floating-point"):
        modulated_conv2d(torch.ones(1, 2, 4, 4), torch.ones(1, 2, 3, 3, dtype=torch.int32), torch.ones(1, 2))
    with pytest.raises(ValueError, match="styles is on meta but x is on cpu"):
        modulated_conv2d(torch.ones(1, 2, 4, 4), torch.ones(1, 2, 3, 3), torch.ones(1, 2, device="meta"))
