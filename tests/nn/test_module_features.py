"""Module features PyTorch scripts use: backward and kwargs hooks, apply, traversal,
get_submodule, requires_grad_, dtype moves, repr, and non-strict state dict loading;
each checked against PyTorch's behaviour where torch is installed."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.testing import assert_close


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding=1)
        self.norm = nn.BatchNorm1d(4)
        self.act = nn.SiLU()

    def forward(self, x, scale=1.0):
        return self.act(self.norm(self.conv(x))) * scale


def make_model(m):
    """The same architecture in gradflow (m = nn) or torch (m = torch.nn)."""
    return m.Sequential(m.Conv1d(2, 4, 3, padding=1), m.BatchNorm1d(4), m.GELU(),
                        m.Sequential(m.Flatten(), m.Linear(20, 3)), m.LogSoftmax(dim=1))


def test_full_backward_hook_sees_grads_and_can_replace_them(device):
    layer = nn.Linear(3, 2).to(device)
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append((module, grad_input, grad_output))
        return (grad_input[0] * 2.0,)

    handle = layer.register_full_backward_hook(hook)
    x = gf.ones(4, 3, device=device, requires_grad=True)
    out = layer(x)
    (out * 3.0).sum().backward()
    module, grad_input, grad_output = seen[0]
    assert module is layer and len(seen) == 1
    assert_close(grad_output[0], np.full((4, 2), 3.0, np.float32))
    expected = np.full((4, 2), 3.0, np.float32) @ layer.weight.numpy()
    assert_close(grad_input[0], expected)
    assert_close(x.grad, 2.0 * expected)  # replaced
    assert_close(layer.weight.grad, np.full((2, 3), 12.0, np.float32))  # unchanged
    handle.remove()
    x.grad = None
    layer(x).sum().backward()
    assert len(seen) == 1


def _lists(grads):
    return [None if g is None else g.tolist() for g in grads]


def test_backward_hooks_match_torch_with_several_inputs():
    torch = pytest.importorskip("torch")

    class Pair(nn.Module):
        def forward(self, a, b, scale):
            return a * b * scale, a + b

    class TorchPair(torch.nn.Module):
        def forward(self, a, b, scale):
            return a * b * scale, a + b

    a_np, b_np = np.arange(6.0).reshape(2, 3), np.linspace(1.0, 2.0, 6).reshape(2, 3)
    records = {}
    for name, module, lib in (("ours", Pair(), gf), ("torch", TorchPair(), torch)):
        calls = []
        module.register_full_backward_pre_hook(lambda m, go, calls=calls: calls.append(
            ("pre", _lists(go))))
        module.register_full_backward_hook(lambda m, gi, go, calls=calls: calls.append(
            ("hook", _lists(gi), _lists(go))))
        a = lib.tensor(a_np, requires_grad=True)
        b = lib.tensor(b_np)  # needs no gradient: its grad_input entry is zeros
        product, total = module(a, b, 2.0)
        (product.sum() + (total * 3.0).sum()).backward()
        records[name] = calls
        # the other input needs the gradient now
        product, total = module(lib.tensor(a_np), lib.tensor(b_np, requires_grad=True), 2.0)
        (product + total).sum().backward()
    assert records["ours"] == records["torch"], (records["ours"], records["torch"])


def test_forward_hooks_with_kwargs_and_prepend(device):
    block = Block().to(device)
    order = []

    def pre(module, args, kwargs):
        order.append("pre")
        return args, {**kwargs, "scale": 0.0}

    block.register_forward_pre_hook(pre, with_kwargs=True)
    block.register_forward_hook(lambda m, args, kwargs, out: order.append(("kw", kwargs)),
                                with_kwargs=True)
    block.register_forward_hook(lambda m, args, out: order.append("first"), prepend=True)
    out = block(gf.randn(2, 2, 5, device=device), scale=5.0)
    assert order == ["pre", "first", ("kw", {"scale": 0.0})]
    assert float(out.abs().sum().item()) == 0.0


def test_traversal_names_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = make_model(nn), make_model(torch.nn)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert type(ours.get_submodule("3.1")).__name__ == type(theirs.get_submodule("3.1")).__name__
    with pytest.raises(AttributeError):
        ours.get_submodule("3.7")
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("build", [
    lambda m: m.Sequential(m.LSTM(4, 5, 2, bidirectional=True), m.GRUCell(3, 4),
                           m.MultiheadAttention(8, 2), m.ConvTranspose2d(4, 2, 3, stride=2)),
    lambda m: m.ModuleList([m.GroupNorm(2, 4), m.InstanceNorm2d(3, affine=True),
                            m.MaxPool1d(2), m.AdaptiveMaxPool2d(3), m.MaxUnpool2d(2),
                            m.Upsample(scale_factor=2, mode="bilinear"), m.PReLU(3),
                            m.Softplus(beta=2.0), m.Hardtanh(-2.0, 2.0), m.Fold((4, 5), 2),
                            m.Dropout2d(0.3), m.PixelShuffle(2), m.AvgPool1d(3),
                            m.Conv1d(2, 3, 3, stride=2, bias=False), m.HuberLoss(delta=0.5),
                            m.RNN(3, 4, nonlinearity="relu", batch_first=True)]),
    lambda m: m.Sequential(m.Conv2d(3, 8, (3, 2), stride=2, padding=1, dilation=2, bias=False,
                                    padding_mode="reflect"), m.Dropout(0.3),
                           m.MSELoss(reduction="sum"), m.CrossEntropyLoss(label_smoothing=0.1),
                           m.MaxPool2d(3, 2, 1), m.AvgPool2d(3, 2, 1), m.BatchNorm2d(4),
                           m.LayerNorm(5), m.Embedding(10, 3, padding_idx=0), m.GELU("tanh"),
                           m.Softmax(dim=1), m.Conv1d(2, 2, 3, padding_mode="circular")),
], ids=["recurrent_attention", "assorted", "existing_layers"])
def test_repr_matches_torch(build):
    torch = pytest.importorskip("torch")
    assert repr(build(nn)) == repr(build(torch.nn))


def test_apply_requires_grad_and_dtype_moves(device):
    model = make_model(nn).to(device)
    visited = []
    model.apply(lambda m: visited.append(type(m).__name__))
    assert visited[-1] == "Sequential" and visited[0] == "Conv1d"  # children first
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())
    if not device.endswith("no_float64"):
        model.double()
        assert {p.dtype for p in model.parameters()} == {gf.float64}
        assert model[1].num_batches_tracked.dtype == gf.int64  # integer buffers stay
        model.float()
        assert {p.dtype for p in model.parameters()} == {gf.float32}
        model.to(gf.float64)
        assert model(gf.randn(2, 2, 5, dtype=gf.float64, device=device)).dtype == gf.float64
    if device == "cpu":  # array-api-strict has no float16
        model.half()
        assert {p.dtype for p in model.parameters()} == {gf.float16}


def test_load_state_dict_non_strict_reports_keys():
    torch = pytest.importorskip("torch")
    ours, theirs = make_model(nn), make_model(torch.nn)
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    del state["3.1.bias"]
    state["extra.weight"] = np.zeros(2, np.float32)
    result = ours.load_state_dict(state, strict=False)
    expected = theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()},
                                      strict=False)
    assert result.missing_keys == expected.missing_keys == ["3.1.bias"]
    assert result.unexpected_keys == expected.unexpected_keys == ["extra.weight"]
    assert_close(ours[0].weight, theirs[0].weight.detach().numpy())


def test_backward_hook_runs_when_no_input_needs_a_gradient(device):
    layer = nn.Linear(3, 2).to(device)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
    layer(gf.ones(4, 3, device=device)).sum().backward()
    assert seen == [((None,), (4, 2))]
    assert layer.weight.grad is not None


def test_docstring_examples_of_the_new_modules_run():
    import doctest
    import math

    from gradflow.nn import (
        activation,
        attention,
        conv_extra,
        functional,
        functional_activation,
        functional_conv_extra,
        functional_extra,
        functional_losses_extra,
        functional_norm,
        losses_extra,
        module_hooks,
        normalization,
        pooling,
        rnn,
        vision,
    )

    names = {"gf": gf, "nn": nn, "F": functional, "math": math}
    for source in (activation, attention, conv_extra, functional_activation,
                   functional_conv_extra, functional_extra, functional_losses_extra,
                   functional_norm, losses_extra, module_hooks, normalization, pooling, rnn,
                   vision):
        result = doctest.testmod(source, extraglobs=names, report=False)
        assert result.failed == 0, f"{source.__name__}: {result.failed} docstring examples fail"
        assert result.attempted > 0 or source is module_hooks, source.__name__
