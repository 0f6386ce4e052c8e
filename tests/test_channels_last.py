"""StyleGAN2 networks converted with ``.to(memory_format=torch.channels_last)``: same results, no relayout."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from medgan_aug.nets import StyleDiscriminator, StyleGenerator

CL = torch.channels_last
BATCH = 6  # not a channel count of the networks below, so batch-first 4-D tensors are activations
WIDTH = {"channel_base": 256, "channel_max": 32}


def layout(t: torch.Tensor) -> str:
    """``"nchw"``, ``"nhwc"``, ``"both"`` (one channel or 1x1 planes) or ``"strided"``."""
    contiguous, channels_last = t.is_contiguous(), t.is_contiguous(memory_format=CL)
    if contiguous and channels_last:
        return "both"
    return "nchw" if contiguous else "nhwc" if channels_last else "strided"


def tensors(tree: object) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


COPIES = {"aten._to_copy.default", "aten.clone.default", "aten.copy_.default", "aten.contiguous.default"}


class LayoutTrace(TorchDispatchMode):
    """Records every relayout and every activation written, below autograd.

    A relayout is a copy from a dense NCHW tensor into NHWC or back. The custom operators
    (``medgan_aug::upfirdn2d`` and ``medgan_aug::bias_act``) must return their input's format;
    one that returns NCHW for an NHWC input is recorded in ``op_relayouts``.
    """

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch = batch
        self.relayouts: list[tuple[int, ...]] = []
        self.op_relayouts: list[str] = []
        self.activations: list[tuple[str, str, tuple[int, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = str(func)
        inputs = [t for t in tensors((args, kwargs)) if t.ndim == 4]
        from_op = name.startswith("medgan_aug.") and inputs and isinstance(out, torch.Tensor) and out.ndim == 4
        if from_op and layout(inputs[0]) == "nhwc" and layout(out) == "nchw":
            self.op_relayouts.append(name)
        if name in COPIES and inputs and isinstance(out, torch.Tensor):
            source, target = layout(inputs[-1] if name == "aten.copy_.default" else inputs[0]), layout(out)
            if {source, target} == {"nchw", "nhwc"}:
                self.relayouts.append(tuple(out.shape))
                return out
        storages = {t.untyped_storage().data_ptr() for t in inputs}
        for t in tensors(out):
            # Views move no memory, and repeat builds [N, H, W, C] data that is then viewed as NCHW.
            aliased = t.untyped_storage().data_ptr() in storages
            if t.ndim == 4 and t.shape[0] == self.batch and not aliased and name != "aten.repeat.default":
                self.activations.append((name, layout(t), tuple(t.shape)))
        return out


def networks(architecture: str, c_dim: int = 0, img_channels: int = 3):
    torch.manual_seed(0)
    G = StyleGenerator(
        32,
        c_dim,
        32,
        32,
        img_channels,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs={**WIDTH, "architecture": "resnet" if architecture == "resnet" else "skip"},
    )
    D = StyleDiscriminator(
        c_dim, 32, img_channels, architecture=architecture, epilogue_kwargs={"mbstd_group_size": 2}, **WIDTH
    )
    return G, D


def channels_last_copy(module: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(module).to(memory_format=CL)


@pytest.mark.parametrize("architecture", ["resnet", "skip", "orig"])
def test_channels_last_networks_compute_what_the_contiguous_ones_do(architecture):
    G, D = networks(architecture, c_dim=2)
    G_cl, D_cl = channels_last_copy(G), channels_last_copy(D)
    assert (G.memory_format, D.memory_format) == (torch.contiguous_format, torch.contiguous_format)
    assert (G_cl.memory_format, D_cl.memory_format) == (CL, CL)
    z = torch.randn(BATCH, 32)
    c = torch.nn.functional.one_hot(torch.arange(BATCH) % 2, 2).float()
    outputs = []
    for g, d in ((G, D), (G_cl, D_cl)):
        img = g(z, c, noise_mode="const")
        logits = d(img, c)
        logits.square().sum().backward()
        grads = [p.grad for p in (*g.parameters(), *d.parameters()) if p.grad is not None]
        outputs.append((img, logits, grads))
    (img, logits, grads), (img_cl, logits_cl, grads_cl) = outputs
    torch.testing.assert_close(img_cl, img, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits_cl, logits, rtol=1e-5, atol=1e-5)
    assert len(grads_cl) == len(grads)
    for grad_cl, grad in zip(grads_cl, grads, strict=True):
        # oneDNN sums in another order for each format: float32 rounding, relative to the gradient's
        # scale. A noise strength's gradient is one sum over every pixel with much cancellation.
        rtol = 1e-2 if grad.ndim == 0 else 1e-4
        torch.testing.assert_close(grad_cl, grad, rtol=rtol, atol=1e-3 * grad.abs().max().item())


def traced_forward(G, D, training: bool) -> LayoutTrace:
    G.train(training)
    D.train(training)
    z = torch.randn(BATCH, 32)
    with torch.set_grad_enabled(training), LayoutTrace(BATCH) as trace:
        img = G(z, noise_mode="random" if training else "const")
        D(img)
    trace.image = img
    return trace


@pytest.mark.parametrize("architecture", ["resnet", "skip"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_channels_last_networks_write_every_activation_channels_last(architecture, training):
    G, D = networks(architecture)
    trace = traced_forward(G.to(memory_format=CL), D.to(memory_format=CL), training)
    written = [entry for entry in trace.activations if entry[1] not in ("nhwc", "both")]
    assert not written, f"activations not channels-last: {written}"
    assert trace.image.is_contiguous(memory_format=CL)
    # The only relayout: the 4x4 head's features put in (C, H, W) order for the fully connected layer.
    assert trace.relayouts == [(BATCH, 32, 4, 4)]
    assert trace.op_relayouts == []


def test_the_ops_keep_the_channels_last_format_in_the_networks():
    G, D = networks("resnet")
    trace = traced_forward(G.to(memory_format=CL), D.to(memory_format=CL), training=True)
    assert trace.op_relayouts == []


def test_contiguous_networks_stay_contiguous():
    G, D = networks("resnet")
    trace = traced_forward(G, D, training=True)
    assert [entry for entry in trace.activations if entry[1] not in ("nchw", "both")] == []
    assert trace.relayouts == [] and trace.op_relayouts == []


def test_channels_last_discriminator_takes_contiguous_images():
    _, D = networks("resnet", img_channels=3)
    D_cl = channels_last_copy(D)
    img = torch.randn(BATCH, 3, 32, 32)
    torch.testing.assert_close(D_cl(img), D(img), rtol=1e-5, atol=1e-5)


def test_state_dict_and_checkpoint_do_not_depend_on_the_format(tmp_path):
    G, _ = networks("skip")
    G_cl = channels_last_copy(G)
    assert G_cl.state_dict().keys() == G.state_dict().keys()
    path = tmp_path / "g.pt"
    G_cl.save(path)
    loaded = StyleGenerator.from_checkpoint(path)
    z = torch.randn(2, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(z, noise_mode="const"), G.eval()(z, noise_mode="const"))
