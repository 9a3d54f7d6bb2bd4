"""Dataset composition, collate of nested samples, background workers, per-sample transforms."""

from __future__ import annotations

import collections
import threading
import time

import numpy as np
import pytest

import gradflow as gf
from gradflow.data import (
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    current_generator,
    default_collate,
    random_split,
)
from gradflow.data import (
    transforms as T,
)
from gradflow.errors import ConfigError, DatasetError, IndexingError


class Numbers(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return index


class Stream(IterableDataset):
    def __init__(self, start, stop):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self):
        return self.stop - self.start


# -- composition ----------------------------------------------------------------------------

def test_random_split_by_sizes_and_fractions():
    parts = random_split(Numbers(10), [7, 3], generator=gf.Generator(1))
    assert [len(p) for p in parts] == [7, 3]
    items = [p[i] for p in parts for i in range(len(p))]
    assert sorted(items) == list(range(10))
    again = random_split(Numbers(10), [7, 3], generator=gf.Generator(1))
    assert [again[0][i] for i in range(7)] == [parts[0][i] for i in range(7)]
    fractions = random_split(Numbers(11), [0.5, 0.3, 0.2], generator=gf.Generator(0))
    assert [len(p) for p in fractions] == [6, 3, 2]
    with pytest.raises(ConfigError, match="sum to 9"):
        random_split(Numbers(10), [5, 4])


def test_subset_and_concat_index_like_lists():
    sub = Subset(Numbers(10), [9, 3, 5])
    assert [sub[i] for i in range(3)] == [9, 3, 5] and sub[-1] == 5
    both = ConcatDataset([Numbers(3), Subset(Numbers(10), [7, 8])])
    assert len(both) == 5 and [both[i] for i in range(5)] == [0, 1, 2, 7, 8]
    assert both[-1] == 8
    with pytest.raises(IndexingError, match="out of range"):
        both[5]
    with pytest.raises(ConfigError, match="ChainDataset"):
        ConcatDataset([Stream(0, 2)])


def test_chain_dataset_batches_through_the_loader():
    chain = ChainDataset([Stream(0, 3), Stream(10, 14)])
    assert list(chain) == [0, 1, 2, 10, 11, 12, 13] and len(chain) == 7
    batches = [b.tolist() for b in DataLoader(chain, batch_size=3)]
    assert batches == [[0, 1, 2], [10, 11, 12], [13]]
    assert [b.tolist() for b in DataLoader(chain, batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [10, 11, 12]]
    with pytest.raises(ConfigError, match="IterableDataset"):
        DataLoader(chain, shuffle=True)


# -- collate ------------------------------------------------------------------------------------

Point = collections.namedtuple("Point", ["x", "label"])


def test_collate_dicts_tuples_named_tuples_and_nesting():
    samples = [{"image": gf.full((2,), float(i)), "meta": (i, {"name": f"s{i}", "w": 0.5 * i}),
                "point": Point(gf.tensor([i, i]), i % 2), "tags": [i, -i]} for i in range(3)]
    batch = default_collate(samples)
    assert batch["image"].shape == (3, 2)
    ids, inner = batch["meta"]
    assert ids.tolist() == [0, 1, 2] and ids.dtype is gf.int64
    assert inner["name"] == ["s0", "s1", "s2"] and inner["w"].tolist() == [0.0, 0.5, 1.0]
    assert isinstance(batch["point"], Point) and batch["point"].x.shape == (3, 2)
    assert batch["point"].label.tolist() == [0, 1, 0]
    assert isinstance(batch["tags"], list) and batch["tags"][1].tolist() == [0, -1, -2]
    assert default_collate([np.ones(2, np.float32), np.zeros(2, np.float32)]).dtype is gf.float32


def test_collate_refuses_ragged_samples():
    with pytest.raises(DatasetError, match=r"\(2,\).*\(3,\)"):
        default_collate([gf.zeros(2), gf.zeros(3)])
    with pytest.raises(DatasetError, match="different keys"):
        default_collate([{"a": 1}, {"b": 1}])


# -- background workers -----------------------------------------------------------------------

class Noisy(Dataset):
    """Each sample adds noise from the current generator; slow, unevenly, to mix up workers."""

    def __init__(self, n=24):
        self.n, self.threads = n, set()

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        self.threads.add(threading.get_ident())
        time.sleep(0.002 * (index % 3))
        noise = gf.randn(3, generator=current_generator())
        return gf.full((3,), float(index)) + noise, index


def _epochs(num_workers, device="cpu", epochs=2):
    dataset = Noisy()
    loader = DataLoader(dataset, batch_size=5, shuffle=True, seed=7, num_workers=num_workers,
                        device=device, transform=T.Compose([_Jitter()]))
    runs = [[(x.numpy().copy(), y.tolist()) for x, y in loader] for _ in range(epochs)]
    return runs, dataset.threads


class _Jitter:
    """A batch transform drawing per-sample randomness."""

    def __call__(self, batch):
        x, y = batch
        shift = gf.rand(x.shape[0], 1, generator=current_generator(), device=x.device)
        return x + shift, y


@pytest.mark.parametrize("device", ["cpu", "strict:device1"])
def test_workers_give_the_same_batches_and_augmentation_as_none(device):
    serial, serial_threads = _epochs(0, device)
    parallel, parallel_threads = _epochs(3, device)
    assert len(serial_threads) == 1 and len(parallel_threads) > 1
    for a_epoch, b_epoch in zip(serial, parallel):
        assert [y for _, y in a_epoch] == [y for _, y in b_epoch]
        for (a, _), (b, _) in zip(a_epoch, b_epoch):
            np.testing.assert_array_equal(a, b)
    assert [y for _, y in serial[0]] != [y for _, y in serial[1]]  # reshuffled
    first = {i: x for x, ys in serial[0] for i, x in zip(ys, x)}
    second = {i: x for x, ys in serial[1] for i, x in zip(ys, x)}
    assert not np.allclose(first[0], second[0])  # new noise each epoch


def test_workers_stop_cleanly_when_the_loop_breaks():
    loader = DataLoader(Noisy(40), batch_size=2, num_workers=2)
    for number, _ in enumerate(loader):
        if number == 1:
            break
    assert len(list(loader)) == 20


def test_plain_tensor_batches_draw_no_randomness():
    gf.manual_seed(3)
    state = gf.get_rng_state()
    loader = DataLoader(TensorDataset(gf.arange(10)), batch_size=4)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert gf.get_rng_state() == state


@pytest.mark.parametrize("name, value", [("num_workers", -1), ("num_workers", 1.5),
                                         ("prefetch_factor", 0)])
def test_worker_options_are_checked(name, value):
    with pytest.raises(ConfigError, match=name):
        DataLoader(Numbers(3), **{name: value})


# -- per-sample transforms, batch-wise ------------------------------------------------------------

def _images(n=8, c=3, size=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, c, size, size)).astype(np.float32)


def _windows(padded: np.ndarray, h: int, w: int) -> list:
    return [padded[:, i:i + h, j:j + w] for i in range(padded.shape[1] - h + 1)
            for j in range(padded.shape[2] - w + 1)]


@pytest.mark.parametrize("device", ["cpu", "strict:device1"])
def test_random_crop_takes_its_own_window_per_image(device):
    images = np.repeat(_images(1), 16, axis=0)  # the same image 16 times
    out = T.RandomCrop(4, padding=2, generator=gf.Generator(0))(
        gf.tensor(images, device=device)).numpy()
    padded = np.pad(images[0], ((0, 0), (2, 2), (2, 2)))
    windows = _windows(padded, 4, 4)
    found = set()
    for crop in out:
        matches = [k for k, window in enumerate(windows) if np.array_equal(window, crop)]
        assert matches, "each crop is a window of the padded image"
        found.add(matches[0])
    assert len(found) > 4  # per image, not one window for the batch


def test_horizontal_flip_per_image():
    images = _images(16)
    out = T.RandomHorizontalFlip(generator=gf.Generator(1))(gf.tensor(images)).numpy()
    flipped = [np.array_equal(o, i[:, :, ::-1]) for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_random_resized_crop_resizes_like_interpolate():
    torch = pytest.importorskip("torch")
    images = _images(6, size=12)
    transform = T.RandomResizedCrop(5, scale=(0.2, 0.9), generator=gf.Generator(2))
    boxes = transform._windows(6, 12, 12, gf.Generator(2))
    out = transform(gf.tensor(images)).numpy()
    assert len({tuple(b) for b in boxes}) == 6
    for image, (top, left, h, w), result in zip(images, boxes, out):
        crop = torch.from_numpy(image[None, :, top:top + h, left:left + w].copy())
        expected = torch.nn.functional.interpolate(crop, size=(5, 5), mode="bilinear",
                                                   align_corners=False)[0].numpy()
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    whole = T.RandomResizedCrop(12, scale=(1.0, 1.0), ratio=(1.0, 1.0))(gf.tensor(images))
    np.testing.assert_allclose(whole.numpy(), images, atol=1e-6)


def test_color_jitter_per_image_factors():
    images = np.repeat(_images(1, c=3) * 0.5, 8, axis=0)
    out = T.ColorJitter(brightness=0.4, generator=gf.Generator(3))(gf.tensor(images)).numpy()
    factors = out[:, 0, 0, 0] / images[:, 0, 0, 0]
    np.testing.assert_allclose(out, images * factors[:, None, None, None], rtol=1e-5)
    assert np.all((factors >= 0.6) & (factors <= 1.4)) and len(set(factors.round(6))) == 8
    contrast = T.ColorJitter(contrast=0.5, generator=gf.Generator(4))(gf.tensor(images)).numpy()
    grey = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).mean(
        axis=(1, 2))
    c = (contrast[:, 0, 0, 0] - grey) / (images[:, 0, 0, 0] - grey)
    np.testing.assert_allclose(contrast, np.clip(
        c[:, None, None, None] * images + (1 - c[:, None, None, None]) * grey[:, None, None,
                                                                               None], 0, 1),
        rtol=1e-4, atol=1e-6)


def test_normalize_to_tensor_and_compose_list():
    images = _images(2)
    out = T.Compose([T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.5))])(
        (gf.tensor(images), gf.arange(2)))
    mean, std = np.array([0.5, 0.4, 0.3])[:, None, None], np.array([0.2, 0.25, 0.5])[:, None,
                                                                                      None]
    np.testing.assert_allclose(out[0].numpy(), (images - mean) / std, rtol=1e-5)
    array = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    tensor = T.ToTensor()(array)
    assert tensor.shape == (3, 2, 4) and tensor.dtype is gf.float32
    np.testing.assert_allclose(tensor.numpy(), array.transpose(2, 0, 1) / 255.0, rtol=1e-6)


@pytest.mark.parametrize("make, phrase", [
    (lambda: T.RandomCrop(0), "size"), (lambda: T.RandomCrop(3, padding=-1), "padding"),
    (lambda: T.RandomHorizontalFlip(p=2), "probability"),
    (lambda: T.RandomResizedCrop(4, scale=(0.9, 0.1)), "scale"),
    (lambda: T.ColorJitter(brightness=-1), "brightness"),
    (lambda: T.Normalize((0.5,), (0.0,)), "zero"), (lambda: T.Compose([3]), "callable"),
])
def test_transform_options_are_checked(make, phrase):
    with pytest.raises(ConfigError, match=phrase):
        make()
