"""The engine: accumulation, retain_graph, create_graph, hooks, grad mode, memory, versions."""

import gc
import threading
import weakref

import numpy as np
import pytest

import gradflow as gf
from gradflow.errors import GraphError
from gradflow.testing import assert_close


def test_gradients_accumulate_across_backward_calls(device):
    x = gf.tensor([1.0, 2.0], device=device, requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    assert_close(x.grad, [3.0 + 2.0, 3.0 + 4.0])


def test_shared_subexpression_gets_summed_gradient(device):
    x = gf.tensor(2.0, device=device, requires_grad=True)
    y = x * x
    z = y + y * y  # dz/dx = 2x + 4x^3
    z.backward()
    assert x.grad.item() == pytest.approx(4.0 + 32.0)


def test_broadcast_gradient_is_summed_to_input_shape(device):
    a = gf.ones(3, 1, device=device, requires_grad=True)
    b = gf.ones(4, device=device, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    assert_close(a.grad, np.full((3, 1), 4.0, np.float32))
    assert_close(b.grad, np.full((4,), 3.0, np.float32))


def test_second_backward_through_freed_graph_raises():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(GraphError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    assert_close(x.grad, 2 * first)


def test_backward_on_non_scalar_needs_gradient():
    x = gf.ones(3, requires_grad=True)
    with pytest.raises(GraphError, match="gradient="):
        (x * 2.0).backward()
    (x * 2.0).backward(gf.tensor([1.0, 0.0, 2.0]))
    assert_close(x.grad, [2.0, 0.0, 4.0])


def test_backward_without_requires_grad_is_a_clear_error():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        gf.ones(2).sum().backward()


def test_long_chain_has_no_recursion_limit():
    x = gf.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


@pytest.mark.usefixtures("float64_device")
def test_create_graph_gives_second_derivatives(device):
    x = gf.tensor([0.5, -1.0], device=device, dtype=gf.float64, requires_grad=True)
    y = (x ** 3).sum()
    (dx,) = gf.grad(y, x, create_graph=True)
    assert_close(dx, 3 * np.array([0.25, 1.0]))
    (ddx,) = gf.grad(dx.sum(), x)
    assert_close(ddx, 6 * np.array([0.5, -1.0]))


def test_grad_leaves_dot_grad_untouched_and_reports_unused():
    x = gf.tensor(1.0, requires_grad=True)
    unused = gf.tensor(1.0, requires_grad=True)
    (g,) = gf.grad(x * 2.0, x)
    assert g.item() == 2.0 and x.grad is None
    with pytest.raises(GraphError, match="allow_unused"):
        gf.grad(x * 2.0, [x, unused])
    assert gf.grad(x * 2.0, [x, unused], allow_unused=True)[1] is None


def test_hooks_see_and_replace_gradients():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 2.0
    handle = y.register_hook(lambda g: g * 10.0)
    y.sum().backward()
    assert seen == [[20.0, 20.0]]
    assert_close(x.grad, [20.0, 20.0])
    handle.remove()


def test_retain_grad_on_intermediate():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()
    assert_close(h.grad, [6.0, 12.0])


def test_no_grad_and_set_grad_enabled():
    x = gf.ones(2, requires_grad=True)
    with gf.no_grad():
        assert not (x * 2).requires_grad
        with gf.enable_grad():
            assert (x * 2).requires_grad
    with gf.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @gf.no_grad()
    def f():
        return x * 2

    assert not f().requires_grad


def test_grad_mode_is_thread_local():
    x = gf.ones(2, requires_grad=True)
    results = {}

    def worker():
        results["thread"] = (x * 2).requires_grad

    with gf.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert results["thread"] is True


def test_graph_is_freed_when_output_is_dropped():
    x = gf.randn(1000, requires_grad=True)
    y = (x.exp() * 2.0).tanh().sum()
    node_ref = weakref.ref(y.creator)
    del y
    assert node_ref() is None  # no reference cycle: freed without the cycle collector


def test_backward_releases_saved_arrays():
    x = gf.randn(1000, requires_grad=True)
    h = x.exp()
    y = h.sum()
    node = h.creator
    y.backward()
    assert node.freed and node.inputs is None and node.out_data is None


def test_in_place_change_of_saved_tensor_raises():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = (h * h).sum()  # saves h
    with gf.no_grad():
        h.add_(1.0)
    with pytest.raises(GraphError, match="modified in place"):
        y.backward()


def test_in_place_change_of_saved_output_raises():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    y = h.sum()
    with gf.no_grad():
        h.mul_(2.0)
    with pytest.raises(GraphError, match="modified in place"):
        (h * y).sum().backward()


def test_in_place_on_leaf_requiring_grad_is_refused():
    x = gf.ones(2, requires_grad=True)
    with pytest.raises(GraphError, match="no_grad"):
        x.add_(1.0)
    with gf.no_grad():
        x.add_(1.0)
    assert x.tolist() == [2.0, 2.0] and x._version == 1


def test_in_place_on_non_leaf_is_recorded():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    y.mul_(3.0)
    y.sum().backward()
    assert_close(x.grad, [6.0, 6.0])


def test_setitem_is_differentiable_for_non_leaves():
    x = gf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = gf.tensor(5.0, requires_grad=True)
    y = x * 1.0
    y[1] = v * 2.0
    (y * gf.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert_close(x.grad, [1.0, 0.0, 100.0])
    assert v.grad.item() == 20.0


def test_anomaly_mode_names_the_op_and_line():
    x = gf.tensor([-1.0, 1.0], requires_grad=True)
    with pytest.raises(gf.errors.NonFiniteError, match="Log.*test_autograd.py"):
        with gf.detect_anomaly():
            x.log()
    y = gf.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(gf.errors.NonFiniteError, match="backward of Sqrt"):
        with gf.detect_anomaly():
            y.sqrt().sum().backward()


def test_no_cycles_between_tensors_and_nodes():
    gc.collect()
    gc.disable()
    try:
        x = gf.randn(10, requires_grad=True)
        y = (x.sigmoid() * x).sum()
        y.backward()
        ref = weakref.ref(y)
        del y
        assert ref() is None
    finally:
        gc.enable()


def test_engine_checks_gradient_count():
    class Broken(gf.autograd.Function):
        def forward(self, a, b):
            return a + b

        def backward(self, grad):
            return grad  # one gradient for two inputs

    a = gf.ones(2, requires_grad=True)
    with pytest.raises(GraphError, match="returned 1 gradients for 2 inputs"):
        Broken.apply(a, a).sum().backward()


def test_function_protocol_holds_only_what_an_op_declares():
    # the first protocol's names would silently check nothing: refused at class creation
    with pytest.raises(TypeError, match="grad_reads"):
        class Old(gf.autograd.Function):  # noqa: F841
            saves_inputs = True

    class Scale(gf.autograd.Function):
        params = ("factor",)
        grad_reads = ()

        def forward(self, x):
            return x * self.factor

        def backward(self, grad):
            return grad * self.factor

    x = gf.ones(2, requires_grad=True)
    Scale.apply(x, factor=3.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    with pytest.raises(AttributeError, match="factr"):
        Scale.apply(x, factr=3.0)  # a misspelt parameter has no slot
    with pytest.raises(TypeError, match="__init__"):
        class WithInit(gf.autograd.Function):  # noqa: F841
            def __init__(self):
                self.ready = True


class _ReadsAll(gf.autograd.Function):
    """sum of its inputs' product; every input's gradient reads every other input."""

    grad_reads = ((1, 2), (0, 2), (0, 1))

    def forward(self, *arrays):
        out = arrays[0]
        for a in arrays[1:]:
            out = out * a
        return out

    def backward(self, grad):
        inputs = self.inputs
        grads = []
        for i in range(len(inputs)):
            g = grad
            for j, other in enumerate(inputs):
                if j != i:
                    g = g * other
            grads.append(g if self.needs_input_grad[i] else None)
        return tuple(grads)


@pytest.mark.parametrize("arity", [1, 2, 3])
@pytest.mark.parametrize("wants", ["first", "last", "all"])
def test_apply_checks_every_input_a_needed_gradient_reads_whatever_the_arity(arity, wants):
    # apply unpacks one and two arguments by hand and loops over more: each path must
    # version-check the inputs a needed gradient reads, requiring grad or not.
    for changed in range(arity):
        inputs = [gf.full((2,), float(i + 2)) for i in range(arity)]
        needed = {"first": [0], "last": [arity - 1], "all": list(range(arity))}[wants]
        for i in needed:
            inputs[i].requires_grad = True
        out = _ReadsAll.apply(*inputs).sum()
        read = arity > 1 and any(i != changed for i in needed)
        with gf.no_grad():
            inputs[changed].add_(1.0)
        if read:
            with pytest.raises(GraphError, match="modified in place"):
                out.backward()
        else:
            out.backward()  # no needed gradient reads the changed input


def test_apply_with_a_constant_first_argument_records_the_tensor_second():
    x = gf.full((3,), 2.0, requires_grad=True)
    (5.0 - x).sum().backward()  # rsub: Sub.apply(5.0, x), the general path
    assert x.grad.tolist() == [-1.0, -1.0, -1.0]
    y = gf.full((3,), 2.0, requires_grad=True)
    out = _ReadsAll.apply(3.0, y).sum()
    assert out.item() == 18.0
    out.backward()
    assert y.grad.tolist() == [3.0, 3.0, 3.0]
