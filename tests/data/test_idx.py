"""IDX reading and writing: round trips for every type, and every kind of damage caught."""

import gzip
import re

import numpy as np
import pytest

from gradflow.data.idx import IDX_DTYPES, load_idx_bytes, parse_idx, read_idx, write_idx
from gradflow.errors import DatasetError, DatasetNotFoundError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def sample(dtype, shape=(3, 4, 5)):
    values = np.arange(np.prod(shape)).reshape(shape) - 7
    if np.issubdtype(dtype, np.unsignedinteger):
        values = values % 256
    if np.issubdtype(dtype, np.floating):
        values = values * 0.37
    return values.astype(dtype)


def idx_bytes(array):
    """An IDX file built by hand, independently of write_idx."""
    code = {np.dtype(d).newbyteorder("="): c for c, d in IDX_DTYPES.items()}
    header = bytes([0, 0, code[array.dtype], array.ndim])
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    return header + np.array(array.shape, ">u4").tobytes() + big_endian.tobytes()


def raises_naming(path, *words):
    pattern = re.escape(str(path)) + ".*" + ".*".join(re.escape(word) for word in words)
    return pytest.raises(DatasetError, match=re.compile(pattern, re.DOTALL))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip(tmp_path, dtype, compress):
    array = sample(dtype)
    path = write_idx(tmp_path / "x-idx3", array, compress=compress)
    assert path.read_bytes().startswith(b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == array.shape and back.flags.writeable
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("shape", [(7,), (2, 0, 3), (1, 1, 1, 1, 2)])
def test_round_trip_shapes(tmp_path, shape):
    array = sample(np.int16, shape)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "x.gz", array)), array)


def test_reads_handmade_big_endian_file(tmp_path):
    array = sample(np.int32, (2, 3))
    path = tmp_path / "handmade-idx2"
    path.write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(path), array)
    assert write_idx(tmp_path / "again", array).read_bytes() == idx_bytes(array)


def test_gzip_detected_by_content_not_name(tmp_path):
    array = sample(np.uint8)
    gzipped_without_suffix = tmp_path / "images-idx3-ubyte"
    gzipped_without_suffix.write_bytes(gzip.compress(idx_bytes(array)))
    raw_with_suffix = tmp_path / "images-idx3-ubyte.gz"
    raw_with_suffix.write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(gzipped_without_suffix), array)
    np.testing.assert_array_equal(read_idx(raw_with_suffix), array)


def test_write_gzip_is_reproducible(tmp_path):
    array = sample(np.float32)
    first = write_idx(tmp_path / "a.gz", array).read_bytes()
    assert write_idx(tmp_path / "b.gz", array).read_bytes() == first
    assert not list(tmp_path.glob("*.part"))


def damaged(tmp_path, name, payload, compress=False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_truncated_data(tmp_path, compress):
    path = damaged(tmp_path, "short-idx3", idx_bytes(sample(np.uint8))[:-1], compress)
    with raises_naming(path, "truncated", "needs 76 bytes", "has 75"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_trailing_bytes(tmp_path, compress):
    path = damaged(tmp_path, "long-idx3", idx_bytes(sample(np.uint8)) + b"\x00", compress)
    with raises_naming(path, "trailing bytes"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = damaged(tmp_path, "header-idx3", idx_bytes(sample(np.uint8))[:10])
    with raises_naming(path, "truncated header"):
        read_idx(path)


@pytest.mark.parametrize("payload", [b"", b"\x00\x00"], ids=["empty", "two-bytes"])
def test_too_short_for_magic(tmp_path, payload):
    path = damaged(tmp_path, "tiny", payload)
    with raises_naming(path, "too short"):
        read_idx(path)


def test_bad_magic(tmp_path):
    payload = b"\x01" + idx_bytes(sample(np.uint8))[1:]
    path = damaged(tmp_path, "magic-idx3", payload)
    with raises_naming(path, "bad magic", "01 00 08 03"):
        read_idx(path)


def test_bad_magic_of_a_png(tmp_path):
    path = damaged(tmp_path, "picture.png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    with raises_naming(path, "bad magic", "not an IDX file"):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    payload = bytearray(idx_bytes(sample(np.uint8)))
    payload[2] = 0x0A
    path = damaged(tmp_path, "type-idx3", bytes(payload))
    with raises_naming(path, "unknown type code 0x0A"):
        read_idx(path)


@pytest.mark.parametrize("ndim", [0, 17, 255])
def test_absurd_ndim(tmp_path, ndim):
    payload = bytes([0, 0, 0x08, ndim]) + bytes(4 * ndim + 8)
    path = damaged(tmp_path, "ndim-idx", payload)
    with raises_naming(path, f"{ndim} dimensions"):
        read_idx(path)


def test_huge_declared_dims_are_truncation_not_memory_error(tmp_path):
    payload = bytes([0, 0, 0x0E, 3]) + np.array([2**32 - 1] * 3, ">u4").tobytes() + bytes(8)
    path = damaged(tmp_path, "huge-idx3", payload)
    with raises_naming(path, "truncated"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["flipped-byte", "cut-short", "bad-crc"])
def test_corrupt_gzip(tmp_path, damage):
    stream = bytearray(gzip.compress(idx_bytes(sample(np.float64, (20, 20))), mtime=0))
    if damage == "flipped-byte":
        stream[len(stream) // 2] ^= 0xFF
    elif damage == "cut-short":
        stream = stream[: len(stream) // 2]
    else:
        stream[-8] ^= 0x01  # the CRC32 of the trailer
    path = damaged(tmp_path, "broken-idx2.gz", bytes(stream))
    with raises_naming(path, "corrupt gzip stream"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nowhere-idx1"):
        read_idx(tmp_path / "nowhere-idx1")
    with pytest.raises(FileNotFoundError):
        load_idx_bytes(tmp_path / "nowhere-idx1")


def test_directory_is_not_a_file(tmp_path):
    with raises_naming(tmp_path, "directory"):
        read_idx(tmp_path)


def test_parse_idx_names_its_source():
    with pytest.raises(DatasetError, match="from-memory.*unknown type code"):
        parse_idx(b"\x00\x00\x01\x01\x00\x00\x00\x00", source="from-memory")
    np.testing.assert_array_equal(parse_idx(b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x09"), [7, 9])


@pytest.mark.parametrize(
    "array, words",
    [
        (np.zeros(3, np.int64), "dtype int64"),
        (np.zeros(3, np.float16), "dtype float16"),
        (np.array(5, np.uint8), "shape ()"),
    ],
    ids=["int64", "float16", "0-d"],
)
def test_write_rejects_what_idx_cannot_hold(tmp_path, array, words):
    with pytest.raises(DatasetError, match=re.escape(words)):
        write_idx(tmp_path / "bad", array)
    assert not list(tmp_path.iterdir())
