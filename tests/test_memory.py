"""Memory: long training does not grow, dropped graphs free at once, graphs hold no cycles.

The graph is freed by reference counting alone: outputs are held by their nodes through
weak references and saved outputs as arrays, so a dropped loss releases every node and
intermediate tensor immediately, with the cyclic garbage collector switched off.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import weakref
from contextlib import contextmanager

import pytest

import gradflow as gf
import gradflow.nn.functional as F
from gradflow import models, nn
from gradflow.data import DataLoader, TensorDataset

STEPS = 3000
WARM_UP = 300
MAX_GROWTH = 0.05


def resident_bytes() -> int:
    """The process's resident set size now (Linux /proc), else its peak (getrusage)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def live_tensors() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, gf.Tensor))


def small_classifier() -> nn.Module:
    if hasattr(nn, "Conv2d"):
        return models.cnn(image_size=8, widths=(8, 16), hidden=32)
    return models.mlp(64, (32,), 10)  # until gradflow.nn.conv exists


def test_resident_memory_is_flat_over_3000_training_steps():
    gf.manual_seed(0)
    model = small_classifier()
    optimizer = gf.optim.Adam(model.parameters(), lr=1e-3)
    generator = gf.Generator(1)
    images = gf.randn(256, 1, 8, 8, generator=generator)
    labels = gf.randint(0, 10, (256,), generator=generator)
    loader = DataLoader(TensorDataset(images, labels), batch_size=32, shuffle=True, seed=0)

    step, warm, warm_tensors = 0, None, None
    while step < STEPS:
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == WARM_UP:
                gc.collect()
                warm, warm_tensors = resident_bytes(), live_tensors()
            if step == STEPS:
                break
    gc.collect()
    end, end_tensors = resident_bytes(), live_tensors()
    growth = (end - warm) / warm
    print(f"\nresident memory ({type(model[0]).__name__} model): step {WARM_UP} "
          f"{warm / 2**20:.2f} MiB, step {STEPS} {end / 2**20:.2f} MiB ({growth:+.2%}); "
          f"live tensors {warm_tensors} -> {end_tensors}")
    assert growth < MAX_GROWTH
    assert end_tensors <= warm_tensors + 4  # loop state; a leak per step would add thousands
    assert loss.item() < 2.3  # it did train


# -- dropping a loss frees its graph, by reference counting alone ------------------------------


@contextmanager
def cycle_collector_off():
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def test_dropping_a_loss_frees_its_graph_at_once(device):
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(device)
    x = gf.randn(5, 4, device=device)
    with cycle_collector_off():
        hidden = model[1](model[0](x))
        loss = F.cross_entropy(model[2](hidden), gf.tensor([0, 1, 2, 0, 1], device=device))
        refs = [weakref.ref(obj) for obj in (hidden, hidden.creator, loss, loss.creator)]
        del hidden, loss
        assert [ref() for ref in refs] == [None] * len(refs)


def test_backward_frees_the_saved_tensors_while_the_loss_lives(device):
    x = gf.randn(6, device=device, requires_grad=True)
    with cycle_collector_off():
        hidden = (x * 3.0).tanh()
        loss = (hidden * hidden).sum()
        saved = weakref.ref(hidden)
        del hidden
        assert saved() is not None  # the pending backward needs it
        loss.backward()
        assert saved() is None  # released by backward, though `loss` is still here
        assert loss.creator is not None and loss.creator.inputs is None


def test_a_graph_dropped_without_backward_is_freed_at_once(device):
    w = gf.randn(3, 3, device=device, requires_grad=True)
    with cycle_collector_off():
        out = gf.randn(2, 3, device=device)
        refs = []
        for _ in range(5):
            out = (out @ w).sigmoid()
            refs += [weakref.ref(out), weakref.ref(out.creator)]
        del out
        assert all(ref() is None for ref in refs)


# -- no reference cycles between tensors and their nodes ----------------------------------------


def _train_step(device):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))
    model.to(device)
    optimizer = gf.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = F.cross_entropy(model(gf.randn(6, 4, device=device)),
                           gf.tensor([0, 1, 2, 0, 1, 2], device=device))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _conv_step(device):
    if not hasattr(nn, "Conv2d"):
        pytest.skip("gradflow.nn.conv is not written yet")
    model = models.cnn(image_size=8, widths=(4, 4), hidden=8, batch_norm=True).to(device)
    optimizer = gf.optim.Adam(model.parameters())
    loss = F.cross_entropy(model(gf.randn(2, 1, 8, 8, device=device)),
                           gf.tensor([3, 7], device=device))
    loss.backward()
    optimizer.step()


def _forward_only(device):
    x = gf.randn(4, 3, device=device, requires_grad=True)
    (x.exp() * x).softmax(dim=1).log().sum()


def _retained_graph(device):
    x = gf.randn(4, device=device, requires_grad=True)
    loss = (x.tanh() * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()


def _double_backward(device):
    x = gf.randn(4, device=device, requires_grad=True)
    (gradient,) = gf.grad((x ** 3).sum(), x, create_graph=True)
    gf.grad(gradient.sum(), x)


def _in_place_on_non_leaf(device):
    x = gf.randn(4, device=device, requires_grad=True)
    y = x * 2.0
    y.add_(1.0)
    y[0] = 0.0
    y.mul_(x)
    y.sum().backward()


def _retained_grad_and_hook(device):
    x = gf.randn(4, device=device, requires_grad=True)
    y = x.sigmoid()
    y.retain_grad()
    y.register_hook(lambda grad: grad * 2.0)
    y.sum().backward()
    assert y.grad is not None


def _anomaly_mode(device):
    x = gf.randn(4, device=device, requires_grad=True)
    with gf.detect_anomaly():
        (x.exp() / (x * x + 1.0)).sum().backward()


def _no_grad_evaluation(device):
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).to(device).eval()
    with gf.no_grad():
        model(gf.randn(3, 4, device=device)).sum()


GRAPHS = {
    "train-step": _train_step, "conv-train-step": _conv_step, "forward-only": _forward_only,
    "retain_graph": _retained_graph, "double-backward": _double_backward,
    "in-place-on-non-leaf": _in_place_on_non_leaf, "retain_grad-and-hook": _retained_grad_and_hook,
    "anomaly-mode": _anomaly_mode, "no_grad-evaluation": _no_grad_evaluation,
}


@pytest.mark.parametrize("build", list(GRAPHS.values()), ids=list(GRAPHS))
def test_graphs_leave_no_cyclic_garbage(device, build):
    build(device)  # warm up: first-call caches are not garbage
    with cycle_collector_off():
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collector finds, to inspect it
        try:
            for _ in range(3):
                build(device)
            gc.collect()
            ours = [obj for obj in gc.garbage if type(obj).__module__.startswith("gradflow")]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert ours == [], f"reference cycles hold {len(ours)} gradflow objects: " + ", ".join(
        sorted({type(obj).__name__ for obj in ours}))
