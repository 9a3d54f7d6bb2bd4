"""Tests for gradflow.random: Philox known answers, cross-backend bit identity, state,
statistics."""

import json
import threading

import array_api_compat.numpy as numpy_xp
import array_api_strict
import numpy
import pytest

from gradflow.random import (
    Generator,
    _philox4x32,
    get_rng_state,
    manual_seed,
    set_rng_state,
)

STRICT_CPU = array_api_strict.Device("CPU_DEVICE")
STRICT_DEVICES = [
    pytest.param(STRICT_CPU, id="strict-cpu"),
    pytest.param(array_api_strict.Device("device1"), id="strict-device1"),
    pytest.param(array_api_strict.Device("no_float64"), id="strict-no_float64"),
]
BACKENDS = [
    pytest.param(numpy_xp, None, id="numpy"),
    pytest.param(numpy_xp, "cpu", id="numpy-cpu"),
    pytest.param(array_api_strict, STRICT_CPU, id="strict-cpu"),
    pytest.param(array_api_strict, array_api_strict.Device("device1"), id="strict-device1"),
    pytest.param(array_api_strict, array_api_strict.Device("no_float64"), id="strict-no_float64"),
]

MASK32 = 0xFFFFFFFF
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((MASK32,) * 4, (MASK32,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def to_numpy(array):
    if type(array).__module__.startswith("array_api_strict"):
        array = array.to_device(STRICT_CPU)
    return numpy.asarray(array)


def has_float64(xp, device):
    return "float64" in xp.__array_namespace_info__().dtypes(device=device)


def philox_reference(counter, key):
    """Scalar Philox4x32-10 on Python ints, the textbook form."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for round_index in range(10):
        if round_index:
            k0, k1 = (k0 + 0x9E3779B9) & MASK32, (k1 + 0xBB67AE85) & MASK32
        product0, product1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (
            (product1 >> 32) ^ c1 ^ k0,
            product1 & MASK32,
            (product0 >> 32) ^ c3 ^ k1,
            product0 & MASK32,
        )
    return c0, c1, c2, c3


def draw_everything(generator, xp, device, float64):
    """One fixed sequence of calls; returns NumPy copies of every result."""
    results = {
        "bits": generator.random_bits(13, xp, device),
        "uniform32": generator.uniform((7, 9), xp, device),
        "uniform_scaled": generator.uniform(11, xp, device, low=-3.0, high=5.0),
        "normal32": generator.normal((5, 3), xp, device, mean=1.0, std=2.0),
        "integers": generator.integers(-5, 17, (6, 4), xp, device),
        "integers_int32": generator.integers(-(2**31), 2**31, 50, xp, device, dtype=xp.int32),
        "integers_uint8": generator.integers(0, 256, 50, xp, device, dtype=xp.uint8),
        "integers_wide": generator.integers(0, 2**64, 20, xp, device, dtype=xp.uint64),
        "permutation": generator.permutation(37, xp, device),
        "bernoulli": generator.bernoulli(0.3, (8, 8), xp, device),
    }
    if float64:
        results["uniform64"] = generator.uniform(21, xp, device, dtype=xp.float64)
        results["normal64"] = generator.normal(21, xp, device, dtype=xp.float64)
    results["bits_after"] = generator.random_bits(9, xp, device)
    return {name: to_numpy(value) for name, value in results.items()}


@pytest.fixture(autouse=True)
def restore_default_generator():
    state = get_rng_state()
    yield
    set_rng_state(state)


@pytest.mark.parametrize("xp, device", BACKENDS)
@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox_known_answers(xp, device, counter, key, expected):
    words = [xp.asarray([word], dtype=xp.uint64, device=device) for word in counter]
    output = _philox4x32(words, key, xp)
    assert tuple(int(to_numpy(word)[0]) for word in output) == expected


@pytest.mark.parametrize("xp, device", BACKENDS)
@pytest.mark.parametrize("offset", [0, 2**32 - 2, 2**64 - 3, 2**96 - 1])
def test_random_bits_follow_counter_layout(xp, device, offset):
    seed = 0x0123456789ABCDEF
    generator = Generator(seed)
    generator.set_state({"algorithm": "philox4x32-10", "seed": seed, "offset": offset})
    bits = generator.random_bits(14, xp, device)
    assert bits.dtype == xp.uint32 and bits.shape == (14,)
    expected = []
    for block in range(4):
        counter = offset + block
        words = tuple((counter >> (32 * i)) & MASK32 for i in range(4))
        expected.extend(philox_reference(words, (seed & MASK32, seed >> 32)))
    assert to_numpy(bits).tolist() == expected[:14]
    assert generator.get_state()["offset"] == offset + 4


@pytest.mark.parametrize("device", STRICT_DEVICES)
def test_streams_bit_identical_across_backends(device):
    float64 = has_float64(array_api_strict, device)
    reference = draw_everything(Generator(2024), numpy_xp, None, float64)
    strict = draw_everything(Generator(2024), array_api_strict, device, float64)
    assert reference.keys() == strict.keys()
    for name, expected in reference.items():
        actual = strict[name]
        assert actual.dtype == expected.dtype, name
        assert actual.shape == expected.shape, name
        assert actual.tobytes() == expected.tobytes(), name


def test_numpy_device_none_and_cpu_agree():
    with_none = draw_everything(Generator(5), numpy_xp, None, True)
    with_cpu = draw_everything(Generator(5), numpy_xp, "cpu", True)
    for name, expected in with_none.items():
        assert with_cpu[name].tobytes() == expected.tobytes(), name


@pytest.mark.parametrize("xp, device", BACKENDS)
def test_manual_seed_reproduces(xp, device):
    first = draw_everything(manual_seed(77), xp, device, False)
    second = draw_everything(manual_seed(77), xp, device, False)
    for name, expected in first.items():
        assert second[name].tobytes() == expected.tobytes(), name
    other = to_numpy(manual_seed(78).random_bits(13, xp, device))
    assert other.tolist() != first["bits"].tolist()


def test_state_round_trip_through_json():
    generator = Generator(11)
    generator.random_bits(5, numpy_xp)
    assert generator.get_state() == {"algorithm": "philox4x32-10", "seed": 11, "offset": 2}
    saved = json.loads(json.dumps(generator.get_state()))
    first = to_numpy(generator.uniform(100, numpy_xp))
    generator.uniform(3, numpy_xp)
    generator.set_state(saved)
    assert to_numpy(generator.uniform(100, numpy_xp)).tobytes() == first.tobytes()

    manual_seed(3)
    state = get_rng_state()
    first = to_numpy(Generator(3).normal(10, numpy_xp))
    manual_seed(4).normal(10, numpy_xp)
    set_rng_state(state)
    from gradflow.random import default_generator

    assert to_numpy(default_generator.normal(10, numpy_xp)).tobytes() == first.tobytes()


def test_successive_calls_differ():
    generator = Generator(0)
    first = to_numpy(generator.uniform(64, numpy_xp))
    second = to_numpy(generator.uniform(64, numpy_xp))
    assert not numpy.array_equal(first, second)
    assert generator.get_state()["offset"] == 32


def test_seed_normalisation():
    assert Generator(-1).seed == 2**64 - 1
    assert Generator(2**64 - 1).seed == 2**64 - 1
    assert Generator(numpy.int64(9)).seed == 9
    assert Generator().manual_seed(-(2**63)).seed == 2**63


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 1.5, "3", None, True])
def test_bad_seeds_raise(seed):
    with pytest.raises(ValueError, match="seed"):
        Generator(seed)
    with pytest.raises(ValueError, match="seed"):
        manual_seed(seed)


@pytest.mark.parametrize(
    "state",
    [
        None,
        [0, 0],
        {"algorithm": "philox4x32-10", "seed": 1},
        {"algorithm": "philox4x32-10", "seed": 1, "offset": 0, "extra": 1},
        {"algorithm": "threefry", "seed": 1, "offset": 0},
        {"algorithm": "philox4x32-10", "seed": -1, "offset": 0},
        {"algorithm": "philox4x32-10", "seed": 2**64, "offset": 0},
        {"algorithm": "philox4x32-10", "seed": 1.0, "offset": 0},
        {"algorithm": "philox4x32-10", "seed": 1, "offset": -1},
        {"algorithm": "philox4x32-10", "seed": 1, "offset": 2**128},
        {"algorithm": "philox4x32-10", "seed": 1, "offset": "0"},
    ],
)
def test_bad_states_raise(state):
    generator = Generator(1)
    with pytest.raises(ValueError, match="state"):
        generator.set_state(state)
    assert generator.get_state() == {"algorithm": "philox4x32-10", "seed": 1, "offset": 0}


def test_bad_arguments_raise():
    generator = Generator(0)
    with pytest.raises(ValueError, match="high > low"):
        generator.integers(3, 3, 5, numpy_xp)
    with pytest.raises(ValueError, match="does not fit"):
        generator.integers(0, 300, 5, numpy_xp, dtype=numpy_xp.uint8)
    with pytest.raises(ValueError, match="bernoulli"):
        generator.bernoulli(1.5, 5, numpy_xp)
    with pytest.raises(ValueError, match="low < high"):
        generator.uniform(5, numpy_xp, low=1.0, high=0.0)
    with pytest.raises(ValueError, match="std"):
        generator.normal(5, numpy_xp, std=-1.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        generator.uniform(5, numpy_xp, dtype=numpy_xp.int32)
    with pytest.raises(TypeError, match="integer dtype"):
        generator.integers(0, 2, 5, numpy_xp, dtype=numpy_xp.float32)


def test_float64_on_no_float64_device_raises():
    device = array_api_strict.Device("no_float64")
    generator = Generator(0)
    for draw in (generator.uniform, generator.normal):
        with pytest.raises((TypeError, ValueError), match="float64"):
            draw(4, array_api_strict, device, dtype=array_api_strict.float64)


@pytest.mark.parametrize("xp, device", BACKENDS)
def test_extreme_words_stay_in_range(xp, device, monkeypatch):
    dtypes = [xp.float32] + ([xp.float64] if has_float64(xp, device) else [])
    for word in (0, MASK32):
        monkeypatch.setattr(
            Generator,
            "_words",
            lambda self, count, xp, device, word=word: xp.full(
                (count,), word, dtype=xp.uint64, device=device
            ),
        )
        for dtype in dtypes:
            uniform = to_numpy(Generator(0).uniform(8, xp, device, dtype=dtype))
            assert numpy.all((uniform >= 0.0) & (uniform < 1.0))
            assert numpy.all(numpy.isfinite(to_numpy(Generator(0).normal(8, xp, device, dtype))))


@pytest.mark.parametrize("xp, device", BACKENDS)
def test_statistics(xp, device):
    generator = Generator(123)
    uniform = to_numpy(generator.uniform(100_000, xp, device))
    assert uniform.dtype == numpy.float32
    assert uniform.min() >= 0.0 and uniform.max() < 1.0
    assert abs(uniform.mean() - 0.5) < 0.005
    assert abs(uniform.var() - 1 / 12) < 0.002

    normal = to_numpy(generator.normal(100_000, xp, device))
    assert abs(normal.mean()) < 0.02
    assert abs(normal.std() - 1.0) < 0.02
    assert abs((numpy.abs(normal) < 1.0).mean() - 0.6827) < 0.01

    integers = to_numpy(generator.integers(-3, 7, 10_000, xp, device))
    assert integers.dtype == numpy.int64
    counts = numpy.bincount(integers + 3, minlength=10)
    assert counts.size == 10 and counts.min() > 850 and counts.max() < 1150

    permutation = to_numpy(generator.permutation(1000, xp, device))
    assert permutation.dtype == numpy.int64
    assert sorted(permutation.tolist()) == list(range(1000))
    assert permutation.tolist() != list(range(1000))
    assert to_numpy(generator.permutation(0, xp, device)).shape == (0,)

    mask = to_numpy(generator.bernoulli(0.2, (100, 1000), xp, device))
    assert mask.dtype == numpy.bool_ and mask.shape == (100, 1000)
    assert abs(mask.mean() - 0.2) < 0.005
    assert not to_numpy(generator.bernoulli(0.0, 1000, xp, device)).any()
    assert to_numpy(generator.bernoulli(1.0, 1000, xp, device)).all()


def test_concurrent_draws_never_share_counters():
    generator = Generator(9)
    chunks = []
    lock = threading.Lock()

    def worker():
        for _ in range(10):
            bits = to_numpy(generator.random_bits(400, numpy_xp)).tolist()
            with lock:
                chunks.extend(bits)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert generator.get_state()["offset"] == 8 * 10 * 100
    sequential = to_numpy(Generator(9).random_bits(8 * 10 * 400, numpy_xp)).tolist()
    assert sorted(chunks) == sorted(sequential)
