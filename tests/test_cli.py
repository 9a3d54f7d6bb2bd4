"""The gradflow command: help, version, one-line usage errors, Ctrl-C and --resume, --graph."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradflow.cli import DATASETS, build_parser, main

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["train", "--model", "mlp", "--device", "cpu", "--epochs", "6", "--batch-size", "32",
         "--no-progress"]


def test_bare_command_prints_help_and_version(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gradflow") and "train" in out and "check" in out
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("gradflow 0.")


def test_every_train_option_has_help_with_its_default():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    text = train.format_help()
    for action in train._actions:
        if action.dest == "help":
            continue
        assert action.help, action.dest
        assert "default" in train._get_formatter()._get_help_string(action), action.dest
    for dataset in DATASETS:
        assert dataset in next(a.help for a in train._actions if a.dest == "epochs")
    assert "(default: 64)" in " ".join(text.split())


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["train", "--bogus"], ["fly"]])
def test_usage_errors_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1 and "--help" in err


def test_resume_refuses_other_options_and_a_folder_without_a_checkpoint(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1"]) == 2
    assert "drop --lr" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no interrupted.safetensors" in capsys.readouterr().err
    (tmp_path / "interrupted.safetensors").write_bytes(b"")
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err


def _history(folder):
    return json.loads((folder / "history.json").read_text())


def test_ctrl_c_then_resume_gives_the_uninterrupted_run(tmp_path, capsys):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main(TRAIN + ["--out", str(whole)]) == 0
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "gradflow", *TRAIN, "--out", str(cut)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    for line in process.stdout:
        if line.startswith("epoch 1/6"):
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert f"resume with: gradflow train --resume {cut}" in err
    assert (cut / "interrupted.safetensors").exists()

    assert main(["train", "--resume", str(cut), "--no-progress"]) == 0
    assert not (cut / "interrupted.safetensors").exists()
    expected, resumed = _history(whole), _history(cut)
    for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        assert resumed[key] == expected[key], key
    from safetensors.numpy import load_file

    a, b = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_graph_option_writes_the_graph_and_claims_only_what_exists(tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--device", "cpu", "--epochs", "1", "--graph",
                 "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    graph = out / "graph.svg" if (out / "graph.svg").exists() else out / "graph.dot"
    assert f"wrote {graph}" in printed and "Linear" in graph.read_text()
    assert ".png" not in printed and not list(out.glob("*.png"))


def test_resume_keeps_the_number_of_ranks(tmp_path, capsys):
    (tmp_path / "interrupted.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps({"nproc": 2}))
    assert main(["train", "--resume", str(tmp_path), "--nproc", "3"]) == 2
    assert "give --nproc 2 or drop it" in capsys.readouterr().err
