"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the elements in
C order, big-endian. Files may be gzipped; gzip is recognised by its magic
bytes (1f 8b), whatever the file is called.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np

from gradflow.errors import DatasetError, DatasetNotFoundError

__all__ = ["load_idx_bytes", "parse_idx", "read_idx", "write_idx"]

# Type code -> big-endian dtype stored in the file.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# NOTE: the format allows up to 255 dimensions; anything past this is taken
# for a damaged header rather than data (NumPy itself stops at 64).
MAX_NDIM = 16
GZIP_MAGIC = b"\x1f\x8b"

PathLike = str | os.PathLike


def load_idx_bytes(path: PathLike) -> bytes:
    """Return the bytes of an IDX file, decompressed when it is gzipped.

    Args:
        path: the file; gzip is detected from its first two bytes, not its name.

    Returns:
        The uncompressed IDX bytes (header and data), not yet validated.

    Raises:
        DatasetNotFoundError: the file does not exist.
        DatasetError: the gzip stream is corrupt or truncated.

    Example:
        >>> data = load_idx_bytes("train-labels-idx1-ubyte.gz")  # doctest: +SKIP
        >>> data[:4]  # doctest: +SKIP
        b'\\x00\\x00\\x08\\x01'
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetNotFoundError(f"IDX file {path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"IDX file {path}: is a directory, not a file") from None
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"IDX file {path}: corrupt gzip stream ({exc}); delete the file and fetch it again"
        ) from exc


def parse_idx(data: bytes | bytearray | memoryview, source: str = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX bytes into an array, checking the header against the data.

    Args:
        data: the whole uncompressed file.
        source: what to call the data in error messages (usually the file name).

    Returns:
        A writable array in native byte order, of the shape the header declares.

    Raises:
        DatasetError: bad magic, unknown type code, ``ndim`` of 0 or above
            ``MAX_NDIM``, or a data length that does not match the dimensions.

    Example:
        >>> parse_idx(b"\\x00\\x00\\x08\\x01\\x00\\x00\\x00\\x02\\x07\\x09")
        array([7, 9], dtype=uint8)
    """
    data = memoryview(data).cast("B")
    if len(data) < 4:
        raise DatasetError(
            f"IDX file {source}: {len(data)} bytes, too short for the 4-byte magic number"
        )
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        hint = " (looks like gzip that was not decompressed)" if data[:2] == GZIP_MAGIC else ""
        raise DatasetError(
            f"IDX file {source}: bad magic number {bytes(data[:4]).hex(' ')}, "
            f"expected 00 00 <type> <ndim>{hint}; not an IDX file"
        )
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise DatasetError(
            f"IDX file {source}: unknown type code 0x{type_code:02X} (known: {known})"
        )
    if ndim == 0 or ndim > MAX_NDIM:
        raise DatasetError(
            f"IDX file {source}: header declares {ndim} dimensions, expected 1 to {MAX_NDIM}"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DatasetError(
            f"IDX file {source}: truncated header, {len(data)} bytes where the "
            f"{ndim} dimensions need {header_size}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = header_size + dtype.itemsize * math.prod(shape)
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "trailing bytes"
        raise DatasetError(
            f"IDX file {source}: {problem}: shape {shape} of {dtype.name} needs "
            f"{expected} bytes, the file has {len(data)}"
        )
    flat = np.frombuffer(data, dtype=dtype, offset=header_size)
    # NOTE: np.array copies, which both makes the result writable (frombuffer
    # of bytes is read-only) and converts it to native byte order.
    return np.array(flat, dtype=dtype.newbyteorder("=")).reshape(shape)


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or raw, and validate it completely.

    Args:
        path: the file to read.

    Returns:
        The array, in native byte order, with the dtype of its type code
        (uint8, int8, int16, int32, float32 or float64).

    Raises:
        DatasetNotFoundError: the file does not exist.
        DatasetError: the file is damaged or not IDX; the message names the
            file and the problem.

    Example:
        >>> path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
        >>> images = read_idx(path)  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((10000, 28, 28), dtype('uint8'))
    """
    return parse_idx(load_idx_bytes(path), source=str(path))


def write_idx(path: PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write an array as an IDX file, atomically (temporary file, then rename).

    Args:
        path: where to write.
        array: 1 to ``MAX_NDIM`` dimensions, dtype uint8, int8, int16, int32,
            float32 or float64.
        compress: gzip the file; ``None`` means "if the name ends in .gz".

    Returns:
        The path written.

    Raises:
        DatasetError: a dtype IDX cannot hold, a 0-d array, or a dimension
            of 2**32 or more.

    Example:
        >>> labels = np.array([3, 1, 4], dtype=np.uint8)
        >>> write_idx("labels-idx1-ubyte.gz", labels)  # doctest: +SKIP
        >>> read_idx("labels-idx1-ubyte.gz")  # doctest: +SKIP
        array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise DatasetError(
            f"write_idx({path}): IDX cannot hold dtype {array.dtype}; "
            "cast to uint8, int8, int16, int32, float32 or float64"
        )
    if not 1 <= array.ndim <= MAX_NDIM:
        raise DatasetError(
            f"write_idx({path}): IDX needs 1 to {MAX_NDIM} dimensions, got shape {array.shape}"
        )
    if any(d >= 2**32 for d in array.shape):
        raise DatasetError(f"write_idx({path}): dimension too large for IDX: {array.shape}")
    big_endian = IDX_DTYPES[codes[native]]
    header = bytes([0, 0, codes[native], array.ndim]) + np.array(array.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=big_endian).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        # NOTE: mtime=0 makes the same array give the same bytes (stable checksums).
        payload = gzip.compress(payload, mtime=0)
    _write_atomically(path, payload)
    return path


def _write_atomically(path: Path, payload: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
        os.chmod(temporary, 0o644)  # mkstemp makes it private
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
