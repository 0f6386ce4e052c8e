"""Shared fixtures: the StyleGAN2-ADA reference cases and the implementations to test."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SG2ADA = SHARED / "fixtures" / "sg2ada"

# Every implementation that runs on this machine's CPU; cuda_emulated is slow and marked.
CPU_IMPLS = [
    "ref",
    "cpp",
    pytest.param("cuda_emulated", marks=pytest.mark.cuda_emulated),
]


def _load_cases() -> list[dict] | None:
    path = SG2ADA / "ops.pt"
    if not path.is_file():
        return None
    return torch.load(path, weights_only=True)


_CASES = _load_cases()


def reference_cases(op: str) -> list:
    """pytest params for every fixture case of ``op`` (one skipped param without ../shared)."""
    if _CASES is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{SG2ADA} is absent"))]
    cases = [case for case in _CASES if case["op"] == op]
    return [pytest.param(case, id=f"{op}{i}") for i, case in enumerate(cases)]


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Max absolute error relative to the expected tensor's max magnitude."""
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    scale = expected.abs().max().clamp(min=1e-12)
    return ((actual.double() - expected.double()).abs().max() / scale).item()


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> str:
    """The implementation under test; a compiled one must really load (no silent fallback)."""
    from medgan_aug.ops import extension

    name = request.param
    library = {"cpp": "cpu", "cuda_emulated": "emulated", "cuda": "cuda"}.get(name)
    if library is not None:
        assert extension.load(library), extension.load_error(library)
    return name


def run_upfirdn2d_case(case: dict, impl: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y, dx)`` of a fixture case; dx is the gradient for the case's ``dy``."""
    from medgan_aug.ops import upfirdn2d

    x = case["x"].clone().requires_grad_()
    y = upfirdn2d(
        x,
        case["f"],
        up=case["up"],
        down=case["down"],
        padding=case["padding"],
        flip_filter=case["flip_filter"],
        gain=case["gain"],
        impl=impl,
    )
    (dx,) = torch.autograd.grad(y, x, case["dy"])
    return y, dx


def run_bias_act_case(case: dict, impl: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(y, dx, db)`` of a fixture case for the case's ``dy``."""
    from medgan_aug.ops import bias_act

    x = case["x"].clone().requires_grad_()
    b = case["b"].clone().requires_grad_()
    y = bias_act(
        x,
        b,
        dim=case["dim"],
        act=case["act"],
        alpha=case["alpha"],
        gain=case["gain"],
        clamp=case["clamp"],
        impl=impl,
    )
    dx, db = torch.autograd.grad(y, (x, b), case["dy"])
    return y, dx, db


def run_modulated_conv2d_case(case: dict, impl: str) -> torch.Tensor:
    """The output of a modulated_conv2d fixture case."""
    from medgan_aug.ops import modulated_conv2d

    return modulated_conv2d(
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


@pytest.fixture(scope="session")
def timm_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised timm test_resnet's state dict, standing in for pretrained extractor weights."""
    import timm

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("timm") / "test_resnet.pth"
    torch.save(timm.create_model("test_resnet", pretrained=False, num_classes=0).state_dict(), path)
    return path
