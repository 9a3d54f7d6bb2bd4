"""gradflow's pytest plugin (entry point `pytest11`), for gradflow's suite and for users'.

Options:
    --gradflow-devices=LIST   comma-separated devices, or "all" for every available one
                              (default: cpu and strict, plus cuda when a GPU is present);
                              an unknown name is a usage error
    --gradflow-require-gpu    a missing GPU fails CUDA cases instead of skipping them

Fixtures (in gradflow's namespace, so other projects' `device` fixtures are untouched):
    gradflow_device   one test per device in the list (CUDA cases carry the `gpu` mark);
                      an unavailable device skips with the reason
    gradflow_xp       the array namespace of `gradflow_device`
    gradflow_dtype    gf.float32 and gf.float64 (float64 is skipped where the device lacks it)
    gradflow_float64_device
                      `gradflow_device`, skipped where it lacks float64 (for tests written in
                      float64)

A project that wants shorter names aliases them in its conftest.py:

    @pytest.fixture
    def device(gradflow_device):
        return gradflow_device
"""

from __future__ import annotations

import pytest

DEVICE_FIXTURE = "gradflow_device"


def pytest_addoption(parser):
    group = parser.getgroup("gradflow")
    group.addoption("--gradflow-devices", default=None,
                    help="devices for the `gradflow_device` fixture: e.g. "
                         "cpu,strict,strict:device1,cuda; 'all' for every available one")
    group.addoption("--gradflow-require-gpu", action="store_true", default=False,
                    help="fail, rather than skip, CUDA cases when no GPU is usable")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU and CuPy")
    config.addinivalue_line("markers", "slow: long-running check")
    if config.getoption("--gradflow-devices", default=None) is not None:
        selected_devices(config)  # an unknown name stops the run before collection


def selected_devices(config) -> list[str]:
    """The device names the run asked for (unavailable ones included, to be skipped)."""
    from gradflow.backends import available_devices
    from gradflow.testing.devices import UnknownDeviceError, parse_device_list

    raw = config.getoption("--gradflow-devices")
    if raw is None:
        devices = ["cpu", "strict"]
        devices += [d for d, status in available_devices().items()
                    if d.startswith("cuda") and status == "available"][:1]
        if config.getoption("--gradflow-require-gpu") and not any(
            d.startswith("cuda") for d in devices
        ):
            devices.append("cuda")
        return devices
    try:
        return parse_device_list(raw)
    except UnknownDeviceError as exc:
        raise pytest.UsageError(f"--gradflow-devices={raw}: {exc}") from None


def _directly_parametrized(metafunc) -> set[str]:
    names: set[str] = set()
    for mark in metafunc.definition.iter_markers("parametrize"):
        given = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        names.update(n.strip() for n in given.split(",")) if isinstance(given, str) \
            else names.update(given)
    return names


def _needs_device(metafunc) -> bool:
    """Whether the test reaches `gradflow_device` through fixtures it did not parametrize itself
    (a test that parametrizes an alias such as `device` chose its own devices)."""
    if DEVICE_FIXTURE not in metafunc.fixturenames:
        return False
    direct = _directly_parametrized(metafunc)
    if DEVICE_FIXTURE in direct:
        return False
    definitions = getattr(metafunc, "_arg2fixturedefs", None)
    info = getattr(metafunc.definition, "_fixtureinfo", None)
    if definitions is None or info is None:
        return True
    stack, seen = [n for n in info.initialnames if n not in direct], set()
    while stack:
        name = stack.pop()
        if name == DEVICE_FIXTURE:
            return True
        if name in seen:
            continue
        seen.add(name)
        for definition in definitions.get(name, ()):
            stack.extend(n for n in definition.argnames if n not in direct)
    return False


def pytest_generate_tests(metafunc):
    if not _needs_device(metafunc):
        return
    params = []
    for name in selected_devices(metafunc.config):
        marks = [pytest.mark.gpu] if name.startswith("cuda") else []
        params.append(pytest.param(name, id=name, marks=marks))
    metafunc.parametrize(DEVICE_FIXTURE, params, indirect=True)


@pytest.fixture
def gradflow_device(request):
    """A device name from --gradflow-devices; unavailable ones skip (or fail, for a required
    GPU)."""
    from gradflow.testing.devices import unavailable_reason

    name = getattr(request, "param", None)
    if name is None:
        pytest.fail("gradflow_device is parametrized by the gradflow plugin; it got no device "
                    "(was the test parametrized over it by hand?)")
    reason = unavailable_reason(name)
    if reason is not None:
        if name.startswith("cuda") and request.config.getoption("--gradflow-require-gpu"):
            pytest.fail(f"--gradflow-require-gpu: {reason}")
        pytest.skip(f"device {name} unavailable: {reason}")
    return name


@pytest.fixture
def gradflow_xp(gradflow_device):
    """The array namespace behind `gradflow_device`."""
    from gradflow.backends import get_backend

    return get_backend(gradflow_device).xp


@pytest.fixture(params=["float32", "float64"])
def gradflow_dtype(request, gradflow_device):
    """gf.float32 and gf.float64, skipping float64 where `gradflow_device` lacks it."""
    from gradflow import dtypes
    from gradflow.backends import get_backend

    chosen = dtypes.by_name(request.param)
    if chosen not in get_backend(gradflow_device).to_xp:
        pytest.skip(f"device {gradflow_device} has no {chosen.name}")
    return chosen


@pytest.fixture
def gradflow_float64_device(gradflow_device):
    """`gradflow_device`, for a test that needs float64: skipped where the device lacks it
    (array-api-strict's simulated "strict:no_float64")."""
    from gradflow import dtypes
    from gradflow.backends import get_backend

    if dtypes.float64 not in get_backend(gradflow_device).to_xp:
        pytest.skip(f"device {gradflow_device} has no float64")
    return gradflow_device


def pytest_runtest_setup(item):
    """`gpu`-marked tests without the device fixture: skip without a GPU, or fail if required."""
    if "gpu" not in item.keywords or DEVICE_FIXTURE in getattr(item, "fixturenames", ()):
        return
    from gradflow.cuda import is_available, why_unavailable

    if not is_available():
        if item.config.getoption("--gradflow-require-gpu"):
            pytest.fail(f"--gradflow-require-gpu: {why_unavailable()}")
        pytest.skip(f"no GPU: {why_unavailable()}")
