"""Typed errors. Each subclasses the matching built-in, so `except ValueError` still works."""


class GradflowError(Exception):
    """Base class of every error gradflow raises on purpose."""


class ShapeError(GradflowError, ValueError):
    """Shapes that do not broadcast, multiply or fit a layer."""


class DTypeError(GradflowError, TypeError):
    """A dtype an op or a device does not accept."""


class IndexingError(GradflowError, IndexError):
    """An index out of range, of a non-integer dtype, or of a form gradflow does not support."""


class DeviceMismatchError(GradflowError, RuntimeError):
    """Tensors on two devices meet in one op; nothing is moved silently."""


class BackendUnavailableError(GradflowError, RuntimeError):
    """A device was asked for whose library or hardware is missing."""


class GraphError(GradflowError, RuntimeError):
    """Misuse of the autograd graph: freed graph, in-place change of a saved tensor."""


class NonFiniteError(GradflowError, FloatingPointError):
    """A NaN or Inf where a finite value was required."""


class StateDictError(GradflowError, RuntimeError):
    """A state dict whose keys or shapes do not fit the module or optimizer."""


class CheckpointError(GradflowError, ValueError):
    """A checkpoint file that is missing, truncated, damaged or of another format."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint file at the path given."""


class DatasetError(GradflowError, ValueError):
    """A data file that is damaged or of the wrong format, or a bad loader setting."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """No data files where they were looked for."""


class ConfigError(GradflowError, ValueError):
    """A bad hyperparameter or setting, caught before any work starts."""


class OutOfRangeError(GradflowError, OverflowError, ValueError):
    """A value that the dtype cannot hold: too large or small for it, negative for an unsigned
    type, or NaN/Inf for an integer one (nothing is wrapped or truncated silently)."""


class ArgumentTypeError(GradflowError, TypeError):
    """An argument of the wrong Python type: a string probability, an int as a generator,
    a non-Module inside a container."""


class DimensionError(ShapeError, IndexError):
    """A dimension index out of range (an IndexError too, as in PyTorch)."""


class AllocationError(GradflowError, MemoryError):
    """A tensor too large to allocate; names the shape, dtype and bytes asked for."""


class MissingExtraError(GradflowError, ModuleNotFoundError):
    """An optional library is needed for what was asked; the message names the extra to install."""


class DistributedError(GradflowError, RuntimeError):
    """A process group used before it exists, or ranks that disagree."""
