"""gradflow's dtypes: backend-independent names that each backend maps to its own."""

from __future__ import annotations


class DType:
    """A dtype by name; `gf.float32` compares equal to itself on every backend."""

    __slots__ = ("name", "is_floating_point", "itemsize")

    def __init__(self, name: str, is_floating_point: bool, itemsize: int):
        self.name = name
        self.is_floating_point = is_floating_point
        self.itemsize = itemsize

    def __repr__(self) -> str:
        return f"gradflow.{self.name}"

    def __reduce__(self):
        return (by_name, (self.name,))


float16 = DType("float16", True, 2)
bfloat16 = DType("bfloat16", True, 2)
float32 = DType("float32", True, 4)
float64 = DType("float64", True, 8)
int8 = DType("int8", False, 1)
int16 = DType("int16", False, 2)
int32 = DType("int32", False, 4)
int64 = DType("int64", False, 8)
uint8 = DType("uint8", False, 1)
bool_ = DType("bool", False, 1)

ALL = (float16, bfloat16, float32, float64, int8, int16, int32, int64, uint8, bool_)
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"half": float16, "float": float32, "double": float64, "long": int64})


def by_name(name: str) -> DType:
    """Look a dtype up by its name ("float32", "int64", ...)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        from gradflow.errors import DTypeError

        known = ", ".join(d.name for d in ALL)
        raise DTypeError(f"unknown dtype {name!r}; gradflow knows {known}") from None
