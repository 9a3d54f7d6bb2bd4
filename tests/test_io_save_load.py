"""gf.save(obj, f) / gf.load(f) as PyTorch users write them: state dicts and nested state."""

from __future__ import annotations

import io
import json
import math
import os
import stat

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.checkpoint import TREE, load_checkpoint, save_checkpoint
from gradflow.errors import CheckpointError
from gradflow.io import read_safetensors, write_safetensors


def _model():
    gf.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _trained():
    model = _model()
    optimizer = gf.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    model(gf.randn(5, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


def _same(a: gf.Tensor, b: gf.Tensor) -> None:
    assert a.dtype is b.dtype and a.shape == b.shape and a.device == b.device
    assert np.array_equal(a.numpy(), b.numpy(), equal_nan=True)


def test_state_dict_round_trip_keeps_its_keys_as_written(tmp_path):
    model = _model()
    path = tmp_path / "model.safetensors"
    gf.save(model.state_dict(), path)
    loaded = gf.load(path)
    assert list(loaded) == list(model.state_dict())
    for key, value in model.state_dict().items():
        _same(loaded[key], value)
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    other.load_state_dict(gf.load(path))
    for key, value in model.state_dict().items():
        _same(other.state_dict()[key], value)
    # another reader of safetensors sees a plain state dict under the same keys
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    assert sorted(safetensors_numpy.load_file(str(path))) == sorted(model.state_dict())


def test_the_training_state_as_pytorch_users_write_it(tmp_path):
    model, optimizer = _trained()
    path = tmp_path / "ckpt.safetensors"
    obj = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
           "rng": gf.get_rng_state(), "best": float("nan"), "note": "café",
           "history": [1.5, float("inf"), None, True], "shape": (2, 3), 7: "int key"}
    gf.save(obj, path)
    loaded = gf.load(path)
    assert loaded.keys() == obj.keys()
    assert loaded["epoch"] == 3 and loaded["rng"] == obj["rng"] and loaded["note"] == "café"
    assert math.isnan(loaded["best"]) and loaded["history"][1:] == [float("inf"), None, True]
    assert loaded["shape"] == (2, 3) and loaded[7] == "int key"
    saved_opt = obj["optimizer"]
    assert loaded["optimizer"]["param_groups"] == saved_opt["param_groups"]
    assert loaded["optimizer"]["state"].keys() == saved_opt["state"].keys()  # int keys
    for index, entries in saved_opt["state"].items():
        for key, value in entries.items():
            mine = loaded["optimizer"]["state"][index][key]
            _same(mine, value) if isinstance(value, gf.Tensor) else (mine == value)
    fresh_model, fresh_opt = _model(), gf.optim.Adam(_model().parameters(), lr=0.5)
    fresh_opt = gf.optim.Adam(fresh_model.parameters(), lr=0.5)
    fresh_model.load_state_dict(loaded["model"])
    fresh_opt.load_state_dict(loaded["optimizer"])
    assert fresh_opt.param_groups[0]["betas"] == (0.8, 0.9)
    gf.set_rng_state(loaded["rng"])


@pytest.mark.parametrize("device", ["cpu", "strict:device1"])
def test_tensors_keep_dtype_device_and_requires_grad(tmp_path, device):
    obj = {"w": gf.randn(2, 3, device=device, dtype=gf.float64, requires_grad=True),
           "i": gf.arange(4, device=device), "b": gf.tensor([True, False], device=device),
           "h": gf.ones(2, dtype=gf.float16 if device == "cpu" else gf.int8, device=device),
           "s": gf.tensor(2.5)}
    gf.save(obj, tmp_path / "t.safetensors")
    loaded = gf.load(tmp_path / "t.safetensors")
    for key, value in obj.items():
        _same(loaded[key], value)
    assert loaded["w"].requires_grad and not loaded["i"].requires_grad
    on_cpu = gf.load(tmp_path / "t.safetensors", map_location="cpu")
    assert {t.device for t in on_cpu.values()} == {"cpu"}


def test_one_tensor_twice_is_stored_once(tmp_path):
    t = gf.arange(3)
    gf.save({"a": t, "b": [t]}, tmp_path / "t.safetensors")
    arrays, _ = read_safetensors(tmp_path / "t.safetensors")
    assert list(arrays) == ["a"]
    loaded = gf.load(tmp_path / "t.safetensors")
    assert loaded["a"] is loaded["b"][0]


def test_file_objects(tmp_path):
    buffer = io.BytesIO()
    gf.save({"x": gf.arange(3), "n": 1}, buffer)
    buffer.seek(0)
    loaded = gf.load(buffer)
    assert loaded["x"].tolist() == [0, 1, 2] and loaded["n"] == 1


def test_bfloat16_round_trips_as_bfloat16(tmp_path):
    pytest.importorskip("ml_dtypes")
    try:
        x = gf.tensor([1.0, -2.5, 3.0]).to(gf.bfloat16)
    except Exception as exc:  # NOTE: bfloat16 on the CPU comes with another slice's change
        pytest.skip(f"bfloat16 tensors are not available on the CPU here: {exc}")
    gf.save({"x": x}, tmp_path / "bf16.safetensors")
    assert b'"dtype":"BF16"' in (tmp_path / "bf16.safetensors").read_bytes()
    loaded = gf.load(tmp_path / "bf16.safetensors")["x"]
    assert loaded.dtype is gf.bfloat16
    assert loaded.to(gf.float32).tolist() == [1.0, -2.5, 3.0]


def test_a_safetensors_file_pytorch_wrote_loads_into_a_model(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    path = tmp_path / "pytorch_model.safetensors"
    safetensors_torch.save_file(theirs.state_dict(), str(path))
    model = _model()
    model.load_state_dict(gf.load(path))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model(gf.tensor(x)).numpy(), expected, rtol=1e-6, atol=1e-6)
    # and the other way: what gf.save writes, PyTorch's safetensors loader reads
    gf.save(model.state_dict(), tmp_path / "ours.safetensors")
    back = safetensors_torch.load_file(str(tmp_path / "ours.safetensors"))
    theirs.load_state_dict(back)


def test_foreign_file_keys_as_written(tmp_path):
    path = tmp_path / "foreign.safetensors"
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    safetensors_numpy.save_file({"encoder.layer.0/w": np.ones((2, 2), np.float32),
                                 "z": np.arange(3)}, str(path))
    loaded = gf.load(path)
    assert sorted(loaded) == ["encoder.layer.0/w", "z"]
    assert loaded["z"].tolist() == [0, 1, 2] and loaded["z"].dtype is gf.int64


def test_flipped_tensor_byte_is_caught_by_the_digest(tmp_path):
    path = tmp_path / "m.safetensors"
    gf.save(_model().state_dict(), path)
    damaged = bytearray(path.read_bytes())
    damaged[-2] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match="SHA-256"):
        gf.load(path)


@pytest.mark.parametrize("tree, phrase", [
    ({"x": {"__tensor__": "missing"}}, "'missing'"),
    ({"x": {"__tensor__": "x", "colour": 1}}, "colour"),
    ({"x": {"__tensor__": "x"}, "y": {"__float__": "many"}}, "__float__"),
    ({"x": {"__tensor__": "x"}, "y": {"__dict__": [[1]]}}, "[key, value]"),
    ({"x": {"__tensor__": "x"}, "y": {"__tuple__": 3}}, "list"),
    ({"x": {"__tensor__": "x", "device": "cdua"}}, "cdua"),
    ({}, "not referenced"),
], ids=["dangling", "extra-key", "bad-float", "bad-pair", "bad-tuple", "bad-device",
        "unreferenced"])
def test_malformed_structure_names_file_and_field(tmp_path, tree, phrase):
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"x": np.zeros(2, np.float32)}, {TREE: json.dumps(tree)})
    with pytest.raises(CheckpointError) as info:
        gf.load(path)
    assert str(path) in str(info.value) and phrase in str(info.value)


def test_writes_keep_permissions_of_the_file_they_replace(tmp_path):
    path = tmp_path / "m.safetensors"
    gf.save({"a": gf.ones(1)}, path)
    os.chmod(path, 0o640)
    gf.save({"a": gf.zeros(1)}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert gf.load(path)["a"].tolist() == [0.0]
    save_checkpoint(path, _model())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_writes_go_through_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.safetensors"
    gf.save({"a": gf.ones(1)}, target)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    gf.save({"a": gf.full((1,), 7.0)}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert gf.load(target)["a"].tolist() == [7.0]
    assert sorted(os.listdir(tmp_path / "real")) == ["model.safetensors"]


def test_save_checkpoint_is_readable_with_gf_load(tmp_path):
    model, optimizer = _trained()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, optimizer, extra={"epoch": 2, "loss": gf.tensor(0.5)})
    loaded = gf.load(path)
    assert set(loaded) == {"model", "optimizer", "generator", "extra"}
    assert loaded["extra"]["epoch"] == 2 and loaded["extra"]["loss"].item() == 0.5
    fresh = _model()
    extra = load_checkpoint(path, fresh, restore_generator=False)
    assert extra["epoch"] == 2
