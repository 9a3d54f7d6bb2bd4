"""What a benchmark records about the host: software and hardware, other load, peak memory.

``harness`` re-exports ``environment``, ``peak_rss_mib`` and ``wait_for_quiet_host``.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# Recorded with every result; docs/benchmarking.md says never to change the OPENBLAS_* ones
# for one contender.
RECORDED_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "GLIBC_TUNABLES",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_CPU_COUNT = os.cpu_count() or 1


def _host_busy_seconds() -> float:
    """CPU seconds all CPUs of the host have spent busy since boot (steal included)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return math.nan
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


class OtherCpuLoad:
    """Share of the host's CPU capacity used by anything but this process, over an interval."""

    def __init__(self) -> None:
        self.start_wall = time.perf_counter()
        self.start_busy = _host_busy_seconds()
        self.start_own = time.process_time()

    def finish(self) -> float:
        wall = time.perf_counter() - self.start_wall
        busy = _host_busy_seconds() - self.start_busy
        own = time.process_time() - self.start_own
        if math.isnan(busy) or wall <= 0:
            return math.nan
        # NOTE: /proc/stat counts in 10 ms ticks, so short intervals read a few % off.
        return max(0.0, (busy - own) / (wall * _CPU_COUNT))


def wait_for_quiet_host(
    max_other_load: float = 0.1, window: float = 1.0, timeout: float = 120.0
) -> float:
    """Wait until other processes use at most ``max_other_load`` of the host's CPUs.

    Args:
        max_other_load: wanted share of total CPU capacity (0..1) used by other processes.
        window: seconds over which each sample is taken.
        timeout: give up after this many seconds and return anyway.

    Returns:
        The last sampled share (NaN where /proc/stat cannot be read).

    Example:
        >>> load = wait_for_quiet_host(max_other_load=1.0, window=0.1)
        >>> 0.0 <= load <= 1.0
        True
    """
    deadline = time.monotonic() + timeout
    while True:
        probe = OtherCpuLoad()
        time.sleep(window)
        load = probe.finish()
        if not load > max_other_load or time.monotonic() >= deadline:
            return load


def _read_cpu_info() -> dict[str, Any]:
    model: str | None = None
    flags: list[str] | None = None
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and flags is None:
            present = set(value.split())
            # Only the vector extensions that decide which BLAS kernels can run.
            wanted = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_bf16", "amx_tile")
            flags = [flag for flag in wanted if flag in present]
    return {"model": model or platform.processor() or None, "flags": flags}


def _package_version(name: str) -> str | None:
    # NOTE: read from package metadata rather than importing: importing torch costs ~220 MiB
    # and starts its own thread pools, which would change what is being measured.
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None


def environment() -> dict[str, Any]:
    """Describe the machine and software a measurement ran on.

    Returns:
        Python, NumPy and torch versions (torch from package metadata, not imported; its
        thread count and CPU capability only if already imported), CPU model and vector
        flags, core counts, threadpoolctl's ``threadpool_info()`` (BLAS name, version,
        internal_api, threading
        layer, num_threads, architecture = OpenBLAS core type), the environment variables in
        ``RECORDED_ENV_VARS`` (``None`` when unset), git commit and a UTC timestamp.

    Example:
        >>> env = environment()
        >>> sorted(env["env_vars"])[:2]
        ['GLIBC_TUNABLES', 'MKL_NUM_THREADS']
    """
    import numpy

    try:
        from threadpoolctl import threadpool_info

        thread_pools: list[dict[str, Any]] | None = threadpool_info()
    except ImportError:
        thread_pools = None

    torch_module = sys.modules.get("torch")
    torch_details: dict[str, Any] = {"torch_num_threads": None, "torch_cpu_capability": None}
    if torch_module is not None:
        torch_details["torch_num_threads"] = torch_module.get_num_threads()
        # e.g. "AVX2" or "AVX512": which of PyTorch's own kernels run.
        torch_details["torch_cpu_capability"] = torch_module.backends.cpu.get_cpu_capability()
    cpu = _read_cpu_info()
    try:
        usable_cores = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cores = os.cpu_count()
    return {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "torch": _package_version("torch"),
        **torch_details,
        "threadpoolctl": _package_version("threadpoolctl"),
        "cpu_model": cpu["model"],
        "cpu_flags": cpu["flags"],
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores,
        "thread_pools": thread_pools,
        "env_vars": {name: os.environ.get(name) for name in RECORDED_ENV_VARS},
        "git_commit": _git_commit(),
    }


# Runs the command as its own child and reports that child's ru_maxrss on a pipe.
# NOTE: the indirection is needed because Linux folds the pre-exec address space's high-water
# RSS into the child's ru_maxrss: a command spawned straight from a 400 MiB process reports at
# least 400 MiB. Spawned from this small launcher, the floor is the launcher's own ~8 MiB.
_RSS_LAUNCHER = """\
import os, sys
report_fd = int(sys.argv[1])
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
os.write(report_fd, b"%d %d" % (usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
"""


def peak_rss_mib(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> float:
    """Run a command and return its peak resident memory in MiB.

    The peak is ``ru_maxrss`` from ``os.wait4`` on the command's process (its children that
    it waited for included), taken through a small launcher process so that this process's own
    memory does not leak into the figure. The floor is the launcher's RSS, about 8 MiB.

    Args:
        cmd: program and arguments; the program is looked up on ``PATH``.
        env: environment for the command; default this process's.
        check: raise ``subprocess.CalledProcessError`` if the command exits non-zero.
        timeout: seconds before the launcher is killed (``subprocess.TimeoutExpired``).

    Returns:
        Peak resident set size in MiB.

    Example:
        >>> import sys
        >>> peak_rss_mib([sys.executable, "-c", "import numpy"]) > 10
        True
    """
    cmd = [os.fspath(part) for part in cmd]
    if not cmd:
        raise ValueError("empty command")
    read_fd, write_fd = os.pipe()
    try:
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", _RSS_LAUNCHER, str(write_fd), *cmd],
            env=None if env is None else dict(env),
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        write_fd = -1
        try:
            launcher.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
            raise
        with os.fdopen(read_fd, "rb") as report:
            read_fd = -1
            text = report.read().decode()
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
    if launcher.returncode != 0 or not text:
        raise RuntimeError(f"peak_rss_mib launcher failed (exit {launcher.returncode}) for {cmd}")
    max_rss_kib, exit_code = (int(field) for field in text.split())
    if check and exit_code != 0:
        raise subprocess.CalledProcessError(exit_code, cmd)
    return max_rss_kib / 1024.0
