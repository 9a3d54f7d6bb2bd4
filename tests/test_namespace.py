"""The public namespace is declared (issue 16): gradflow's names are exactly a listed set,
internal modules stay out of it, and Tensor's methods are defined in the class."""

import inspect
import json
import subprocess
import sys
from pathlib import Path

import gradflow as gf
from gradflow import ops
from gradflow.tensor import Tensor

TOP_LEVEL = {
    "DType", "Generator", "Tensor", "arange", "as_tensor", "autocast", "bfloat16", "bool",
    "detect_anomaly",
    "empty", "enable_grad", "eye", "float16", "float32", "float64", "from_dlpack", "full",
    "full_like", "get_num_threads", "get_rng_state", "grad", "info", "int16", "int32", "int64",
    "int8", "is_grad_enabled", "linspace", "load", "manual_seed", "no_grad", "ones", "ones_like",
    "rand", "randint", "randn", "randperm", "save", "set_grad_enabled", "set_num_threads",
    "set_rng_state", "tensor", "uint8", "zeros", "zeros_like",
}
ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = {"amp", "autograd", "backends", "cuda", "data", "distributed", "dtypes", "errors",
               "io", "linalg", "nn", "ops", "optim", "random", "viz"}
OPS = {
    "abs", "acos", "acosh", "add", "addmm", "all", "allclose", "amax", "amin", "aminmax", "any",
    "arctan2", "argmax", "argmin", "argsort", "argwhere", "asin", "asinh", "atan", "atan2",
    "atanh", "atleast_1d", "atleast_2d", "atleast_3d", "bitwise_and", "bitwise_left_shift",
    "bitwise_not", "bitwise_or", "bitwise_right_shift", "bitwise_xor", "bmm", "broadcast_to",
    "can_cast", "cast", "cat", "ceil", "chunk", "clamp", "clamp_max", "clamp_min", "clip", "clone",
    "copysign", "cos", "cosh", "count_nonzero", "cross", "cummax", "cummin", "cumprod", "cumsum",
    "diag", "diag_embed", "diagonal", "div", "divide", "dot", "dstack", "einsum", "eq", "erf",
    "erfc", "exp", "exp2", "expand", "expand_as", "expm1", "flatten", "flip", "fliplr", "flipud",
    "floor", "floor_divide", "fmod", "frac", "gather", "ge", "getitem", "gt", "hstack", "hypot",
    "index_add", "index_copy", "index_fill", "index_put", "index_select", "inner", "isclose",
    "isfinite", "isinf", "isnan", "isneginf", "isposinf", "kthvalue", "le", "lerp", "log",
    "log10", "log1p", "log2", "log_softmax", "logaddexp", "logaddexp2", "logcumsumexp",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp", "lt", "masked_fill",
    "masked_scatter", "masked_select", "matmul", "max", "maximum", "mean", "median", "meshgrid",
    "min", "minimum", "mm", "moveaxis", "movedim", "msort", "mul", "multiply", "mv", "nan_to_num",
    "nanmean", "nansum", "narrow", "ne", "neg", "nonzero", "norm", "outer", "pad", "permute",
    "pow", "prod", "promote_types", "rdiv", "reciprocal", "relu", "remainder", "repeat",
    "repeat_interleave", "reshape", "reshape_as", "result_type", "roll", "rot90", "round",
    "rpow", "rsqrt", "rsub", "scatter", "scatter_add", "scatter_reduce", "sigmoid", "sign", "sin",
    "sinh", "softmax", "sort", "split", "sqrt", "square", "squeeze", "stack", "std", "std_mean",
    "sub", "subtract", "sum", "sum_to", "swapaxes", "swapdims", "t", "take", "take_along_dim",
    "tan",
    "tanh", "tensor_split", "tensordot", "tile", "topk", "trace", "transpose", "tril", "triu",
    "true_divide", "trunc", "unflatten", "unfold", "unique", "unsqueeze", "var", "var_mean",
    "view_as", "vstack", "where", "xlogy",
}


def _fresh_namespace() -> dict:
    """What `import gradflow` shows in a new interpreter (this one has loaded more: the
    pytest plugin, gradflow.train, ...): public names, and which of them are modules."""
    code = ("import json, types, gradflow as gf; names = [n for n in dir(gf) if not "
            "n.startswith('_')]; print(json.dumps({'names': names, 'modules': [n for n in names "
            "if isinstance(getattr(gf, n), types.ModuleType)]}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_the_public_names_are_exactly_the_listed_set():
    assert set(gf.__all__) == TOP_LEVEL | SUBPACKAGES | OPS
    assert len(gf.__all__) == len(set(gf.__all__))
    assert set(ops.__all__) == OPS
    visible = set(_fresh_namespace()["names"])
    assert visible == set(gf.__all__), sorted(visible ^ set(gf.__all__))


def test_no_internal_module_is_exposed():
    modules = set(_fresh_namespace()["modules"])
    for name in ("elementwise", "reduce", "shape", "creation", "activation", "checkpoint",
                 "tensor_methods", "compare", "movement", "scatter"):
        assert name not in modules, name
    assert modules == SUBPACKAGES


def test_ops_all_is_declared_not_computed():
    source = inspect.getsource(ops)
    assert "__all__ = [\n" in source and "dir()" not in source


def test_tensor_methods_are_defined_in_the_class():
    # nothing is attached at import time: every method is in a class body of Tensor's MRO
    for name in ("exp", "sum", "reshape", "div", "isclose", "roll", "tril", "flip", "prod",
                 "gather", "sort", "type", "float", "__array__", "__mod__", "__and__"):
        assert any(name in vars(cls) for cls in Tensor.__mro__ if cls is not object), name
    source = inspect.getsource(inspect.getmodule(Tensor))
    assert "setattr(Tensor" not in source


def test_every_function_with_a_tensor_first_has_a_method_form():
    functions_only = {"cat", "stack", "einsum", "meshgrid", "hstack", "vstack", "dstack",
                      "atleast_1d", "atleast_2d", "atleast_3d", "result_type", "promote_types",
                      "can_cast", "cast", "rdiv", "rsub", "rpow", "getitem", "tensordot", "pad",
                      "var_mean", "std_mean"}  # as in PyTorch
    missing = [n for n in OPS - functions_only if not hasattr(Tensor, n)]
    assert not missing, missing


def test_nn_all_names_every_layer_class():
    """gradflow.nn's __all__ resolves, has no repeats, and names every public Module class
    defined in gradflow.nn's modules (a new layer cannot be left out of it)."""
    import importlib
    import pkgutil

    from gradflow import nn

    assert len(nn.__all__) == len(set(nn.__all__))
    assert all(hasattr(nn, name) for name in nn.__all__)
    # in torch.nn neither is at the top level either
    elsewhere = {"NonDynamicallyQuantizableLinear", "DistributedDataParallel"}
    layers = {name for info in pkgutil.walk_packages(nn.__path__, "gradflow.nn.")
              for name, value in vars(importlib.import_module(info.name)).items()
              if inspect.isclass(value) and issubclass(value, nn.Module)
              and value.__module__ == info.name and not name.startswith("_")}
    assert layers - elsewhere <= set(nn.__all__), sorted(layers - elsewhere - set(nn.__all__))
    assert {"MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerEncoderLayer",
            "TransformerDecoder", "TransformerDecoderLayer"} <= layers
