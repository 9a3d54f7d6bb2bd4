"""Persistence as PyTorch users write it, never through pickle.

- `gf.save(obj, f)` / `gf.load(f)`: obj is a state dict or any nesting of dicts, lists and
  tuples of tensors and plain values (None, bool, int, float, str). Tensors go into a
  safetensors file (gradflow/io.py: the `safetensors` library, atomic, validated) under their
  keys (a flat state dict keeps its keys as written, so other frameworks read it as theirs);
  the structure and every plain value go into its JSON metadata, with a SHA-256 digest of both.
  `gf.load` of a plain .safetensors file written elsewhere returns its tensors by name.
- `save_checkpoint(path, model, optimizer, scheduler)` / `load_checkpoint(...)`: the whole
  training state (with gradflow's generator and your `extra`) on the same machinery; a load
  that fails, whatever the exception, leaves every object as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping

import numpy as np

from gradflow import random as _random
from gradflow.errors import BackendUnavailableError, CheckpointError, GradflowError, StateDictError
from gradflow.io import (
    FORMAT_NAME,
    atomic_write_bytes,
    parse_safetensors,
    read_safetensors,
    safetensors_bytes,
)
from gradflow.tensor import Tensor

TREE = "gradflow.tree"  # metadata key: the saved object's structure, as JSON
_DIGEST = "content_sha256"
_NOT_DIGESTED = ("format", "format_version", _DIGEST)  # set by the file layer, or the digest
_MARKERS = ("__tensor__", "__ndarray__", "__tuple__", "__dict__", "__float__")
_PARTS = ("model", "optimizer", "scheduler", "generator", "extra")


# -- gf.save / gf.load ------------------------------------------------------------------------

def save(obj, f) -> None:
    """Save a state dict, or nested dicts/lists/tuples of tensors and plain values, to f.

    PyTorch's argument order (`torch.save(obj, f)`). Written atomically: a crash mid-write
    leaves the previous file whole; a replaced file keeps its permissions, a symlink is written
    through. Tensors keep dtype (bfloat16 too), shape, device and requires_grad.

    Args:
        obj: e.g. `model.state_dict()`, or `{"model": model.state_dict(), "optimizer":
            opt.state_dict(), "epoch": 3, "rng": gf.get_rng_state()}`.
        f: a path (str or os.PathLike), or a binary file object opened for writing.

    Raises:
        TypeError: obj is a Module, an optimizer or another object that is not a state dict
            (the message shows the call to make), or f is not a path or file.

    Example:
        >>> gf.save(model.state_dict(), "model.safetensors")
        >>> model.load_state_dict(gf.load("model.safetensors"))
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    _check_save_call(obj, f)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, [], arrays, {})
    metadata = {TREE: json.dumps(tree, ensure_ascii=False, allow_nan=False)}
    metadata[_DIGEST] = _digest(arrays, metadata)
    content = safetensors_bytes(arrays, metadata)
    if hasattr(f, "write"):
        f.write(content)
    else:
        atomic_write_bytes(f, [content])


def load(f, map_location=None, *objects, weights_only: bool | None = None):
    """Load what `save` wrote (or any .safetensors file), validated; never runs pickle.

    Args:
        f: a path (str or os.PathLike), or a binary file object opened for reading.
        map_location: a device name ("cpu", "cuda", "strict:device1") for every tensor;
            by default each goes back to the device it was saved from.
        weights_only: accepted for PyTorch compatibility; loading never runs code anyway.

    Returns:
        The saved object (dicts, lists, tuples, tensors, plain values); for a safetensors file
        written by another framework, {name: Tensor} with the names as written.

    Raises:
        CheckpointError: missing, truncated, damaged (SHA-256 mismatch) or malformed file,
            naming the file and the field at fault.

    Example:
        >>> gf.save(model.state_dict(), "model.safetensors")
        >>> model.load_state_dict(gf.load("model.safetensors"))
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> weights = gf.load("model.safetensors", map_location="cpu")
    """
    del weights_only
    if objects or not (map_location is None or isinstance(map_location, str)):
        raise TypeError(
            "gf.load(f, map_location=None) returns what was saved and restores nothing into "
            "objects: write model.load_state_dict(gf.load(path)), or for a whole checkpoint "
            "gradflow.checkpoint.load_checkpoint(path, model, optimizer, scheduler)")
    arrays, metadata, source = _read(f)
    return _decode_file(arrays, metadata, source, map_location)


def _read(f) -> tuple[dict, dict, str]:
    if hasattr(f, "read"):
        source = getattr(f, "name", "<file object>")
        arrays, metadata = parse_safetensors(f.read(), str(source))
        return arrays, metadata, str(source)
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"gf.load: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")
    arrays, metadata = read_safetensors(f)
    return arrays, metadata, os.fspath(f)


def _decode_file(arrays: dict, metadata: dict, source: str, map_location):
    ours = metadata.get("format") == FORMAT_NAME
    if _DIGEST in metadata and metadata[_DIGEST] != _digest(arrays, metadata):
        raise CheckpointError(f"{source}: the checkpoint is damaged: its tensors or metadata do "
                              "not match the SHA-256 digest saved with it (flipped bytes or a "
                              "bad copy); load an intact copy")
    if not (ours and TREE in metadata):  # another framework's file: its tensors by name
        return {name: _tensor(array, map_location or "cpu", False, source, repr(name))
                for name, array in arrays.items()}
    try:
        tree = json.loads(metadata[TREE])
    except ValueError as exc:
        raise CheckpointError(f"{source}: field {TREE!r} of the metadata is not JSON ({exc})"
                              ) from None
    used: set[str] = set()
    obj = _Decoder(arrays, source, map_location, used).decode(tree, "")
    unused = sorted(set(arrays) - used)
    if unused:
        raise CheckpointError(f"{source}: tensors {unused} are not referenced by field {TREE!r}"
                              " (damaged metadata)")
    return obj


def _check_save_call(obj, f) -> None:
    from gradflow.nn.module import Module

    whole = ("for model, optimizer and scheduler in one file use "
             "gradflow.checkpoint.save_checkpoint(path, model, optimizer, scheduler)")
    if isinstance(obj, (str, os.PathLike)) and not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"gf.save(obj, f) takes the object first, as torch.save does: "
                        f"gf.save(model.state_dict(), {os.fspath(obj)!r}); {whole}")
    if isinstance(obj, Module):
        raise TypeError(f"gf.save cannot store a {type(obj).__name__} module itself (that "
                        "would need pickle): save its state dict, gf.save(model.state_dict(), "
                        f"path), and restore it with model.load_state_dict(gf.load(path)); {whole}")
    if hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict"):
        name = type(obj).__name__
        raise TypeError(f"gf.save cannot store a {name} object itself: save its state dict, "
                        f"gf.save(obj.state_dict(), path), and restore it with "
                        f"obj.load_state_dict(gf.load(path)); {whole}")
    if not (isinstance(f, (str, os.PathLike)) or hasattr(f, "write")):
        raise TypeError(f"gf.save: f must be a path or a binary file object opened for "
                        f"writing, got {type(f).__name__}")


def _where(path: list) -> str:
    return "".join(f"[{part!r}]" for part in path) or "the object"


def _encode(value, path: list, arrays: dict, seen: dict):
    """value as JSON, its tensors moved into arrays under keys made from their path."""
    if isinstance(value, Tensor):
        key = seen.get(id(value))
        if key is None:
            key = _free_key(arrays, path)
            arrays[key] = np.asarray(value.detach().numpy())
            seen[id(value)] = key
        node = {"__tensor__": key, "device": value.device}
        if value.requires_grad:
            node["requires_grad"] = True
        return node
    if isinstance(value, np.ndarray):
        key = _free_key(arrays, path)
        arrays[key] = value
        return {"__ndarray__": key}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, path + [i], arrays, seen) for i, item in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, Mapping):
        plain = all(isinstance(k, str) and k not in _MARKERS for k in value)
        for key in value:
            if not (key is None or isinstance(key, (bool, int, float, str))):
                raise TypeError(f"gf.save: {_where(path)} has a key {key!r} of type "
                                f"{type(key).__name__}; keys must be str, int, float, bool "
                                "or None")
        if plain:
            return {k: _encode(v, path + [k], arrays, seen) for k, v in value.items()}
        return {"__dict__": [[_encode(k, path, {}, {}), _encode(v, path + [k], arrays, seen)]
                             for k, v in value.items()]}
    raise TypeError(f"gf.save: {_where(path)} is a {type(value).__name__}, which gf.save "
                    "cannot store without pickle; it stores tensors, NumPy arrays, None, bool, "
                    "int, float, str and lists, tuples and dicts of them")


def _free_key(arrays: dict, path: list) -> str:
    base = "/".join(str(part) for part in path) or "tensor"
    key, number = base, 1
    while key in arrays:
        number += 1
        key = f"{base}#{number}"
    return key


class _Decoder:
    """The JSON tree back into Python objects, each fault a CheckpointError naming its field."""

    def __init__(self, arrays: dict, source: str, map_location, used: set):
        self.arrays, self.source, self.map_location, self.used = arrays, source, map_location, used
        self.tensors: dict[str, Tensor] = {}

    def fail(self, where: str, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.source}: malformed field {TREE}{where or ''}: {problem}")

    def array(self, node: dict, marker: str, where: str) -> np.ndarray:
        key = node[marker]
        if not isinstance(key, str) or key not in self.arrays:
            raise self.fail(where, f"refers to tensor {key!r}, which the file does not hold")
        self.used.add(key)
        return self.arrays[key]

    def decode(self, node, where: str):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(item, f"{where}[{i}]") for i, item in enumerate(node)]
        if not isinstance(node, dict):  # pragma: no cover - JSON has no other types
            raise self.fail(where, f"unexpected {type(node).__name__}")
        marker = next((m for m in _MARKERS if m in node), None)
        if marker is None:
            return {k: self.decode(v, f"{where}[{k!r}]") for k, v in node.items()}
        extra = set(node) - {marker, "device", "requires_grad"}
        if extra or (marker != "__tensor__" and len(node) != 1):
            raise self.fail(where, f"unknown keys {sorted(set(node) - {marker})} beside "
                                   f"{marker!r}")
        if marker == "__tensor__":
            device, grad = node.get("device", "cpu"), node.get("requires_grad", False)
            if not isinstance(device, str) or not isinstance(grad, bool):
                raise self.fail(where, f"device {device!r} / requires_grad {grad!r} are not "
                                       "a str and a bool")
            array = self.array(node, marker, where)
            if node[marker] not in self.tensors:  # a tensor saved twice comes back as one
                self.tensors[node[marker]] = _tensor(array, self.map_location or device, grad,
                                                     self.source, where)
            return self.tensors[node[marker]]
        if marker == "__ndarray__":
            return self.array(node, marker, where)
        if marker == "__float__":
            text = node[marker]
            if text not in ("nan", "inf", "-inf"):
                raise self.fail(where, f"__float__ must be 'nan', 'inf' or '-inf', got {text!r}")
            return float(text)
        items = node[marker]
        if not isinstance(items, list):
            raise self.fail(where, f"{marker} must hold a list, got {type(items).__name__}")
        if marker == "__tuple__":
            return tuple(self.decode(item, f"{where}[{i}]") for i, item in enumerate(items))
        result = {}
        for i, pair in enumerate(items):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise self.fail(f"{where}[{i}]", "a dict item must be a [key, value] pair")
            key = self.decode(pair[0], f"{where}[{i}][0]")
            if not (key is None or isinstance(key, (bool, int, float, str))):
                raise self.fail(f"{where}[{i}][0]", f"key {key!r} is not a plain value")
            result[key] = self.decode(pair[1], f"{where}[{key!r}]")
        return result


def _tensor(array: np.ndarray, device: str, requires_grad: bool, source: str, where: str):
    from gradflow.backends import get_backend
    from gradflow.creation import tensor

    try:
        get_backend(device)
    except BackendUnavailableError as exc:
        raise CheckpointError(f"{source}: {where} was saved on {device!r}, which is not "
                              f"available here ({exc}); pass map_location='cpu'") from None
    except (GradflowError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{source}: {where} names device {device!r}: {exc}") from None
    try:
        result = tensor(array, device=device)
    except GradflowError as exc:
        raise CheckpointError(f"{source}: {where} (dtype {array.dtype}) cannot be a tensor "
                              f"here: {exc}") from None
    if requires_grad:
        result.requires_grad_(True)
    return result


def _digest(arrays: dict, metadata: dict) -> str:
    """SHA-256 of every tensor's bytes and of the metadata: catches bytes flipped on disk.

    NOTE: the file layer's own checks catch a damaged header; only a digest catches a flip
    inside the tensor data or inside a JSON value that stays valid JSON.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        digest.update(name.encode() + b"\0")
        digest.update(array.reshape(-1).view(np.uint8).data)
    for key in sorted(k for k in metadata if k not in _NOT_DIGESTED):
        digest.update(f"{key}\0{metadata[key]}\0".encode())
    return digest.hexdigest()


# -- whole checkpoints ----------------------------------------------------------------------

def save_checkpoint(path: str | os.PathLike, model=None, optimizer=None, scheduler=None, *,
                    generator: bool = True, extra: dict | None = None) -> None:
    """Write model, optimizer, scheduler and generator state to one file, atomically.

    Stored with `gf.save` as {"model": ..., "optimizer": ..., "scheduler": ...,
    "generator": ..., "extra": ...}, so `gf.load(path)` reads it back as a dict too.

    Args:
        path: the .safetensors file to write.
        model: a Module whose state_dict() is saved.
        optimizer: an Optimizer whose state_dict() is saved.
        scheduler: an LR scheduler whose state_dict() is saved.
        generator: also save gradflow's default generator (for exact resumption).
        extra: your own data (epoch, history, ...): tensors and plain values, nested.

    Example:
        >>> save_checkpoint("ckpt.safetensors", model, optimizer, extra={"epoch": 3})
    """
    obj = {name: part.state_dict() for name, part in
           (("model", model), ("optimizer", optimizer), ("scheduler", scheduler))
           if part is not None}
    if generator:
        obj["generator"] = _random.get_rng_state()
    obj["extra"] = extra if extra is not None else {}
    save(obj, path)


def load_checkpoint(path: str | os.PathLike, model=None, optimizer=None, scheduler=None, *,
                    restore_generator: bool = True) -> dict:
    """Restore a `save_checkpoint` file into the objects given; on any failure nothing changes.

    Everything is read and validated before any object is touched; if restoring one part
    still fails (whatever the exception), the parts already restored are put back.

    Args:
        path: a file written by save_checkpoint.
        model, optimizer, scheduler: objects to restore (each optional).
        restore_generator: also restore gradflow's default generator.

    Returns:
        The `extra` that was saved.

    Raises:
        CheckpointError: the file is missing, damaged, malformed (naming the file and the
            field) or lacks a part asked for.
        StateDictError: the saved state does not fit the model, optimizer or scheduler.

    Example:
        >>> save_checkpoint("ckpt.safetensors", model, optimizer, scheduler, extra={"epoch": 3})
        >>> extra = load_checkpoint("ckpt.safetensors", model, optimizer, scheduler)
    """

    arrays, metadata, source = _read(path)
    if metadata.get("format") == FORMAT_NAME and TREE not in metadata and "extra" in metadata:
        obj = _legacy_checkpoint(arrays, metadata, source)
    else:
        obj = _decode_file(arrays, metadata, source, "cpu")

    def malformed(field: str, problem: str) -> CheckpointError:
        return CheckpointError(f"{source}: malformed checkpoint field {field}: {problem}")

    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise malformed("(top level)", "expected a dict of model, optimizer, scheduler, "
                        "generator and extra, as save_checkpoint writes")
    unknown = sorted(set(obj) - set(_PARTS))
    if unknown:
        raise malformed(repr(unknown[0]), f"unknown key(s) {unknown}; a checkpoint holds "
                        f"{list(_PARTS)}")
    for name, target in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if target is not None and name not in obj:
            raise CheckpointError(f"{source}: the checkpoint has no {name} state")
    model_state = obj.get("model")
    if model is not None:
        if not isinstance(model_state, dict):
            raise malformed("'model'", f"expected a state dict, got "
                            f"{type(model_state).__name__}")
        for key, value in model_state.items():
            if not isinstance(value, Tensor):
                raise malformed(f"'model'[{key!r}]", f"expected a tensor, got "
                                f"{type(value).__name__}")
    if optimizer is not None:
        problem = optimizer.state_dict_problem(obj["optimizer"])
        if problem:
            raise malformed(f"'optimizer'{problem[0]}", problem[1])
    if scheduler is not None:
        state = obj["scheduler"]  # another scheduler's keys: a StateDictError, below
        known = scheduler.state_dict()
        problem = scheduler.state_dict_problem(
            {k: v for k, v in state.items() if k in known} if isinstance(state, dict) else state)
        if problem:
            raise malformed(f"'scheduler'{problem[0]}", problem[1])
    generator_state = obj.get("generator") if restore_generator else None
    if generator_state is not None:
        try:
            _random.Generator(0).set_state(generator_state)
        except (GradflowError, ValueError, TypeError) as exc:
            raise malformed("'generator'", str(exc)) from None

    parts = [(target, obj[name]) for name, target in
             (("model", model), ("optimizer", optimizer), ("scheduler", scheduler))
             if target is not None]
    backups = [(target, _snapshot(target)) for target, _ in parts]
    rng_backup = _random.get_rng_state()
    try:
        for target, state in parts:
            target.load_state_dict(state)
        if generator_state is not None:
            _random.set_rng_state(generator_state)
    except BaseException as exc:
        for target, backup in backups:
            _restore(target, backup)
        _random.set_rng_state(rng_backup)
        if isinstance(exc, StateDictError):
            raise StateDictError(f"{source}: {exc}") from exc
        if isinstance(exc, Exception):
            raise CheckpointError(f"{source}: could not restore the checkpoint "
                                  f"({type(exc).__name__}: {exc}); nothing was changed") from exc
        raise
    return obj.get("extra", {})


def _legacy_checkpoint(arrays: dict, metadata: dict, source: str) -> dict:
    """A file of the first gf.save(path, model, optimizer, ...): tensors under "model/..." and
    "optimizer/<index>/<key>", the rest as JSON metadata entries; as save_checkpoint's dict."""
    if _DIGEST in metadata and metadata[_DIGEST] != _digest(arrays, metadata):
        raise CheckpointError(f"{source}: the checkpoint is damaged: its tensors or metadata do "
                              "not match the SHA-256 digest saved with it; load an intact copy")
    try:
        parts = {key: json.loads(metadata[key]) for key in ("optimizer", "scheduler",
                                                            "generator", "extra")
                 if key in metadata}
    except ValueError as exc:
        raise CheckpointError(f"{source}: damaged metadata ({exc})") from None
    obj = {"model": {}, "extra": parts.get("extra", {})}
    for name, array in arrays.items():
        if name.startswith("model/"):
            obj["model"][name[len("model/"):]] = _tensor(array, "cpu", False, source, name)
    if "optimizer" in parts:
        saved = parts["optimizer"]
        if not isinstance(saved, dict):
            raise CheckpointError(f"{source}: malformed checkpoint field 'optimizer': "
                                  f"expected an object, got {type(saved).__name__}")
        state: dict = {}
        for name, array in arrays.items():
            if name.startswith("optimizer/"):
                index, key = name[len("optimizer/"):].split("/", 1)
                if index.isdigit():
                    state.setdefault(int(index), {})[key] = _tensor(array, "cpu", False,
                                                                    source, name)
        scalars = saved.get("scalars", {})
        for index, entries in scalars.items() if isinstance(scalars, dict) else ():
            if str(index).isdigit() and isinstance(entries, dict):
                state.setdefault(int(index), {}).update(entries)
        obj["optimizer"] = {"state": state, "param_groups": saved.get("param_groups")}
    for key in ("scheduler", "generator"):
        if key in parts:
            obj[key] = parts[key]
    return obj


def _snapshot(target):
    """What restoring target needs: a model's tensors copied, another object's attributes."""
    from gradflow.nn.module import Module

    if isinstance(target, Module):
        return {k: v.clone() for k, v in target.state_dict().items()}
    return {key: (value, value.copy() if isinstance(value, (list, dict)) else None)
            for key, value in vars(target).items()}


def _restore(target, backup) -> None:
    from gradflow.nn.module import Module

    if isinstance(target, Module):
        target.load_state_dict(backup)
        return
    attributes = vars(target)
    for key in set(attributes) - set(backup):
        del attributes[key]
    for key, (value, contents) in backup.items():
        if isinstance(value, list):
            value[:] = contents
        elif isinstance(value, dict):
            value.clear()
            value.update(contents)
        attributes[key] = value
