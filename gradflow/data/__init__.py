"""Host-side data: IDX files, Fashion-MNIST/MNIST sources, the embedded digits set."""
