"""Tensor creation, conversion, devices, dtypes, random streams and bad input."""

import numpy as np
import pytest

import gradflow as gf
from gradflow.errors import (
    BackendUnavailableError,
    DeviceMismatchError,
    DTypeError,
    ShapeError,
)
from gradflow.testing import assert_close


def test_tensor_defaults_follow_pytorch(device):
    assert gf.tensor([1.0, 2.0], device=device).dtype is gf.float32
    assert gf.tensor([1, 2], device=device).dtype is gf.int64
    assert gf.tensor([True], device=device).dtype is gf.bool
    if gf.float64 in gf.backends.get_backend(device).to_xp:  # not on strict:no_float64
        assert gf.tensor(np.zeros(2, dtype=np.float64), device=device).dtype is gf.float64
    t = gf.tensor([[1.0, 2.0]], device=device, requires_grad=True)
    assert t.shape == (1, 2) and t.ndim == 2 and t.is_leaf and t.requires_grad
    assert t.device == gf.backends.get_backend(device).name


def test_creation_functions(device):
    assert gf.zeros(2, 3, device=device).tolist() == [[0.0] * 3] * 2
    assert gf.ones((2,), device=device).tolist() == [1.0, 1.0]
    assert gf.full((2,), 7, device=device).tolist() == [7, 7]
    assert gf.arange(5, device=device).tolist() == [0, 1, 2, 3, 4]
    assert gf.arange(0.0, 1.0, 0.5, device=device).tolist() == [0.0, 0.5]
    assert_close(gf.linspace(0, 1, 5, device=device), np.linspace(0, 1, 5).astype(np.float32))
    assert gf.eye(2, device=device).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    x = gf.ones(2, 2, device=device)
    assert gf.zeros_like(x).tolist() == [[0.0, 0.0]] * 2
    assert gf.full_like(x, 3.0).tolist() == [[3.0, 3.0]] * 2
    assert gf.ones_like(x, dtype=gf.int64).dtype is gf.int64


def test_numpy_item_tolist_clone_detach(device):
    x = gf.tensor([[1.5, 2.5]], device=device, requires_grad=True)
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().tolist() == [[1.5, 2.5]]
    assert x[0, 1].item() == 2.5
    y = x.clone()
    assert y.requires_grad and not y.is_leaf
    d = x.detach()
    assert not d.requires_grad and d.is_leaf


def test_to_moves_between_devices_and_dtypes():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("strict:device1")
    assert y.device == "strict:device1"
    z = (y * 2.0).to("cpu").to(gf.float64)
    assert z.dtype is gf.float64
    z.sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 2.0]
    assert x.to("cpu") is x


def test_mixed_devices_raise_naming_both():
    a = gf.ones(2)
    b = gf.ones(2, device="strict:device1")
    with pytest.raises(DeviceMismatchError, match="cpu and strict:device1"):
        a + b
    with pytest.raises(DeviceMismatchError):
        a @ b


def test_non_broadcasting_shapes_raise_shape_error():
    with pytest.raises(ShapeError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        gf.ones(2, 3) + gf.ones(4)
    with pytest.raises(ShapeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        gf.ones(2, 3) @ gf.ones(4, 5)
    with pytest.raises(ShapeError, match="reshape"):
        gf.ones(2, 3).reshape(4, 2)


def test_missing_dtype_on_device_is_a_clear_error():
    with pytest.raises(DTypeError, match="no_float64.*float64"):
        gf.zeros(2, dtype=gf.float64, device="strict:no_float64")


def test_bad_data_is_refused():
    with pytest.raises(ShapeError, match="unequal lengths"):
        gf.tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(DTypeError, match="strings"):
        gf.tensor(["a", "b"])
    with pytest.raises(DTypeError, match="objects"):
        gf.tensor([object()])


def test_unknown_or_missing_device():
    with pytest.raises(BackendUnavailableError, match="unknown device"):
        gf.zeros(2, device="tpu")
    if not gf.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="pip install cupy-cuda12x") as caught:
            gf.zeros(2, device="cuda")
        assert "cupy-cuda13x" in str(caught.value) and "gradflow[" not in str(caught.value)


def test_auto_device_falls_back_to_cpu_when_no_gpu():
    if gf.cuda.is_available():
        pytest.skip("a GPU is present")
    assert gf.zeros(1, device="auto").device == "cpu"


def test_dlpack_round_trip():
    x = gf.tensor([1.0, 2.0, 3.0])
    as_numpy = np.from_dlpack(x)
    assert as_numpy.tolist() == [1.0, 2.0, 3.0]
    back = gf.from_dlpack(np.arange(3.0))
    assert back.dtype is gf.float64 and back.tolist() == [0.0, 1.0, 2.0]


def test_random_streams_are_bit_identical_across_devices():
    streams = {}
    for device in ("cpu", "strict", "strict:device1", "strict:no_float64"):
        gf.manual_seed(1234)
        streams[device] = [gf.rand(5, 3, device=device).numpy(),
                           gf.randn(7, device=device).numpy(),
                           gf.randint(0, 10, (6,), device=device).numpy(),
                           gf.randperm(9, device=device).numpy()]
    for device, values in streams.items():
        for a, b in zip(values, streams["cpu"]):
            np.testing.assert_array_equal(a, b, err_msg=device)


def test_manual_seed_reproduces_and_generators_are_independent():
    gf.manual_seed(0)
    a = gf.rand(4).tolist()
    gf.manual_seed(0)
    assert gf.rand(4).tolist() == a
    g = gf.Generator(0)
    assert gf.rand(4, generator=g).tolist() == a


def test_method_forms_and_operators():
    x = gf.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.abs().sum().item() == 10.0
    assert x.max().item() == 4.0
    values, indices = x.max(dim=1)
    assert values.tolist() == [1.0, 4.0] and indices.tolist() == [0, 1]
    assert (x > 0).tolist() == [[True, False], [True, True]]
    assert (2.0 - x).tolist() == [[1.0, 4.0], [-1.0, -2.0]]
    assert (1.0 / gf.tensor([2.0])).tolist() == [0.5]
    assert (2 ** gf.tensor([3.0])).tolist() == [8.0]
    assert x.T.tolist() == [[1.0, 3.0], [-2.0, 4.0]]
    assert x.view(-1).shape == (4,)
    assert [t.shape for t in x.chunk(2, dim=1)] == [(2, 1), (2, 1)]
    assert gf.tensor([1, 2]).float().dtype is gf.float32
    assert (gf.tensor([1, 2]) * 0.5).tolist() == [0.5, 1.0]


def test_indexing_forms(device):
    x = gf.arange(12, device=device).reshape(3, 4)
    assert x[1].tolist() == [4, 5, 6, 7]
    assert x[:, 1].tolist() == [1, 5, 9]
    assert x[None, 0].shape == (1, 4)
    assert x[gf.tensor([2, 0, 2], device=device)].shape == (3, 4)
    assert x[x > 9].tolist() == [10, 11]
    with pytest.raises(IndexError, match="out of range"):
        x[gf.tensor([3], device=device)]


def test_info_lists_devices(capsys):
    report = gf.info()
    assert report["devices"]["cpu"] == "available"
    assert "strict:device1" in report["devices"]
    assert "numpy" in capsys.readouterr().out
