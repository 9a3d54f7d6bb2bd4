"""gradflow.io file layer: safetensors round trips, interop, validation and atomic writes."""

import json
import os
import pickle
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from gradflow import io
from gradflow.errors import CheckpointError, DTypeError

DTYPES = ["bool", "uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32",
          "uint64", "int64", "float64"]


def sample(dtype, shape=(3, 5)) -> np.ndarray:
    """Values that exercise the whole range of a dtype: extremes, signs, inf, nan, -0."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    if dtype == np.bool_:
        values = np.arange(size) % 3 == 0
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = np.resize(np.array([info.min, info.max, 0, 1, info.max // 3], dtype), size)
    else:
        special = np.array([np.inf, -np.inf, np.nan, -0.0, np.finfo(dtype).tiny], dtype)
        values = np.resize(np.concatenate([special, np.linspace(-7, 7, 7).astype(dtype)]), size)
    return values.astype(dtype).reshape(shape)


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    """Bit for bit: dtype (as little-endian), shape and bytes."""
    assert actual.dtype == expected.dtype.newbyteorder("<")
    assert actual.shape == expected.shape
    assert actual.tobytes() == np.ascontiguousarray(expected, actual.dtype).tobytes()


def write_raw(path, header: dict, data: bytes = b"", header_length: int | None = None) -> None:
    """A hand-made file, to state exactly what is on disk."""
    encoded = json.dumps(header).encode()
    length = len(encoded) if header_length is None else header_length
    path.write_bytes(struct.pack("<Q", length) + encoded + data)


def assert_rejected(path, *phrases: str) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        io.read_safetensors(path)
    message = str(info.value)
    assert str(path) in message
    for phrase in phrases:
        assert phrase in message
    return info.value


def listing(directory) -> list[str]:
    return sorted(os.listdir(directory))


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype(tmp_path, dtype):
    path = tmp_path / "model.safetensors"
    arrays = {"x": sample(dtype), "scalar": sample(dtype, ()), "empty": sample(dtype, (0, 4))}
    io.write_safetensors(path, arrays)
    loaded, metadata = io.read_safetensors(path)
    assert sorted(loaded) == ["empty", "scalar", "x"]
    for name, array in arrays.items():
        assert_same(loaded[name], array)
    assert metadata == {"format": "gradflow", "format_version": str(io.FORMAT_VERSION)}


@pytest.mark.parametrize("make", [
    lambda: np.asarray(3.5, np.float32),
    lambda: np.zeros((0,), np.float64),
    lambda: np.zeros((3, 0, 2), np.int16),
    lambda: sample("float64", (4, 6)).T,
    lambda: sample("int32", (5, 8))[::2, 1::3],
    lambda: sample("float32", (6,))[::-1],
    lambda: np.asfortranarray(sample("uint16", (3, 4))),
    lambda: sample("float64", (2, 3)).astype(">f8"),
    lambda: sample("int32", (7,)).astype(">i4"),
    lambda: sample("uint64", (2, 2)).astype(">u8").T,
    lambda: sample("float16", (3,)).astype(">f2"),
], ids=["0d", "empty", "empty-3d", "transposed", "strided", "reversed", "fortran",
        "big-endian-f8", "big-endian-i4", "big-endian-transposed", "big-endian-f2"])
def test_round_trip_layouts(tmp_path, make):
    array = make()
    io.write_safetensors(tmp_path / "a.safetensors", {"a": array})
    loaded = io.read_safetensors(tmp_path / "a.safetensors")[0]["a"]
    assert_same(loaded, array)
    assert loaded.flags.c_contiguous and loaded.dtype.byteorder in "<=|"
    np.testing.assert_array_equal(loaded, array)


def test_returned_arrays_are_writable_copies(tmp_path):
    path = tmp_path / "a.safetensors"
    io.write_safetensors(path, {"a": np.arange(4.0), "b": np.arange(3)})
    arrays, _ = io.read_safetensors(path)
    assert all(array.flags.writeable for array in arrays.values())
    assert not np.shares_memory(arrays["a"], arrays["b"])
    arrays["a"][:] = -1
    assert io.read_safetensors(path)[0]["a"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_layout_on_disk(tmp_path):
    path = tmp_path / "a.safetensors"
    io.write_safetensors(path, {"zeta": np.ones(3, np.int8), "alpha": np.zeros(2, "<f4"), "ü": 1},
                         metadata={"note": "café"})
    content = path.read_bytes()
    (length,) = struct.unpack("<Q", content[:8])
    assert length % 8 == 0
    header = json.loads(content[8:8 + length].decode("utf-8"))
    assert content[8:8 + length].rstrip(b" ").endswith(b"}")
    # the `safetensors` library lays tensors out by alignment (widest first), then by name
    assert header["ü"] == {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}
    assert header["alpha"] == {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}
    assert header["zeta"] == {"dtype": "I8", "shape": [3], "data_offsets": [16, 19]}
    assert header["__metadata__"] == {"note": "café", "format": "gradflow", "format_version": "1"}
    assert len(content) == 8 + length + 8 + 8 + 3
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    theirs = safetensors_numpy.save({"zeta": np.ones(3, np.int8), "alpha": np.zeros(2, "<f4"),
                                     "ü": np.array(1)})
    assert content[8 + length:] == theirs[-19:]


def test_metadata_round_trip_and_reserved_keys(tmp_path):
    path = tmp_path / "a.safetensors"
    io.write_safetensors(path, {}, metadata={"epoch": "3", "format": "gradflow"})
    assert io.read_safetensors(path) == ({}, {"epoch": "3", "format": "gradflow",
                                              "format_version": "1"})
    with pytest.raises(ValueError, match="'format'"):
        io.write_safetensors(path, {}, metadata={"format": "other"})
    with pytest.raises(ValueError, match="'format_version'"):
        io.write_safetensors(path, {}, metadata={"format_version": "2"})


def test_bf16_is_read_as_raw_uint16_bits_without_ml_dtypes(tmp_path, monkeypatch):
    path = tmp_path / "bf16.safetensors"
    bits = np.array([0x3F80, 0xC000, 0x7FC0], "<u2")  # 1.0, -2.0, nan in bfloat16
    write_raw(path, {"h": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}, bits.tobytes())
    monkeypatch.setattr(io, "_bfloat16", lambda: None)
    loaded = io.read_safetensors(path)[0]["h"]
    assert loaded.dtype == np.uint16 and loaded.tolist() == bits.tolist()


def test_bf16_round_trips_as_bfloat16_with_ml_dtypes(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    path = tmp_path / "bf16.safetensors"
    values = np.array([1.0, -2.0, np.nan, 3.140625], ml_dtypes.bfloat16)
    io.write_safetensors(path, {"h": values})
    loaded = io.read_safetensors(path)[0]["h"]
    assert loaded.dtype == values.dtype
    assert loaded.view(np.uint16).tolist() == values.view(np.uint16).tolist()
    assert b'"dtype":"BF16"' in path.read_bytes()


@pytest.mark.parametrize("arrays, metadata, error, phrase", [
    ({1: np.zeros(2)}, None, TypeError, "1"),
    ({"a": np.zeros(2), ("b",): np.zeros(2)}, None, TypeError, "('b',)"),
    ({"__metadata__": np.zeros(2)}, None, TypeError, "__metadata__"),
    ({"a": np.zeros(2)}, {"epoch": 3}, TypeError, "'epoch'"),
    ({"a": np.zeros(2)}, {7: "x"}, TypeError, "7"),
    ({"c": np.zeros(2, np.complex64)}, None, DTypeError, "'c'"),
    ({"o": np.array([object()])}, None, DTypeError, "'o'"),
    ({"s": np.array(["text"])}, None, DTypeError, "'s'"),
    ({"t": np.array(["2024-01-01"], "datetime64[D]")}, None, DTypeError, "'t'"),
], ids=["int-name", "tuple-name", "reserved-name", "int-value", "int-key", "complex",
        "object", "string", "datetime"])
def test_write_rejects_bad_input_and_writes_nothing(tmp_path, arrays, metadata, error, phrase):
    with pytest.raises(error) as info:
        io.write_safetensors(tmp_path / "a.safetensors", arrays, metadata)
    assert phrase in str(info.value)
    assert listing(tmp_path) == []


# ---------------------------------------------------------------- interop with `safetensors`


def test_files_we_write_load_in_safetensors(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")
    path = tmp_path / "ours.safetensors"
    arrays = {f"{dtype}/{shape}": sample(dtype, shape)
              for dtype in DTYPES for shape in [(), (0,), (2, 3, 4)]}
    arrays["big-endian"] = sample("float64", (3, 2)).astype(">f8").T
    io.write_safetensors(path, arrays, metadata={"epoch": "7"})
    theirs = safetensors_numpy.load_file(str(path))
    assert sorted(theirs) == sorted(arrays)
    for name, array in arrays.items():
        assert_same(theirs[name], array)
    with safetensors.safe_open(str(path), "np") as file:
        assert file.metadata() == {"epoch": "7", "format": "gradflow", "format_version": "1"}


def test_files_safetensors_writes_load_in_ours(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {f"{dtype}/{shape}": sample(dtype, shape)
              for dtype in DTYPES for shape in [(), (0, 2), (5, 3)]}
    path = tmp_path / "theirs.safetensors"
    safetensors_numpy.save_file(arrays, str(path), metadata={"source": "safetensors"})
    loaded, metadata = io.read_safetensors(path)
    assert metadata == {"source": "safetensors"}
    assert sorted(loaded) == sorted(arrays)
    for name, array in arrays.items():
        assert_same(loaded[name], array)
    (tmp_path / "bytes.safetensors").write_bytes(safetensors_numpy.save({"x": sample("int8")}))
    assert_same(io.read_safetensors(tmp_path / "bytes.safetensors")[0]["x"], sample("int8"))


# ---------------------------------------------------------------- damaged and foreign files


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.safetensors"
    io.write_safetensors(path, {"w": sample("float32", (4, 4)), "b": sample("int64", (3,)),
                                "s": sample("bool", ())}, metadata={"epoch": "1"})
    return path


def test_missing_file_and_directory(tmp_path):
    assert_rejected(tmp_path / "absent.safetensors", "file not found")
    assert_rejected(tmp_path)


def test_truncated_at_many_points(good_file):
    content = good_file.read_bytes()
    (length,) = struct.unpack("<Q", content[:8])
    cuts = [0, 1, 4, 7, 8, 9, 8 + length // 2, 8 + length - 1, 8 + length, 8 + length + 1,
            8 + length + 30, len(content) - 2, len(content) - 1]
    for cut in cuts:
        good_file.write_bytes(content[:cut])
        assert_rejected(good_file)


def test_flipped_bytes_in_header(good_file):
    content = good_file.read_bytes()
    (length,) = struct.unpack("<Q", content[:8])
    for position in range(8, 8 + length, 7):
        damaged = bytearray(content)
        damaged[position] ^= 0xFF
        good_file.write_bytes(bytes(damaged))
        assert_rejected(good_file)


@pytest.mark.parametrize("old, new, phrase", [
    (b'{"', b'["', "JSON"),
    (b'"data_offsets":[', b'"data_offsets":{', "JSON"),
    (b'"dtype":"F32"', b'"dtype":"F99"', "unknown dtype 'F99'"),
    (b'"shape":[4,4]', b'"shape":[4,5]', "80 bytes"),
    (b'"data_offsets":[88,89]', b'"data_offsets":[87,88]', "overlaps"),
    (b'"format_version":"1"', b'"format_version":"2"', "newer gradflow"),
])
def test_edited_header(good_file, old, new, phrase):
    content = good_file.read_bytes()
    assert old in content and len(old) == len(new)  # the header length stays right
    good_file.write_bytes(content.replace(old, new, 1))
    assert_rejected(good_file, phrase)


@pytest.mark.parametrize("length", [0, 1, 2**63, 2**64 - 1, 200 * 1024 * 1024, "size-7",
                                    "header-1", "header+1", "header+8"])
def test_wrong_header_length(good_file, length):
    content = good_file.read_bytes()
    (actual,) = struct.unpack("<Q", content[:8])
    length = {"size-7": len(content) - 7, "header-1": actual - 1, "header+1": actual + 1,
              "header+8": actual + 8}.get(length, length)
    good_file.write_bytes(struct.pack("<Q", length) + content[8:])
    assert_rejected(good_file)


def test_header_length_limit(good_file, monkeypatch):
    monkeypatch.setattr(io, "MAX_HEADER_BYTES", 64)  # stands for 100 MB, without the 100 MB
    assert_rejected(good_file, "header length")


@pytest.mark.parametrize("garbage", [b"\x00", b"trailing garbage", bytes(4096)])
def test_trailing_garbage(good_file, garbage):
    good_file.write_bytes(good_file.read_bytes() + garbage)
    assert_rejected(good_file, "trailing")


def npy_bytes(tmp_path) -> bytes:
    np.save(tmp_path / "array.npy", np.arange(10.0))
    return (tmp_path / "array.npy").read_bytes()


@pytest.mark.parametrize("content", [
    b"",
    b"\x00" * 7,
    b"\x00" * 8,
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00",
    b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(40) + b"PK\x05\x06" + bytes(18),
    pickle.dumps({"weight": [1.0, 2.0, 3.0]}, protocol=4),
    pickle.dumps({"weight": [1.0]}, protocol=2),
    b"hello world, this is a text file\n",
    b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
    "npy",
], ids=["empty", "7-bytes", "zero-header", "png", "zip", "pickle4", "pickle2", "text",
        "bare-json", "npy"])
def test_file_of_another_format(tmp_path, content):
    path = tmp_path / "foreign.safetensors"
    path.write_bytes(npy_bytes(tmp_path) if content == "npy" else content)
    assert_rejected(path)


W = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("header, data, phrase", [
    ([1, 2], b"", "not an object"),
    ("text", b"", "not an object"),
    ({"w": [1, 2]}, b"", "needs dtype, shape and data_offsets"),
    ({"w": {"shape": [2], "data_offsets": [0, 8]}}, bytes(8), "needs dtype"),
    ({"w": {"dtype": "F32", "data_offsets": [0, 8]}}, bytes(8), "needs dtype"),
    ({"w": {"dtype": "F32", "shape": [2]}}, bytes(8), "needs dtype"),
    ({"w": {**W, "dtype": "F128"}}, bytes(8), "unknown dtype 'F128'"),
    ({"w": {**W, "dtype": 4}}, bytes(8), "unknown dtype 4"),
    ({"w": {**W, "dtype": ["F32"]}}, bytes(8), "unknown dtype"),
    ({"w": {**W, "shape": [-2]}}, bytes(8), "shape"),
    ({"w": {**W, "shape": "2"}}, bytes(8), "shape"),
    ({"w": {**W, "shape": [2.0]}}, bytes(8), "shape"),
    ({"w": {**W, "shape": [True, 2]}}, bytes(8), "shape"),
    ({"w": {**W, "shape": None}}, bytes(8), "shape"),
    ({"w": {**W, "data_offsets": [0]}}, bytes(8), "data_offsets"),
    ({"w": {**W, "data_offsets": [0, 4, 8]}}, bytes(8), "data_offsets"),
    ({"w": {**W, "data_offsets": [8, 0]}}, bytes(8), "data_offsets"),
    ({"w": {**W, "data_offsets": [-8, 0]}}, bytes(8), "data_offsets"),
    ({"w": {**W, "data_offsets": [0, 12]}}, bytes(12), "8 bytes"),
    ({"w": {**W, "data_offsets": [0, 4]}}, bytes(4), "8 bytes"),
    ({"w": W}, bytes(4), "truncated"),
    ({"w": W}, bytes(9), "trailing"),
    ({"w": {**W, "data_offsets": [4, 12]}}, bytes(12), "gap"),
    ({"w": W, "v": {**W, "data_offsets": [4, 12]}}, bytes(12), "overlaps"),
    ({"w": W, "v": W}, bytes(16), "overlaps"),
    ({"w": W, "v": {**W, "data_offsets": [12, 20]}}, bytes(20), "gap"),
    ({"w": W, "__metadata__": [1]}, bytes(8), "__metadata__"),
    ({"w": W, "__metadata__": None}, bytes(8), "__metadata__"),
    ({"w": W, "__metadata__": {"epoch": 3}}, bytes(8), "__metadata__"),
    ({"w": W, "__metadata__": {"a": {"b": "c"}}}, bytes(8), "__metadata__"),
    ({"__metadata__": {"format": "gradflow", "format_version": "x"}}, b"", "format_version"),
    ({"__metadata__": {"format": "gradflow", "format_version": "٣"}}, b"", "format_version"),
    ({"__metadata__": {"format": "gradflow"}}, b"", "format_version"),
    ({"__metadata__": {"format": "gradflow", "format_version": "2"}}, b"", "upgrade gradflow"),
    ({"b": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x02", "BOOL"),
], ids=lambda value: None if isinstance(value, (dict, list, bytes)) else str(value)[:20])
def test_invalid_header(tmp_path, header, data, phrase):
    path = tmp_path / "bad.safetensors"
    write_raw(path, header, data)
    assert_rejected(path, phrase)


def test_duplicate_names_in_header(tmp_path):
    path = tmp_path / "dup.safetensors"
    encoded = b'{"w":' + json.dumps(W).encode() + b',"w":' + json.dumps(W).encode() + b"}"
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(8))
    assert_rejected(path, "duplicate")


def test_newer_format_version_says_upgrade(tmp_path):
    path = tmp_path / "future.safetensors"
    write_raw(path, {"w": W, "__metadata__": {"format": "gradflow", "format_version": "12"}},
              bytes(8))
    error = assert_rejected(path, "newer gradflow", "upgrade")
    assert isinstance(error, ValueError)


def test_accepted_headers(tmp_path):
    """Files that are valid although gradflow did not write them."""
    path = tmp_path / "ok.safetensors"
    write_raw(path, {"w": W}, bytes(8))  # no metadata at all
    assert io.read_safetensors(path)[1] == {}
    write_raw(path, {"w": {**W, "extra": 1}, "__metadata__": {"format_version": "99"}}, bytes(8))
    assert io.read_safetensors(path)[1] == {"format_version": "99"}  # not gradflow's: no check
    write_raw(path, {"__metadata__": {"format": "gradflow", "format_version": "0"}})
    assert io.read_safetensors(path) == ({}, {"format": "gradflow", "format_version": "0"})
    header = {"v": {**W, "data_offsets": [8, 16]}, "e": {**W, "shape": [0], "data_offsets": [8, 8]},
              "w": W}  # stored out of order, with an empty tensor in between
    write_raw(path, header, np.arange(4, dtype="<f4").tobytes())
    arrays = io.read_safetensors(path)[0]
    assert arrays["w"].tolist() == [0, 1] and arrays["v"].tolist() == [2, 3]
    assert arrays["e"].shape == (0,)


# ---------------------------------------------------------------- atomic writes


def test_atomic_write_bytes_uses_a_temporary_file_beside_the_target(tmp_path, monkeypatch):
    moves = []
    replace = os.replace

    def recording_replace(source, target):
        moves.append((os.fspath(source), os.fspath(target)))
        replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    io.atomic_write_bytes(tmp_path / "notes.txt", (part for part in [b"hello ", b"world"]))
    assert (tmp_path / "notes.txt").read_bytes() == b"hello world"
    [(source, target)] = moves
    assert os.path.dirname(source) == str(tmp_path) and target == str(tmp_path / "notes.txt")
    assert re.fullmatch(rf"\.notes\.txt\.tmp-{os.getpid()}-[0-9a-f]{{8}}", os.path.basename(source))
    assert listing(tmp_path) == ["notes.txt"]


def failing_replace(source, target):
    raise OSError("simulated failure of os.replace")


def failing_chunks():
    yield b"partial content"
    raise RuntimeError("simulated failure while writing")


def interrupted_chunks():
    yield b"partial content"
    raise KeyboardInterrupt


@pytest.mark.parametrize("failure", ["bad-name", "bad-dtype", "replace", "fsync", "chunks",
                                     "interrupt"])
def test_failed_write_keeps_previous_file_and_leaves_no_temporary(good_file, monkeypatch,
                                                                  failure):
    before = good_file.read_bytes()
    if failure == "replace":
        monkeypatch.setattr(os, "replace", failing_replace)
    if failure == "fsync":
        monkeypatch.setattr(os, "fsync", lambda descriptor: failing_replace(None, None))
    with pytest.raises((TypeError, DTypeError, OSError, RuntimeError, KeyboardInterrupt)):
        if failure == "bad-name":
            io.write_safetensors(good_file, {"ok": np.zeros(3), 5: np.zeros(3)})
        elif failure == "bad-dtype":
            io.write_safetensors(good_file, {"ok": np.zeros(3), "c": np.zeros(3, complex)})
        elif failure == "chunks":
            io.atomic_write_bytes(good_file, failing_chunks())
        elif failure == "interrupt":
            io.atomic_write_bytes(good_file, interrupted_chunks())
        else:
            io.write_safetensors(good_file, {"new": np.ones(1000)})
    assert good_file.read_bytes() == before
    assert listing(good_file.parent) == [good_file.name]
    io.read_safetensors(good_file)


def test_missing_directory_is_named(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "model.safetensors"
    with pytest.raises(CheckpointError, match=re.escape(str(target.parent))):
        io.write_safetensors(target, {"a": np.zeros(1)})
    assert listing(tmp_path) == []


def test_directory_fsync_failure_is_ignored(tmp_path, monkeypatch):
    real_open = os.open

    def open_no_directories(path, flags, *args, **kwargs):
        if os.path.isdir(path):
            raise PermissionError("no directory handles on this platform")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_no_directories)
    io.write_safetensors(tmp_path / "a.safetensors", {"a": np.arange(3)})
    assert io.read_safetensors(tmp_path / "a.safetensors")[0]["a"].tolist() == [0, 1, 2]


def test_overwrite_replaces_content(good_file):
    io.write_safetensors(good_file, {"only": np.arange(2, dtype=np.int8)})
    arrays, metadata = io.read_safetensors(good_file)
    assert list(arrays) == ["only"] and "epoch" not in metadata


# ---------------------------------------------------------------- temporary-file cleanup


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_cleanup_temporary_files(tmp_path):
    stale = [f".model.safetensors.tmp-{dead_pid()}-0123abcd", f".a.b.tmp-{dead_pid()}-ffffffff"]
    live = f".model.safetensors.tmp-{os.getpid()}-89abcdef"
    kept = ["model.safetensors", ".hidden", ".model.safetensors.tmp-x-0123abcd",
            ".model.safetensors.tmp-12-0123ABCD", "model.safetensors.tmp-12-0123abcd", live]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"partial")
    directory = tmp_path / f".dir.tmp-{dead_pid()}-00000000"
    directory.mkdir()
    removed = io.cleanup_temporary_files(tmp_path)
    assert sorted(path.name for path in removed) == sorted(stale)
    assert all(path.parent == tmp_path for path in removed)
    assert set(listing(tmp_path)) == set(kept) | {directory.name}
    assert io.cleanup_temporary_files(tmp_path) == []
