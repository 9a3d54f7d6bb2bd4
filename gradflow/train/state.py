"""The trainer's one door to gradflow's checkpoint machinery (gradflow/checkpoint.py).

Everything in gradflow.train that writes or reads a training state goes through
`write_state` / `read_state`, so a change of the checkpoint API is one edit here.
The file is written atomically (a crash mid-write keeps the previous file).
"""

from __future__ import annotations

from pathlib import Path

from gradflow.checkpoint import load_checkpoint, save_checkpoint


def write_state(path, model, optimizer=None, scheduler=None, extra: dict | None = None) -> Path:
    """Model, optimizer, scheduler, gradflow's generator and `extra` (JSON) in one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model, optimizer, scheduler, generator=True, extra=extra or {})
    return path


def read_state(path, model, optimizer=None, scheduler=None) -> dict:
    """Restore what write_state wrote (generator included); returns its `extra`."""
    return load_checkpoint(path, model, optimizer, scheduler, restore_generator=True)
