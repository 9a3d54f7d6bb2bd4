"""Kernels by concern, each written once on the array API and mixed into Backend:

- elementwise.py: deterministic scatter-add of rows, ReLU's gradient
- conv.py: im2col/col2im and conv2d with its gradients
- pool.py: max and average pooling with their gradients
- optim.py: optimizer updates (SGD, Adam/AdamW, RMSprop, Adagrad)

Backends for a library (numpy.py, cupy.py) subclass Backend and override the hot ones.
"""
