"""gradflow's own short names for the plugin's fixtures (the plugin keeps to `gradflow_*` so it
never changes another project's `device` fixture)."""

import pytest


@pytest.fixture
def device(gradflow_device):
    return gradflow_device


@pytest.fixture
def xp(gradflow_xp):
    return gradflow_xp


@pytest.fixture
def dtype(gradflow_dtype):
    return gradflow_dtype


@pytest.fixture
def float64_device(gradflow_float64_device):
    return gradflow_float64_device
