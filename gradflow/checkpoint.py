"""gradflow.save / gradflow.load: model, optimizer, scheduler and generator state in one file.

Tensors go into a safetensors file (gradflow/io.py: atomic, validated, never pickle);
everything else (optimizer hyperparameters, step counts, generator and scheduler state,
the caller's `extra`) goes into its JSON metadata.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from gradflow import random as _random
from gradflow.errors import CheckpointError, StateDictError
from gradflow.io import read_safetensors, write_safetensors
from gradflow.tensor import Tensor

_MODEL = "model/"
_OPTIM = "optimizer/"
_DIGEST = "content_sha256"
_NOT_DIGESTED = ("format", "format_version", _DIGEST)  # set by the file layer, or the digest


def save(path: str | os.PathLike, model=None, optimizer=None, scheduler=None, *,
         generator: bool = True, extra: dict | None = None) -> None:
    """Write a checkpoint atomically (a crash mid-write leaves the previous file intact).

    Args:
        path: the .safetensors file to write.
        model: a Module whose state_dict() is saved.
        optimizer: an Optimizer whose state_dict() is saved.
        scheduler: an LR scheduler whose state_dict() is saved.
        generator: also save gradflow's default generator (for exact resumption).
        extra: JSON-serialisable data of your own (epoch, history, ...).

    Example:
        >>> gf.save("ckpt.safetensors", model, optimizer, extra={"epoch": 3})
    """
    arrays: dict[str, np.ndarray] = {}
    metadata: dict[str, str] = {}
    if model is not None:
        for name, value in model.state_dict().items():
            arrays[_MODEL + name] = value.numpy()
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars = {}
        for index, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, Tensor):
                    arrays[f"{_OPTIM}{index}/{key}"] = value.numpy()
                else:
                    scalars.setdefault(str(index), {})[key] = value
        metadata["optimizer"] = json.dumps({"param_groups": state["param_groups"],
                                            "scalars": scalars})
    if scheduler is not None:
        metadata["scheduler"] = json.dumps(scheduler.state_dict())
    if generator:
        metadata["generator"] = json.dumps(_random.get_rng_state())
    metadata["extra"] = json.dumps(extra if extra is not None else {})
    metadata[_DIGEST] = _digest(arrays, metadata)
    write_safetensors(path, arrays, metadata)


def load(path: str | os.PathLike, model=None, optimizer=None, scheduler=None, *,
         restore_generator: bool = True) -> dict:
    """Restore a checkpoint into the given objects; on any problem nothing is changed.

    Args:
        path: a file written by gradflow.save.
        model, optimizer, scheduler: objects to restore (each optional).
        restore_generator: also restore gradflow's default generator.

    Returns:
        The `extra` dict that was saved.

    Raises:
        CheckpointError: the file is missing, damaged, of another format or lacks a part asked for.
        StateDictError: the saved state does not fit the model or optimizer.

    Example:
        >>> extra = gf.load("ckpt.safetensors", model, optimizer)
    """
    arrays, metadata = read_safetensors(path)
    if _DIGEST in metadata and metadata[_DIGEST] != _digest(arrays, metadata):
        raise CheckpointError(f"{path}: the checkpoint is damaged: its tensors or metadata do not "
                              "match the SHA-256 digest saved with it (flipped bytes or a bad "
                              "copy); load an intact copy")
    try:
        extra = json.loads(metadata.get("extra", "{}"))
        optim_meta = json.loads(metadata["optimizer"]) if optimizer is not None else None
        sched_state = json.loads(metadata["scheduler"]) if scheduler is not None else None
        gen_state = json.loads(metadata["generator"]) if (
            restore_generator and "generator" in metadata) else None
    except KeyError as exc:
        raise CheckpointError(f"{path}: the checkpoint has no {exc.args[0]} state") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: damaged metadata ({exc})") from None
    model_state = {k[len(_MODEL):]: v for k, v in arrays.items() if k.startswith(_MODEL)}
    if model is not None and not model_state and list(model.state_dict()):
        raise CheckpointError(f"{path}: the checkpoint holds no model state")
    optim_state = _optimizer_state(arrays, optim_meta) if optimizer is not None else None

    # (object, state to load, its state now), in load order; rolled back on failure
    parts = [(target, state, _snapshot(target)) for target, state in (
        (model, model_state), (optimizer, optim_state), (scheduler, sched_state))
        if target is not None]
    try:
        for target, state, _ in parts:
            target.load_state_dict(state)
        if gen_state is not None:
            _random.set_rng_state(gen_state)
    except (StateDictError, ValueError, KeyError, TypeError) as exc:
        for target, _, backup in parts:
            target.load_state_dict(backup)
        if isinstance(exc, StateDictError):
            raise StateDictError(f"{path}: {exc}") from exc
        raise CheckpointError(f"{path}: could not restore the checkpoint ({exc})") from exc
    return extra


def _snapshot(target) -> dict:
    """target.state_dict() as it is now; a model's tensors share its memory, so are copied."""
    state = target.state_dict()
    if all(isinstance(v, Tensor) for v in state.values()):
        return {k: v.clone() for k, v in state.items()}
    return state


def _digest(arrays: dict, metadata: dict) -> str:
    """SHA-256 of every tensor's bytes and of gf.save's metadata: catches bytes flipped on disk.

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


def _optimizer_state(arrays: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, value in arrays.items():
        if name.startswith(_OPTIM):
            index, key = name[len(_OPTIM):].split("/", 1)
            state.setdefault(int(index), {})[key] = value
    for index, entries in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}
