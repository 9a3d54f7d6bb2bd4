"""Issue 12, the engine's part: gradients owned by their tensors (item 3), hooks that must
return a gradient of the right kind (item 6), gf.grad's argument counts (item 7).
Each test is named after its item and failed before the fix."""

from __future__ import annotations

import re

import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import DeviceMismatchError, DTypeError, GraphError, ShapeError

# -- item 3: .grad is always a writable array the tensor owns ---------------------------------

# each makes a loss whose gradient reaches p straight from a broadcast or a view
PRODUCERS = {
    "sum": lambda p: p.sum(),
    "mean": lambda p: p.mean(),
    "add": lambda p: (p + 1.0).sum(),
    "reshape": lambda p: p.reshape(2, 2).sum(),
}

GRAD_WRITES = {
    "clip_grad_norm_-clipping": lambda p: nn.utils.clip_grad_norm_([p], max_norm=0.01),
    "clip_grad_value_": lambda p: nn.utils.clip_grad_value_([p], 0.01),
    "clip_grad_norm_-nonfinite-skip": lambda p: _nonfinite_skip(p),
    "zero_grad-set_to_none-False": lambda p: gf.optim.SGD([p], lr=0.1).zero_grad(
        set_to_none=False),
    "grad.zero_": lambda p: p.grad.zero_(),
    "grad-setitem": lambda p: p.grad.__setitem__(0, 7.0),
}


def _nonfinite_skip(p):
    p.grad[0] = float("nan")
    nn.utils.clip_grad_norm_([p], max_norm=1.0, nonfinite="skip")


@pytest.mark.parametrize("write", list(GRAD_WRITES))
@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_issue12_item3_grad_is_writable_whatever_produced_it(device, producer, write):
    p = nn.Parameter(gf.ones(4, device=device))
    PRODUCERS[producer](p).backward()
    with gf.no_grad():
        GRAD_WRITES[write](p)
    assert p.grad.shape == (4,)
    p.grad[1] = 3.0  # still writable, and only p's
    assert p.grad.tolist()[1] == 3.0


def test_issue12_item3_grads_of_two_tensors_do_not_share_memory(device):
    a = gf.ones(2, 3, device=device, requires_grad=True)
    b = gf.ones(6, device=device, requires_grad=True)
    (a.reshape(6) + b).sum().backward()  # one gradient array reaches both
    a.grad.zero_()
    assert b.grad.tolist() == [1.0] * 6


def test_issue12_item3_backward_with_a_gradient_does_not_alias_it(device):
    a = gf.ones(2, device=device, requires_grad=True)
    b = gf.ones(2, device=device, requires_grad=True)
    g = gf.tensor([1.0, 2.0], device=device)
    (a + b).backward(g)
    assert a.grad is not g and a.grad.data is not g.data
    a.grad.mul_(3.0)
    assert g.tolist() == [1.0, 2.0] and b.grad.tolist() == [1.0, 2.0]


@pytest.mark.usefixtures("float64_device")
def test_issue12_item3_a_float64_gradient_is_cast_to_the_leaf_dtype(device):
    x = gf.ones(2, device=device, requires_grad=True)
    (x * 2.0).backward(gf.tensor([1.0, 0.5], dtype=gf.float64, device=device))
    assert x.grad.dtype is gf.float32 and x.grad.tolist() == [2.0, 1.0]
    y = gf.ones(2, device=device, requires_grad=True)
    (dy,) = gf.grad(y * 3.0, y, grad_outputs=gf.ones(2, dtype=gf.float64, device=device))
    assert dy.dtype is gf.float32


def test_issue12_item3_retained_grad_is_owned(device):
    x = gf.ones(3, device=device, requires_grad=True)
    y = x + 0.0  # Add hands the same gradient to y and to x
    y.retain_grad()
    y.sum().backward()
    y.grad.zero_()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


# -- item 6: a hook must return a gradient like the one it was given, or None -----------------

WRONG_RETURNS = {
    "shape": (lambda g: gf.ones(1, dtype=g.dtype, device=g.device), ShapeError, "shape (1,)"),
    "dtype": (lambda g: g.to(gf.int32), DTypeError, "int32"),
    "device": (lambda g: g.to("strict:device1" if g.device != "strict:device1" else "cpu"),
               DeviceMismatchError, "on "),
    "not-a-tensor": (lambda g: g.tolist(), GraphError, "returned a list"),
}


def wrong_hook(grad):  # a named function: the message must name it
    return WRONG_RETURNS[wrong_hook.kind][0](grad)


@pytest.mark.parametrize("on", ["leaf", "non-leaf"])
@pytest.mark.parametrize("kind", list(WRONG_RETURNS))
def test_issue12_item6_a_hook_returning_a_wrong_gradient_is_a_typed_error(device, kind, on):
    _, error, phrase = WRONG_RETURNS[kind]
    wrong_hook.kind = kind
    x = gf.ones(3, device=device, requires_grad=True)
    target = x if on == "leaf" else x * 2.0
    target.register_hook(wrong_hook)
    with pytest.raises(error, match=re.escape(phrase)) as info:
        (target * 3.0).sum().backward()
    message = str(info.value)
    assert "wrong_hook" in message and "shape (3,)" in message
    assert ("leaf tensor" in message) == (on == "leaf")
    assert x.grad is None


def test_issue12_item6_a_hook_may_return_a_matching_gradient_or_none(device):
    x = gf.ones(3, device=device, requires_grad=True)
    x.register_hook(lambda g: g * 2.0)
    x.register_hook(lambda g: None)
    (x * 3.0).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0, 6.0]


# -- item 7: gf.grad takes one grad_output per output ----------------------------------------


def test_issue12_item7_grad_outputs_must_match_the_outputs_in_number(device):
    x = gf.ones(2, device=device, requires_grad=True)
    y1, y2 = x * 2.0, x * 3.0
    g = gf.ones(2, device=device)
    with pytest.raises(GraphError, match="2 outputs but 1 grad_outputs"):
        gf.grad([y1, y2], [x], grad_outputs=[g])
    with pytest.raises(GraphError, match="1 outputs but 2 grad_outputs"):
        gf.grad([y1], [x], grad_outputs=[g, g])
    with pytest.raises(GraphError, match="2 outputs but 1 grad_outputs"):
        gf.grad([y1, y2], [x], grad_outputs=g)
    (dx,) = gf.grad([y1, y2], [x], grad_outputs=[g, g])
    assert dx.tolist() == [5.0, 5.0]
