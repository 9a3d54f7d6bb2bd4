"""Module: the base class that layers and models are built from.

A Module registers what is assigned to it: a `Parameter` becomes a parameter,
a `Module` a submodule, and a tensor given to `register_buffer` a buffer
(running statistics and other state that is saved but not trained). Each
module knows its dotted path in the model ("features.3"), so a layer that gets
an input of the wrong shape can say which layer it is.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from typing import Any

from gradflow import dtypes as _dt
from gradflow.autograd.grad_mode import no_grad
from gradflow.backends import get_backend
from gradflow.errors import DTypeError, ShapeError
from gradflow.nn.module_hooks import call_with_backward_hooks
from gradflow.nn.parameter import Parameter, RemovableHandle
from gradflow.nn.state_dict import check_state_dict
from gradflow.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
_hook_ids = itertools.count()


class Module:
    """Base class of every layer and model: subclass it, assign layers in `__init__`, write
    `forward`.

    Example:
        >>> class TwoLayer(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = nn.Linear(4, 8)
        ...         self.out = nn.Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.out(self.hidden(x).relu())
        >>> [name for name, _ in TwoLayer().named_parameters()]
        ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    def __init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", OrderedDict())
        setattr_(self, "_buffers", OrderedDict())
        setattr_(self, "_non_persistent", set())
        setattr_(self, "_modules", OrderedDict())
        setattr_(self, "_forward_pre_hooks", OrderedDict())
        setattr_(self, "_forward_hooks", OrderedDict())
        setattr_(self, "_hooks_with_kwargs", set())  # keys of hooks that take kwargs
        setattr_(self, "_backward_hooks", OrderedDict())
        setattr_(self, "_backward_pre_hooks", OrderedDict())
        setattr_(self, "_path", "")

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        with_kwargs = self._hooks_with_kwargs
        for key, hook in tuple(self._forward_pre_hooks.items()):
            if key in with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        if self._backward_hooks or self._backward_pre_hooks:
            output = call_with_backward_hooks(self, args, kwargs)
        else:
            output = self.forward(*args, **kwargs)
        for key, hook in tuple(self._forward_hooks.items()):
            result = (hook(self, args, kwargs, output) if key in with_kwargs
                      else hook(self, args, output))
            if result is not None:
                output = result
        return output

    # -- registration ----------------------------------------------------------

    def _check_initialized(self, name: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__(); call super().__init__() first"
            )

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to parameter {name!r}: "
                                "use nn.Parameter(...) or None")
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to buffer {name!r}: "
                                "use a Tensor or None")
            self._buffers[name] = value
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to submodule {name!r}: "
                                "use a Module or None")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # only called when normal lookup fails
        state = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in state and name in state[table]:
                return state[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def _forget(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared but absent one) under `name`."""
        self._check_initialized(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, "
                            f"got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state saved with the module (if persistent) and moved by `to()`.

        Args:
            name: the attribute name.
            tensor: the tensor (or None).
            persistent: whether `state_dict()` includes it.

        Example:
            >>> layer = nn.Module()
            >>> layer.register_buffer("running_mean", gf.zeros(16))
            >>> [name for name, _ in layer.named_buffers()]
            ['running_mean']
        """
        self._check_initialized(name)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, "
                            f"got {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a submodule under `name` (attribute assignment does the same)."""
        self._check_initialized(name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        if not name or "." in name:
            raise KeyError(f"submodule name {name!r} must be non-empty and contain no '.'")
        self._forget(name)
        self._modules[name] = module
        if module is not None:
            module._set_path(f"{self._path}.{name}" if self._path else name)

    register_module = add_module

    def _set_path(self, path: str) -> None:
        for relative, module in self.named_modules():
            full = f"{path}.{relative}" if path and relative else (relative or path)
            object.__setattr__(module, "_path", full)

    # -- paths and errors --------------------------------------------------------

    @property
    def path(self) -> str:
        """Dotted name of this module in its model ("features.3"); "" for the root."""
        return self._path

    def input_shape_error(self, expected: str, given) -> ShapeError:
        """A ShapeError naming this layer's class, path, and the expected and given shapes.

        Example:
            >>> nn.Linear(3, 1).input_shape_error("(..., 3)", (2, 5))
            ShapeError('Linear expects input (..., 3), got (2, 5)')
        """
        where = f"{type(self).__name__} '{self._path}'" if self._path else type(self).__name__
        return ShapeError(f"{where} expects input {expected}, got {tuple(given)}")

    # -- traversal ---------------------------------------------------------------

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(path, module) for this module and every descendant, this one first, each once."""
        memo = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            yield name, module
            children = [(f"{name}.{key}" if name else key, child)
                        for key, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two layers appears once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter of this module and its descendants (for an optimizer)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def get_submodule(self, target: str) -> Module:
        """The descendant at a dotted path, e.g. `model.get_submodule("features.3")`."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            module = child
        return module

    # -- modes, hooks, functions over the tree ---------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) here and in every descendant."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: `train(False)`."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every descendant (children first) and then on this module.

        Example:
            >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
            >>> def zero_bias(m):
            ...     if isinstance(m, nn.Linear):
            ...         nn.init.zeros_(m.bias)
            >>> _ = model.apply(zero_bias)
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _add_hook(self, table: OrderedDict, hook: Callable, prepend: bool,
                  with_kwargs: bool = False) -> RemovableHandle:
        key = next(_hook_ids)
        table[key] = hook
        if prepend:
            table.move_to_end(key, last=False)
        if with_kwargs:
            self._hooks_with_kwargs.add(key)
        return RemovableHandle(table, key)

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call `hook(module, args)` before forward; a returned value replaces the args.

        With with_kwargs=True the hook is `hook(module, args, kwargs)` and may return
        (args, kwargs). prepend=True runs it before the hooks already registered.
        """
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call `hook(module, args, output)` after forward; a returned value replaces the output.

        With with_kwargs=True the hook is `hook(module, args, kwargs, output)`.

        Example:
            >>> layer = nn.Linear(2, 2)
            >>> handle = layer.register_forward_hook(lambda m, args, out: out * 0.0 + 1.0)
            >>> layer(gf.ones(1, 2)).tolist()
            [[1.0, 1.0]]
        """
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False
                                    ) -> RemovableHandle:
        """Call `hook(module, grad_input, grad_output)` when the gradients with respect to
        this call's positional inputs are computed; a returned tuple replaces grad_input.

        grad_input and grad_output hold one entry per positional input and output, None
        where that is not a tensor that needs a gradient. When no input needs one, the hook
        runs once grad_output is known, with grad_input all None (as in PyTorch).

        Example:
            >>> layer = nn.Linear(2, 2)
            >>> seen = []
            >>> _ = layer.register_full_backward_hook(lambda m, gi, go: seen.append(go[0].shape))
            >>> layer(gf.ones(3, 2, requires_grad=True)).sum().backward()
            >>> seen
            [(3, 2)]
        """
        return self._add_hook(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False
                                        ) -> RemovableHandle:
        """Call `hook(module, grad_output)` before the module's gradients are computed; a
        returned tuple replaces grad_output."""
        return self._add_hook(self._backward_pre_hooks, hook, prepend)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: drop it (default) or fill it with zeros."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad = param.grad.detach()
                with no_grad():
                    param.grad.zero_()

    # -- devices and dtypes -----------------------------------------------------------

    def to(self, device_or_dtype=None, dtype: _dt.DType | None = None, *, device=None) -> Module:
        """Move parameters and buffers to a device and/or cast floating ones to a dtype, in place.

        The Parameter objects stay the same (only their arrays change), so an optimizer
        built before the move keeps working.

        Example:
            >>> model = nn.Linear(2, 2).to("strict:device1").to(gf.float64)
            >>> model.weight.device, model.weight.dtype
            ('strict:device1', gradflow.float64)
        """
        if isinstance(device_or_dtype, _dt.DType):
            dtype = device_or_dtype
        elif isinstance(device_or_dtype, str) and device_or_dtype in _dt._BY_NAME:
            dtype = _dt.by_name(device_or_dtype)
        elif device_or_dtype is not None:
            device = device_or_dtype
        if dtype is not None and not dtype.is_floating_point:
            raise DTypeError(f"Module.to() casts only to floating dtypes, not {dtype.name}")

        tensors = list(itertools.chain(self.parameters(), self.buffers()))
        tensors += [t.grad for t in tensors if t.grad is not None]
        plan = []
        for t in tensors:  # check every destination first, so a failure moves nothing
            backend = t.backend if device is None else get_backend(device)
            target = dtype if dtype is not None and t.dtype.is_floating_point else t.dtype
            backend.xp_dtype(target)  # a DTypeError naming the device if it lacks the dtype
            plan.append((t, backend, target))
        with no_grad():
            for t, backend, target in plan:
                moved = t.to(device=backend, dtype=target)
                if moved is not t:
                    t.data, t.backend = moved.data, moved.backend
                    t._version += 1
        return self

    def cpu(self) -> Module:
        return self.to("cpu")

    def float(self) -> Module:
        return self.to(_dt.float32)

    def double(self) -> Module:
        return self.to(_dt.float64)

    def half(self) -> Module:
        return self.to(_dt.float16)

    # -- state dict ---------------------------------------------------------------------

    def _state_items(self) -> Iterator[tuple[str, Tensor]]:
        """(key, live tensor) for every parameter and persistent buffer, in state_dict order."""
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = f"{prefix}." if prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    yield dot + name, param
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent:
                    yield dot + name, buffer

    def state_dict(self, keep_vars: bool = False) -> OrderedDict:
        """An ordered mapping from dotted names to parameters and persistent buffers.

        Values are detached tensors sharing memory with the module (the live tensors
        with `keep_vars=True`).

        Example:
            >>> list(nn.Linear(2, 3).state_dict())
            ['weight', 'bias']
        """
        return OrderedDict((name, t if keep_vars else t.detach())
                           for name, t in self._state_items())

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters and buffers, after checking everything first.

        Args:
            state_dict: a mapping from dotted names to Tensors (any device) or arrays.
            strict: whether missing and unexpected keys are errors (shapes always are).

        Returns:
            (missing_keys, unexpected_keys).

        Raises:
            StateDictError: every problem found, listed together; nothing is changed.

        Example:
            >>> model, other = nn.Linear(2, 2), nn.Linear(2, 2)
            >>> model.load_state_dict(other.state_dict())
            IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        """
        converted, missing, unexpected = check_state_dict(
            type(self).__name__, OrderedDict(self._state_items()), state_dict, strict)
        with no_grad():
            for target, source in converted:
                target.copy_(source)
        return IncompatibleKeys(missing, unexpected)

    # -- repr --------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in repr (settings such as sizes)."""
        return ""

    def __repr__(self) -> str:
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        head = type(self).__name__ + "("
        if not lines:
            return head + ")"
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


# they subclass Module, so they come last
from gradflow.nn.containers import ModuleDict, ModuleList, Sequential  # noqa: E402, F401
