"""Parameter, the tensor a Module trains, and the handle returned by hook registration."""

from __future__ import annotations

from gradflow.tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module trains: it requires grad by default and is registered on assignment.

    Args:
        data: a Tensor (its array is shared, not copied), an array or nested lists.
        requires_grad: whether the optimizer should update it (default True).

    Example:
        >>> w = nn.Parameter(gf.zeros(3, 2))
        >>> w.requires_grad, w.is_leaf
        (True, True)
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            from gradflow.creation import zeros

            data = zeros(0)
        elif not isinstance(data, Tensor):
            from gradflow.creation import tensor

            data = tensor(data)
        self.data = data.data
        self.backend = data.backend
        self.grad = None
        self.requires_grad = False
        self.creator = None
        self._counter = data._memory_version()  # the memory is shared, so is its version
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by the hook registration methods; `remove()` unregisters the hook."""

    def __init__(self, hooks: dict, key: int):
        self._hooks = hooks
        self.id = key

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False
