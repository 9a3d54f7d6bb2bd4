"""Containers: Sequential, ModuleList and ModuleDict."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from gradflow.errors import ArgumentTypeError, IndexingError
from gradflow.nn.module import Module

_RELU_POOL: tuple = ()  # (nn.ReLU, nn.MaxPool2d), bound on first use (they import this module)


def _relu_pool_types() -> tuple:
    global _RELU_POOL
    if not _RELU_POOL:
        from gradflow.nn.conv import MaxPool2d
        from gradflow.nn.layers import ReLU

        _RELU_POOL = (ReLU, MaxPool2d)
    return _RELU_POOL


def _reorderable(relu: Module, pool) -> bool:
    """Whether a plain ReLU followed by a plain MaxPool2d may run pool first: no indices
    asked for, no hook that would see the other shapes."""
    return not pool.return_indices and not _has_hooks(relu) and not _has_hooks(pool)


def _has_hooks(module: Module) -> bool:
    return bool(module._forward_pre_hooks or module._forward_hooks or module._backward_hooks
                or module._backward_pre_hooks)


def _index(i: int, length: int, kind: str) -> int:
    if isinstance(i, bool) or not isinstance(i, int):
        raise ArgumentTypeError(f"{kind} indices are ints or slices, got {i!r} "
                                f"({type(i).__name__})")
    if not -length <= i < length:
        raise IndexingError(f"{kind} index {i} is out of range for {length} modules")
    return i % length


def _checked(pairs, kind: str) -> list:
    """(name, module) pairs whose names are strings and values Modules, all checked before
    any is added, so a rejected container call changes nothing."""
    pairs = list(pairs)
    for name, module in pairs:
        if not isinstance(name, str):
            raise ArgumentTypeError(f"{kind}: keys must be strings, got {name!r} "
                                    f"({type(name).__name__})")
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"{kind}: entry {name!r} is a {type(module).__name__}, not "
                                    "a Module (wrap a function in a Module subclass)")
    return pairs


class Sequential(Module):
    """Modules applied one after the other; the output of each is the input of the next.

    Args:
        *modules: the layers in order, or one OrderedDict of name -> layer.

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> model(gf.randn(5, 4)).shape
        (5, 2)
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            pairs = modules[0].items()
        else:
            pairs = ((str(i), module) for i, module in enumerate(modules))
        for name, module in _checked(pairs, "Sequential"):
            self.add_module(name, module)

    def forward(self, x):
        modules = tuple(self._modules.values())
        relu, pool = _relu_pool_types()
        i, count = 0, len(modules)
        while i < count:
            module = modules[i]
            if (type(module) is relu and i + 1 < count and type(modules[i + 1]) is pool
                    and _reorderable(module, modules[i + 1])):
                # NOTE: max-pooling commutes with ReLU (a non-decreasing function), so
                # pooling first gives the same values and gradients, bit for bit, while
                # ReLU and its backward run over a quarter of the elements (a 2x2 pool).
                # Only plain layers are swapped: a hook would see other shapes.
                x = module(modules[i + 1](x))
                i += 2
                continue
            x = module(x)
            i += 1
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            part = Sequential(OrderedDict(list(self._modules.items())[index]))
            self._set_path(self._path)  # the layers keep their paths in this model
            return part
        return list(self._modules.values())[_index(index, len(self), "Sequential")]

    def __setitem__(self, index: int, module: Module) -> None:
        key = list(self._modules)[_index(index, len(self), "Sequential")]
        self.add_module(*_checked([(key, module)], "Sequential")[0])

    def __delitem__(self, index) -> None:
        keys = list(self._modules)
        doomed = keys[index] if isinstance(index, slice) else [keys[_index(index, len(keys),
                                                                            "Sequential")]]
        for key in doomed:
            del self._modules[key]
        if all(key.isdigit() for key in keys):  # numbered layers stay numbered 0, 1, 2, ...
            modules = list(self._modules.values())
            self._modules.clear()
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def append(self, module: Module) -> Sequential:
        """Add a layer at the end; returns self."""
        self.add_module(*_checked([(str(len(self)), module)], "Sequential")[0])
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent sees; it has no forward of its own.

    Example:
        >>> blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        >>> len(list(blocks.parameters()))
        6
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            part = ModuleList(list(self._modules.values())[index])
            self._set_path(self._path)
            return part
        return self._modules[str(_index(index, len(self), "ModuleList"))]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(str(_index(index, len(self), "ModuleList")), module)

    def __delitem__(self, index) -> None:
        items = list(self._modules.values())
        del items[index]
        self._renumber(items)

    def _renumber(self, items: list) -> None:
        self._modules.clear()
        for i, module in enumerate(items):
            self.add_module(str(i), module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(*_checked([(str(len(self)), module)], "ModuleList")[0])
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        start = len(self)
        for name, module in _checked(((str(start + i), m) for i, m in enumerate(modules)),
                                     "ModuleList"):
            self.add_module(name, module)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)


class ModuleDict(Module):
    """A dict of modules, by name, whose parameters the parent sees.

    Example:
        >>> heads = nn.ModuleDict({"age": nn.Linear(8, 1), "kind": nn.Linear(8, 3)})
        >>> heads["kind"].out_features
        3
    """

    def __init__(self, modules: Mapping[str, Module] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(*_checked([(key, module)], "ModuleDict")[0])

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        return self._modules.pop(key)

    def update(self, modules) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in _checked(pairs, "ModuleDict"):
            self.add_module(key, module)
