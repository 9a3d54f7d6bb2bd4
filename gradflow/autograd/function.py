"""Function: the base class of every op, and a node of the recorded graph.

An op subclass writes `forward(self, *arrays)` on backend arrays and
`backward(self, grad)` on Tensors, returning one gradient (or None) per input.
Because backward uses gradflow's own differentiable functions, running it
with grad mode on (create_graph=True) records a graph of the gradient itself.
"""

from __future__ import annotations

import weakref

from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.errors import DeviceMismatchError
from gradflow.tensor import Tensor

_new_tensor = object.__new__


class Function:
    """One op applied once. Subclasses set what they save, explicitly.

    Class attributes:
        saves_inputs: backward reads input values; in-place changes to them are detected.
        reads_for: optional, with saves_inputs: for each input, the inputs whose gradient
            reads its value (Mul: ((1,), (0,))); an input that no needed gradient reads may
            then change in place without an error, as in PyTorch.
        saves_output: backward reads the output (`self.output`); the array is kept, not the
            Tensor, so the graph holds no reference cycle.
    Instance attributes set when the graph is recorded:
        inputs: the call's arguments (Tensors and constants), None once released.
        needs_input_grad: one flag per argument.
        backend: the backend of the tensor arguments.
    """

    saves_inputs = False
    reads_for = None  # with saves_inputs: per input, the inputs whose gradient reads its value
    saves_output = False
    is_view = False  # the output may share memory with input 0 (reshape, permute, basic getitem)
    inputs = None
    hooks = None
    trace = None

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError(f"{type(self).__name__} is not differentiable")

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def output(self) -> Tensor:
        """The op's output as a Tensor of this graph (for rules that save the output)."""
        out = Tensor._wrap(self.out_data, self.backend, requires_grad=True)
        out.creator = self
        return out

    @classmethod
    def apply(cls, *args, **params):
        """Run the op on Tensors (and constants) and record it when a gradient is needed."""
        node = _new_tensor(cls)
        if params:
            node.__dict__.update(params)
        backend = None
        requires_grad = False
        arrays = []
        for arg in args:
            if isinstance(arg, Tensor):
                if backend is None:
                    backend = arg.backend
                elif arg.backend is not backend:
                    raise mismatch_error(cls.__name__.lower(), args)
                arrays.append(arg.data)
                if arg.requires_grad:
                    requires_grad = True
            else:
                arrays.append(arg)
        node.backend = backend
        data = node.forward(*arrays)
        # NOTE: Tensor._wrap written out: this runs once per op, and the call costs.
        out = _new_tensor(Tensor)
        out.data = data
        out.backend = backend
        out.grad = None
        out._version = 0
        out._hooks = None
        if requires_grad and _grad_state.enabled:
            node.inputs = args
            # NOTE: the creators as they are now (an in-place op may later give an input
            # a new creator, and this node's gradient belongs to the value it read), and
            # None where no gradient is needed, so the engine's walks follow
            # input_creators without looking at needs_input_grad.
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
            if cls.saves_inputs:
                node.versions = _saved_versions(args, needs, cls.reads_for)
            if cls.saves_output:
                node.out_data = data
                node.out_ref = weakref.ref(out)
            out.requires_grad = True
            out.creator = node
        else:
            out.requires_grad = False
            out.creator = None
        if _grad_state.anomaly:
            from gradflow.autograd.anomaly import check_forward

            check_forward(node, out, args)
        return out

    @classmethod
    def evaluate(cls, backend, *arrays, **params) -> Tensor:
        """The op's forward on bare arrays of `backend`, as a Tensor that records nothing.

        For backward rules when no graph of the gradient is built (create_graph=False): the
        arrays come from a graph whose devices and dtypes were checked when it was recorded,
        so apply()'s per-argument work would only cost time.
        """
        node = _new_tensor(cls)
        if params:
            node.__dict__.update(params)
        node.backend = backend
        return Tensor._wrap(node.forward(*arrays), backend)

    def release(self) -> None:
        """Drop the inputs and saved arrays once backward has used them."""
        # NOTE: everything recorded goes (inputs, saved arrays, parameters); the class
        # attribute inputs = None then marks the node as freed.
        self.__dict__.clear()


def _saved_versions(args, needs, reads_for) -> list:
    """For each argument, the version_chain to check before backward reads it, or ()
    when it is a constant or no needed gradient reads it."""
    versions = []
    for i, arg in enumerate(args):
        if not isinstance(arg, Tensor):
            versions.append(())
            continue
        if reads_for is not None:
            for j in reads_for[i]:
                if needs[j]:
                    break
            else:  # no needed gradient reads this input
                versions.append(())
                continue
        if arg.creator is None or not arg.creator.is_view:
            versions.append(((arg, arg._version),))
        else:
            versions.append(version_chain(arg))
    return versions


def version_chain(t: Tensor) -> tuple:
    """(tensor, version) for t and for each tensor it is a view of, at this moment.

    NOTE: a view shares memory with its base, so an in-place change of the base (an
    optimizer step on `weight` after `weight.T` was saved) is a change of the view too.
    """
    chain = [(t, t._version)]
    node = t.creator
    while node is not None and node.is_view and node.inputs is not None:
        base = node.inputs[0]
        chain.append((base, base._version))
        node = base.creator
    return tuple(chain)


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
