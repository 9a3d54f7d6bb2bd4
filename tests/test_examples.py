"""The examples run, with small arguments, and show what they claim to show.

The scripts are run as a user runs them (a subprocess) where their output files tell
the story, and imported otherwise, so that the numbers they return can be checked.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_png(path) -> None:
    path = Path(path)
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG file"


@pytest.mark.usefixtures("float64_device")
def test_house_price_hand_gradients_equal_autograd(tmp_path, device):
    done = run_script("house_price", "--epochs", "60", "--device", device, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for step in ("(1) Forward pass", "(2) Error", "(3) Backward pass", "(4) Weight update"):
        assert step in done.stdout
    result = json.loads((tmp_path / "house_price.json").read_text())
    hand, autograd = result["hand_grads"], result["autograd_grads"]
    assert len(hand) == 9 and hand.keys() == autograd.keys()
    for name in hand:
        assert hand[name] == pytest.approx(autograd[name], abs=1e-6), name
        assert hand[name] != 0.0, name
    assert result["loss_after"] < result["loss_before"]      # the one step helped that house
    assert result["final_loss"] < 0.5 * result["first_loss"]  # and the mini-batches learn
    assert_png(tmp_path / "house_price.png")
    graph = Path(result["graph"])  # .svg with Graphviz, else the DOT text
    assert graph.parent == tmp_path and graph.stem == "house_price_graph"
    text = graph.read_text()
    for name in ("W1", "b1", "W2", "b2", "grad", "value"):
        assert name in text, name


def test_vanishing_exploding_shows_both_problems_and_fixes(tmp_path, capsys):
    example = load_example("vanishing_exploding")
    result = example.main(["--epochs", "1", "--device", "cpu", "--out", str(tmp_path)])
    runs = result["runs"]

    sigmoid, relu = runs["sigmoid"]["init_norms"], runs["relu_he"]["init_norms"]
    assert len(sigmoid) == len(relu) == 11
    assert sigmoid[0] < 1e-4 * relu[0]            # vanishing: the first layer gets ~nothing
    assert sigmoid[0] < 1e-4 * sigmoid[-1]
    assert 0.1 < relu[0] / relu[-1] < 10          # He init keeps every layer's size alike
    assert runs["relu_he"]["train_loss"][0] < runs["sigmoid"]["train_loss"][0]

    assert result["nonfinite_error"] is not None  # fit's default stops the exploding run
    exploding, clipped = runs["relu_large"], runs["relu_large_clip"]
    assert min(exploding["init_norms"]) > 10 * max(relu)
    assert exploding["nonfinite_step"] is not None
    assert exploding["skipped_steps"] > exploding["steps"] // 2
    assert clipped["nonfinite_step"] is None
    assert all(math.isfinite(loss) for loss in clipped["train_loss"])

    for path in result["plots"]:
        assert_png(path)
    assert len(result["plots"]) == 5
    assert json.loads((tmp_path / "summary.json").read_text())["runs"].keys() == runs.keys()
    assert "NonFiniteError" in capsys.readouterr().out


def test_digits_mlp_learns_and_writes_history_and_plots(tmp_path):
    example = load_example("digits_mlp")
    result = example.main(["--epochs", "3", "--device", "cpu", "--no-progress",
                           "--out", str(tmp_path)])
    assert result["accuracy"] > 0.9
    assert sum(map(sum, result["confusion"])) == 359
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] == pytest.approx(result["accuracy"])
    for name in ("curves.png", "grad_norms.png", "mistakes.png"):
        assert_png(tmp_path / name)


def test_fashion_mnist_skips_cleanly_without_the_data(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    done = run_script("fashion_mnist", "--data-dir", str(empty), "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout and str(empty) in done.stdout
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def fashion_mnist_or_skip():
    from gradflow.data.sources import locate
    from gradflow.errors import DatasetNotFoundError

    try:
        locate("fashion-mnist")
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not installed")


@pytest.mark.parametrize("model, limit, better_than", [("mlp", 1000, 0.5), ("cnn", 256, 0.1)])
def test_fashion_mnist_trains_on_a_subset(tmp_path, model, limit, better_than):
    fashion_mnist_or_skip()
    example = load_example("fashion_mnist")
    result = example.main(["--model", model, "--epochs", "1", "--limit", str(limit),
                           "--device", "cpu", "--no-progress", "--out", str(tmp_path)])
    assert result["accuracy"] > better_than
    assert len(result["per_class"]) == 10
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["epoch"] == [1]
    assert history["val_loss"][0] < math.log(10)   # better than a uniform guess
    for name in ("curves.png", "grad_norms.png"):
        assert_png(tmp_path / name)


@pytest.mark.parametrize("task", ["sort", "copy"])
def test_transformer_learns_to_sort_and_copy(task, capsys):
    example = load_example("transformer_copy_task")
    result = example.main(["--task", task, "--steps", "100", "--length", "5", "--device", "cpu"])
    losses = result["losses"]
    assert len(losses) == 100 and losses[0] > 2.0  # about log(10) before training
    assert sum(losses[-10:]) / 10 < 0.25 * losses[0]
    assert result["digit_accuracy"] > 0.8  # greedy decoding of fresh sequences
    printed = capsys.readouterr().out
    assert "step  100  loss" in printed and "exactly right" in printed
