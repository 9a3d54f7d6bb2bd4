"""gf.save / gf.load: exact round trips, exact resumption, failed loads that change nothing.

Training here draws from gradflow's default generator twice per step (the mini-batch
indices and the dropout mask), so resuming exactly needs the model, the optimizer's
state, the scheduler and the generator, all four.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import gradflow as gf
import gradflow.nn.functional as F
from gradflow import nn
from gradflow.checkpoint import load_checkpoint, save_checkpoint
from gradflow.errors import CheckpointError, StateDictError
from gradflow.io import read_safetensors, write_safetensors

DEVICES = ["cpu", "strict", "strict:device1"]


def _sgd(params):
    return gf.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)


def _adam(params):
    return gf.optim.Adam(params, lr=1e-2, weight_decay=1e-4)


def _step_lr(optimizer):
    return gf.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.7)


def _cosine(optimizer):
    return gf.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=20)


SETUPS = [
    pytest.param(_sgd, _step_lr, id="sgd-momentum+steplr"),
    pytest.param(_adam, _cosine, id="adam+cosine"),
]


def build(device: str, seed: int, make_optimizer, make_scheduler):
    """A float64 classifier with dropout, its optimizer and its scheduler, built from `seed`."""
    gf.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.25), nn.Linear(16, 3))
    model.to(device).to(gf.float64)
    optimizer = make_optimizer(model.parameters())
    return model, optimizer, make_scheduler(optimizer)


def data(device: str):
    generator = gf.Generator(2024)
    x = gf.randn(64, 6, generator=generator, dtype=gf.float64, device=device)
    y = gf.randint(0, 3, (64,), generator=generator, device=device)
    return x, y


def train(model, optimizer, scheduler, x, y, steps: int) -> list[float]:
    """`steps` updates on random mini-batches; returns the losses (Python floats)."""
    losses = []
    model.train()
    for _ in range(steps):
        index = gf.randint(0, x.shape[0], (16,), device=x.device)
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def model_values(model) -> dict:
    return {key: value.numpy().copy() for key, value in model.state_dict().items()}


def optimizer_values(optimizer) -> tuple:
    sd = optimizer.state_dict()
    state = {(index, key): (value.numpy().copy() if isinstance(value, gf.Tensor) else value)
             for index, entries in sd["state"].items() for key, value in entries.items()}
    groups = [dict(group) for group in sd["param_groups"]]
    return state, groups


def assert_identical(a: dict, b: dict) -> None:
    """Same keys, and every array equal bit for bit (dtype included)."""
    assert a.keys() == b.keys()
    for key, value in a.items():
        other = b[key]
        if isinstance(value, np.ndarray):
            assert other.dtype == value.dtype, key
            assert np.array_equal(other.view(np.uint8), value.view(np.uint8)), key
        else:
            assert other == value, key


def snapshot(model, optimizer, scheduler) -> tuple:
    state, groups = optimizer_values(optimizer)
    return (model_values(model), state, groups, dict(scheduler.state_dict()),
            gf.get_rng_state())


def assert_same_snapshot(before: tuple, after: tuple) -> None:
    assert_identical(before[0], after[0])
    assert_identical(before[1], after[1])
    assert before[2] == after[2]
    assert before[3] == after[3]
    assert before[4] == after[4]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make_optimizer, make_scheduler", SETUPS)
def test_round_trip_restores_every_part_exactly(tmp_path, device, make_optimizer,
                                                make_scheduler):
    x, y = data(device)
    model, optimizer, scheduler = build(device, 0, make_optimizer, make_scheduler)
    train(model, optimizer, scheduler, x, y, 3)
    saved = snapshot(model, optimizer, scheduler)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, optimizer, scheduler, extra={"epoch": 3, "note": "café"})
    assert_same_snapshot(saved, snapshot(model, optimizer, scheduler))  # saving changes nothing

    fresh = build(device, 99, make_optimizer, make_scheduler)
    gf.manual_seed(7)
    extra = load_checkpoint(path, *fresh)
    assert extra == {"epoch": 3, "note": "café"}
    assert_same_snapshot(saved, snapshot(*fresh))
    for param in fresh[0].parameters():
        assert param.device == gf.backends.get_backend(device).name
        assert param.dtype is gf.float64
    for entries in fresh[1].state.values():
        for value in entries.values():
            if isinstance(value, gf.Tensor):
                assert value.device == param.device and value.dtype is gf.float64


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make_optimizer, make_scheduler", SETUPS)
def test_resumed_training_continues_exactly_as_if_never_stopped(tmp_path, device,
                                                                make_optimizer, make_scheduler):
    x, y = data(device)
    first, more = 5, 7

    straight = build(device, 0, make_optimizer, make_scheduler)
    never_stopped = train(*straight, x, y, first + more)

    model, optimizer, scheduler = build(device, 0, make_optimizer, make_scheduler)
    before = train(model, optimizer, scheduler, x, y, first)
    path = tmp_path / "resume.safetensors"
    save_checkpoint(path, model, optimizer, scheduler, extra={"step": first})
    continued = train(model, optimizer, scheduler, x, y, more)
    assert before + continued == never_stopped  # saving is invisible to the run

    resumed_objects = build(device, 1234, make_optimizer, make_scheduler)  # other weights
    gf.manual_seed(555)  # and another generator state, both overwritten by the load
    assert load_checkpoint(path, *resumed_objects) == {"step": first}
    resumed = train(*resumed_objects, x, y, more)

    assert resumed == continued  # bit for bit: Python floats compare exactly
    assert_identical(model_values(model), model_values(resumed_objects[0]))
    assert_identical(optimizer_values(optimizer)[0], optimizer_values(resumed_objects[1])[0])
    assert scheduler.get_last_lr() == resumed_objects[2].get_last_lr()


def test_a_checkpoint_moves_between_devices(tmp_path):
    x_cpu, y_cpu = data("cpu")
    model, optimizer, scheduler = build("cpu", 0, _adam, _cosine)
    train(model, optimizer, scheduler, x_cpu, y_cpu, 4)
    path = tmp_path / "cpu.safetensors"
    save_checkpoint(path, model, optimizer, scheduler)
    on_cpu = train(model, optimizer, scheduler, x_cpu, y_cpu, 3)

    other = build("strict:device1", 9, _adam, _cosine)
    load_checkpoint(path, *other)
    x, y = data("strict:device1")
    on_strict = train(*other, x, y, 3)
    # NOTE: strict and NumPy share kernels for these ops, so even across devices the
    # continuation is the same to the last bit.
    assert on_strict == on_cpu


@pytest.mark.parametrize("device", ["cpu", "strict"])
def test_failed_load_of_another_architecture_changes_nothing(tmp_path, device):
    x, y = data(device)
    objects = build(device, 0, _sgd, _step_lr)
    train(*objects, x, y, 2)

    gf.manual_seed(4)
    wider = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Dropout(0.25), nn.Linear(32, 3))
    wider.to(device).to(gf.float64)
    wider_optimizer = _sgd(wider.parameters())
    path = tmp_path / "wider.safetensors"
    save_checkpoint(path, wider, wider_optimizer, _step_lr(wider_optimizer))

    before = snapshot(*objects)
    with pytest.raises(StateDictError, match="shape") as info:
        load_checkpoint(path, *objects)
    assert str(path) in str(info.value)
    assert_same_snapshot(before, snapshot(*objects))


def test_failed_load_of_the_scheduler_puts_back_model_and_optimizer(tmp_path):
    # The model and the optimizer load; the scheduler's saved state (a StepLR's) does not
    # fit the CosineAnnealingLR given. What was already restored must be put back.
    x, y = data("cpu")
    source = build("cpu", 0, _adam, _step_lr)
    train(*source, x, y, 3)
    path = tmp_path / "steplr.safetensors"
    save_checkpoint(path, *source)

    target = build("cpu", 8, _adam, _cosine)
    train(*target, x, y, 2)
    before = snapshot(*target)
    with pytest.raises(StateDictError, match="CosineAnnealingLR"):
        load_checkpoint(path, *target)
    assert_same_snapshot(before, snapshot(*target))
    assert train(*target, x, y, 1)  # still usable


def test_malformed_generator_state_is_named_and_changes_nothing(tmp_path):
    # A checkpoint without a digest (as an older writer or another tool leaves it) whose
    # generator state is of another algorithm: found before anything is touched.
    x, y = data("cpu")
    source = build("cpu", 0, _adam, _cosine)
    train(*source, x, y, 3)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, *source)
    _edit_tree(path, lambda tree: tree.update(
        generator={"algorithm": "mt19937", "seed": 1, "offset": 0}))

    target = build("cpu", 8, _adam, _cosine)
    train(*target, x, y, 2)
    before = snapshot(*target)
    with pytest.raises(CheckpointError, match="'generator'.*mt19937") as info:
        load_checkpoint(path, *target)
    assert str(path) in str(info.value)
    assert_same_snapshot(before, snapshot(*target))


def _edit_tree(path, edit) -> None:
    """Change the saved structure in place and drop the digest (an edited, undigested file)."""
    arrays, metadata = read_safetensors(path)
    tree = json.loads(metadata["gradflow.tree"])
    edit(tree)
    metadata = {"gradflow.tree": json.dumps(tree)}
    write_safetensors(path, arrays, metadata)


class _Boom(Exception):
    pass


@pytest.mark.parametrize("failure", [_Boom, AttributeError, KeyboardInterrupt])
def test_any_exception_while_restoring_puts_every_part_back(tmp_path, monkeypatch, failure):
    # the model and optimizer load, then the scheduler raises something unforeseen
    x, y = data("cpu")
    source = build("cpu", 0, _adam, _cosine)
    train(*source, x, y, 3)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, *source)
    target = build("cpu", 8, _adam, _cosine)
    train(*target, x, y, 2)
    gf.manual_seed(31)
    before = snapshot(*target)

    def explode(state):
        raise failure("simulated")

    monkeypatch.setattr(target[2], "load_state_dict", explode)
    expected = KeyboardInterrupt if failure is KeyboardInterrupt else CheckpointError
    with pytest.raises(expected) as info:
        load_checkpoint(path, *target)
    if expected is CheckpointError:
        assert str(path) in str(info.value) and "nothing was changed" in str(info.value)
    monkeypatch.undo()
    assert_same_snapshot(before, snapshot(*target))
    assert train(*target, x, y, 1)  # still usable


MALFORMED = [
    pytest.param(lambda t: t["optimizer"]["param_groups"].__setitem__(0, None),
                 "'optimizer'['param_groups'][0]", id="none-group"),
    pytest.param(lambda t: t["optimizer"].__setitem__(
        "state", [value for _, value in t["optimizer"]["state"]["__dict__"]]),
        "'optimizer'['state']", id="state-list"),
    pytest.param(lambda t: _first_state(t).__setitem__("step", "abc"), "['step']",
                 id="step-str"),
    pytest.param(lambda t: _first_state(t).__setitem__("step", {"__float__": "nan"}),
                 "['step']", id="step-nan"),
    pytest.param(lambda t: _first_state(t).__setitem__("step", -3), "['step']",
                 id="step-negative"),
    pytest.param(lambda t: t["optimizer"]["param_groups"][0].__setitem__("lr", "fast"),
                 "lr", id="lr-str"),
    pytest.param(lambda t: t["scheduler"].__setitem__("last_epoch", "x"),
                 "'scheduler'['last_epoch']", id="last-epoch-str"),
    pytest.param(lambda t: t.__setitem__("surprise", 1), "'surprise'", id="unknown-part"),
    pytest.param(lambda t: t["model"].__setitem__("0.weight", 3), "'model/0.weight'",
                 id="model-number"),
]


def _first_state(tree):
    entries = tree["optimizer"]["state"]
    return entries["__dict__"][0][1] if "__dict__" in entries else next(iter(entries.values()))


@pytest.mark.parametrize("edit, field", MALFORMED)
def test_malformed_checkpoint_is_a_checkpoint_error_naming_file_and_field(tmp_path, edit,
                                                                          field):
    x, y = data("cpu")
    source = build("cpu", 0, _adam, _cosine)
    train(*source, x, y, 2)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, *source)
    _edit_tree(path, edit)
    target = build("cpu", 8, _adam, _cosine)
    gf.manual_seed(5)
    before = snapshot(*target)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, *target)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value) and field in str(info.value)
    assert_same_snapshot(before, snapshot(*target))


def test_failed_load_of_a_damaged_file_changes_nothing(tmp_path):
    x, y = data("cpu")
    objects = build("cpu", 0, _adam, _cosine)
    train(*objects, x, y, 2)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, *objects)
    damaged = bytearray(path.read_bytes())
    damaged[-5] ^= 0x10  # one bit of one tensor
    path.write_bytes(bytes(damaged))
    train(*objects, x, y, 1)

    before = snapshot(*objects)
    with pytest.raises(CheckpointError, match="SHA-256") as info:
        load_checkpoint(path, *objects)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)
    assert_same_snapshot(before, snapshot(*objects))


def test_loading_without_the_generator_leaves_it_alone(tmp_path):
    objects = build("cpu", 0, _sgd, _step_lr)
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, *objects)
    fresh = build("cpu", 1, _sgd, _step_lr)
    gf.manual_seed(77)
    state = gf.get_rng_state()
    load_checkpoint(path, *fresh, restore_generator=False)
    assert gf.get_rng_state() == state


def test_none_param_group_with_a_valid_digest_changes_nothing(tmp_path):
    # issue 12, item 4: this file once overwrote the weights, then raised AttributeError
    x, y = data("cpu")
    source = build("cpu", 0, _sgd, _step_lr)
    train(*source, x, y, 2)
    path = tmp_path / "crafted.safetensors"
    crafted = source[1].state_dict()
    crafted["param_groups"] = [None]
    gf.save({"model": source[0].state_dict(), "optimizer": crafted,
             "scheduler": source[2].state_dict(), "extra": {}}, path)  # digest is valid
    target = build("cpu", 5, _sgd, _step_lr)
    before = snapshot(*target)
    with pytest.raises(CheckpointError, match=r"'optimizer'\['param_groups'\]\[0\]") as info:
        load_checkpoint(path, *target)
    assert str(path) in str(info.value) and "NoneType" in str(info.value)
    assert_same_snapshot(before, snapshot(*target))


def test_checkpoint_of_the_first_format_still_loads(tmp_path):
    # gf.save(path, model, optimizer, scheduler) once wrote this layout: keep reading it
    x, y = data("cpu")
    source = build("cpu", 0, _adam, _cosine)
    train(*source, x, y, 3)
    model, optimizer, scheduler = source
    arrays = {f"model/{k}": v.numpy() for k, v in model.state_dict().items()}
    sd = optimizer.state_dict()
    scalars = {}
    for index, entries in sd["state"].items():
        for key, value in entries.items():
            if isinstance(value, gf.Tensor):
                arrays[f"optimizer/{index}/{key}"] = value.numpy()
            else:
                scalars.setdefault(str(index), {})[key] = value
    metadata = {"optimizer": json.dumps({"param_groups": sd["param_groups"],
                                         "scalars": scalars}),
                "scheduler": json.dumps(scheduler.state_dict()),
                "generator": json.dumps(gf.get_rng_state()), "extra": json.dumps({"epoch": 3})}
    from gradflow.checkpoint import _DIGEST, _digest

    metadata[_DIGEST] = _digest(arrays, metadata)
    path = tmp_path / "old.safetensors"
    write_safetensors(path, arrays, metadata)
    saved = snapshot(*source)
    fresh = build("cpu", 9, _adam, _cosine)
    assert load_checkpoint(path, *fresh) == {"epoch": 3}
    assert_same_snapshot(saved, snapshot(*fresh))
