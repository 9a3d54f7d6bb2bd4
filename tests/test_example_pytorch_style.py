"""examples/pytorch_style.py: a PyTorch-documentation-style script runs on gradflow."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "pytorch_style.py"


def test_pytorch_style_script_runs_as_pytorch_users_write_it(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--epochs", "3", "--workers", "2",
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "pytorch_style.json").read_text())
    assert result["restored_matches"] and result["epoch_saved"] == 3
    assert result["history"][-1]["val"] > 0.5
    assert result["lbfgs_loss_after"] < result["lbfgs_loss_before"]
    assert result["dlpack_shape"] == [64, 64]
