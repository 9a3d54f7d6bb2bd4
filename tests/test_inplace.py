"""In-place changes: refused when a pending backward needs the old value, differentiable otherwise.

Every in-place method, the optimizers' updates and the nn.init functions bump the version
of the tensor they change; a backward that finds a saved tensor (an input, an output, or
the base of a saved view) at another version raises GraphError("... modified in place ...")
instead of computing a wrong gradient. Where PyTorch differentiates through an in-place
op on a non-leaf tensor, gradflow gives the same gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import GraphError

MODIFIED = "modified in place"

# -- every in-place method --------------------------------------------------------------------

MUTATIONS = {
    "add_": lambda t: t.add_(1.0),
    "add_-alpha": lambda t: t.add_(gf.ones(3, dtype=t.dtype, device=t.device), alpha=2.0),
    "sub_": lambda t: t.sub_(0.5),
    "mul_": lambda t: t.mul_(2.0),
    "div_": lambda t: t.div_(2.0),
    "clamp_": lambda t: t.clamp_(-0.1, 0.1),
    "copy_": lambda t: t.copy_(gf.zeros(3, dtype=t.dtype, device=t.device)),
    "fill_": lambda t: t.fill_(3.0),
    "zero_": lambda t: t.zero_(),
    "setitem": lambda t: t.__setitem__(0, 5.0),
    "setitem-slice": lambda t: t.__setitem__(slice(1, None), 0.0),
    "iadd": lambda t: t.__iadd__(1.0),
    "imul": lambda t: t.__imul__(2.0),
}


def _saved_non_leaf_input(device):
    x = gf.randn(3, dtype=gf.float64, device=device, requires_grad=True)
    t = x * 1.0
    return t, (t * t).sum()  # Mul saves t


def _saved_constant_input(device):
    w = gf.randn(3, dtype=gf.float64, device=device, requires_grad=True)
    t = gf.randn(3, dtype=gf.float64, device=device)
    return t, (w * t).sum()  # Mul saves t, which needs no gradient itself


def _saved_output(device):
    x = gf.randn(3, dtype=gf.float64, device=device, requires_grad=True)
    t = x.exp()
    return t, t.sum()  # Exp saves its output t


def _saved_view_of_it(device):
    x = gf.randn(3, dtype=gf.float64, device=device, requires_grad=True)
    t = x * 1.0
    view = t.reshape(3, 1)
    return t, (view * view).sum()  # Mul saves the view; t is its base


SAVED = {
    "saved-non-leaf-input": _saved_non_leaf_input,
    "saved-constant-input": _saved_constant_input,
    "saved-output": _saved_output,
    "saved-view-base": _saved_view_of_it,
}


@pytest.mark.usefixtures("float64_device")
@pytest.mark.parametrize("recording", [False, True], ids=["no_grad", "recording"])
@pytest.mark.parametrize("saved", list(SAVED), ids=list(SAVED))
@pytest.mark.parametrize("mutation", list(MUTATIONS), ids=list(MUTATIONS))
def test_changing_a_saved_tensor_in_place_fails_the_backward(device, mutation, saved,
                                                             recording):
    t, loss = SAVED[saved](device)
    if recording:
        MUTATIONS[mutation](t)
    else:
        with gf.no_grad():
            MUTATIONS[mutation](t)
    with pytest.raises(GraphError, match=MODIFIED):
        loss.backward()


@pytest.mark.usefixtures("float64_device")
@pytest.mark.parametrize("mutation", list(MUTATIONS), ids=list(MUTATIONS))
def test_changing_a_tensor_no_backward_needs_is_fine(device, mutation):
    # Add and Sum save nothing, so changing their input afterwards harms no gradient
    # (PyTorch agrees); neither does a change after the backward has run.
    x = gf.randn(3, dtype=gf.float64, device=device, requires_grad=True)
    t = x * 2.0
    loss = (t + 1.0).sum()
    with gf.no_grad():
        MUTATIONS[mutation](t)
    loss.backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    with gf.no_grad():
        MUTATIONS[mutation](t)


# -- optimizer updates and nn.init on a parameter a pending backward needs ----------------------

OPTIMIZERS = {
    "sgd": lambda p: gf.optim.SGD(p, lr=0.1),
    "sgd-momentum": lambda p: gf.optim.SGD(p, lr=0.1, momentum=0.9),
    "adam": lambda p: gf.optim.Adam(p, lr=0.1),
    "adamw": lambda p: gf.optim.AdamW(p, lr=0.1),
    "rmsprop": lambda p: gf.optim.RMSprop(p, lr=0.1),
    "adagrad": lambda p: gf.optim.Adagrad(p, lr=0.1),
}


def _two_layers(device):
    gf.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(device)


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_optimizer_step_before_a_second_backward_fails(device, kind):
    # The second layer reads weight.T (a view of its weight) to send the gradient back to
    # the first layer; the step changes that weight in place.
    model = _two_layers(device)
    optimizer = OPTIMIZERS[kind](model.parameters())
    loss = model(gf.randn(4, 3, device=device)).square().sum()
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(GraphError, match=MODIFIED):
        loss.backward()


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_optimizer_step_on_a_directly_saved_parameter_fails(device, kind):
    w = nn.Parameter(gf.randn(3, device=device))
    optimizer = OPTIMIZERS[kind]([w])
    loss = (w * w).sum()  # each factor is read for the other's gradient
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(GraphError, match=MODIFIED):
        loss.backward()


def test_the_same_situations_fail_in_pytorch():
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.randn(4, 3)).square().sum()
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_an_update_no_pending_gradient_reads_is_allowed_as_in_pytorch(device):
    # One Linear layer on data that needs no gradient: its weight's gradient reads the
    # data, never the weight, so a step between two backwards harms nothing (PyTorch
    # agrees) and the second backward gives the first one's gradient again.
    layer = nn.Linear(3, 2).to(device)
    optimizer = gf.optim.SGD(layer.parameters(), lr=0.1)
    loss = layer(gf.randn(4, 3, device=device)).sum()
    loss.backward(retain_graph=True)
    first = layer.weight.grad.numpy().copy()
    optimizer.step()
    optimizer.zero_grad()
    loss.backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), first)

    torch = pytest.importorskip("torch")
    reference = torch.nn.Linear(3, 2)
    torch_loss = reference(torch.randn(4, 3)).sum()
    torch_loss.backward(retain_graph=True)
    torch.optim.SGD(reference.parameters(), lr=0.1).step()
    torch_loss.backward()


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_ordinary_training_steps_never_trip_the_check(device, kind):
    gf.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(device)
    optimizer = OPTIMIZERS[kind](model.parameters())
    x, y = gf.randn(8, 3, device=device), gf.randn(8, 1, device=device)
    for _ in range(3):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()


INITS = {
    "uniform_": lambda t: nn.init.uniform_(t, -0.1, 0.1),
    "normal_": lambda t: nn.init.normal_(t),
    "constant_": lambda t: nn.init.constant_(t, 0.3),
    "zeros_": nn.init.zeros_,
    "ones_": nn.init.ones_,
    "xavier_uniform_": nn.init.xavier_uniform_,
    "xavier_normal_": nn.init.xavier_normal_,
    "kaiming_uniform_": nn.init.kaiming_uniform_,
    "kaiming_normal_": nn.init.kaiming_normal_,
}


@pytest.mark.parametrize("init", list(INITS))
def test_init_of_a_weight_a_pending_backward_needs_fails(device, init):
    model = _two_layers(device)
    loss = model(gf.randn(4, 3, device=device)).square().sum()
    INITS[init](model[2].weight)
    with pytest.raises(GraphError, match=MODIFIED):
        loss.backward()


# -- differentiable in-place ops on non-leaf tensors, against PyTorch ---------------------------
# Each program is written once and runs on gradflow and on torch: x is (2, 3), w is (3,)
# with entries in [1, 2), both float64 and requiring gradients.


def _add_mul(x, w):
    y = x * 2.0
    y.add_(w)
    y.mul_(3.0)
    return (y * y).sum()


def _sub_alpha(x, w):
    y = x * x
    y.sub_(w, alpha=0.5)
    return (y * y).sum()


def _div_by_tensor(x, w):
    y = x + 1.0
    y.div_(w)
    return (y * y).sum()


def _clamp(x, w):
    y = x * 3.0
    y.clamp_(-1.0, 1.0)
    return (y * w).sum()


def _copy_from_graph(x, w):
    y = x * 1.0
    y.copy_(w * 2.0)
    return (y * y * x).sum()


def _fill(x, w):
    y = x * 1.0
    y.fill_(2.0)
    return (y * w).sum()


def _zero(x, w):
    y = x * 1.0
    y.zero_()
    return (y * w + x).sum()


def _setitem_row_from_graph(x, w):
    y = x * 1.0
    y[0] = w * 3.0
    return (y * y).sum()


def _setitem_constant(x, w):
    y = x * 2.0
    y[1] = 0.0
    return (y * y * w).sum()


def _setitem_mask(x, w):
    y = x * 2.0
    y[y > 0] = 0.5
    return (y * y * w).sum()


def _augmented_slice(x, w):
    y = x * 2.0
    y[:, 1:] *= 3.0
    return (y * y * w).sum()


def _iadd_then_reuse(x, w):
    y = x * 2.0
    y += w
    z = y + 1.0  # Add saves nothing, so y may change afterwards
    y.div_(2.0)
    return (z * z).sum() + (y * w).sum()


def _consumed_before(x, w):
    y = x * 2.0
    z = y + 1.0  # recorded before the change: its gradient goes to the old y, not to w
    y.add_(w)
    return (z * z).sum() + (y * 3.0).sum()


def _into_a_constant(x, w):
    y = x.detach() * 0.0
    y.add_(w)
    y.mul_(x)
    return (y * y).sum()


def _setitem_into_a_constant(x, w):
    y = x.detach() * 0.0
    y[0] = w * w
    return (y * x).sum()


PROGRAMS = {
    "add_-mul_": _add_mul, "sub_-alpha": _sub_alpha, "div_-tensor": _div_by_tensor,
    "clamp_": _clamp, "copy_-from-graph": _copy_from_graph, "fill_": _fill, "zero_": _zero,
    "setitem-row-from-graph": _setitem_row_from_graph, "setitem-constant": _setitem_constant,
    "setitem-mask": _setitem_mask, "augmented-slice": _augmented_slice,
    "iadd-then-reuse": _iadd_then_reuse, "consumed-before-the-change": _consumed_before,
    "in-place-into-a-constant": _into_a_constant,
    "setitem-into-a-constant": _setitem_into_a_constant,
}


def _matches_pytorch(device, program, seed=0):
    """Run `program(x, w)` on gradflow and torch with the same values; compare loss, grads."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x_host, w_host = rng.standard_normal((2, 3)), 1.0 + rng.random(3)
    x = gf.tensor(x_host, device=device, requires_grad=True)
    w = gf.tensor(w_host, device=device, requires_grad=True)
    loss = program(x, w)
    loss.backward()
    tx = torch.tensor(x_host, requires_grad=True)
    tw = torch.tensor(w_host, requires_grad=True)
    reference = program(tx, tw)
    reference.backward()
    np.testing.assert_allclose(loss.item(), reference.item(), rtol=1e-12)
    for ours, theirs in ((x, tx), (w, tw)):
        expected = np.zeros(theirs.shape) if theirs.grad is None else theirs.grad.numpy()
        got = np.zeros(expected.shape) if ours.grad is None else ours.grad.numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.usefixtures("float64_device")
@pytest.mark.parametrize("program", list(PROGRAMS), ids=list(PROGRAMS))
def test_in_place_on_non_leaf_tensors_matches_pytorch(device, program):
    _matches_pytorch(device, PROGRAMS[program])


@pytest.mark.usefixtures("float64_device")
def test_an_in_place_op_on_a_non_leaf_keeps_its_identity_and_records_a_node(device):
    x = gf.randn(3, dtype=gf.float64, device=device, requires_grad=True)
    y = x * 2.0
    same = y.add_(1.0)
    assert same is y and not y.is_leaf and y.requires_grad and y.grad_fn is not None
    z = gf.zeros(3, dtype=gf.float64, device=device)
    z.add_(x)  # a constant that takes in a recorded value now requires grad
    assert z.requires_grad and z.grad_fn is not None
    assert all(arg is not z for arg in z.grad_fn.inputs)  # no self-reference, no cycle


# -- issue 12 item 1: the version counter belongs to the memory -------------------------------
# An in-place change through any tensor sharing memory with a saved one (a detach(), a view,
# a view made under no_grad, or the base of such a view) must fail the backward, never give
# a silently wrong gradient. (gradflow's `.data` is the backend array itself, not a Tensor:
# writes into it are NumPy/CuPy writes that no autograd can see, as for any array.)

ALIASES = {
    "detach": lambda t: t.detach(),
    "basic-index-view": lambda t: t[0],
    "reshape-view": lambda t: t.reshape(3, 2),
    "transpose-view": lambda t: t.T,
    "view-made-under-no_grad": lambda t: _under_no_grad(lambda: t[1:]),
    "base-of-a-view": lambda t: t,  # the saved tensor is a view (below); its base changes
}

ALIAS_MUTATIONS = {
    "fill_": lambda a: a.fill_(2.0),
    "zero_": lambda a: a.zero_(),
    "mul_": lambda a: a.mul_(2.0),
    "add_": lambda a: a.add_(1.0),
    "copy_": lambda a: a.copy_(gf.ones(a.shape, dtype=a.dtype, device=a.device)),
    "setitem": lambda a: a.__setitem__(0, 5.0),
}


def _under_no_grad(make):
    with gf.no_grad():
        return make()


def _input_saved(device, base_of_view):
    x = gf.randn(2, 3, device=device, requires_grad=True)
    t = x * 1.0
    saved = t.reshape(6) if base_of_view else t
    return t, (saved * saved).sum()  # Mul saves `saved`


def _output_saved(device, base_of_view):
    x = gf.randn(2, 3, device=device, requires_grad=True)
    t = x.exp()
    if base_of_view:  # Exp saves its output t; the loss reads a view of it
        return t, t.reshape(6).sum()
    return t, t.sum()


@pytest.mark.parametrize("recording", [False, True], ids=["under-no_grad", "recording"])
@pytest.mark.parametrize("saved", ["input-saved", "output-saved"])
@pytest.mark.parametrize("mutation", list(ALIAS_MUTATIONS))
@pytest.mark.parametrize("alias", list(ALIASES))
def test_issue12_item1_in_place_through_any_alias_fails_the_backward(device, alias, mutation,
                                                                     saved, recording):
    make = _input_saved if saved == "input-saved" else _output_saved
    t, loss = make(device, base_of_view=alias == "base-of-a-view")
    target = ALIASES[alias](t)
    if recording:
        ALIAS_MUTATIONS[mutation](target)
    else:
        with gf.no_grad():
            ALIAS_MUTATIONS[mutation](target)
    with pytest.raises(GraphError, match=MODIFIED):
        loss.backward()


def test_issue12_item1_detach_zero_of_a_saved_output_raises(device):
    x = gf.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x.exp()
    loss = y.sum()
    y.detach().zero_()  # PyTorch raises here too (at backward)
    with pytest.raises(GraphError, match=MODIFIED):
        loss.backward()


def test_issue12_item1_fill_of_a_view_under_no_grad_raises(device):
    x = gf.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    t = x * 1.0
    loss = (t * t).sum()
    with gf.no_grad():
        t[0:2].fill_(100.0)  # was: a gradient of [200, 200, 6] with no error
    with pytest.raises(GraphError, match=MODIFIED):
        loss.backward()


def test_issue12_item1_weight_T_mul_under_no_grad_raises(device):
    layer = nn.Linear(3, 2).to(device)
    hidden = layer(gf.randn(4, 3, device=device, requires_grad=True))
    loss = (hidden * hidden).sum()
    with gf.no_grad():
        layer.weight.T.mul_(2.0)
    with pytest.raises(GraphError, match=MODIFIED):
        loss.backward()


def test_issue12_item1_aliases_share_one_counter(device):
    x = gf.randn(2, 3, device=device)
    views = [x.detach(), x[0], x.reshape(6), x.T, _under_no_grad(lambda: x[1:])]
    with gf.no_grad():
        x.T.mul_(1.0)
    assert x._version == 1 and all(v._version == 1 for v in views)
    independent = x.clone()
    assert independent._version == 0


# -- issue 12 item 2: in-place on a view while recording writes through to its base ----------


def test_issue12_item2_in_place_on_a_view_writes_through_to_its_base(device):
    x = gf.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = x * 1.0
    y[0:2].mul_(10.0)
    assert y.tolist() == [10.0, 20.0, 3.0]
    y.sum().backward()
    assert x.grad.tolist() == [10.0, 10.0, 1.0]


def _view_mul(x, w):
    y = x * 1.0
    y[0].mul_(10.0)
    return (y * y).sum()


def _view_add_from_graph(x, w):
    y = x * 2.0
    y[:, 1:].add_(w[1:])
    return (y * y).sum()


def _transposed_view(x, w):
    y = x * 1.0
    y.T[0].mul_(w[:2])
    return (y * y * w).sum()


def _reshaped_view(x, w):
    y = x * 1.0
    y.reshape(6)[1:4].mul_(3.0)
    return (y * w).sum()


def _view_fill(x, w):
    y = x * 1.0
    y[1].fill_(2.0)
    return (y * y * w).sum()


def _view_copy_from_graph(x, w):
    y = x * 1.0
    y[0].copy_(w * 2.0)
    return (y * y).sum()


def _setitem_on_a_view(x, w):
    y = x * 1.0
    row = y[1]
    row[0] = w[0] * 3.0
    return (y * y).sum() + (row * w).sum()


def _view_used_after_the_change(x, w):
    y = x * 3.0
    column = y[:, 0]
    column.zero_()
    return (y * y).sum() + (column * w[0]).sum()


VIEW_PROGRAMS = {
    "view-mul_": _view_mul, "view-add_-from-graph": _view_add_from_graph,
    "transposed-view": _transposed_view, "reshaped-view": _reshaped_view,
    "view-fill_": _view_fill, "view-copy_-from-graph": _view_copy_from_graph,
    "setitem-on-a-view": _setitem_on_a_view,
    "view-used-after-the-change": _view_used_after_the_change,
}


@pytest.mark.usefixtures("float64_device")
@pytest.mark.parametrize("program", list(VIEW_PROGRAMS), ids=list(VIEW_PROGRAMS))
def test_issue12_item2_in_place_on_views_matches_pytorch(device, program):
    _matches_pytorch(device, VIEW_PROGRAMS[program], seed=1)


def test_issue12_item2_in_place_on_a_view_of_a_leaf_that_requires_grad_is_refused(device):
    x = gf.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    with pytest.raises(GraphError, match="view of a leaf"):
        x[0:2].mul_(10.0)
    assert x.tolist() == [1.0, 2.0, 3.0] and x._version == 0
    with gf.no_grad():
        x[0:2].mul_(10.0)
    assert x.tolist() == [10.0, 20.0, 3.0]


def test_issue12_item2_an_expanded_view_cannot_be_changed_in_place(device):
    x = gf.tensor([1.0, 2.0], device=device, requires_grad=True)
    wide = (x * 1.0).expand(3, 2)
    with pytest.raises(GraphError, match="broadcast"):
        wide.mul_(2.0)


def test_an_op_that_reads_its_input_and_saves_its_output_sees_its_output_changed(device):
    """amax reads its input and saves its output: both must be checked, each through its
    own memory's counter (a changed output would otherwise zero the gradient silently)."""
    x = gf.tensor([[1.0, 3.0, 2.0], [0.5, 0.25, 4.0]], requires_grad=True, device=device)
    top = gf.amax(x * 1.0, dim=1)
    with gf.no_grad():
        top.mul_(2.0)
    with pytest.raises(GraphError):
        top.sum().backward()


# -- 0-d results are arrays: writable in place, and their views alias them ----------------------

ZERO_D = {
    "sum": lambda x: x.sum(),
    "mean": lambda x: x.mean(),
    "max": lambda x: x.max(),
    "prod": lambda x: x.prod(),
    "norm": lambda x: x.norm(),
    "index": lambda x: x[1],
    "dot": lambda x: gf.dot(x, x),
    "op on 0-d": lambda x: x.sum() * 2.0,
    "0-d leaf": lambda x: gf.tensor(3.0, device=x.device),
}


@pytest.mark.parametrize("make", ZERO_D.values(), ids=ZERO_D.keys())
def test_a_0d_result_changes_in_place_and_through_its_views(device, make):
    # NumPy gives scalars (np.float32) for these, which cannot be written or viewed; once
    # wrapped they were refused by add_ (TypeError), and a view of one was a copy, so a write
    # through the view silently missed it.
    x = gf.tensor([1.0, 2.0, 3.0], device=device)
    s = make(x)
    before = float(s)
    s.add_(1.0)
    assert float(s) == pytest.approx(before + 1.0, rel=1e-6)
    view = s.reshape(1)
    view.mul_(2.0)
    assert float(s) == pytest.approx((before + 1.0) * 2.0, rel=1e-6)
    s.detach().zero_()
    assert float(s) == 0.0 and view.tolist() == [0.0]


def test_a_0d_gradient_is_a_writable_array(device):
    a = gf.tensor(2.0, device=device, requires_grad=True)
    (a * 3.0).backward()
    a.grad.add_(1.0)
    assert float(a.grad) == 4.0
