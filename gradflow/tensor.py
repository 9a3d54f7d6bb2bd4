"""Tensor: a backend array, its gradient, and the node that created it."""

from __future__ import annotations

from typing import Any

from gradflow import dtypes as _dt
from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.backends import get_backend
from gradflow.errors import DTypeError, GraphError, ShapeError
from gradflow.tensor_methods import TensorMethods
from gradflow.tensor_methods import bind as _bind_methods

_new = object.__new__


class Version:
    """The version counter of one block of memory, shared by every Tensor that aliases it
    (views, detach(), views made under no_grad). An in-place change bumps it; a node that
    saved a value records (counter, value) and refuses to backward once they differ."""

    __slots__ = ("value",)  # set right after Version() (no __init__: made once per op)


class Tensor(TensorMethods):
    """An n-dimensional array on one device that can record how it was made.

    Create tensors with `gf.tensor`, `gf.zeros`, `gf.randn` and friends rather than
    this constructor.

    Attributes:
        data: the backend array (NumPy, CuPy or array-api-strict).
        grad: the accumulated gradient (a Tensor) after backward(), or None.
        requires_grad: whether ops on this tensor are recorded.
        creator: the Function node that produced it (None for leaves).
    """

    __slots__ = ("data", "backend", "grad", "requires_grad", "creator", "_counter", "_hooks",
                 "__weakref__")
    __array_priority__ = 1000  # NumPy scalars defer to Tensor's operators
    grad: Tensor | None
    creator: Any  # a Function node, or None

    def __init__(self, data, requires_grad: bool = False, *, device=None):
        backend = get_backend(device)
        self.data = data
        self.backend = backend
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.creator = None
        self._counter = None
        self._hooks = None

    @staticmethod
    def _wrap(data, backend, requires_grad: bool = False, creator=None,
              counter: Version | None = None, cls: type | None = None) -> Tensor:
        """The one constructor inside gradflow: a Tensor around a backend array.

        Args:
            creator: the Function node that produced it (None for a leaf or a constant).
            counter: the version counter of the memory it aliases (None: its own, made
                when first needed).
            cls: a subclass to construct (Parameter), Tensor by default.
        """
        if backend is not None and type(data) is not backend.array_type and isinstance(
                data, backend.scalar_types):  # NOTE: the type first: one test per op
            data = backend.xp.asarray(data)  # NumPy's scalar for a 0-d result: a 0-d array
        t = _new(Tensor if cls is None else cls)
        t.data = data
        t.backend = backend
        t.grad = None
        t.requires_grad = requires_grad
        t.creator = creator
        t._counter = counter
        t._hooks = None
        return t

    def _memory_version(self) -> Version:
        """The version counter of this tensor's memory, created on first need."""
        counter = self._counter
        if counter is None:
            counter = self._counter = Version()
            counter.value = 0
        return counter

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (through any alias)."""
        counter = self._counter
        return 0 if counter is None else counter.value

    @_version.setter
    def _version(self, value: int) -> None:
        self._memory_version().value = value

    # -- metadata -------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> _dt.DType:
        return self.backend.from_xp[self.data.dtype]

    @property
    def device(self) -> str:
        return self.backend.name

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def grad_fn(self):
        return self.creator

    def size(self, dim: int | None = None):
        if dim is None:
            return self.shape
        from gradflow.errors import DimensionError
        from gradflow.ops._util import normalize_dim

        if not self.ndim:
            raise DimensionError(f"size: dim {dim} given for a 0-d tensor, which has none")
        return self.shape[normalize_dim(dim, self.ndim, "size")]

    def numel(self) -> int:
        n = 1
        for s in self.data.shape:
            n *= s
        return n

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = repr(self.numpy().tolist()) if self.numel() <= 64 else f"<{self.numel()} values>"
        extra = ""
        if self.dtype is not _dt.float32:
            extra += f", dtype={self.dtype.name}"
        if self.device != "cpu":
            extra += f", device={self.device!r}"
        if self.creator is not None:
            extra += f", grad_fn={self.creator.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}, shape={self.shape}{extra})"

    # -- conversion -----------------------------------------------------------

    def numpy(self):
        """A host NumPy copy of the values, from any device."""
        return self.backend.to_host(self.data)

    def item(self):
        if self.numel() != 1:
            raise ShapeError(f"item(): the tensor of shape {self.shape} has {self.numel()} "
                             "elements, not one; index one out first or use .tolist()")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point:
            raise DTypeError(f"only integer tensors can be used as an index, not "
                             f"{self.dtype.name}; convert with .long()")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise ShapeError(
                f"the truth value of a tensor with {self.numel()} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.item())

    def __dlpack__(self, *args, **kwargs):
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def to(self, device_or_dtype=None, dtype: _dt.DType | None = None, *, device=None) -> Tensor:
        """Copy to another device and/or dtype; returns self when nothing changes.

        Args:
            device_or_dtype: a device name ("cpu", "cuda", "strict:device1") or a dtype.
            dtype: a dtype, when the first argument is a device.

        Example:
            >>> x = gf.ones(3).to("strict:device1")
            >>> x.to(gf.float64).dtype
            gradflow.float64
        """
        if isinstance(device_or_dtype, _dt.DType):
            dtype = device_or_dtype
        elif device_or_dtype is not None:
            device = device_or_dtype
        from gradflow.ops.cast import cast, transfer

        out = self
        if device is not None:
            target = get_backend(device)
            if target is not self.backend:
                if dtype is not None and self.dtype not in target.to_xp:
                    out = cast(out, dtype)  # the destination lacks the source dtype: cast first
                out = transfer(out, target)
        if dtype is not None and dtype is not out.dtype:
            out = cast(out, dtype)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def float(self) -> Tensor:
        return self.to(_dt.float32)

    def double(self) -> Tensor:
        return self.to(_dt.float64)

    def half(self) -> Tensor:
        return self.to(_dt.float16)

    def long(self) -> Tensor:
        return self.to(_dt.int64)

    def int(self) -> Tensor:
        return self.to(_dt.int32)

    def bool(self) -> Tensor:
        return self.to(_dt.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    # -- autograd -------------------------------------------------------------

    def detach(self) -> Tensor:
        """The same values (shared memory and version counter), cut from the graph."""
        return Tensor._wrap(self.data, self.backend, False, None, self._memory_version())

    def __deepcopy__(self, memo) -> Tensor:
        """copy.deepcopy: a leaf with copied values (and gradient) on the same device."""
        if self.creator is not None:
            raise GraphError("deepcopy: only leaf tensors can be copied; use .detach() first")
        out = Tensor._wrap(self.backend.xp.asarray(self.data, copy=True), self.backend,
                           self.requires_grad, cls=type(self))
        out.grad = None if self.grad is None else self.grad.__deepcopy__(memo)
        memo[id(self)] = out
        return out

    def detach_(self) -> Tensor:
        self.creator = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self.creator is not None and not requires_grad:
            raise GraphError("requires_grad_(False) on a non-leaf tensor; use .detach()")
        if requires_grad and not self.dtype.is_floating_point:
            from gradflow.errors import DTypeError

            raise DTypeError(f"only floating-point tensors can require gradients, not "
                             f"{self.dtype.name}")
        self.requires_grad = requires_grad
        return self

    def clone(self) -> Tensor:
        from gradflow.ops.cast import clone

        return clone(self)

    def backward(self, gradient: Tensor | None = None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        Args:
            gradient: d(loss)/d(self); may be omitted only for a one-element tensor.
            retain_graph: keep saved values for another backward through this graph.
            create_graph: record the backward pass so gradients can be differentiated.

        Example:
            >>> x = gf.tensor([1.0, 2.0], requires_grad=True)
            >>> (x * x).sum().backward()
            >>> x.grad.tolist()
            [2.0, 4.0]
        """
        from gradflow.autograd.engine import run_backward

        if not self.requires_grad:
            raise GraphError(
                "backward(): this tensor does not require grad and has no grad_fn; "
                "create the inputs with requires_grad=True"
            )
        gradient = _seed_gradient(self, gradient, "backward", create_graph)
        run_backward([self], [gradient], retain_graph or create_graph, create_graph)

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is computed; a returned tensor replaces it.

        Returns:
            A handle whose `remove()` unregisters the hook.
        """
        if not self.requires_grad:
            raise GraphError("register_hook on a tensor that does not require grad")
        if self.creator is not None:
            node = self.creator
            if node.hooks is None:
                node.hooks = []
            hooks = node.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call `hook(tensor)` on a leaf right after backward has accumulated its `.grad`.

        Runs while backward goes on (as soon as the leaf's last gradient arrives), which is
        what lets DistributedDataParallel start all-reducing early. As PyTorch's.

        Returns:
            A handle whose `remove()` unregisters the hook.
        """
        from gradflow.autograd.engine import add_post_accumulate_hook

        if self.creator is not None or not self.requires_grad:
            raise GraphError("register_post_accumulate_grad_hook: only a leaf tensor that "
                             "requires grad accumulates a gradient; use register_hook instead")
        return _HookHandle(add_post_accumulate_hook(self, hook), hook)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` after backward."""
        if self.creator is None:
            return
        import weakref

        ref = weakref.ref(self)

        def keep(grad):
            target = ref()
            if target is not None:
                # NOTE: a copy: the same array may flow on to other tensors' gradients
                own = Tensor._wrap(grad.backend.xp.asarray(grad.data, copy=True), grad.backend)
                target.grad = own if target.grad is None else target.grad + own

        self.register_hook(keep)

    # -- in-place -------------------------------------------------------------

    def _inplace(self, compute, op: str) -> Tensor:
        """Replace this tensor's values with compute(self), keeping its identity.

        Outside a recorded graph the array is updated in place (the optimizer's case).
        While recording, the op runs on an alias of the old tensor and this tensor
        takes over the result's node, so gradients flow through the change; a recorded
        view passes the change on to its base (PyTorch's CopySlices): the base's elements
        are replaced in its memory and it takes over the graph of the replacement.
        Either way the version counter of the memory goes up.
        """
        recording = _grad_state.enabled
        if self.requires_grad and self.creator is None and recording:
            raise GraphError(
                f"{op}: a leaf tensor that requires grad cannot be changed in place while "
                "recording; wrap the update in `with gf.no_grad():`"
            )
        views = _recorded_views(self) if recording else ()
        source = self
        if recording:  # NOTE: always an alias, or the new node would list self as its input
            data = self.data
            if views:  # the old values, kept: the base's memory is about to be overwritten
                data = self.backend.xp.asarray(data, copy=True)
            source = Tensor._wrap(data, self.backend, self.requires_grad, self.creator)
        result = compute(source)
        if result.data.shape != self.data.shape:
            raise ShapeError(f"{op}: result of shape {result.shape} does not fit {self.shape}")
        if recording and self.requires_grad and result.creator is None:
            # NOTE: a constant written over a recorded tensor (fill_, zero_, copy_ of a
            # constant) still gets a node, so what made the old value gets a zero gradient,
            # not the gradient of a value that is gone (PyTorch's FillBackward).
            from gradflow.ops.elementwise import where

            xp = self.backend.xp
            everywhere = xp.ones(self.data.shape, dtype=xp.bool, device=self.backend.device)
            result = where(Tensor._wrap(everywhere, self.backend), result, source)
        if views:
            _write_through(views, result)
        elif result.creator is not None:
            self.data = result.data
            self.creator = result.creator
            self.requires_grad = True
        else:
            self._overwrite(result.data)
        self._memory_version().value += 1
        return self

    def _overwrite(self, data) -> None:
        """Put `data` into this tensor's memory (so every alias sees it)."""
        if data.dtype != self.data.dtype:
            data = self.backend.xp.astype(data, self.data.dtype)
        if self.backend.inplace:
            self.data[...] = data
        else:
            self.data = data

    def add_(self, other, alpha: float = 1.0) -> Tensor:
        other = other * alpha if alpha != 1.0 else other
        return self._inplace(lambda t: t + other, "add_")

    def sub_(self, other, alpha: float = 1.0) -> Tensor:
        other = other * alpha if alpha != 1.0 else other
        return self._inplace(lambda t: t - other, "sub_")

    def mul_(self, other) -> Tensor:
        return self._inplace(lambda t: t * other, "mul_")

    def div_(self, other) -> Tensor:
        return self._inplace(lambda t: t / other, "div_")

    def clamp_(self, min=None, max=None) -> Tensor:
        return self._inplace(lambda t: t.clamp(min, max), "clamp_")

    def copy_(self, source: Tensor) -> Tensor:
        from gradflow.ops.shape import broadcast_to

        if not isinstance(source, Tensor):
            from gradflow.creation import tensor

            source = tensor(source, dtype=self.dtype, device=self.device)
        if source.backend is not self.backend:
            source = source.to(self.device)
        if source.dtype is not self.dtype:
            source = source.to(self.dtype)
        return self._inplace(lambda t: broadcast_to(source, self.shape), "copy_")

    def fill_(self, value) -> Tensor:
        from gradflow.creation import full_like

        return self._inplace(lambda t: full_like(t, value), "fill_")

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def __setitem__(self, key, value) -> None:
        from gradflow.ops.shape import index_put

        self._inplace(lambda t: index_put(t, key, value), "__setitem__")


def _recorded_views(t: Tensor) -> list:
    """[t, its base, ...] up to (not including) the first tensor that is not a recorded
    view: the chain an in-place change of t must be written through; [] if t is no view."""
    views = []
    node = t.creator
    while node is not None and node.is_view and not node.freed:
        views.append(t)
        t = node.inputs[0]
        node = t.creator
    if views and t.requires_grad and t.creator is None:
        raise GraphError(
            f"in-place change of a view of a leaf tensor of shape {t.shape} that requires "
            "grad, while recording; wrap it in `with gf.no_grad():` or change a .clone()")
    return views


def _write_through(views: list, value: Tensor) -> None:
    """views[0] (a view of views[1], ..., of a base) takes the recorded `value`: each base
    gets the view's elements replaced (the view op's `unview`), the outermost base has
    them written into its memory and takes over the graph, and every view in the chain
    is re-derived from its changed base, so gradients flow through both."""
    for view in views:
        node = view.creator
        base = node.inputs[0]
        value = node.unview(Tensor._wrap(base.data, base.backend, base.requires_grad,
                                         base.creator), value)
    root = views[-1].creator.inputs[0]
    root._overwrite(value.data)
    root.creator = value.creator
    root.requires_grad = True
    for view in reversed(views):
        node = view.creator
        fresh = type(node).apply(node.inputs[0], **node.param_values())
        view.data, view.creator = fresh.data, fresh.creator


class _HookHandle:
    __slots__ = ("hooks", "hook")

    def __init__(self, hooks, hook):
        self.hooks = hooks
        self.hook = hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _seed_gradient(output: Tensor, gradient, where: str, create_graph: bool = False) -> Tensor:
    if gradient is None:
        if output.numel() != 1:
            raise GraphError(
                f"{where}(): the output has shape {output.shape}; gradients can be implied only "
                "for one-element outputs; pass gradient= (a tensor of the output's shape)"
            )
        xp = output.backend.xp
        return Tensor._wrap(xp.ones_like(output.data), output.backend)
    if not isinstance(gradient, Tensor):
        from gradflow.creation import tensor

        gradient = tensor(gradient, dtype=output.dtype, device=output.device)
    if gradient.backend is not output.backend:
        from gradflow.autograd.function import mismatch_error

        raise mismatch_error(f"{where}(): gradient", (output, gradient))
    if gradient.shape != output.shape:
        from gradflow.errors import ShapeError

        raise ShapeError(
            f"{where}(): gradient of shape {gradient.shape} for an output of shape {output.shape}"
        )
    if create_graph and gradient.requires_grad:  # its graph is part of the result
        return gradient if gradient.dtype is output.dtype else gradient.to(output.dtype)
    # NOTE: a copy, in the output's dtype (as PyTorch casts it): the caller's array must
    # never become a leaf's .grad, which backward and optimizers may change in place.
    xp = output.backend.xp
    return Tensor._wrap(xp.astype(gradient.data, output.data.dtype, copy=True), output.backend)


from gradflow import ops as _ops  # noqa: E402  (ops import Tensor, so they come after it)

_bind_methods(_ops)  # TensorMethods delegate to the op library: x.exp() is gf.exp(x)
