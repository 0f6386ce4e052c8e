"""The CUDA backend on a real GPU (skipped without one)."""

from __future__ import annotations

import pytest
import torch

from medgan_aug.ops import bias_act, modulated_conv2d, setup_filter, upfirdn2d, upsample2d
from tests.conftest import reference_cases, relative_error

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def cuda(case: dict) -> dict:
    return {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in case.items()}


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("case", reference_cases("upfirdn2d"))
def test_upfirdn2d_matches_reference(impl, case):
    case = cuda(case)
    x = case["x"].clone().requires_grad_()
    y = upfirdn2d(x, case["f"], case["up"], case["down"], case["padding"], case["flip_filter"], case["gain"], impl)
    (dx,) = torch.autograd.grad(y, x, case["dy"])
    assert relative_error(y, case["y"]) < 1e-6
    assert relative_error(dx, case["dx"]) < 1e-6


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("case", reference_cases("bias_act"))
def test_bias_act_matches_reference(impl, case):
    case = cuda(case)
    x = case["x"].clone().requires_grad_()
    b = case["b"].clone().requires_grad_()
    y = bias_act(x, b, case["dim"], case["act"], case["alpha"], case["gain"], case["clamp"], impl)
    dx, db = torch.autograd.grad(y, (x, b), case["dy"])
    assert relative_error(y, case["y"]) < 1e-6
    assert relative_error(dx, case["dx"]) < 1e-6
    assert relative_error(db, case["db"]) < 1e-6


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("case", reference_cases("modulated_conv2d"))
def test_modulated_conv2d_matches_reference(impl, case):
    case = cuda(case)
    y = modulated_conv2d(
        case["x"],
        case["weight"],
        case["styles"],
        up=case["up"],
        down=case["down"],
        padding=case["padding"],
        resample_filter=case["resample_filter"],
        demodulate=case["demodulate"],
        flip_weight=case["flip_weight"],
        fused_modconv=case["fused_modconv"],
        impl=impl,
    )
    assert relative_error(y, case["y"]) < 1e-4


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_large_images_and_half_precision(impl, dtype):
    x = torch.randn(4, 32, 131, 97, dtype=torch.float64, device="cuda")
    f = setup_filter([1, 3, 3, 1], device="cuda")
    expected = upsample2d(x, f, impl="ref")
    tolerance = {torch.float16: 2e-3, torch.float32: 1e-6}[dtype]
    assert relative_error(upsample2d(x.to(dtype), f, impl=impl), expected) < tolerance


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
def test_gradients(impl):
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, device="cuda", requires_grad=True)
    f = setup_filter([1, 3, 3, 1], device="cuda")

    def op(x, b):
        return upsample2d(bias_act(x, b, act="swish", impl=impl), f, impl=impl).square()

    assert torch.autograd.gradcheck(op, (x, b))
    assert torch.autograd.gradgradcheck(op, (x, b))
