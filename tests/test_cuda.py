"""The CUDA backend on a real GPU (skipped without one).

Tolerances. Errors are the largest absolute difference relative to the expected tensor's largest
magnitude (``relative_error``). The custom kernels accumulate in float32 (float64 for float64), so
float32 results agree with the float64 definition to ~1e-7 (1e-6 asserted). A float16 or bfloat16
result carries the rounding of its inputs and of its output, each half a unit in the last place:
unit roundoff 2**-11 = 4.9e-4 for float16 and 2**-8 = 3.9e-3 for bfloat16, so about twice that at
most, and the tolerances below are 2e-3 and 1.6e-2 (twice again).

TF32. On Ampere and newer GPUs cuDNN runs float32 convolutions in TF32 by default (10-bit mantissa,
errors ~1e-3), which would fail the float32 comparisons of convolutions and networks at 1e-4 here;
those tests use the ``full_float32`` fixture, which turns TF32 off for cuDNN and cuBLAS and
restores the switches after, as StyleGAN2-ADA does for its whole run.
"""

from __future__ import annotations

import pytest
import torch

from medgan_aug.ops import bias_act, setup_filter, upsample2d
from medgan_aug.train import tf32_allowed
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


HALF_TOLERANCE = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float32: 1e-6}
"""Largest relative error of a custom kernel's result in each dtype against float64 (see above)."""


@pytest.fixture
def full_float32():
    """float32 convolutions and matmuls without TF32 inside the test; torch's switches restored after."""
    with tf32_allowed(False):
        yield
    # tf32_allowed restored the switches the session had (cuDNN's default is on).


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


@pytest.mark.usefixtures("full_float32")
@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("case", reference_cases("modulated_conv2d"))
def test_modulated_conv2d_matches_reference(impl, case):
    assert relative_error(run_modulated_conv2d_case(cuda(case), impl).cpu(), case["y"]) < 1e-4


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_large_images_and_half_precision(impl, dtype):
    x = torch.randn(4, 32, 131, 97, dtype=torch.float64, device="cuda")
    f = setup_filter([1, 3, 3, 1], device="cuda")
    expected = upsample2d(x, f, impl="ref")
    assert relative_error(upsample2d(x.to(dtype), f, impl=impl), expected) < HALF_TOLERANCE[dtype]


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_bias_act_in_half_precision(impl, dtype):
    x = torch.randn(8, 64, 33, 17, dtype=torch.float64, device="cuda")
    b = torch.randn(64, dtype=torch.float64, device="cuda")
    expected = bias_act(x, b, act="lrelu", clamp=256, impl="ref")
    actual = bias_act(x.to(dtype), b.to(dtype), act="lrelu", clamp=256, impl=impl)
    assert actual.dtype == dtype
    assert relative_error(actual, expected) < HALF_TOLERANCE[dtype]


def test_full_float32_fixture_turns_tf32_off_and_restores_it():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        with tf32_allowed(False):
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("impl", ["cuda"], indirect=True)
def test_gradients(impl):
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64, device="cuda", requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, device="cuda", requires_grad=True)
    f = setup_filter([1, 3, 3, 1], device="cuda")

    def op(x, b):
        return upsample2d(bias_act(x, b, act="swish", impl=impl), f, impl=impl).square()

    assert torch.autograd.gradcheck(op, (x, b))
    assert torch.autograd.gradgradcheck(op, (x, b))


@pytest.fixture(scope="module")
def g32_networks():
    from medgan_aug import StyleDiscriminator, StyleGenerator
    from tests.conftest import SG2ADA

    path = SG2ADA / "g32.pt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = torch.load(path, weights_only=True)
    G = StyleGenerator(**data["G_kwargs"]).eval()
    D = StyleDiscriminator(**data["D_kwargs"]).eval()
    G.load_state_dict(data["G_state"])
    D.load_state_dict(data["D_state"])
    return data, G.cuda(), D.cuda()


@pytest.mark.usefixtures("full_float32")
def test_networks_reproduce_stylegan2_ada_on_the_gpu(g32_networks):
    data, G, D = g32_networks
    with torch.no_grad():
        img = G.synthesis(data["ws"].cuda(), noise_mode="const")
        assert (img.cpu() - data["img"]).abs().max() < 1e-4
        assert (D(data["img"].cuda()).cpu() - data["logits_img"]).abs().max() < 1e-4


@pytest.mark.usefixtures("full_float32")
def test_channels_last_networks_reproduce_stylegan2_ada_on_the_gpu(g32_networks):
    import copy

    data, G, D = g32_networks
    G = copy.deepcopy(G).to(memory_format=torch.channels_last)
    D = copy.deepcopy(D).to(memory_format=torch.channels_last)
    with torch.no_grad():
        img = G.synthesis(data["ws"].cuda(), noise_mode="const")
        assert (img.cpu() - data["img"]).abs().max() < 1e-4
        assert (D(data["img"].cuda()).cpu() - data["logits_img"]).abs().max() < 1e-4


@pytest.mark.usefixtures("full_float32")
def test_float16_blocks_stay_close_to_float32(g32_networks):
    from medgan_aug import StyleGenerator

    data, _, _ = g32_networks
    kwargs = data["G_kwargs"]
    G16 = StyleGenerator(**{**kwargs, "synthesis_kwargs": {**kwargs["synthesis_kwargs"], "num_fp16_res": 2}})
    G16.load_state_dict(data["G_state"])
    G16 = G16.eval().cuda()
    with torch.no_grad():
        img16 = G16.synthesis(data["ws"].cuda(), noise_mode="const")
    assert img16.dtype == torch.float32
    # float16 in the top two resolutions rounds activations to ~1e-3 relative; errors stay small.
    assert (img16.cpu() - data["img"]).abs().max() < 0.05 * data["img"].abs().max()
