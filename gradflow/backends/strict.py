"""array-api-strict: the conformance backend, with simulated devices.

Running the whole suite here is how CuPy correctness is known without a GPU:
anything outside the standard fails loudly.
"""

from __future__ import annotations

import numpy as np

from gradflow.backends.generic import Backend


class StrictBackend(Backend):
    def __init__(self, module, device_name: str):
        name = "strict" if device_name == "CPU_DEVICE" else f"strict:{device_name}"
        super().__init__(name, module, module.Device(device_name))
        self._cpu = module.Device("CPU_DEVICE")

    def from_host(self, host, dtype=None):
        xp_dtype = None if dtype is None else self.xp_dtype(dtype)
        host = np.array(host, order="C", copy=None)
        on_cpu = self.xp.asarray(host, dtype=xp_dtype, copy=True)
        return on_cpu if self.device == self._cpu else on_cpu.to_device(self.device)

    def to_host(self, array):
        if array.device != self._cpu:
            array = array.to_device(self._cpu)
        return np.from_dlpack(array).reshape(tuple(array.shape)).copy()
