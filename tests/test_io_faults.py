"""Atomic checkpoints under SIGKILL: a writer killed at any moment leaves a whole checkpoint.

A helper process imports gradflow.io once, then for each trial forks a writer that overwrites
one checkpoint of ~4 MB with generation after generation; the test SIGKILLs the writer after a
random delay (seeded) and checks that the file is exactly one complete generation, no older than
the last one the writer reported finished. Forking from the helper makes a trial cost a few
milliseconds instead of a Python start-up, and puts every kill inside the writing loop.

A SIGKILL can leave the writer's temporary file (`.<name>.tmp-<pid>-<hex>`) behind: that is
expected, is checked to belong to the killed writer, and `cleanup_temporary_files` removes it.
"""

import contextlib
import hashlib
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gradflow import io

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"),
                                reason="needs POSIX fork and SIGKILL")

TRIALS = 100
SEED = 1234
REPOSITORY = Path(__file__).resolve().parents[1]

# The helper process: it imports gradflow.io and this file (for `content` and `digest`), writes
# generation 0, reports how long that took, then forks one writer per request on stdin.
HELPER = r"""
import importlib.util, os, sys, time
repository, this_file, target = sys.argv[1:4]
sys.path.insert(0, repository)
from gradflow import io
spec = importlib.util.spec_from_file_location("io_fault_helpers", this_file)
helpers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helpers)

def write(generation):
    arrays = helpers.content(generation)
    metadata = {"generation": str(generation), "sha256": helpers.digest(arrays)}
    io.write_safetensors(target, arrays, metadata)

start = time.perf_counter()
write(0)
print("ready", time.perf_counter() - start, flush=True)
while (line := sys.stdin.readline().strip()) != "quit":
    first = int(line)
    pid = os.fork()
    if pid == 0:  # the writer: overwrite until killed, reporting each finished generation
        for generation in range(first, first + 1_000_000):
            write(generation)
            os.write(1, f"done {generation}\n".encode())
        os._exit(0)
    print("pid", pid, flush=True)
    os.waitpid(pid, 0)
    print("dead", pid, flush=True)
"""


def content(generation: int) -> dict[str, np.ndarray]:
    """Generation `generation` of the checkpoint: every element depends on it."""
    return {
        "weight": np.arange(1_000_000, dtype=np.float32) + np.float32(generation),
        "bias": np.arange(1000, dtype=np.int64) * 7 + generation,
        "mask": (np.arange(4096) + generation) % 3 == 0,
        "step": np.asarray(generation, np.int64),
    }


def digest(arrays: dict[str, np.ndarray]) -> str:
    hasher = hashlib.sha256()
    for name in sorted(arrays):
        hasher.update(name.encode() + arrays[name].tobytes())
    return hasher.hexdigest()


class Helper:
    """The helper process and a thread that queues its output lines."""

    def __init__(self, target: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", HELPER, str(REPOSITORY), __file__, str(target)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.split())

    def next_line(self) -> list[str]:
        try:
            return self.lines.get(timeout=60)
        except queue.Empty:
            pytest.fail("the helper process stopped answering")

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


def test_sigkill_during_overwrites_never_damages_the_checkpoint(tmp_path):
    target = tmp_path / "model.safetensors"
    rng = random.Random(SEED)
    helper = Helper(target)
    writer = None
    stats = {"killed mid-write": 0, "advanced": 0, "generations completed": 0}
    started = time.perf_counter()
    try:
        kind, write_seconds = helper.next_line()
        assert kind == "ready"
        write_seconds = float(write_seconds)
        current = 0
        for _ in range(TRIALS):
            first, finished = current + 1, current
            helper.send(str(first))
            while writer is None:
                kind, value = helper.next_line()
                if kind == "done":
                    finished = int(value)
                else:
                    assert kind == "pid"
                    writer = int(value)
            time.sleep(rng.uniform(0, 3 * write_seconds))
            os.kill(writer, signal.SIGKILL)
            while (line := helper.next_line()) != ["dead", str(writer)]:
                assert line[0] == "done"
                finished = int(line[1])
            killed, writer = writer, None

            temporary = re.compile(rf"\.{re.escape(target.name)}\.tmp-{killed}-[0-9a-f]{{8}}")
            leftovers = [name for name in os.listdir(tmp_path) if name != target.name]
            assert all(temporary.fullmatch(name) for name in leftovers), leftovers
            assert len(leftovers) <= 1

            arrays, metadata = io.read_safetensors(target)
            current = int(metadata["generation"])
            assert finished <= current <= finished + 1, (finished, current)
            assert digest(arrays) == metadata["sha256"]
            expected = content(current)
            assert sorted(arrays) == sorted(expected)
            for name, array in expected.items():
                assert arrays[name].dtype == array.dtype and arrays[name].shape == array.shape
                assert arrays[name].tobytes() == array.tobytes(), name

            removed = io.cleanup_temporary_files(tmp_path)
            assert sorted(path.name for path in removed) == sorted(leftovers)
            assert os.listdir(tmp_path) == [target.name]
            stats["killed mid-write"] += bool(leftovers)
            stats["advanced"] += current >= first
            stats["generations completed"] += current - first + 1
        helper.send("quit")
        assert helper.process.wait(timeout=30) == 0
    finally:
        if writer is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(writer, signal.SIGKILL)
        helper.process.kill()
        helper.process.wait()
    print(f"\n{TRIALS} trials in {time.perf_counter() - started:.1f} s, one write"
          f" {write_seconds * 1000:.1f} ms: {stats}")
    # NOTE: a test that never killed mid-write, or never after a write, would prove nothing.
    assert stats["killed mid-write"] >= TRIALS // 20
    assert stats["advanced"] >= TRIALS // 20
