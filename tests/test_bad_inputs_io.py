"""Bad input to persistence, optimizer/scheduler state and data: typed errors, nothing changed.

The style of tests/test_bad_inputs.py: each case asserts the error type, the built-in it
subclasses, the phrases of its message and, where there is state, that nothing changed.
"""

from __future__ import annotations

import copy
import json
import os
import struct

import numpy as np
import pytest
from test_bad_inputs import _assert_same_optimizer, _optimizer_values  # shared snapshots

import gradflow as gf
from gradflow import nn
from gradflow.checkpoint import load_checkpoint, save_checkpoint
from gradflow.data import DataLoader, Digits, TensorDataset
from gradflow.errors import (
    CheckpointError,
    ConfigError,
    GradflowError,
    IndexingError,
    StateDictError,
)


def check(call, error, builtin, *phrases, gradflow_error: bool = True):
    """Run `call`; assert it raises `error`, also a `builtin`, with every phrase in the message."""
    with pytest.raises(error) as info:
        call()
    exc = info.value
    if gradflow_error:
        assert isinstance(exc, GradflowError), f"{type(exc).__name__} is not a gradflow error"
    assert isinstance(exc, builtin), f"{type(exc).__name__} is not a {builtin.__name__}"
    for phrase in phrases:
        assert phrase in str(exc), f"{phrase!r} not in the message {str(exc)!r}"
    return exc


def _model():
    gf.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def _trained():
    model = _model()
    optimizer = gf.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(gf.randn(5, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


def _values(model) -> dict:
    return {key: value.numpy().copy() for key, value in model.state_dict().items()}


# -- optimizer.load_state_dict and scheduler.load_state_dict ---------------------------------

def _edit_state(edit):
    def make(sd):
        sd = copy.deepcopy(sd)
        edit(sd)
        return sd
    return make


def _set_step(value):
    def edit(sd):
        for entries in sd["state"].values():
            entries["step"] = value
    return edit


OPTIMIZER_STATES = [
    pytest.param(_edit_state(lambda sd: sd["param_groups"].__setitem__(0, None)),
                 ["['param_groups'][0]", "NoneType"], id="none-group"),
    pytest.param(_edit_state(lambda sd: sd.__setitem__("state", list(sd["state"].values()))),
                 ["['state']", "list"], id="state-is-a-list"),
    pytest.param(_edit_state(_set_step("abc")), ["['step']", "'abc'"], id="step-str"),
    pytest.param(_edit_state(_set_step(float("nan"))), ["['step']", "nan"], id="step-nan"),
    pytest.param(_edit_state(_set_step(-3)), ["['step']", "-3"], id="step-negative"),
    pytest.param(_edit_state(lambda sd: sd["param_groups"][0].__setitem__("params", ["a"])),
                 ["['params']"], id="params-str"),
    pytest.param(_edit_state(lambda sd: sd["param_groups"][0].__setitem__("lr", float("nan"))),
                 ["lr", "nan"], id="lr-nan"),
    pytest.param(lambda sd: None, ["expected a dict"], id="none"),
    pytest.param(lambda sd: {"state": {}}, ["'param_groups'"], id="no-groups"),
]


@pytest.mark.parametrize("make, phrases", OPTIMIZER_STATES)
def test_optimizer_load_state_dict_with_malformed_state_changes_nothing(make, phrases):
    _, optimizer = _trained()
    for entries in optimizer.state.values():
        entries["step"] = 1  # SGD keeps no step; give the malformed-step cases one to edit
    sd = make(optimizer.state_dict())
    before = _optimizer_values(optimizer)
    check(lambda: optimizer.load_state_dict(sd), StateDictError, RuntimeError, "SGD",
          *phrases)
    _assert_same_optimizer(before, _optimizer_values(optimizer))


SCHEDULER_STATES = [
    pytest.param({"last_epoch": "x"}, ["['last_epoch']", "'x'"], id="last-epoch-str"),
    pytest.param({"last_epoch": 2.5}, ["['last_epoch']", "an int"], id="last-epoch-float"),
    pytest.param({"last_epoch": -7}, ["['last_epoch']", "-7"], id="last-epoch-negative"),
    pytest.param({"gamma": None}, ["['gamma']", "None"], id="gamma-none"),
    pytest.param({"base_lrs": [0.1, 0.2]}, ["['base_lrs']", "list of 1"], id="base-lrs-count"),
    pytest.param({"T_max": 3}, ["unknown", "T_max"], id="unknown-key"),
    pytest.param([1], ["expected a dict"], id="list"),
]


@pytest.mark.parametrize("state, phrases", SCHEDULER_STATES)
def test_scheduler_load_state_dict_with_malformed_state_changes_nothing(state, phrases):
    _, optimizer = _trained()
    scheduler = gf.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    scheduler.step()
    before = copy.deepcopy(scheduler.state_dict())
    check(lambda: scheduler.load_state_dict(state), StateDictError, RuntimeError, "StepLR",
          *phrases)
    assert scheduler.state_dict() == before


# -- safetensors headers that are hostile ----------------------------------------------------

def _raw_file(path, header: dict, data: bytes = b"") -> None:
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)


def _nested(depth: int) -> dict:
    header = {"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    header["__metadata__"] = {"deep": "1"}
    text = json.dumps(header)
    return text[:-1] + ', "z": ' + "[" * depth + "]" * depth + "}"


HEADERS = [
    pytest.param({"x": {"dtype": "F32", "shape": [2 ** 70], "data_offsets": [0, 4]}},
                 ["'x'", "4722366482869645213696"], id="dimension-2**70"),
    pytest.param({"x": {"dtype": "F32", "shape": [1] * 100, "data_offsets": [0, 4]}},
                 ["'x'", "100 dimensions"], id="100-dimensions"),
    pytest.param({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
                 ["'x'", "non-negative"], id="negative-dimension"),
    pytest.param({"x": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}},
                 ["'x'", "non-negative ints"], id="float-dimension"),
]


@pytest.mark.parametrize("header, phrases", HEADERS)
def test_hostile_header_is_a_checkpoint_error(tmp_path, header, phrases):
    path = tmp_path / "hostile.safetensors"
    _raw_file(path, header, bytes(4))
    check(lambda: gf.load(path), CheckpointError, ValueError, str(path), *phrases)
    model, optimizer = _trained()
    before = _values(model), _optimizer_values(optimizer)
    check(lambda: load_checkpoint(path, model, optimizer), CheckpointError, ValueError, str(path))
    np.testing.assert_equal(_values(model), before[0])
    _assert_same_optimizer(before[1], _optimizer_values(optimizer))


@pytest.mark.parametrize("depth", [40, 5000, 200_000])
def test_deeply_nested_header_json_is_a_checkpoint_error(tmp_path, depth):
    path = tmp_path / "deep.safetensors"
    encoded = _nested(depth).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(4))
    check(lambda: gf.load(path), CheckpointError, ValueError, str(path),
          "not a valid safetensors file")


# -- gf.save / gf.load called wrongly ---------------------------------------------------------

def test_save_to_a_directory_names_it_not_a_temporary_file(tmp_path):
    exc = check(lambda: gf.save({"a": gf.ones(1)}, tmp_path), CheckpointError, ValueError,
                str(tmp_path), "is a directory")
    assert ".tmp" not in str(exc)
    assert os.listdir(tmp_path) == []


def test_save_to_a_missing_folder_names_the_folder(tmp_path):
    target = tmp_path / "nowhere" / "model.safetensors"
    exc = check(lambda: gf.save({"a": gf.ones(1)}, target), CheckpointError, ValueError,
                str(target), str(target.parent), "does not exist")
    assert ".tmp" not in str(exc)
    check(lambda: save_checkpoint(target, _model()), CheckpointError, ValueError,
          str(target.parent))


def test_save_under_a_file_names_it(tmp_path):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "model.safetensors"
    check(lambda: gf.save({"a": gf.ones(1)}, target), CheckpointError, ValueError,
          str(target.parent), "is not a directory")


WRONG_CALLS = [
    pytest.param(lambda p: gf.save(_model(), p), ["Sequential", "gf.save(model.state_dict(), "
                                                   "path)", "model.load_state_dict(gf.load(path))"],
                 id="save-module"),
    pytest.param(lambda p: gf.save(p, _model()), ["takes the object first",
                                                   "save_checkpoint(path, model"],
                 id="save-path-first"),
    pytest.param(lambda p: gf.save(_trained()[1], p), ["SGD", "obj.state_dict()"],
                 id="save-optimizer"),
    pytest.param(lambda p: gf.save({"fn": print}, p), ["['fn']", "builtin_function_or_method",
                                                      "pickle"], id="save-function"),
    pytest.param(lambda p: gf.save({"m": {(1, 2): 3}}, p), ["['m']", "(1, 2)"],
                 id="save-tuple-key"),
    pytest.param(lambda p: gf.save({"a": 1}, 3), ["path or a binary file"], id="save-to-int"),
    pytest.param(lambda p: gf.load(p, _model()), ["load_checkpoint(path, model",
                                                  "model.load_state_dict(gf.load(path))"],
                 id="load-into-model"),
]


@pytest.mark.parametrize("call, phrases", WRONG_CALLS)
def test_wrong_save_and_load_calls_show_the_right_call(tmp_path, call, phrases):
    path = tmp_path / "m.safetensors"
    check(lambda: call(path), TypeError, TypeError, *phrases, gradflow_error=False)
    assert not path.exists()


# -- data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fraction", [-0.5, 1.0, 2.0])
def test_digits_test_fraction_out_of_range(fraction):
    check(lambda: Digits(test_fraction=fraction), ConfigError, ValueError, "test_fraction",
          repr(fraction), "[0, 1)")


@pytest.mark.parametrize("sampler, error, builtin, phrases", [
    pytest.param([0.5, 1], ConfigError, ValueError, ["sampler item 0", "0.5", "not an integer"],
                 id="float-index"),
    pytest.param([0, "1"], ConfigError, ValueError, ["sampler item 1", "'1'"], id="str-index"),
    pytest.param([0, 9], IndexingError, IndexError, ["sampler item 1", "9", "4 samples"],
                 id="out-of-range"),
])
def test_dataloader_sampler_of_non_indices(sampler, error, builtin, phrases):
    dataset = TensorDataset(gf.arange(4))
    check(lambda: DataLoader(dataset, sampler=sampler), error, builtin, "DataLoader", *phrases)
    loader = DataLoader(dataset, sampler=iter_again(sampler))  # found when iterated
    check(lambda: list(loader), error, builtin, *phrases)


class iter_again:  # noqa: N801 - a sampler that is not a list, checked when iterated
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)
