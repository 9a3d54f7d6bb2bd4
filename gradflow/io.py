"""Checkpoint files: safetensors through the `safetensors` library, atomic and validated; no pickle.

The format (u64-LE header length, JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
{str: str}}, raw little-endian tensor bytes) is written and parsed by the `safetensors` library,
the field's reviewed implementation. Around it gradflow adds what the library leaves to callers:
the atomic write (temporary file, fsync, rename; permissions kept, symlinks written through), a
header check before parsing with messages that name the file and the fault (size limits,
dimensions, nesting, overlaps, trailing bytes, BOOL bytes), and its format metadata.
`gradflow.save`/`load` (gradflow/checkpoint.py) build on this file layer.
"""

import contextlib
import json
import math
import os
import re
import secrets
import stat
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from gradflow.errors import (
    BackendUnavailableError,
    CheckpointError,
    CheckpointNotFoundError,
    DTypeError,
)

FORMAT_NAME = "gradflow"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100 * 1024 * 1024
MAX_DIMENSIONS = 64  # NumPy's limit

# safetensors code -> (the library's dtype name, NumPy dtype of the bytes). BF16 is read as
# ml_dtypes.bfloat16 when ml_dtypes is installed, else as its raw uint16 bits.
_DTYPES = {code: (name, np.dtype(numpy_code)) for code, name, numpy_code in [
    ("BOOL", "bool", "?"), ("U8", "uint8", "u1"), ("I8", "int8", "i1"), ("U16", "uint16", "<u2"),
    ("I16", "int16", "<i2"), ("F16", "float16", "<f2"), ("BF16", "bfloat16", "<u2"),
    ("U32", "uint32", "<u4"), ("I32", "int32", "<i4"), ("F32", "float32", "<f4"),
    ("U64", "uint64", "<u8"), ("I64", "int64", "<i8"), ("F64", "float64", "<f8")]}
_CODES = {dtype.str: code for code, (_, dtype) in _DTYPES.items() if code != "BF16"}
_RESERVED_METADATA = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION)}
_TEMPORARY_NAME = re.compile(r"^\..+\.tmp-(?P<pid>\d+)-[0-9a-f]{8}$")


def _library():
    """The `safetensors` package (a dependency of gradflow), imported on first use."""
    try:
        import safetensors
    except ImportError:  # pragma: no cover - it is a dependency; a broken install only
        raise BackendUnavailableError(
            "reading and writing checkpoints needs the `safetensors` package, a dependency of "
            "gradflow that is missing here: install it with `pip install safetensors`") from None
    return safetensors


def _bfloat16():
    """ml_dtypes.bfloat16, or None when ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


def write_safetensors(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> None:
    """Write arrays to a safetensors file atomically, adding gradflow's format metadata.

    Args:
        path: the file; its directory must exist. An old file is replaced only by a whole new one
            that keeps its permissions; a symlink is written through (its target is replaced).
        arrays: name -> array of bool, (u)int8-64, float16/32/64 or bfloat16 (ml_dtypes), any
            memory or byte order; laid out by the `safetensors` library, little-endian.
        metadata: extra str -> str entries; "format" and "format_version" are set by gradflow.

    Returns:
        None. A bad name or metadata raises TypeError/ValueError, a bad dtype DTypeError.

    Example:
        >>> write_safetensors("model.safetensors", {"w": np.ones((2, 3), np.float32)})
        >>> arrays, meta = read_safetensors("model.safetensors")
        >>> meta["format"], arrays["w"].shape
        ('gradflow', (2, 3))
    """
    atomic_write_bytes(path, [safetensors_bytes(arrays, metadata)])


def safetensors_bytes(arrays: Mapping[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a safetensors file holding `arrays` and `metadata` (see write_safetensors)."""
    for name in arrays:
        if not isinstance(name, str) or name == "__metadata__":
            raise TypeError(f"array names must be str other than '__metadata__', got {name!r}")
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str, got {key!r}: {value!r}")
        if key in _RESERVED_METADATA and value != _RESERVED_METADATA[key]:
            raise ValueError(f"metadata key {key!r} is set by gradflow and may not be overridden")
    safetensors = _library()
    keep_alive, specs = [], {}
    for name, value in arrays.items():
        array = np.asarray(value)
        bfloat16 = array.dtype.name == "bfloat16"  # bits written as they are, as uint16
        array = array.view(np.uint16) if bfloat16 else array
        code = "BF16" if bfloat16 else _CODES.get(array.dtype.newbyteorder("<").str)
        if code is None:
            raise DTypeError(f"array {name!r} has dtype {array.dtype}, not storable in safetensors")
        array = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
        keep_alive.append(array)
        specs[name] = _spec(safetensors, code, array)
    return bytes(safetensors.serialize(specs, metadata={**(metadata or {}),
                                                        **_RESERVED_METADATA}))


def _spec(safetensors, code: str, array: np.ndarray):
    """The library's description of one little-endian C-order array (its API changed in 0.7)."""
    if hasattr(safetensors, "TensorSpec"):
        return safetensors.TensorSpec(dtype=_DTYPES[code][0], shape=list(array.shape),
                                      data_ptr=array.ctypes.data if array.size else 0,
                                      data_len=array.nbytes)
    return {"dtype": code, "shape": list(array.shape), "data": array.tobytes()}


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read and validate a safetensors file (written by gradflow or by anything else).

    Args:
        path: the file to read.

    Returns:
        (arrays, metadata): writable NumPy arrays by name in file order (BF16 as
        ml_dtypes.bfloat16, or raw uint16 bits without ml_dtypes), str -> str metadata. A
        missing, damaged, foreign or too new file raises CheckpointError naming it.

    Example:
        >>> write_safetensors("model.safetensors", {"b": np.zeros(4, np.float64)})
        >>> arrays, meta = read_safetensors("model.safetensors")
        >>> arrays["b"].dtype, meta["format_version"]
        (dtype('float64'), '1')
    """
    try:
        content = Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"cannot read checkpoint {os.fspath(path)}: file not found"
                                      ) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {os.fspath(path)}: "
                              f"{exc.strerror or exc}") from None
    return parse_safetensors(content, os.fspath(path))


def parse_safetensors(content: bytes, source: str) -> tuple[dict[str, np.ndarray],
                                                             dict[str, str]]:
    """Validate the bytes of a safetensors file, then parse them with the library.

    Args:
        content: the whole file.
        source: the file's name, for messages.

    Returns:
        (arrays, metadata) as read_safetensors.
    """
    def fail(problem: str) -> CheckpointError:
        return CheckpointError(f"{source} is not a valid safetensors file: {problem}")

    if len(content) < 8:
        raise fail(f"it is {len(content)} bytes, shorter than the 8-byte header length")
    (header_length,) = struct.unpack("<Q", content[:8])
    if header_length > len(content) - 8 or header_length > MAX_HEADER_BYTES:
        raise fail(f"header length {header_length} is beyond the file's {len(content)} bytes or"
                   f" the {MAX_HEADER_BYTES}-byte limit (truncated, or another format)")
    try:
        header = json.loads(content[8:8 + header_length].decode("utf-8"),
                            object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise fail("header JSON is nested too deeply (damaged or hostile)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise fail(f"header is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(header, dict):
        raise fail(f"header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise fail("__metadata__ must be an object mapping str to str")
    version, ours = metadata.get("format_version", ""), metadata.get("format") == FORMAT_NAME
    if ours and not (version.isascii() and version.isdigit()):
        raise fail(f"format_version {version!r} is not an integer")
    if ours and int(version) > FORMAT_VERSION:
        raise CheckpointError(f"{source} was written by a newer gradflow (format_version"
                              f" {version} > {FORMAT_VERSION}): upgrade gradflow to load it")
    data_length = len(content) - 8 - header_length
    entries = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
            raise fail(f"tensor {name!r} needs dtype, shape and data_offsets, got {entry!r}")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(code, str) or code not in _DTYPES:
            raise fail(f"tensor {name!r} has unknown dtype {code!r}")
        if not _is_list_of_naturals(shape):
            raise fail(f"tensor {name!r} has shape {shape!r}, not a list of non-negative ints")
        if len(shape) > MAX_DIMENSIONS:
            raise fail(f"tensor {name!r} has {len(shape)} dimensions, more than the "
                       f"{MAX_DIMENSIONS} supported")
        if not _is_list_of_naturals(offsets) or len(offsets) != 2 or offsets[0] > offsets[1]:
            raise fail(f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
        expected = math.prod(shape) * _DTYPES[code][1].itemsize
        if offsets[1] - offsets[0] != expected:
            raise fail(f"tensor {name!r}: {code} {shape} is {expected} bytes, not {offsets}")
        if offsets[1] > data_length:
            raise fail(f"tensor {name!r} ends at byte {offsets[1]} > {data_length}: file "
                       "truncated")
        entries.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(entries):
        if begin != position:
            kind = "overlaps the previous tensor" if begin < position else "leaves a gap"
            raise fail(f"tensor {name!r} at data_offsets [{begin}, {end}] {kind}")
        position = end
    if position != data_length:
        raise fail(f"{data_length - position} bytes after the last tensor (trailing data)")
    try:
        parsed = dict(_library().deserialize(content))
    except Exception as exc:  # the library's SafetensorError: a fault the checks above missed
        raise fail(f"{type(exc).__name__}: {exc}") from None
    bfloat16 = _bfloat16()
    arrays = {}
    for name in header:  # file order, as written
        entry = parsed[name]
        dtype = _DTYPES[entry["dtype"]][1] if isinstance(entry["dtype"], str) else None
        if dtype is None:  # pragma: no cover - older libraries return a dtype name
            dtype = _DTYPES[header[name]["dtype"]][1]
        array = np.frombuffer(bytearray(entry["data"]), dtype=dtype).reshape(entry["shape"])
        if dtype == np.bool_ and array.size and array.view(np.uint8).max() > 1:
            raise fail(f"BOOL tensor {name!r} holds bytes other than 0 and 1")
        if header[name]["dtype"] == "BF16" and bfloat16 is not None:
            array = array.view(bfloat16)
        arrays[name] = array
    return arrays, metadata


def atomic_write_bytes(path: str | os.PathLike, chunks: Iterable[bytes | memoryview]) -> None:
    """Write chunks so that path holds its old content or all of the new, never a mix.

    Args:
        path: the file; its directory must exist. The bytes go to `.<name>.tmp-<pid>-<random>`
            beside it, are fsynced and renamed onto it; then the directory is fsynced.
        chunks: bytes-like pieces (a generator is consumed during the write).

    Returns:
        None. On an exception the temporary file is removed and path is untouched; a SIGKILL
        may leave the temporary file, which `cleanup_temporary_files` removes.

    Example:
        >>> atomic_write_bytes("notes.txt", [b"hello ", b"world"])
        >>> open("notes.txt", "rb").read()
        b'hello world'
    """
    target = _write_target(Path(path))
    directory = target.parent
    try:
        mode = stat.S_IMODE(target.stat().st_mode)  # keep the permissions of the file replaced
    except FileNotFoundError:
        mode = None
    temporary = directory / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with open(temporary, "xb") as file:
            if mode is not None:
                os.chmod(file.fileno(), mode)
            file.writelines(chunks)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # NOTE: makes the rename durable; fails on Windows.
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _write_target(path: Path) -> Path:
    """The file a write to path replaces: a symlink's target (written through, as open() does).

    Raises CheckpointError naming path (never the temporary file) when it cannot be written.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.is_dir():
        raise CheckpointError(f"cannot write {path}: it is a directory; give a file name inside "
                              f"it, such as {path / 'model.safetensors'}")
    if not target.parent.is_dir():
        what = "is not a directory" if target.parent.exists() else "does not exist"
        raise CheckpointError(f"cannot write {path}: directory {target.parent} {what}")
    if not os.access(target.parent, os.W_OK):
        raise CheckpointError(f"cannot write {path}: directory {target.parent} is not "
                              "writable")
    return target


def cleanup_temporary_files(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writers left in a directory.

    Args:
        directory: holds `.<name>.tmp-<pid>-<8 hex digits>` files; one is kept while process
            <pid> is alive (POSIX only: elsewhere, call this when no write is in progress).

    Returns:
        The paths removed.

    Example:
        >>> os.makedirs("checkpoints", exist_ok=True)
        >>> _ = open("checkpoints/.model.safetensors.tmp-4242-0123abcd", "w").close()
        >>> removed = cleanup_temporary_files("checkpoints")
        >>> [path.name for path in removed]
        ['.model.safetensors.tmp-4242-0123abcd']
    """
    removed = []
    for entry in sorted(Path(directory).iterdir()):
        match = _TEMPORARY_NAME.match(entry.name)
        if match and entry.is_file() and not _process_alive(int(match["pid"])):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # NOTE: os.kill(pid, 0) kills on Windows.
        return pid == os.getpid()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        pass
    return True


def _is_list_of_naturals(value: object) -> bool:
    return isinstance(value, list) and all(type(item) is int and item >= 0 for item in value)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys {sorted({key for key in keys if keys.count(key) > 1})}")
    return dict(pairs)
