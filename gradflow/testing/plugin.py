"""gradflow's pytest plugin (entry point `pytest11`), for gradflow's suite and for users'.

Options:
    --gradflow-devices=LIST   comma-separated devices, or "all" for every available one
                              (default: cpu and strict, plus cuda when a GPU is present)
    --gradflow-require-gpu    a missing GPU fails CUDA cases instead of skipping them

Fixtures:
    device   one test per device in the list (CUDA cases carry the `gpu` mark)
    xp       the array namespace of `device`
    dtype    gf.float32 and gf.float64 (float64 is skipped where the device lacks it)
    float64_device
             `device`, skipped where it lacks float64 (for tests written in float64;
             @pytest.mark.usefixtures("float64_device") beside `device`)
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("gradflow")
    group.addoption("--gradflow-devices", default=None,
                    help="devices for the `device` fixture: e.g. cpu,strict,strict:device1,cuda; "
                         "'all' for every available one")
    group.addoption("--gradflow-require-gpu", action="store_true", default=False,
                    help="fail, rather than skip, CUDA cases when no GPU is usable")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU and CuPy")
    config.addinivalue_line("markers", "slow: long-running check")


def selected_devices(config) -> list[str]:
    """The device names the run asked for (unavailable ones included, to be skipped)."""
    from gradflow.backends import available_devices

    raw = config.getoption("--gradflow-devices")
    available = available_devices()
    if raw is None:
        devices = ["cpu", "strict"]
        devices += [d for d, status in available.items()
                    if d.startswith("cuda") and status == "available"][:1]
        if config.getoption("--gradflow-require-gpu") and not any(
            d.startswith("cuda") for d in devices
        ):
            devices.append("cuda")
        return devices
    if raw.strip() == "all":
        return [d for d, status in available.items() if status == "available"]
    return [d.strip() for d in raw.split(",") if d.strip()]


def _device_unavailable(name: str) -> str | None:
    from gradflow.backends import get_backend
    from gradflow.errors import BackendUnavailableError

    try:
        get_backend(name)
    except BackendUnavailableError as exc:
        return str(exc)
    return None


def pytest_generate_tests(metafunc):
    if "device" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "device" in names:
            return  # the test chose its own devices
    params = []
    for name in selected_devices(metafunc.config):
        marks = [pytest.mark.gpu] if name.startswith("cuda") else []
        params.append(pytest.param(name, id=name, marks=marks))
    metafunc.parametrize("device", params, indirect=True)


@pytest.fixture
def device(request):
    """A device name from --gradflow-devices; unavailable ones skip (or fail, for a required GPU)."""
    name = request.param
    reason = _device_unavailable(name)
    if reason is not None:
        if name.startswith("cuda") and request.config.getoption("--gradflow-require-gpu"):
            pytest.fail(f"--gradflow-require-gpu: {reason}")
        pytest.skip(f"device {name} unavailable: {reason}")
    return name


@pytest.fixture
def xp(device):
    """The array namespace behind `device`."""
    from gradflow.backends import get_backend

    return get_backend(device).xp


@pytest.fixture(params=["float32", "float64"])
def dtype(request, device):
    """gf.float32 and gf.float64, skipping float64 where `device` lacks it."""
    from gradflow import dtypes
    from gradflow.backends import get_backend

    chosen = dtypes.by_name(request.param)
    if chosen not in get_backend(device).to_xp:
        pytest.skip(f"device {device} has no {chosen.name}")
    return chosen


@pytest.fixture
def float64_device(device):
    """`device`, for a test that needs float64: skipped where the device lacks it
    (array-api-strict's simulated "strict:no_float64")."""
    from gradflow import dtypes
    from gradflow.backends import get_backend

    if dtypes.float64 not in get_backend(device).to_xp:
        pytest.skip(f"device {device} has no float64")
    return device


def pytest_runtest_setup(item):
    """`gpu`-marked tests without the device fixture: skip without a GPU, or fail if required."""
    if "gpu" not in item.keywords or "device" in getattr(item, "fixturenames", ()):
        return
    from gradflow.cuda import is_available, why_unavailable

    if not is_available():
        if item.config.getoption("--gradflow-require-gpu"):
            pytest.fail(f"--gradflow-require-gpu: {why_unavailable()}")
        pytest.skip(f"no GPU: {why_unavailable()}")
