"""The CUDA backend on a real GPU (skipped without one)."""

from __future__ import annotations

import pytest
import torch

from medgan_aug.ops import bias_act, setup_filter, upsample2d
from tests.conftest import (
    reference_cases,
    relative_error,
    run_bias_act_case,
    run_modulated_conv2d_case,
    run_upfirdn2d_case,
)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def cuda(case: dict) -> dict:
    return {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in case.items()}


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("case", reference_cases("upfirdn2d"))
def test_upfirdn2d_matches_reference(impl, case):
    y, dx = run_upfirdn2d_case(cuda(case), impl)
    assert relative_error(y.cpu(), case["y"]) < 1e-6
    assert relative_error(dx.cpu(), case["dx"]) < 1e-6


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("case", reference_cases("bias_act"))
def test_bias_act_matches_reference(impl, case):
    y, dx, db = run_bias_act_case(cuda(case), impl)
    assert relative_error(y.cpu(), case["y"]) < 1e-6
    assert relative_error(dx.cpu(), case["dx"]) < 1e-6
    assert relative_error(db.cpu(), case["db"]) < 1e-6


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("case", reference_cases("modulated_conv2d"))
def test_modulated_conv2d_matches_reference(impl, case):
    assert relative_error(run_modulated_conv2d_case(cuda(case), impl).cpu(), case["y"]) < 1e-4


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
