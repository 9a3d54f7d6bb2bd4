"""Ctrl-C during fit(): finish the step in progress, save where training stands, stop.

The first SIGINT only raises a flag that the loop reads between steps, so the step
being computed completes (weights and optimizer state stay consistent). A second
SIGINT raises KeyboardInterrupt at once; fit() then drops the unfinished step (its
update had not started, or the handler would still be deferring) and saves the state
from before it.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class TrainingInterrupted(KeyboardInterrupt):
    """fit() was interrupted; `checkpoint` is the file to resume from (None without out_dir).

    Attributes:
        checkpoint: path of interrupted.safetensors, or None.
        history: the History up to the interruption.
        epoch, step: where training stood (the epoch in progress, steps completed).

    Example:
        >>> stop = TrainingInterrupted("runs/x/interrupted.safetensors", {}, epoch=2, step=40)
        >>> isinstance(stop, KeyboardInterrupt), str(stop)
        (True, 'training interrupted at epoch 2, step 40')
    """

    def __init__(self, checkpoint, history, epoch: int, step: int):
        super().__init__(f"training interrupted at epoch {epoch}, step {step}")
        self.checkpoint, self.history, self.epoch, self.step = checkpoint, history, epoch, step


class InterruptGuard:
    """Within `with`: the first Ctrl-C sets `requested`; a second one interrupts at once.

    Installed only in the main thread and only over Python's default handler, so a
    program that handles SIGINT itself keeps doing so. In a rank started by an MPI
    launcher, SIGUSR1 counts as Ctrl-C too: mpiexec forwards SIGUSR1 to every rank, while
    it answers SIGINT by killing them (`gradflow run` turns Ctrl-C into SIGUSR1).

    Example:
        >>> with InterruptGuard() as guard:
        ...     guard._handle(signal.SIGINT, None)  # what the first Ctrl-C does: noted
        >>> guard.requested
        True
    """

    def __init__(self):
        self.requested = False
        self.updating = False  # set around the weight update: never interrupted halfway
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested and not self.updating:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        defaults: dict[int, Any] = {signal.SIGINT: signal.default_int_handler}
        if hasattr(signal, "SIGUSR1") and _launched_rank():
            defaults[signal.SIGUSR1] = signal.SIG_DFL
        for number, default in defaults.items():
            if signal.getsignal(number) is default:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous = {}
        return False


def _launched_rank() -> bool:
    from gradflow.distributed.process_group import launched_world_size

    return launched_world_size() > 1
