"""The NCCL path, on CUDA tensors: runs wherever CuPy sees a GPU (one rank per GPU, at
most 2; NCCL refuses two ranks on one GPU), skips elsewhere."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.gpu
def test_nccl_collectives_and_ddp_on_cuda():
    pytest.importorskip("mpi4py")
    pytest.importorskip("cupy.cuda.nccl")
    from gradflow.backends.cupy import cuda_device_count

    ranks = min(2, cuda_device_count())
    if ranks == 0:
        pytest.skip("no CUDA GPU")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE.parent.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run([sys.executable, "-m", "gradflow", "run", "-n", str(ranks),
                             str(HERE / "ranks_nccl.py")], capture_output=True, text=True,
                            timeout=300, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"NCCL OK on {ranks} rank(s)" in result.stdout
