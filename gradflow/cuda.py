"""gradflow.cuda: is a CUDA GPU usable here?"""

from gradflow.backends.cupy import cuda_device_count, cuda_status


def is_available() -> bool:
    """True when CuPy is installed and sees a CUDA GPU."""
    return cuda_device_count() > 0


def device_count() -> int:
    return cuda_device_count()


def why_unavailable() -> str:
    """The reason CUDA is unavailable ("" when it is available)."""
    return cuda_status()[1]
