"""Progress: a bar only on a terminal, one line per epoch otherwise; missing extras said once."""

import io
import sys

import pytest
from test_callbacks import _fit, _problem

from gradflow import extras
from gradflow.train import History, plot_history


def test_no_bar_off_a_terminal_one_line_per_epoch(capsys):
    model, loader, opt = _problem()
    lines = []
    _fit(model, loader, opt, 3, [], log=lines.append)
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3: train loss")
    assert "\r" not in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    model, loader, opt = _problem()
    _fit(model, loader, opt, 1, [])
    assert "epoch 1/1" in terminal.getvalue() and "\r" in terminal.getvalue()


def test_missing_extras_are_said_once_naming_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(extras, "_said", set())
    monkeypatch.setattr(sys, "stderr", _Terminal())
    model, loader, opt = _problem()
    history = _fit(model, loader, opt, 2, [], out_dir=tmp_path, plots=True)
    assert history.plots == [] and not list(tmp_path.glob("*.png"))
    err = sys.stderr.getvalue()
    assert err.count("tqdm is not installed") == 1 and "'examples' extra" in err
    assert err.count("matplotlib is not installed, so no plots are written") == 1
    assert plot_history(History(), tmp_path) == []
    assert sys.stderr.getvalue().count("matplotlib") == 1
