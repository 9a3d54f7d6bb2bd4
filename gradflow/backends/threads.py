"""How many threads the CPU's BLAS may use: a fixed number, or "auto" from the free cores.

On a busy machine (a browser, a build, a second experiment) BLAS worker threads spin-wait
for a core that is not free, and every training step gets 4-5x slower (docs/benchmarking.md).
The "auto" policy counts the cores this process may run on (``os.sched_getaffinity``),
subtracts what other processes kept busy since the last look (``/proc/stat`` minus this
process's own CPU time), and gives BLAS the cores that are left, never fewer than one.

The pool is set through threadpoolctl, so it covers OpenBLAS, MKL and BLIS alike, and
PyTorch's names are kept: ``gf.set_num_threads(n)``, ``gf.get_num_threads()``.

OpenBLAS workers also spin for about 0.1 s after each call, taking a core from whatever
runs next (a NumPy pass, another process). OpenBLAS reads OPENBLAS_THREAD_TIMEOUT only
when it loads, so a library cannot change it once NumPy is imported: the `gradflow`
command and `python -m gradflow` set it to 4 (workers sleep at once) before NumPy loads
(gradflow/__init__.py); a library user sets `OPENBLAS_THREAD_TIMEOUT=4` in the
environment before starting Python.
"""

from __future__ import annotations

import os
import threading
import time

# NOTE: a core counts as free when at least this share of it was idle: with one other
# process spinning on one of two cores the other core is ~0.9 free and the spinning one ~0.
_FREE_SHARE = 0.65
_FIRST_SAMPLE_SECONDS = 0.05

_lock = threading.Lock()
_state = {
    "policy": None,        # "auto" or "fixed"; None until first used
    "threads": None,       # what the BLAS pool was last set to
    "snapshot": None,      # (busy jiffies, total jiffies, own cpu seconds) at the last look
    "other_busy": None,    # cores other processes kept busy over the last interval
    "reason": "",
}


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _read_proc_stat():
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu":
        return None
    values = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


def _snapshot():
    stat = _read_proc_stat()
    if stat is None:
        return None
    times = os.times()
    return stat[0], stat[1], times.user + times.system


def _other_busy_cores(before, after) -> float | None:
    """Cores kept busy by other processes between two snapshots."""
    busy = after[0] - before[0]
    total = after[1] - before[1]
    if total <= 0:
        return None
    host_cores = os.cpu_count() or 1
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    own = (after[2] - before[2]) * ticks
    interval_per_core = total / host_cores
    return max(0.0, (busy - own) / interval_per_core)


def free_cores(sample_seconds: float = _FIRST_SAMPLE_SECONDS) -> float:
    """The usable cores that other processes left idle, measured since the last call.

    The first call samples for `sample_seconds`; later calls use the interval since the
    previous one (one read of /proc/stat: cheap enough for every few training steps).
    Without /proc/stat (not Linux) every usable core counts as free.
    """
    usable = usable_cores()
    now = _snapshot()
    if now is None:
        _state["other_busy"] = None
        return float(usable)
    before = _state["snapshot"]
    if before is None:
        time.sleep(sample_seconds)
        before, now = now, _snapshot()
    _state["snapshot"] = now
    other = _other_busy_cores(before, now)
    _state["other_busy"] = other
    if other is None:
        return float(usable)
    # NOTE: other processes are assumed to use the cores outside this process's affinity
    # mask first; only what is left over takes cores from us.
    outside = (os.cpu_count() or usable) - usable
    return max(0.0, usable - max(0.0, other - outside))


def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _set_pool(threads: int) -> None:
    controller = _blas_controller()
    if controller is not None:
        controller.limit(limits=threads, user_api="blas")
    _state["threads"] = threads


def _env_threads() -> str | None:
    for name in ("GRADFLOW_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                 "MKL_NUM_THREADS"):
        value = os.environ.get(name)
        if value:
            return value if name == "GRADFLOW_NUM_THREADS" else f"fixed:{value}"
    return None


def set_num_threads(threads: int | str) -> None:
    """Set the CPU's BLAS threads: a positive int, or "auto" (chosen from the free cores).

    Args:
        threads: the thread count, or "auto" to follow the free cores; `fit` re-evaluates
            "auto" every epoch and every few hundred steps.

    Example:
        >>> gf.set_num_threads(1)
        >>> gf.get_num_threads()
        1
        >>> gf.set_num_threads("auto")
    """
    from gradflow.errors import ConfigError

    with _lock:
        if threads == "auto":
            _state["policy"] = "auto"
            _state["reason"] = "auto: BLAS threads follow the free cores"
            _apply_auto()
            return
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"set_num_threads: threads must be a positive int or 'auto', "
                              f"got {threads!r}")
        _state["policy"] = "fixed"
        _state["reason"] = "fixed by set_num_threads"
        _set_pool(threads)


def get_num_threads() -> int:
    """The BLAS threads the CPU backend uses now.

    Example:
        >>> gf.get_num_threads() >= 1
        True
    """
    ensure_policy()
    threads = _state["threads"]
    return usable_cores() if threads is None else threads


def _apply_auto() -> int:
    free = free_cores()
    threads = max(1, min(usable_cores(), int(free + (1.0 - _FREE_SHARE))))
    if threads != _state["threads"]:
        _set_pool(threads)
    return threads


def ensure_policy() -> None:
    """Apply the default policy once: the environment's setting if any, else "auto"."""
    if _state["policy"] is not None:
        return
    with _lock:
        if _state["policy"] is not None:
            return
        env = _env_threads()
        if env is None or env == "auto":
            _state["policy"] = "auto"
            _state["reason"] = "auto (default): BLAS threads follow the free cores"
            _apply_auto()
        elif env.startswith("fixed:"):
            _state["policy"] = "fixed"
            _state["reason"] = f"left as the environment set it ({env[6:]} threads)"
            _state["threads"] = int(env[6:]) if env[6:].isdigit() else None
        else:
            try:
                count = int(env)
            except ValueError:
                count = 0
            if count < 1:
                from gradflow.errors import ConfigError

                raise ConfigError(f"GRADFLOW_NUM_THREADS must be 'auto' or a positive int, "
                                  f"got {env!r}")
            _state["policy"] = "fixed"
            _state["reason"] = f"fixed by GRADFLOW_NUM_THREADS={env}"
            _set_pool(count)


def rebalance() -> int:
    """Re-evaluate the "auto" policy (a no-op for a fixed one); returns the thread count.

    One read of /proc/stat and, when the count changes, one threadpoolctl call.
    """
    ensure_policy()
    if _state["policy"] == "auto":
        with _lock:
            return _apply_auto()
    return get_num_threads()


def policy() -> dict:
    """The policy, the thread count, the cores and the BLAS pools, for `gradflow info`."""
    ensure_policy()
    pools = []
    controller = _blas_controller()
    if controller is not None:
        for lib in controller.lib_controllers:
            pools.append({"library": lib.internal_api, "version": lib.version,
                          "threads": lib.num_threads,
                          "threading_layer": getattr(lib, "threading_layer", None)})
    other = _state["other_busy"]
    return {
        "policy": _state["policy"],
        "reason": _state["reason"],
        "threads": get_num_threads(),
        "usable_cores": usable_cores(),
        "other_busy_cores": None if other is None else round(other, 2),
        "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
        "pools": pools,
    }
