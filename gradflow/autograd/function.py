"""Function: the base class of every op, and a node of the recorded graph.

An op is a small class that declares what its node holds, then writes
`forward(self, *arrays)` on backend arrays and `backward(self, grad)` once, on
Tensors, with gradflow's own ops (so create_graph=True differentiates it again).
docs/design.md, "Writing an op", walks through one.

Declarations (class attributes; each becomes a slot of the node, nothing else can be set):
    params: names of the keyword parameters `apply` takes (Sum: "dims", "keepdim").
    saved: names of what forward stores on the node for backward (arrays, shapes);
        `release` drops them after backward.
    grad_reads: per input, the inputs whose values that input's gradient reads
        (Mul: ((1,), (0,)), a's gradient reads b and b's reads a). An input read by a
        needed gradient is version-checked: an in-place change to it (through any alias)
        before backward raises instead of giving a wrong gradient. None: reads no input.
    saves_output: backward reads the output (`self.output`); version-checked likewise.
    is_view: the output aliases input 0 (reshape, permute, basic getitem); it shares input
        0's version counter, and the op writes `unview` so that an in-place change of the
        output while recording is written through to its base.

A subclass defines no __init__ (refused): apply makes the node and sets its params.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from gradflow.autograd.grad_mode import anomaly_contexts as _anomaly
from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.errors import DeviceMismatchError
from gradflow.tensor import Tensor, Version

_wrap = Tensor._wrap  # NOTE: a global, not an attribute of Tensor: looked up once per op


class _Declared(type):
    """Gives each Function subclass slots for exactly what it declares (params and saved)."""

    def __new__(mcls, name, bases, namespace):
        if "__init__" in namespace:
            raise TypeError(f"{name}.__init__: a Function's node is made by apply, which sets "
                            "its declared params; declare them in `params` instead")
        for old in ("saves_inputs", "reads_for"):
            if old in namespace:  # the first protocol's names: they would check nothing now
                raise TypeError(
                    f"{name}.{old}: the op protocol declares what backward reads as grad_reads "
                    "(per input, the inputs its gradient reads); see docs/design.md, "
                    "'Writing an op'")
        if "__slots__" not in namespace:
            inherited = {slot for base in bases for klass in base.__mro__
                         for slot in getattr(klass, "__slots__", ())}
            declared = (*namespace.get("params", ()), *namespace.get("saved", ()))
            namespace["__slots__"] = tuple(
                name for name in dict.fromkeys(declared) if name not in inherited)
        cls = cast("type[Function]", super().__new__(mcls, name, bases, namespace))
        saved = []
        for klass in reversed(cls.__mro__):
            saved.extend(n for n in klass.__dict__.get("saved", ()) if n not in saved)
        cls._all_saved = tuple(saved)
        # NOTE: the engine frees such nodes itself, without the call (once per node)
        cls._plain_release = (cls.release is Function.release
                              and not saved) if name != "Function" else False
        reads = cls.grad_reads
        # per input i: the gradients j that read it (the inverse of grad_reads)
        cls._read_by = None if reads is None else tuple(
            tuple(j for j, read in enumerate(reads) if i in read) for i in range(len(reads)))
        return cls


class Function(metaclass=_Declared):
    """One op applied once; see the module docstring for what a subclass declares.

    Node state set when the graph is recorded:
        backend: the backend of the tensor arguments (set on every call).
        inputs: the call's arguments (Tensors and constants).
        needs_input_grad: one flag per argument.
        input_creators: each argument's creator when the op ran (None where no gradient
            is needed), so an in-place op that later gives an input a new creator does not
            reroute this node's gradient.
        versions: per argument, (version counter, value) to check before backward, or None.
        out_data, output_counter, output_version: with saves_output, the output array, its
            memory's version counter and the counter's value when the op ran.
        hooks: functions called on the output's gradient (Tensor.register_hook).
        freed (a property): release() ran; a second backward through the node raises.
    """

    __slots__ = ("backend", "inputs", "needs_input_grad", "input_creators", "versions",
                 "out_data", "output_counter", "output_version", "hooks", "trace",
                 "__weakref__")
    params: tuple[str, ...] = ()
    saved: tuple[str, ...] = ()
    grad_reads: tuple[tuple[int, ...], ...] | None = None
    saves_output = False
    is_view = False
    # set by _Declared on each class
    _all_saved: ClassVar[tuple[str, ...]]
    _plain_release: ClassVar[bool]
    _read_by: ClassVar[tuple[tuple[int, ...], ...] | None]
    # node state (the slots above). inputs, input_creators and out_data become None once
    # released (`freed`); backward runs only before that, so they type as Any.
    backend: Any
    inputs: Any
    needs_input_grad: Sequence[bool]
    input_creators: Any
    versions: list | None
    out_data: Any
    output_counter: Version
    output_version: int
    hooks: list | None
    trace: Any

    if TYPE_CHECKING:
        # A subclass's declared params and saved values are slots made by _Declared, which
        # a type checker cannot see: they type as Any (at run time an undeclared name
        # still has no slot and fails).
        def __getattr__(self, name: str) -> Any: ...

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError(f"{type(self).__name__} is not differentiable")

    def unview(self, base: Tensor, value: Tensor) -> Tensor:
        """For a view op: `base` with this view's elements replaced by `value` (recorded)."""
        raise NotImplementedError(f"{type(self).__name__} is not a view")

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def output(self) -> Tensor:
        """The op's output as a Tensor of this graph (for rules that declare saves_output)."""
        return _wrap(self.out_data, self.backend, True, self, self.output_counter)

    def param_values(self) -> dict:
        """The declared parameters as apply() took them: `type(node).apply(x, **these)`."""
        return {name: getattr(self, name) for name in self.params}

    @classmethod
    def apply(cls, *args, **params):
        """Run the op on Tensors (and constants); record it when a gradient is needed.

        When grad mode is off or no argument requires grad, only the forward runs: backward
        rules call ops directly and stay cheap when no graph of the gradient is built.
        """
        node = cls()  # NOTE: no __init__ (refused by _Declared): the cheapest construction
        if params:
            for name, value in params.items():  # an undeclared name fails: no slot for it
                setattr(node, name, value)
        # NOTE: one and two arguments (almost every op) are unpacked and recorded without
        # loops or lists: this runs once per op, forward and backward; other counts and
        # a first argument that is not a Tensor take the general path (_apply_general).
        count = len(args)
        if count == 1 and isinstance(args[0], Tensor):
            x = args[0]
            backend = node.backend = x.backend
            data = node.forward(x.data)
            counter = x._memory_version() if cls.is_view else None
            recorded = x.requires_grad and _grad_state.enabled
            if not recorded:
                out = _wrap(data, backend, False, None, counter)
            else:
                out = _wrap(data, backend, True, node, counter)
                node.inputs = args
                node.hooks = None
                node.needs_input_grad = _ONE_NEEDED
                node.input_creators = (x.creator,)
                read_by = cls._read_by
                if read_by and 0 in read_by[0]:  # its own gradient reads it (Exp, Abs)
                    memory = x._memory_version()
                    node.versions = [(memory, memory.value)]
                else:
                    node.versions = None
        elif count == 2 and isinstance(args[0], Tensor):
            x, y = args
            backend = x.backend
            needs_x = x.requires_grad
            tensor_y = isinstance(y, Tensor)
            if tensor_y:
                if y.backend is not backend:
                    raise mismatch_error(cls.__name__.lower(), args)
                needs_y = y.requires_grad
                node.backend = backend
                data = node.forward(x.data, y.data)
            else:
                needs_y = False
                node.backend = backend
                data = node.forward(x.data, y)
            counter = x._memory_version() if cls.is_view else None
            recorded = (needs_x or needs_y) and _grad_state.enabled
            if not recorded:
                out = _wrap(data, backend, False, None, counter)
            else:
                out = _wrap(data, backend, True, node, counter)
                node.inputs = args
                node.hooks = None
                node.needs_input_grad = _TWO_NEEDED[needs_x, needs_y]
                node.input_creators = (x.creator if needs_x else None,
                                       y.creator if needs_y else None)
                versions = None
                read_by = cls._read_by
                if read_by is not None:
                    # NOTE: a tensor input is checked when a needed gradient reads it, whether
                    # or not it requires grad itself (Mul: y when x's gradient is needed)
                    for i, readers in enumerate(read_by):
                        if i == 2 or (i == 1 and not tensor_y):
                            break
                        for j in readers:
                            if needs_x if j == 0 else (j == 1 and needs_y):
                                if versions is None:
                                    versions = [None, None]
                                memory = (x if i == 0 else y)._memory_version()
                                versions[i] = (memory, memory.value)
                                break
                node.versions = versions
        else:
            out, data, counter, recorded = _apply_general(cls, node, args)
        if recorded and cls.saves_output:
            if counter is None:  # NOTE: out._memory_version() written out
                counter = out._counter = Version()
                counter.value = 0
            node.out_data = data
            node.output_counter = counter
            node.output_version = counter.value
        if _anomaly.users and _grad_state.anomaly:
            _check_forward(node, out, args)
        return out

    @property
    def freed(self) -> bool:
        """Whether release() ran: the inputs and saved values are gone."""
        return self.inputs is None

    def release(self) -> None:
        """Drop the inputs and everything saved once backward has used them (an override
        gives back what it holds, then calls this)."""
        self.inputs = self.input_creators = None
        if self.saves_output:
            self.out_data = None
        for name in self._all_saved:
            setattr(self, name, None)


# needs_input_grad of a recorded one- or two-argument op, shared (tuples: never changed)
_ONE_NEEDED = (True,)
_TWO_NEEDED = {(True, True): (True, True), (True, False): (True, False),
               (False, True): (False, True)}


def _check_forward(node: Function, out: Tensor, args: tuple) -> None:
    """Anomaly mode's check of an op's output (a detect_anomaly() context is open)."""
    from gradflow.autograd.anomaly import check_forward

    check_forward(node, out, args)


def _apply_general(cls, node: Function, args: tuple) -> tuple:
    """Function.apply's forward and recording for any number of arguments, Tensors anywhere
    among them; returns (output, its array, its version counter, whether it was recorded)
    for apply's common end (the saved output, anomaly mode)."""
    backend = None
    record = False
    arrays = []
    for arg in args:
        if isinstance(arg, Tensor):
            if backend is None:
                backend = arg.backend
            elif arg.backend is not backend:
                raise mismatch_error(cls.__name__.lower(), args)
            arrays.append(arg.data)
            if arg.requires_grad:
                record = True
        else:
            arrays.append(arg)
    node.backend = backend
    data = node.forward(*arrays)
    counter = args[0]._memory_version() if cls.is_view else None
    if not (record and _grad_state.enabled):
        return _wrap(data, backend, False, None, counter), data, counter, False
    out = _wrap(data, backend, True, node, counter)
    node.inputs = args
    node.hooks = None
    # NOTE: the creators as they are now (an in-place op may later give an input a new
    # creator, and this node's gradient belongs to the value it read), and None where no
    # gradient is needed, so the engine's walks follow input_creators alone.
    needs = []
    creators = []
    for arg in args:
        if isinstance(arg, Tensor) and arg.requires_grad:
            needs.append(True)
            creators.append(arg.creator)
        else:
            needs.append(False)
            creators.append(None)
    node.needs_input_grad = needs
    node.input_creators = creators
    # NOTE: per argument, (its memory's version counter, value now) when a needed gradient
    # reads it, else None; None instead of a list when nothing is checked (the common case:
    # a Python number or no read at all builds nothing)
    versions: list | None = None
    read_by = cls._read_by
    if read_by is not None:
        for i, (arg, readers) in enumerate(zip(args, read_by)):
            if isinstance(arg, Tensor):
                for j in readers:
                    if j < len(needs) and needs[j]:  # declared for more inputs than given
                        if versions is None:
                            versions = [None] * min(len(args), len(read_by))
                        memory = arg._memory_version()
                        versions[i] = (memory, memory.value)
                        break
    node.versions = versions
    return out, data, counter, True


def mismatch_error(op: str, args) -> DeviceMismatchError:
    devices = []
    for arg in args:
        if isinstance(arg, Tensor) and arg.device not in devices:
            devices.append(arg.device)
    shapes = ", ".join(str(tuple(a.shape)) for a in args if isinstance(a, Tensor))
    return DeviceMismatchError(
        f"{op}: tensors are on different devices ({' and '.join(devices)}; "
        f"shapes {shapes}); move them with .to(device) first, gradflow never moves data silently"
    )
