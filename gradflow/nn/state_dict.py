"""Checking a state dict against a module before anything is copied."""

from __future__ import annotations

from collections.abc import Mapping

from gradflow.autograd.grad_mode import no_grad
from gradflow.errors import StateDictError
from gradflow.tensor import Tensor


def _convert(value, target: Tensor) -> Tensor:
    """`value` (a Tensor on any device, or an array) as a tensor of target's dtype and device."""
    from gradflow.creation import tensor

    with no_grad():
        if isinstance(value, Tensor):
            return value.detach().to(device=target.backend, dtype=target.dtype)
        return tensor(value, dtype=target.dtype, device=target.backend)


def check_state_dict(owner: str, own: dict, state_dict, strict: bool):
    """Validate every entry first; report all problems in one StateDictError.

    Args:
        owner: the module's class name, for the message.
        own: the module's live tensors by key, in state_dict order.
        state_dict: the mapping being loaded.
        strict: whether missing and unexpected keys are errors (shapes always are).

    Returns:
        ([(target, converted source)], missing_keys, unexpected_keys); nothing is copied.

    Example:
        >>> pairs, missing, unexpected = check_state_dict("Linear", {}, {}, True)
    """
    if not isinstance(state_dict, Mapping):
        raise StateDictError(f"load_state_dict for {owner}: expected a mapping from names to "
                             f"tensors (from state_dict()), got {type(state_dict).__name__}")
    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in state_dict if key not in own]
    problems = []
    if strict:
        problems += [f"missing key {key!r}" for key in missing]
        problems += [f"unexpected key {key!r}" for key in unexpected]
    converted = []
    for key, target in own.items():
        if key not in state_dict:
            continue
        value = state_dict[key]
        if not hasattr(value, "shape"):
            problems.append(f"{key!r}: expected an array or a Tensor, got {type(value).__name__}")
            continue
        shape = tuple(value.shape)
        if shape != target.shape:
            problems.append(f"{key!r}: shape {shape} in the state dict, {target.shape} in the "
                            "model")
            continue
        try:
            converted.append((target, _convert(value, target)))
        except (ValueError, TypeError, RuntimeError) as exc:  # reported with the rest
            problems.append(f"{key!r}: cannot convert to {target.dtype.name} on {target.device} "
                            f"({exc})")
    if problems:
        raise StateDictError(
            f"load_state_dict for {owner} failed with {len(problems)} problem(s); "
            "nothing was changed:\n  " + "\n  ".join(problems)
        )
    return converted, missing, unexpected
