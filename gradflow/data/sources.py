"""Where the image data sets live: Fashion-MNIST and MNIST on disk or on the web, digits embedded.

Nothing here needs a network unless asked: `locate` searches the usual
folders (including Debian's ``dataset-fashion-mnist`` package), `download`
fetches the canonical files only when called, and `load_digits` reads a small
copy of the UCI digits shipped inside the package.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from gradflow.data.idx import load_idx_bytes, parse_idx
from gradflow.errors import DatasetError, DatasetNotFoundError

__all__ = [
    "DEBIAN_DATASETS_DIR",
    "FASHION_MNIST",
    "FILE_KEYS",
    "MNIST",
    "SOURCES",
    "DatasetSource",
    "IdxResource",
    "candidate_roots",
    "default_cache_dir",
    "download",
    "get_source",
    "load_digits",
    "load_images_labels",
    "locate",
]

FILE_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
# Debian's dataset-* packages install under /usr/share/datasets/<name>/.
DEBIAN_DATASETS_DIR = Path("/usr/share/datasets")
_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class IdxResource:
    """One file of a data set's canonical release.

    Attributes:
        filename: the published name, e.g. ``train-images-idx3-ubyte.gz``.
        md5: MD5 of the published .gz archive.
        content_md5: MD5 of the uncompressed IDX bytes. Unlike ``md5`` it does
            not change when a file is re-gzipped (Debian's copies are) or
            stored uncompressed, so it is the one checked when loading.
    """

    filename: str
    md5: str
    content_md5: str

    @property
    def raw_filename(self) -> str:
        """The name of the uncompressed file (``filename`` without ``.gz``)."""
        return self.filename.removesuffix(".gz")


@dataclass(frozen=True)
class DatasetSource:
    """Where a data set of four IDX files comes from and how to check it.

    Attributes:
        name: folder name used under every search root, e.g. ``fashion-mnist``.
        title: the name people use, for messages.
        base_url: the canonical location of the four files.
        train_images, train_labels, test_images, test_labels: the files.
        classes: label names, indexed by label.
        folder_aliases: other folder names accepted under an explicit root
            (torchvision's layout among them).
        debian_package: the Debian package that installs the files, if any.
    """

    name: str
    title: str
    base_url: str
    train_images: IdxResource
    train_labels: IdxResource
    test_images: IdxResource
    test_labels: IdxResource
    classes: tuple[str, ...]
    folder_aliases: tuple[str, ...] = ()
    debian_package: str | None = None

    @property
    def files(self) -> dict[str, IdxResource]:
        """The four files, keyed by ``FILE_KEYS``."""
        return {key: getattr(self, key) for key in FILE_KEYS}


FASHION_MNIST = DatasetSource(
    name="fashion-mnist",
    title="Fashion-MNIST",
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    # NOTE: md5 is the published checksum of each .gz. Debian's copies
    # (dataset-fashion-mnist) hold the same deflate stream under a gzip header
    # without the file name and with another mtime, so their own MD5s differ;
    # their uncompressed bytes give content_md5, which agrees with the MD5s
    # published for the uncompressed release.
    train_images=IdxResource(
        "train-images-idx3-ubyte.gz",
        md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        content_md5="f4a8712d7a061bf5bd6d2ca38dc4d50a",
    ),
    train_labels=IdxResource(
        "train-labels-idx1-ubyte.gz",
        md5="25c81989df183df01b3e8a0aad5dffbe",
        content_md5="9018921c3c673c538a1fc5bad174d6f9",
    ),
    test_images=IdxResource(
        "t10k-images-idx3-ubyte.gz",
        md5="bef4ecab320f06d8554ea6380940ec79",
        content_md5="8181f5470baa50b63fa0f6fddb340f0a",
    ),
    test_labels=IdxResource(
        "t10k-labels-idx1-ubyte.gz",
        md5="bb300cfdad3c16e7a12a480ee83cd310",
        content_md5="15d484375f8d13e6eb1aabb0c3f46965",
    ),
    classes=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    folder_aliases=("fashion_mnist", "FashionMNIST", "FashionMNIST/raw"),
    debian_package="dataset-fashion-mnist",
)

MNIST = DatasetSource(
    name="mnist",
    title="MNIST",
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    train_images=IdxResource(
        "train-images-idx3-ubyte.gz",
        md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
        content_md5="6bbc9ace898e44ae57da46a324031adb",
    ),
    train_labels=IdxResource(
        "train-labels-idx1-ubyte.gz",
        md5="d53e105ee54ea40749a09fcbcd1e9432",
        content_md5="a25bea736e30d166cdddb491f175f624",
    ),
    test_images=IdxResource(
        "t10k-images-idx3-ubyte.gz",
        md5="9fb629c4189551a2d022fa330f9573f3",
        content_md5="2646ac647ad5339dbf082846283269ea",
    ),
    test_labels=IdxResource(
        "t10k-labels-idx1-ubyte.gz",
        md5="ec29112dd5afa0611ce80d1b7f02629c",
        content_md5="27ae3e4e09519cfbb04c329615203637",
    ),
    classes=tuple(str(digit) for digit in range(10)),
    folder_aliases=("MNIST", "MNIST/raw"),
)

SOURCES: dict[str, DatasetSource] = {source.name: source for source in (FASHION_MNIST, MNIST)}


def get_source(dataset: DatasetSource | str) -> DatasetSource:
    """Resolve a data set given by descriptor or by name.

    Args:
        dataset: a `DatasetSource`, or a name such as ``"fashion-mnist"``
            (case, ``_`` for ``-`` and torchvision's ``FashionMNIST`` accepted).

    Returns:
        The descriptor.

    Raises:
        DatasetError: an unknown name; the message lists the known ones.

    Example:
        >>> get_source("Fashion_MNIST") is FASHION_MNIST
        True
    """
    if isinstance(dataset, DatasetSource):
        return dataset
    key = str(dataset).lower().replace("_", "-")
    for source in SOURCES.values():
        aliases = {source.name,
                   *(alias.lower().replace("_", "-") for alias in source.folder_aliases)}
        if key in aliases:
            return source
    raise DatasetError(f"unknown data set {dataset!r}; known: {', '.join(SOURCES)}")


def default_cache_dir(name: str) -> Path:
    """The folder `download` writes to by default.

    Args:
        name: the data set's folder name.

    Returns:
        ``$XDG_CACHE_HOME/gradflow/<name>`` when that variable is set, else
        ``~/.cache/gradflow/<name>``.

    Example:
        >>> default_cache_dir("fashion-mnist").parts[-2:]
        ('gradflow', 'fashion-mnist')
    """
    cache_home = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache_home) if cache_home else Path.home() / ".cache"
    return base / "gradflow" / name


def candidate_roots(name: DatasetSource | str, root: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for a data set's files, in order.

    Args:
        name: the data set (descriptor or name).
        root: an explicit folder (``--data-dir``). When given, only it and its
            sub-folders named after the data set are searched.

    Returns:
        Without ``root``: ``$GRADFLOW_DATA/<name>`` (when set), the download
        cache (`default_cache_dir`), Debian's ``/usr/share/datasets/<name>``,
        ``/usr/share/<name>`` and ``./data/<name>``. Duplicates are dropped.

    Example:
        >>> [str(path) for path in candidate_roots("mnist", root="/data")]
        ['/data', '/data/mnist', '/data/MNIST', '/data/MNIST/raw']
    """
    try:
        source: DatasetSource | None = get_source(name)
    except DatasetError:
        source = None
    folder = source.name if source else str(name)
    if root is not None:
        root = Path(root).expanduser()
        aliases = source.folder_aliases if source else ()
        roots = [root, root / folder, *(root / alias for alias in aliases)]
    else:
        roots = []
        if os.environ.get("GRADFLOW_DATA"):
            roots.append(Path(os.environ["GRADFLOW_DATA"]).expanduser() / folder)
        roots += [
            default_cache_dir(folder),
            DEBIAN_DATASETS_DIR / folder,
            Path("/usr/share") / folder,
            Path.cwd() / "data" / folder,
        ]
    return list(dict.fromkeys(roots))


def locate(dataset: DatasetSource | str, root: str | os.PathLike | None = None) -> dict[str, Path]:
    """Find the four files of a data set in the first folder that has all of them.

    Each file may be gzipped (its published name) or not (the name without .gz).

    Args:
        dataset: the data set (descriptor or name).
        root: an explicit folder to search instead of the usual ones.

    Returns:
        The paths, keyed by ``FILE_KEYS``
        (``train_images``, ``train_labels``, ``test_images``, ``test_labels``).

    Raises:
        DatasetNotFoundError: no folder has all four; the message lists every
            folder tried and how to get the files.

    Example:
        >>> paths = locate("fashion-mnist")  # doctest: +SKIP
        >>> paths["test_labels"]  # doctest: +SKIP
        PosixPath('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')
    """
    source = get_source(dataset)
    tried = []
    for folder in candidate_roots(source, root):
        found, missing = {}, []
        for key, resource in source.files.items():
            path = _find_file(folder, resource)
            if path is None:
                missing.append(resource.raw_filename + "[.gz]")
            else:
                found[key] = path
        if not missing:
            return found
        if not folder.is_dir():
            tried.append(f"  {folder} (no such folder)")
        else:
            tried.append(f"  {folder} (missing {', '.join(missing)})")
    raise DatasetNotFoundError(_not_found_message(source, tried))


def download(
    dataset: DatasetSource | str,
    root: str | os.PathLike | None = None,
    *,
    progress: bool = True,
    base_url: str | None = None,
) -> dict[str, Path]:
    """Fetch a data set's four files, checking each one before it is kept.

    Each file is written to a temporary file in ``root`` and renamed only once
    its checksum matches; files already there with the right checksum are
    not fetched again.

    Args:
        dataset: the data set (descriptor or name).
        root: the folder to write to; default `default_cache_dir` of the data set.
        progress: show a tqdm progress bar per file (when tqdm is installed).
        base_url: fetch from this location instead of the canonical one.

    Returns:
        The paths, keyed by ``FILE_KEYS``.

    Raises:
        DatasetError: a file's checksum does not match; nothing is left behind.
        DatasetNotFoundError: a file could not be fetched (network, HTTP error).

    Example:
        >>> paths = download("fashion-mnist")  # doctest: +SKIP
        >>> paths["train_labels"].name  # doctest: +SKIP
        'train-labels-idx1-ubyte.gz'
    """
    source = get_source(dataset)
    folder = Path(root).expanduser() if root is not None else default_cache_dir(source.name)
    folder.mkdir(parents=True, exist_ok=True)
    base_url = base_url or source.base_url
    paths = {}
    for key, resource in source.files.items():
        existing = _find_file(folder, resource)
        if existing is not None and _file_matches(existing, resource):
            paths[key] = existing
            continue
        url = base_url.rstrip("/") + "/" + resource.filename
        paths[key] = _fetch(source, url, folder / resource.filename, resource, progress)
    return paths


_download = download  # load_images_labels has a parameter called download


def load_images_labels(
    dataset: DatasetSource | str,
    train: bool = True,
    root: str | os.PathLike | None = None,
    download: bool = False,
    *,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of Fashion-MNIST or MNIST as NumPy arrays.

    Args:
        dataset: the data set (descriptor or name).
        train: the 60,000 training images, else the 10,000 test images.
        root: an explicit folder (``--data-dir``) instead of the usual ones.
        download: fetch the files (into ``root`` or the cache) when not found.
        verify: check the MD5 of the uncompressed data against the release.

    Returns:
        ``(images, labels)``: uint8 of shape (N, 28, 28) and int64 of shape (N,).

    Raises:
        DatasetNotFoundError: the files are nowhere and ``download`` is false.
        DatasetError: a damaged file, a checksum mismatch, or image and label
            counts that disagree.

    Example:
        >>> images, labels = load_images_labels("fashion-mnist", train=False)  # doctest: +SKIP
        >>> images.shape, labels[:3]  # doctest: +SKIP
        ((10000, 28, 28), array([9, 2, 1]))
    """
    source = get_source(dataset)
    try:
        paths = locate(source, root)
    except DatasetNotFoundError:
        if not download:
            raise
        paths = _download(source, root)
    split = "train" if train else "test"
    image_key, label_key = f"{split}_images", f"{split}_labels"
    images = _read_checked(paths[image_key], source.files[image_key], source, verify)
    labels = _read_checked(paths[label_key], source.files[label_key], source, verify)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"{paths[image_key]}: expected uint8 images of shape (N, rows, columns), "
            f"got {images.dtype} of shape {images.shape}"
        )
    if labels.ndim != 1:
        raise DatasetError(
            f"{paths[label_key]}: expected labels of shape (N,), got shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DatasetError(
            f"{source.title} {split} split: {len(images)} images in {paths[image_key]} "
            f"but {len(labels)} labels in {paths[label_key]}"
        )
    return images, labels.astype(np.int64)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits embedded in gradflow (no download, no scikit-learn).

    The UCI "Optical Recognition of Handwritten Digits" test set (CC BY 4.0),
    as scikit-learn ships it: 1,797 images whose pixels count the set pixels
    in 4x4 blocks of a 32x32 bitmap, hence 0 to 16.

    Returns:
        ``(images, labels)``: float32 of shape (1797, 8, 8) with values 0..16,
        and int64 of shape (1797,) with values 0..9.

    Example:
        >>> images, labels = load_digits()
        >>> images.shape, images.max(), labels[:5]
        ((1797, 8, 8), np.float32(16.0), array([0, 1, 2, 3, 4]))
    """
    resource = resources.files("gradflow.data").joinpath("digits.npz")
    try:
        with resource.open("rb") as file, np.load(file, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except FileNotFoundError:
        raise DatasetNotFoundError(
            f"{resource}: the embedded digits are missing; reinstall gradflow "
            "or regenerate them with tools/make_digits.py"
        ) from None
    return images.astype(np.float32), labels.astype(np.int64)


def _find_file(folder: Path, resource: IdxResource) -> Path | None:
    for filename in (resource.filename, resource.raw_filename):
        if (folder / filename).is_file():
            return folder / filename
    return None


def _md5():
    return hashlib.md5(usedforsecurity=False)


def _stream_md5(file) -> str:
    digest = _md5()
    while chunk := file.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _file_md5(path: Path) -> str:
    with open(path, "rb") as file:
        return _stream_md5(file)


def _content_md5(path: Path) -> str | None:
    """MD5 of the uncompressed bytes of a file, or None when its gzip stream is broken."""
    with open(path, "rb") as file:
        gzipped = file.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if gzipped else open)(path, "rb") as file:
            return _stream_md5(file)
    except (OSError, EOFError, zlib.error):
        return None


def _file_matches(path: Path, resource: IdxResource, file_md5: str | None = None) -> bool:
    # NOTE: the archive's own MD5 is checked first (cheap); a mirror or a
    # distribution may re-gzip the same data, so the content MD5 also counts.
    if (file_md5 or _file_md5(path)) == resource.md5:
        return True
    return _content_md5(path) == resource.content_md5


def _fetch(
    source: DatasetSource, url: str, target: Path, resource: IdxResource, progress: bool
) -> Path:
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    temporary_path = Path(temporary)
    try:
        digest = _md5()
        with os.fdopen(handle, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S)
            except (urllib.error.URLError, OSError) as exc:
                raise DatasetNotFoundError(_download_failed_message(source, url, exc)) from exc
            with response, _progress_bar(progress, response, resource.filename) as bar:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except OSError as exc:
                        message = _download_failed_message(source, url, exc)
                        raise DatasetNotFoundError(message) from exc
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        actual = digest.hexdigest()
        if not _file_matches(temporary_path, resource, file_md5=actual):
            raise DatasetError(
                f"{url}: checksum mismatch for {resource.filename}: expected md5 "
                f"{resource.md5} (or {resource.content_md5} uncompressed), got {actual}; "
                "the download is damaged or the server holds other files; it was not kept"
            )
        temporary_path.chmod(0o644)  # mkstemp makes it private
        os.replace(temporary_path, target)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise
    return target


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, count: int) -> None:
        return None


def _progress_bar(enabled: bool, response, description: str):
    if not enabled:
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=description)


def _read_checked(
    path: Path, resource: IdxResource, source: DatasetSource, verify: bool
) -> np.ndarray:
    data = load_idx_bytes(path)
    array = parse_idx(data, source=str(path))
    if verify:
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if actual != resource.content_md5:
            raise DatasetError(
                f"{path}: not the {source.title} release file {resource.raw_filename}: "
                f"md5 of the uncompressed data is {actual}, expected {resource.content_md5}. "
                "Delete it and fetch it again, or pass verify=False to load it anyway"
            )
    return array


def _how_to_get(source: DatasetSource, *, offer_download: bool = True) -> str:
    ways = []
    if source.debian_package:
        ways.append(f"install Debian's package: sudo apt-get install {source.debian_package}")
    if offer_download:
        ways.append(
            f"download them from {source.base_url} into {default_cache_dir(source.name)}: "
            "pass download=True (CLI: --download)"
        )
    ways.append(
        "point at a folder that holds them: root=... (CLI: --data-dir DIR) "
        "or the GRADFLOW_DATA environment variable"
    )
    return "To get them:\n" + "\n".join(f"  - {way}" for way in ways)


def _not_found_message(source: DatasetSource, tried: list[str]) -> str:
    names = ", ".join(resource.filename for resource in source.files.values())
    return (
        f"{source.title} not found: no folder holds all of {names} "
        "(gzipped or not). Looked in:\n" + "\n".join(tried) + "\n" + _how_to_get(source)
    )


def _download_failed_message(source: DatasetSource, url: str, exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    others = _how_to_get(source, offer_download=False).split("\n", 1)[1]
    return f"could not download {url}: {reason}. Other ways to get {source.title}:\n{others}"
