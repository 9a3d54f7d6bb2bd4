"""The trainer's one door to gradflow's checkpoint machinery (gradflow/checkpoint.py).

Everything in gradflow.train that writes or reads a training state goes through
`write_state` / `read_state`, so a change of the checkpoint API is one edit here.
The file is written atomically (a crash mid-write keeps the previous file).
"""

from __future__ import annotations

from pathlib import Path

from gradflow.checkpoint import load_checkpoint, save_checkpoint


def write_state(path, model, optimizer=None, scheduler=None, extra: dict | None = None) -> Path:
    """Model, optimizer, scheduler, gradflow's generator and `extra` in one file.

    Example:
        >>> model = gf.nn.Linear(2, 1)
        >>> write_state("runs/state.safetensors", model, extra={"epoch": 3}).name
        'state.safetensors'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model, optimizer, scheduler, generator=True, extra=extra or {})
    return path


def read_state(path, model, optimizer=None, scheduler=None) -> dict:
    """Restore what write_state wrote (generator included); returns its `extra`.

    Example:
        >>> model = gf.nn.Linear(2, 1)
        >>> _ = write_state("runs/state.safetensors", model, extra={"epoch": 3})
        >>> read_state("runs/state.safetensors", gf.nn.Linear(2, 1))["epoch"]
        3
    """
    return load_checkpoint(path, model, optimizer, scheduler, restore_generator=True)
