"""Finding, downloading and loading data sets; the real Fashion-MNIST when Debian installed it."""

import dataclasses
import functools
import hashlib
import http.server
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from gradflow.data import sources
from gradflow.data.idx import write_idx
from gradflow.data.sources import (
    DEBIAN_DATASETS_DIR,
    FASHION_MNIST,
    FILE_KEYS,
    MNIST,
    IdxResource,
    candidate_roots,
    download,
    get_source,
    load_digits,
    load_images_labels,
    locate,
)
from gradflow.errors import DatasetError, DatasetNotFoundError

DEBIAN_DIR = DEBIAN_DATASETS_DIR / "fashion-mnist"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No GRADFLOW_DATA, a fresh home and working directory: only tmp_path is searched."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv("GRADFLOW_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def md5(data):
    return hashlib.md5(data).hexdigest()


def fake_split(count, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    return images, labels


@pytest.fixture
def fake_release(tmp_path):
    """Four tiny gzipped IDX files, and a descriptor whose checksums match them."""
    folder = tmp_path / "release"
    folder.mkdir()
    train, test = fake_split(12, seed=0), fake_split(5, seed=1)
    arrays = dict(zip(FILE_KEYS, [*train, *test]))
    files = {}
    for key, resource in FASHION_MNIST.files.items():
        path = write_idx(folder / resource.filename, arrays[key])
        raw = write_idx(folder / resource.raw_filename, arrays[key])
        files[key] = IdxResource(resource.filename, md5(path.read_bytes()), md5(raw.read_bytes()))
        raw.unlink()
    source = dataclasses.replace(FASHION_MNIST, name="fake-fashion", title="Fake", **files)
    return source, folder, arrays


@pytest.fixture
def server(fake_release):
    """An HTTP server on 127.0.0.1 (ephemeral port) serving the fake release."""
    _, folder, _ = fake_release
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    handler = functools.partial(Handler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_get_source_by_name():
    assert get_source("fashion-mnist") is FASHION_MNIST
    assert get_source("FashionMNIST") is FASHION_MNIST
    assert get_source("MNIST") is MNIST
    assert get_source(MNIST) is MNIST
    with pytest.raises(DatasetError, match="unknown data set 'cifar'.*fashion-mnist"):
        get_source("cifar")


def test_descriptors_are_complete():
    for source in (FASHION_MNIST, MNIST):
        assert list(source.files) == list(FILE_KEYS) and len(source.classes) == 10
        for resource in source.files.values():
            assert resource.filename.endswith("-ubyte.gz")
            assert len(resource.md5) == len(resource.content_md5) == 32


def test_candidate_roots_default_order(isolated, monkeypatch):
    monkeypatch.setenv("GRADFLOW_DATA", str(isolated / "mine"))
    assert candidate_roots("fashion-mnist") == [
        isolated / "mine" / "fashion-mnist",
        isolated / "home" / ".cache" / "gradflow" / "fashion-mnist",
        Path("/usr/share/datasets/fashion-mnist"),
        Path("/usr/share/fashion-mnist"),
        isolated / "data" / "fashion-mnist",
    ]


def test_candidate_roots_with_explicit_root(tmp_path):
    roots = candidate_roots(FASHION_MNIST, root=tmp_path)
    assert roots[:2] == [tmp_path, tmp_path / "fashion-mnist"]
    assert tmp_path / "FashionMNIST" / "raw" in roots
    assert all(root.is_relative_to(tmp_path) for root in roots)
    assert candidate_roots("unknown-set", root=tmp_path) == [tmp_path, tmp_path / "unknown-set"]


def test_locate_takes_first_complete_root_gz_or_raw(isolated, fake_release, monkeypatch):
    source, _, arrays = fake_release
    monkeypatch.setenv("GRADFLOW_DATA", str(isolated / "env"))
    partial = isolated / "env" / source.name
    partial.mkdir(parents=True)
    write_idx(partial / source.train_images.filename, arrays["train_images"])
    complete = isolated / "data" / source.name
    complete.mkdir(parents=True)
    for key, resource in source.files.items():
        name = resource.raw_filename if "labels" in key else resource.filename
        write_idx(complete / name, arrays[key])
    paths = locate(source)
    assert set(paths) == set(FILE_KEYS)
    assert paths["train_labels"] == complete / "train-labels-idx1-ubyte"
    assert paths["train_images"] == complete / "train-images-idx3-ubyte.gz"


def test_locate_finds_torchvision_layout(tmp_path, fake_release):
    source, folder, _ = fake_release
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.parent.mkdir()
    folder.rename(raw)
    assert locate(source, root=tmp_path)["test_labels"].parent == raw


def test_locate_error_lists_every_path_and_remedies(isolated, monkeypatch):
    monkeypatch.setenv("GRADFLOW_DATA", str(isolated / "env"))
    partial = isolated / "data" / "mnist"
    partial.mkdir(parents=True)
    (partial / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError) as caught:
        locate("mnist")
    message = str(caught.value)
    for root in candidate_roots("mnist"):
        assert str(root) in message
    assert "missing train-labels-idx1-ubyte[.gz]" in message
    assert "train-images-idx3-ubyte[.gz]" not in message
    assert "download=True" in message and "--download" in message and "--data-dir" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_locate_error_for_fashion_mnist_suggests_apt(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        locate(FASHION_MNIST, root=tmp_path / "empty")


def test_download_then_skip(tmp_path, fake_release, server):
    source, _, _ = fake_release
    base_url, requests = server
    target = tmp_path / "cache"
    paths = download(source, target, progress=False, base_url=base_url)
    assert set(paths) == set(FILE_KEYS) and len(requests) == 4
    for key, path in paths.items():
        assert path.parent == target and path.name == source.files[key].filename
        assert md5(path.read_bytes()) == source.files[key].md5
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in paths.values())
    assert download(source, target, progress=True, base_url=base_url) == paths
    assert len(requests) == 4, "files already present with the right checksum are not fetched"


def test_download_replaces_a_damaged_file(tmp_path, fake_release, server):
    source, _, _ = fake_release
    base_url, _ = server
    target = tmp_path / "cache"
    target.mkdir()
    (target / source.test_labels.filename).write_bytes(b"damaged")
    paths = download(source, target, progress=False, base_url=base_url)
    assert md5(paths["test_labels"].read_bytes()) == source.test_labels.md5


@pytest.mark.parametrize("tqdm_installed", [True, False], ids=["tqdm", "no-tqdm"])
def test_download_default_root_is_the_cache(isolated, fake_release, server, monkeypatch,
                                            tqdm_installed):
    source, _, _ = fake_release
    if not tqdm_installed:
        monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    paths = download(source, progress=True, base_url=server[0])
    cache = isolated / "home" / ".cache" / "gradflow" / source.name
    assert all(path.parent == cache for path in paths.values())
    assert locate(source) == paths


def test_download_checksum_mismatch_leaves_nothing(tmp_path, fake_release, server):
    source, _, _ = fake_release
    wrong = dataclasses.replace(source.train_labels, md5="0" * 32, content_md5="1" * 32)
    source = dataclasses.replace(source, train_labels=wrong)
    target = tmp_path / "cache"
    with pytest.raises(DatasetError) as caught:
        download(source, target, progress=False, base_url=server[0])
    message = str(caught.value)
    assert "train-labels-idx1-ubyte.gz" in message and "0" * 32 in message
    actual = md5((tmp_path / "release" / "train-labels-idx1-ubyte.gz").read_bytes())
    assert actual in message
    assert not (target / "train-labels-idx1-ubyte.gz").exists()
    assert not list(target.glob(".*part")), "no temporary file is left behind"


def test_download_accepts_regzipped_copy_by_content_checksum(tmp_path, fake_release, server):
    source, _, _ = fake_release
    other_archive = dataclasses.replace(source.test_images, md5="f" * 32)
    source = dataclasses.replace(source, test_images=other_archive)
    paths = download(source, tmp_path / "cache", progress=False, base_url=server[0])
    assert paths["test_images"].exists()


def test_download_http_error_is_not_found(tmp_path, fake_release, server):
    source, _, _ = fake_release
    with pytest.raises(DatasetNotFoundError, match="could not download .*/missing/train-images"):
        download(source, tmp_path / "cache", progress=False, base_url=server[0] + "missing/")
    assert not list((tmp_path / "cache").iterdir())


def test_load_downloads_when_asked(isolated, fake_release, server):
    source, _, arrays = fake_release
    source = dataclasses.replace(source, base_url=server[0])
    with pytest.raises(DatasetNotFoundError):
        load_images_labels(source)
    images, labels = load_images_labels(source, train=False, download=True)
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    np.testing.assert_array_equal(images, arrays["test_images"])
    np.testing.assert_array_equal(labels, arrays["test_labels"])
    images, _ = load_images_labels(source, train=True)
    assert images.shape == (12, 28, 28)


def test_load_rejects_count_mismatch(tmp_path, fake_release):
    source, folder, arrays = fake_release
    write_idx(folder / source.test_labels.filename, arrays["test_labels"][:4])
    with pytest.raises(DatasetError, match=r"5 images in .*t10k-images.* but 4 labels"):
        load_images_labels(source, train=False, root=folder, verify=False)


def test_load_verifies_content_checksum(tmp_path, fake_release):
    source, folder, arrays = fake_release
    write_idx(folder / source.test_images.raw_filename, arrays["test_images"][::-1].copy())
    (folder / source.test_images.filename).unlink()
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.*md5.*verify=False"):
        load_images_labels(source, train=False, root=folder)
    images, _ = load_images_labels(source, train=False, root=folder, verify=False)
    np.testing.assert_array_equal(images, arrays["test_images"][::-1])


def test_load_rejects_swapped_files(tmp_path, fake_release):
    source, folder, _ = fake_release
    images = folder / source.test_images.filename
    labels = folder / source.test_labels.filename
    images.rename(folder / "swap")
    labels.rename(images)
    (folder / "swap").rename(labels)
    with pytest.raises(DatasetError, match="expected uint8 images of shape"):
        load_images_labels(source, train=False, root=folder, verify=False)


debian = pytest.mark.skipif(
    not all((DEBIAN_DIR / r.filename).is_file() for r in FASHION_MNIST.files.values()),
    reason=f"Fashion-MNIST is not in {DEBIAN_DIR} (apt-get install dataset-fashion-mnist)",
)


@debian
def test_debian_fashion_mnist_is_found_without_configuration(isolated):
    assert locate("fashion-mnist") == {
        key: DEBIAN_DIR / resource.filename for key, resource in FASHION_MNIST.files.items()
    }


@debian
@pytest.mark.parametrize("train, count", [(True, 60000), (False, 10000)], ids=["train", "test"])
def test_debian_fashion_mnist_loads(train, count):
    images, labels = load_images_labels(FASHION_MNIST, train=train, root=DEBIAN_DIR)
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 9
    np.testing.assert_array_equal(np.bincount(labels), [count // 10] * 10)
    assert 0 < images.mean() < 255 and images.max() == 255


@debian
def test_debian_fashion_mnist_checksums():
    for resource in FASHION_MNIST.files.values():
        path = DEBIAN_DIR / resource.filename
        assert sources._content_md5(path) == resource.content_md5, path
        assert sources._file_matches(path, resource), path


def test_digits():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 16
    np.testing.assert_array_equal(images, np.round(images))
    counts = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    np.testing.assert_array_equal(np.bincount(labels), counts)


def test_digits_npz_is_small_and_plain():
    path = Path(sources.__file__).with_name("digits.npz")
    assert path.stat().st_size < 100_000
    with np.load(path, allow_pickle=False) as archive:
        assert archive["images"].dtype == np.uint8 and archive["labels"].dtype == np.int64


def test_digits_match_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    reference = datasets.load_digits()
    images, labels = load_digits()
    np.testing.assert_array_equal(images, reference.images.astype(np.float32))
    np.testing.assert_array_equal(labels, reference.target)
