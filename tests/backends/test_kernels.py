"""Backend kernels: NumPy's fast versions give the generic kernels' values (exactly, except
for channels-last conv2d, whose matmuls sum in another order), and both match direct loop
references written here."""

import functools
import inspect
import itertools

import array_api_compat.numpy as numpy_namespace
import numpy as np
import pytest

from gradflow.backends import channels_last, get_backend
from gradflow.backends.cupy import CupyBackend
from gradflow.backends.generic import Backend
from gradflow.backends.geometry import conv_output_hw
from gradflow.backends.numpy import NumpyBackend
from gradflow.backends.workspace import ReusingWorkspace, Workspace

FAST = get_backend("cpu")
GENERIC = Backend("generic-numpy", numpy_namespace, "cpu")  # every kernel generic, on NumPy
RNG = np.random.default_rng(0)

# (N, C, H, W, kernel, stride, padding (top, bottom, left, right), dilation)
GEOMETRIES = [
    (2, 3, 5, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 2, 7, 6, (3, 2), (2, 1), (0, 0, 2, 2), (1, 1)),
    (2, 1, 9, 8, (3, 3), (3, 3), (2, 2, 0, 0), (2, 2)),
    (1, 4, 6, 7, (2, 2), (1, 1), (0, 1, 0, 1), (1, 1)),  # "same" for an even kernel
    (2, 2, 8, 9, (2, 3), (1, 2), (1, 1, 2, 2), (2, 1)),
    (1, 3, 5, 4, (1, 1), (2, 3), (0, 0, 0, 0), (1, 1)),
    (1, 2, 11, 5, (3, 1), (1, 1), (0, 0, 0, 0), (2, 1)),
    (3, 2, 4, 4, (4, 4), (1, 1), (2, 2, 2, 2), (1, 1)),
]
GEOMETRY_IDS = [f"k{g[4]}s{g[5]}p{g[6]}d{g[7]}" for g in GEOMETRIES]


def _arrays(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# -- direct references ------------------------------------------------------------------


def ref_im2col(x, kernel, stride, padding, dilation):
    """(C*kh*kw, N, Ho, Wo) by loops: row (c, i, j) holds the tap (i, j) of channel c."""
    n, c = x.shape[:2]
    top, bottom, left, right = padding
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    ho, wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)
    out = np.zeros((c, kernel[0], kernel[1], n, ho, wo), x.dtype)
    for ch, i, j, row, col in itertools.product(range(c), range(kernel[0]), range(kernel[1]),
                                                range(ho), range(wo)):
        out[ch, i, j, :, row, col] = padded[:, ch, row * stride[0] + i * dilation[0],
                                            col * stride[1] + j * dilation[1]]
    return out.reshape(c * kernel[0] * kernel[1], n, ho, wo)


def ref_conv(x, weight, stride, padding, dilation, groups):
    n = x.shape[0]
    out_channels, group_channels, kh, kw = weight.shape
    ho, wo = conv_output_hw(x.shape, (kh, kw), stride, padding, dilation)
    top, bottom, left, right = padding
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    out = np.zeros((n, out_channels, ho, wo))
    per_group = out_channels // groups
    for o, row, col in itertools.product(range(out_channels), range(ho), range(wo)):
        first = o // per_group * group_channels
        r, c = row * stride[0], col * stride[1]
        rows = slice(r, r + dilation[0] * (kh - 1) + 1, dilation[0])
        cols = slice(c, c + dilation[1] * (kw - 1) + 1, dilation[1])
        window = padded[:, first:first + group_channels, rows, cols]
        out[:, o, row, col] = (window * weight[o]).sum(axis=(1, 2, 3))
    return out


def ref_max_pool(x, kernel, stride, padding, dilation):
    """(values, winning offset) by loops; the first maximum wins."""
    n, c, h, w = x.shape
    ho, wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)
    values = np.full((n, c, ho, wo), -np.inf, x.dtype)
    index = np.zeros((n, c, ho, wo), np.int64)
    for b, ch, row, col in itertools.product(range(n), range(c), range(ho), range(wo)):
        for r, (i, j) in enumerate(itertools.product(range(kernel[0]), range(kernel[1]))):
            y = row * stride[0] - padding[0] + i * dilation[0]
            z = col * stride[1] - padding[2] + j * dilation[1]
            if 0 <= y < h and 0 <= z < w and x[b, ch, y, z] > values[b, ch, row, col]:
                values[b, ch, row, col] = x[b, ch, y, z]
                index[b, ch, row, col] = r
    return values, index


# -- im2col / col2im ----------------------------------------------------------------------


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=GEOMETRY_IDS)
@pytest.mark.parametrize("batch_major", [False, True], ids=["channel_major", "batch_major"])
@pytest.mark.parametrize("wide", [False, True], ids=["plain", "wide"])
def test_im2col_fast_equals_generic_equals_reference(geometry, batch_major, wide):
    n, c, h, w, kernel, stride, padding, dilation = geometry
    if wide and stride != (1, 1):
        pytest.skip("wide columns are for stride 1")
    x = _arrays(n, c, h, w)
    args = (kernel, stride, padding, dilation, batch_major, wide)
    fast = FAST.im2col(x, *args)
    generic = GENERIC.im2col(x, *args)
    assert fast.dtype == np.float32 and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, generic)
    wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)[1]
    columns = fast[..., :wo]
    if batch_major:
        columns = columns.transpose(1, 0, 2, 3)
    np.testing.assert_array_equal(columns, ref_im2col(x, kernel, stride, padding, dilation))


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=GEOMETRY_IDS)
@pytest.mark.parametrize("batch_major", [False, True], ids=["channel_major", "batch_major"])
@pytest.mark.parametrize("wide", [False, True], ids=["plain", "wide"])
def test_col2im_is_the_adjoint_of_im2col(geometry, batch_major, wide):
    n, c, h, w, kernel, stride, padding, dilation = geometry
    if wide and stride != (1, 1):
        pytest.skip("wide columns are for stride 1")
    x = _arrays(n, c, h, w, dtype=np.float64)
    columns = FAST.im2col(x, kernel, stride, padding, dilation, batch_major, wide)
    wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)[1]
    seed = np.zeros_like(columns)
    seed[..., :wo] = _arrays(*columns[..., :wo].shape, dtype=np.float64)  # zero don't-cares
    back = FAST.col2im(seed, x.shape, kernel, stride, padding, dilation, batch_major)
    np.testing.assert_array_equal(
        back, Backend.col2im(GENERIC, seed, x.shape, kernel, stride, padding, dilation,
                             batch_major))
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(columns * seed), np.sum(x * back), rtol=1e-12)


# -- whole convolutions ----------------------------------------------------------------------


CONVS = [
    # input shape, weight shape, stride, padding, dilation, groups
    ((2, 3, 7, 7), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((2, 1, 9, 8), (16, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),   # batch-major
    ((1, 4, 9, 7), (6, 2, 3, 2), (2, 3), (2, 2, 0, 0), (1, 2), 2),
    ((2, 6, 8, 8), (6, 1, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 6),     # depthwise
    ((1, 2, 6, 7), (12, 1, 2, 2), (2, 2), (0, 1, 1, 0), (1, 1), 2),   # batch-major, groups
    ((3, 5, 5, 5), (2, 5, 1, 1), (3, 2), (0, 0, 0, 0), (1, 1), 1),
    ((1, 3, 6, 5), (4, 3, 2, 4), (1, 1), (0, 1, 1, 2), (1, 1), 1),    # asymmetric "same"
    ((1, 2, 2, 2), (3, 2, 3, 3), (4, 4), (2, 2, 2, 2), (1, 1), 1),    # taps only in padding
]
CONV_IDS = [f"x{c[0]}w{c[1]}s{c[2]}g{c[5]}" for c in CONVS]


def _channels_last(array):
    """The same values in channels-last memory (as conv2d's outputs are on the CPU)."""
    return channels_last.nchw(np.ascontiguousarray(channels_last.nhwc(array)))


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=GEOMETRY_IDS)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_channels_last_im2col_equals_reference(geometry, layout):
    n, c, h, w, kernel, stride, padding, dilation = geometry
    x = _arrays(n, c, h, w)
    if layout == "channels_last":
        x = _channels_last(x)
    rows = channels_last.im2col(FAST, x, kernel, stride, padding, dilation)
    ho, wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)
    expected = ref_im2col(x, kernel, stride, padding, dilation)  # (c, kh, kw, n, ho, wo)
    expected = expected.reshape(c, *kernel, n, ho, wo).transpose(3, 4, 5, 1, 2, 0)
    np.testing.assert_array_equal(rows, expected.reshape(n * ho * wo, -1))


@pytest.mark.parametrize("conv", CONVS, ids=CONV_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_conv_kernels_fast_equal_generic_and_reference(conv, dtype, layout):
    in_shape, w_shape, stride, padding, dilation, groups = conv
    x, weight, bias = _arrays(*in_shape, dtype=dtype), _arrays(*w_shape, dtype=dtype), \
        _arrays(w_shape[0], dtype=dtype)
    if layout == "channels_last":
        x = _channels_last(x)
    geometry = (stride, padding, dilation, groups)
    out, columns = FAST.conv2d_forward(x, weight, bias, *geometry, True)
    out_generic, columns_generic = GENERIC.conv2d_forward(x, weight, bias, *geometry, True)
    assert out.dtype == dtype
    last = channels_last.uses_channels_last(groups)
    # float32 results differ from the generic kernels' by the order of the matmul's sums
    same = np.testing.assert_array_equal if not last else functools.partial(
        np.testing.assert_allclose, rtol=1e-5 if dtype == np.float32 else 1e-13,
        atol=1e-5 if dtype == np.float32 else 1e-13)
    if last:
        assert channels_last.is_channels_last(out)
    else:
        assert out.flags.c_contiguous
        np.testing.assert_array_equal(columns, columns_generic)
    same(out, out_generic)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    expected = ref_conv(x, weight, stride, padding, dilation, groups) + bias[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)

    grad = _arrays(*out.shape, dtype=dtype)
    if layout == "channels_last":
        grad = _channels_last(grad)
    grad_x = FAST.conv2d_backward_input(grad, weight, x.shape, *geometry)
    same(grad_x, GENERIC.conv2d_backward_input(grad, weight, x.shape, *geometry))
    grad_w = FAST.conv2d_backward_weight(x, grad, weight.shape, *geometry, columns)
    same(grad_w, GENERIC.conv2d_backward_weight(x, grad, weight.shape, *geometry))
    assert grad_w.flags.c_contiguous
    # a channels-last grad is summed by a matmul with ones, in another order
    np.testing.assert_allclose(FAST.conv2d_backward_bias(grad),
                               GENERIC.conv2d_backward_bias(grad), rtol=tol / 10)
    np.testing.assert_allclose(FAST.conv2d_backward_bias(grad), grad.sum(axis=(0, 2, 3)),
                               rtol=tol)
    assert channels_last.is_channels_last(grad_x) if last else grad_x.flags.c_contiguous
    assert grad_x.dtype == dtype and grad_w.dtype == dtype
    # adjoint identities against the reference: <grad, conv(x)> = <grad_x, x> = <grad_w, w>
    inner = np.sum(grad * (expected - bias[:, None, None]))
    np.testing.assert_allclose(np.sum(grad_x * x), inner, rtol=tol * 10)
    np.testing.assert_allclose(np.sum(grad_w * weight), inner, rtol=tol * 10)


# -- pooling -----------------------------------------------------------------------------


POOLS = [
    # input shape, kernel, stride, padding, dilation
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1)),
    ((1, 2, 7, 9), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    ((2, 2, 9, 7), (3, 2), (1, 1), (1, 1, 0, 0), (2, 1)),     # overlapping windows
    ((1, 3, 7, 6), (2, 3), (2, 1), (1, 1, 0, 1), (1, 1)),     # ceil-mode style overhang
    ((1, 1, 5, 5), (1, 1), (2, 2), (0, 0, 0, 0), (1, 1)),
]
POOL_IDS = [f"x{p[0]}k{p[1]}s{p[2]}p{p[3]}d{p[4]}" for p in POOLS]


@pytest.mark.parametrize("pool", POOLS, ids=POOL_IDS)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_max_pool_kernels_fast_equal_generic_and_reference(pool, layout):
    shape, kernel, stride, padding, dilation = pool
    x = _arrays(*shape)
    x[0, 0, 0, :2] = x[0, 0, 1, 0] = 5.0  # ties: the first maximum must win
    if layout == "channels_last":
        x = _channels_last(x)
    geometry = (kernel, stride, padding, dilation)
    values, index = FAST.max_pool2d_forward(x, *geometry)
    values_generic, index_generic = GENERIC.max_pool2d_forward(x, *geometry)
    np.testing.assert_array_equal(values, values_generic)
    np.testing.assert_array_equal(index, index_generic)
    expected_values, expected_index = ref_max_pool(x, *geometry)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(index, expected_index)
    assert values.dtype == np.float32 and index.dtype == np.uint8

    grad = _arrays(*values.shape)
    if layout == "channels_last" and shape[1] > 1:  # pooling keeps its input's layout
        assert channels_last.is_channels_last(values)
        assert channels_last.is_channels_last(index)
        grad = _channels_last(grad)
    grad_x = FAST.max_pool2d_backward(grad, index, x.shape, *geometry)
    disjoint = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))
    if layout == "channels_last" and shape[1] > 1 and disjoint:
        assert channels_last.is_channels_last(grad_x)
    np.testing.assert_array_equal(
        grad_x, GENERIC.max_pool2d_backward(grad, index, x.shape, *geometry))
    gathered = FAST.max_pool2d_gather(x, index, *geometry)
    np.testing.assert_array_equal(gathered, values)  # the gather picks the maxima
    np.testing.assert_allclose(np.sum(grad_x * x), np.sum(grad * values), rtol=1e-5)


@pytest.mark.parametrize("pool", POOLS, ids=POOL_IDS)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_max_pool_values_alone_equal_the_forward_values(pool, layout):
    shape, kernel, stride, padding, dilation = pool
    x = _arrays(*shape)
    x[0, 0, 0, 0] = np.nan  # propagates the same way
    if layout == "channels_last":
        x = _channels_last(x)
    geometry = (kernel, stride, padding, dilation)
    for backend in (FAST, GENERIC):
        values = backend.max_pool2d_values(x, *geometry)
        np.testing.assert_array_equal(values, backend.max_pool2d_forward(x, *geometry)[0])
        assert values.dtype == x.dtype


def test_max_pool_nan_propagates_and_ties_go_first():
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]], [[np.nan, 1.0], [0.0, 4.0]]]], np.float32)
    for backend in (FAST, GENERIC):
        values, index = backend.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1))
        assert values[0, 0, 0, 0] == 3.0 and index[0, 0, 0, 0] == 1
        assert np.isnan(values[0, 1, 0, 0])


@pytest.mark.parametrize("pool", POOLS[:4], ids=POOL_IDS[:4])
def test_avg_pool_kernels_are_adjoint(pool):
    shape, kernel, stride, padding, _ = pool
    x = _arrays(*shape, dtype=np.float64)
    divisor = float(kernel[0] * kernel[1])
    out = FAST.avg_pool2d_forward(x, kernel, stride, padding, divisor)
    grad = _arrays(*out.shape, dtype=np.float64)
    back = FAST.avg_pool2d_backward(grad, x.shape, kernel, stride, padding, divisor)
    np.testing.assert_allclose(np.sum(out * grad), np.sum(x * back), rtol=1e-12)
    ones = FAST.avg_pool2d_forward(np.ones(shape), kernel, stride, (0, 0, 0, 0), divisor)
    np.testing.assert_allclose(ones, 1.0)


# -- every backend has the generic signatures ------------------------------------------------


@pytest.mark.parametrize("subclass", [NumpyBackend, CupyBackend])
def test_overrides_keep_the_generic_signatures(subclass):
    for name, method in vars(subclass).items():
        base = getattr(Backend, name, None)
        if callable(method) and base is not None and not name.startswith("__"):
            assert _parameters(method) == _parameters(base), name


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_columns_given_back_by_their_owner_are_handed_out_again():
    backend = NumpyBackend()
    x = _arrays(2, 3, 5, 5)
    args = ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False, True)
    first = backend.im2col(x, *args)
    address = first.ctypes.data
    assert backend.im2col(x, *args).ctypes.data != address  # not given back: fresh memory
    backend.recycle(first)
    second = backend.im2col(x, *args)
    assert second.ctypes.data == address
    np.testing.assert_array_equal(second, GENERIC.im2col(x, *args))


def test_scratch_buffers_are_per_name_and_grow():
    workspace = NumpyBackend().workspace
    a = workspace.scratch("a", (2, 3), np.float32)
    b = workspace.scratch("b", (2, 3), np.float32)
    assert not np.shares_memory(a, b)
    assert np.shares_memory(workspace.scratch("a", (3, 2), np.float32), a)
    big = workspace.scratch("a", (4, 4), np.float32, fill=0)
    assert big.shape == (4, 4) and not big.any()


def test_workspaces_keep_the_generic_signatures():
    for name, method in vars(ReusingWorkspace).items():
        base = getattr(Workspace, name, None)
        if callable(method) and base is not None and not name.startswith("__"):
            assert _parameters(method) == _parameters(base), name


@pytest.mark.parametrize("bad", [None, np.nan, np.inf])
def test_relu_backward_fast_equals_generic(bad):
    out = np.maximum(RNG.standard_normal((3, 4, 5)).astype(np.float32), 0)
    out[0, 0, :2] = 0.0  # exact zeros are inactive, as in PyTorch
    grad = RNG.standard_normal(out.shape).astype(np.float32)
    if bad is not None:
        grad[out == 0] = bad  # a non-finite gradient at an inactive unit gives 0
    fast, generic = FAST.relu_backward(grad, out), GENERIC.relu_backward(grad, out)
    expected = np.where(out > 0, grad, 0.0)
    assert fast.dtype == generic.dtype == np.float32
    np.testing.assert_array_equal(fast, expected)
    np.testing.assert_array_equal(generic, expected)


@pytest.mark.parametrize("channels", [1, 3])  # transposed and plain im2col rows
def test_conv2d_gives_its_columns_back_after_backward(channels):
    import gradflow as gf
    from gradflow.nn import functional as F

    x = gf.randn(2, channels, 8, 8)
    w = gf.randn(4, channels, 3, 3, requires_grad=True)
    out = F.conv2d(x, w, padding=1)
    columns = out.creator.columns
    memory = columns if columns.flags.c_contiguous else columns.T  # kept C-contiguous
    key, address = (memory.shape, memory.dtype), memory.__array_interface__["data"][0]
    del columns, memory
    out.sum().backward()
    kept = out.backend.workspace._store()["shelf"].get(key, [])
    assert address in [array.__array_interface__["data"][0] for array in kept]
