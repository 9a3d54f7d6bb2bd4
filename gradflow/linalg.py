"""gradflow.linalg: PyTorch's torch.linalg names for the norms and the cross product."""

from gradflow.ops.linalg import cross, matrix_norm, vector_norm

__all__ = ["cross", "matrix_norm", "vector_norm"]
