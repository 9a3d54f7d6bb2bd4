"""The backward engine: iterative topological order, one shared sum_to, grad accumulation."""

from __future__ import annotations

import weakref
from collections import deque
from typing import Any

from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.autograd.sum_to import sum_to
from gradflow.errors import DeviceMismatchError, DTypeError, GraphError, ShapeError
from gradflow.tensor import Tensor

FREED = (
    "trying to backward through the graph a second time, or after its saved values were "
    "freed; pass retain_graph=True to the first backward() if you need to go through it again"
)

# id(leaf) -> hooks called as hook(leaf) once backward has accumulated leaf.grad
# (Tensor.register_post_accumulate_grad_hook; DistributedDataParallel starts its
# all-reduces from them). Empty for almost every program, and then costs nothing.
post_accumulate_hooks: dict[int, list] = {}


def add_post_accumulate_hook(leaf, hook) -> list:
    hooks = post_accumulate_hooks.get(id(leaf))
    if hooks is None:
        hooks = post_accumulate_hooks[id(leaf)] = []
        weakref.finalize(leaf, post_accumulate_hooks.pop, id(leaf), None)
    hooks.append(hook)
    return hooks


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, capture=None):
    """Backpropagate from `roots` (Tensors) seeded with `root_grads`.

    Args:
        capture: when given (gf.grad), a list of Tensors whose gradients are returned
            instead of being accumulated into leaves' `.grad`.

    Returns:
        With `capture`, a list of gradients (None where unused); else None.
    """
    captured: dict[int, Any] | None = None
    if capture is not None:
        captured = {id(t): None for t in capture}
        capture_nodes = {t.creator: id(t) for t in capture if t.creator is not None}
    node_grads = {}
    leaf_grads = {}
    for root, grad in zip(roots, root_grads):
        if root.creator is None:
            _add_leaf(leaf_grads, root, grad)
        else:
            previous = node_grads.get(root.creator)
            node_grads[root.creator] = grad if previous is None else previous + grad
    pending = _count_consumers(node_grads)
    ready = deque(node for node in node_grads if pending.get(node, 0) == 0)
    # NOTE: a leaf with post-accumulate hooks gets its .grad as soon as its last
    # gradient arrives (not at the end), so its hooks run while backward goes on.
    watched = (_watched_leaf_uses(pending, node_grads)
               if post_accumulate_hooks and capture is None else None)
    assigned = set()

    previous_mode, previous_autocast = _grad_state.enabled, _grad_state.autocast
    _grad_state.enabled = create_graph
    _grad_state.autocast = None  # backward runs in each op's forward dtype, as in PyTorch
    anomaly = _grad_state.anomaly
    try:
        while ready:
            node = ready.popleft()
            grad = node_grads.pop(node)
            if node.hooks:
                grad = _run_hooks(node.hooks, grad, node)
            if captured is not None and node in capture_nodes:
                captured[capture_nodes[node]] = grad
            inputs = node.inputs
            if inputs is None:  # released
                raise GraphError(FREED)
            if node.versions is not None:
                _check_input_versions(node)
            if node.saves_output and node.output_counter.value != node.output_version:
                _raise_output_modified(node)
            if anomaly:
                _grad_state.backward_of = node
                try:
                    grads = node.backward(grad)
                finally:
                    _grad_state.backward_of = None
            else:
                grads = node.backward(grad)
            if type(grads) is not tuple:
                grads = (grads,)
            if len(grads) != len(inputs):
                raise GraphError(
                    f"{node.name}.backward returned {len(grads)} gradients for {len(inputs)} inputs"
                )
            if anomaly:
                from gradflow.autograd.anomaly import check_backward

                check_backward(node, grads)
            for arg, needed, creator, arg_grad in zip(inputs, node.needs_input_grad,
                                                      node.input_creators, grads):
                if arg_grad is None or not needed:
                    continue
                if arg_grad.data.shape != arg.data.shape:
                    arg_grad = sum_to(arg_grad, arg.data.shape)
                if creator is None:
                    _add_leaf(leaf_grads, arg, arg_grad)
                    if watched and id(arg) in watched:
                        watched[id(arg)] -= 1
                        if watched[id(arg)] == 0:
                            _accumulate({id(arg): leaf_grads.pop(id(arg))}, create_graph,
                                        assigned)
                    continue
                previous = node_grads.get(creator)
                node_grads[creator] = arg_grad if previous is None else previous + arg_grad
                left = pending[creator] - 1
                pending[creator] = left
                if left == 0:
                    ready.append(creator)
            if not retain_graph:
                if node._plain_release:  # NOTE: Function.release written out
                    node.inputs = node.input_creators = None
                    if node.saves_output:
                        node.out_data = None
                else:
                    node.release()
        if captured is not None:
            for key, (leaf, grad) in leaf_grads.items():
                if key in captured:
                    captured[key] = _run_leaf_hooks(leaf, grad)
            assert capture is not None  # captured is made from it
            return [captured[id(t)] for t in capture]
        _accumulate(leaf_grads, create_graph, assigned)
        return None
    finally:
        _grad_state.enabled, _grad_state.autocast = previous_mode, previous_autocast


def _count_consumers(start_nodes):
    """For each node reachable from start_nodes, how many recorded inputs it feeds."""
    pending = {}
    stack = list(start_nodes)
    starts = set(stack)
    while stack:
        node = stack.pop()
        if node.inputs is None:  # released
            raise GraphError(FREED)
        for creator in node.input_creators:  # None where no gradient is needed
            if creator is not None:
                count = pending.get(creator)
                if count is None:
                    pending[creator] = 1
                    if creator not in starts:
                        stack.append(creator)
                else:
                    pending[creator] = count + 1
    return pending


def _watched_leaf_uses(pending, start_nodes) -> dict:
    """For each leaf with post-accumulate hooks, how many recorded inputs feed it a gradient."""
    uses = {}
    for node in set(pending).union(start_nodes):
        for arg, creator, needed in zip(node.inputs, node.input_creators,
                                        node.needs_input_grad):
            if needed and creator is None and id(arg) in post_accumulate_hooks:
                uses[id(arg)] = uses.get(id(arg), 0) + 1
    return uses


def _check_input_versions(node):
    """Raise if an input the node saved was changed in place (through any alias) since."""
    for arg, saved in zip(node.inputs, node.versions):
        if saved is not None and saved[0].value != saved[1]:
            raise GraphError(
                f"{node.name}: an input of shape {tuple(arg.shape)} saved for backward was "
                f"modified in place (version {saved[1]} -> {saved[0].value}), directly or "
                "through a tensor sharing its memory (a view, its base, a detach()); use "
                "an out-of-place op (x = x + 1 instead of x.add_(1)) or .clone() first"
            )


def _raise_output_modified(node):
    raise GraphError(
        f"{node.name}: its output of shape {tuple(node.out_data.shape)}, saved for backward, "
        f"was modified in place (version {node.output_version} -> "
        f"{node.output_counter.value}), directly or through "
        "a view or detach() of it; use an out-of-place op or .clone() first"
    )


def _add_leaf(leaf_grads, leaf, grad):
    key = id(leaf)
    entry = leaf_grads.get(key)
    if entry is None:
        if grad.data.shape != leaf.data.shape:
            raise ShapeError(
                f"backward: gradient of shape {tuple(grad.shape)} for a tensor of shape "
                f"{tuple(leaf.shape)}"
            )
        leaf_grads[key] = (leaf, grad)
    else:
        leaf_grads[key] = (leaf, entry[1] + grad)


def _run_leaf_hooks(leaf, grad):
    return _run_hooks(leaf._hooks, grad, leaf) if leaf._hooks else grad


def _run_hooks(hooks, grad, target):
    """Call each hook on the gradient of `target` (a leaf, or the node whose output it is);
    a returned Tensor replaces the gradient and must match it in kind."""
    for hook in hooks:
        replaced = hook(grad)
        if replaced is not None:
            _check_hook_result(hook, replaced, grad, target)
            grad = replaced
    return grad


def _check_hook_result(hook, new, old, target):
    name = getattr(hook, "__qualname__", None) or repr(hook)
    of = (f"a leaf tensor of shape {tuple(old.shape)}" if isinstance(target, Tensor) else
          f"the output of {target.name} (shape {tuple(old.shape)})")
    where = f"hook {name} registered on {of}"
    if not isinstance(new, Tensor):
        raise GraphError(f"{where} returned a {type(new).__name__}; a hook returns the new "
                         "gradient as a Tensor, or None to keep it")
    if new.backend is not old.backend:
        raise DeviceMismatchError(f"{where} returned a gradient on {new.device}, not on "
                                  f"{old.device}; move it with .to({old.device!r})")
    if new.shape != old.shape:
        raise ShapeError(f"{where} returned a gradient of shape {new.shape}, not "
                         f"{tuple(old.shape)}; a hook must keep the gradient's shape")
    if new.dtype is not old.dtype:
        raise DTypeError(f"{where} returned a {new.dtype.name} gradient, not {old.dtype.name}; "
                         f"convert it with .to(gf.{old.dtype.name})")


def _accumulate(leaf_grads, create_graph, given):
    """Give each leaf its gradient, then run its post-accumulate hooks. `given`: the ids of
    the arrays already given to a leaf in this backward (shared by early accumulations)."""
    for leaf, grad in leaf_grads.values():
        grad = _run_leaf_hooks(leaf, grad)
        if not create_graph:
            grad = _owned_gradient(leaf, grad, given)
        if leaf.grad is None:
            leaf.grad = grad
        else:
            leaf.grad = leaf.grad + grad
        hooks = post_accumulate_hooks.get(id(leaf))
        if hooks:
            for hook in tuple(hooks):
                hook(leaf)


def _owned_gradient(leaf, grad, given):
    """`grad` as a constant whose array the leaf alone owns, writable, in the leaf's dtype
    (never a read-only broadcast view, a view of another leaf's gradient, or the caller's
    array), as PyTorch's .grad is."""
    backend = leaf.backend
    data = grad.data
    if data.dtype != leaf.data.dtype:
        data = backend.xp.astype(data, leaf.data.dtype)  # a new array
    elif id(data) in given:
        data = backend.xp.asarray(data, copy=True)
    else:
        data = backend.own(data)
    given.add(id(data))
    return Tensor._wrap(data, backend)
