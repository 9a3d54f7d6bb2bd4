"""examples/pytorch_nn_usage.py, issue 14's nn items written as PyTorch's documentation
shows them, runs as a user runs it and checks every section."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "pytorch_nn_usage.py"


def test_every_section_of_the_pytorch_usage_script_runs():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    sections = ["activations", "distances", "pixel_shuffle", "interpolate_and_upsample",
                "fold_unfold", "scaled_dot_product_attention", "convolution", "pooling",
                "max_unpool", "normalization", "dropout", "recurrent", "multihead_attention",
                "losses", "module_features"]
    assert lines == [f"ok {name}" for name in sections] + [f"all {len(sections)} sections ran"]
