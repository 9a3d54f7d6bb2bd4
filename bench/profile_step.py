"""Where a gradflow training step spends its time: each layer's forward, each backward rule.

Runs the MLP or CNN step of ``steps.py`` (SGD, fixed random batch) and times, with
``time.perf_counter``, every module's forward call and every backward rule the engine runs
(named by the rule's class and the shape of the gradient it receives), then prints the
median per step of each, largest first. The timers cost a few microseconds per call, so
the total is a little above an untimed step.

Usage (from the repository root):
    python bench/profile_step.py --model cnn
    python bench/profile_step.py --model mlp --steps 200
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Iterator

import numpy as np
import steps


def _rule_classes(base: type) -> Iterator[type]:
    for cls in base.__subclasses__():
        yield cls
        yield from _rule_classes(cls)


def profile(model_name: str, n_steps: int, warmup: int = 10) -> dict[str, float]:
    """Median seconds per step of each forward layer and backward rule, and of the step.

    Example:
        >>> sorted(profile("mlp", 3, warmup=1))[:2]
        ['backward  Linear (128, 10)', 'backward  Linear (128, 256)']
    """
    import gradflow as gf
    import gradflow.nn.functional as F
    from gradflow import optim
    from gradflow.autograd.function import Function

    times: dict[str, list[float]] = collections.defaultdict(list)
    originals = {}
    for cls in set(_rule_classes(Function)):
        if "backward" in cls.__dict__:
            originals[cls] = cls.backward

            def timed(self, grad, rule=cls.backward, name=cls.__name__):
                start = time.perf_counter()
                out = rule(self, grad)
                times[f"backward  {name} {tuple(grad.shape)}"].append(time.perf_counter() - start)
                return out

            cls.backward = timed
    try:
        network = steps.build_gradflow_model(model_name)
        batch = steps.DEFAULT_BATCHES[model_name]
        rng = np.random.default_rng(0)
        x = gf.tensor(rng.standard_normal(steps.input_shape(model_name, batch)).astype(np.float32))
        y = gf.tensor(rng.integers(0, 10, batch))
        optimizer = optim.SGD(network.parameters(), lr=steps.LEARNING_RATE)
        for step in range(warmup + n_steps):
            if step == warmup:
                times.clear()
            begin = time.perf_counter()
            optimizer.zero_grad()
            h = x
            for index, layer in enumerate(network):
                start = time.perf_counter()
                h = layer(h)
                times[f"forward   {index} {type(layer).__name__}"].append(
                    time.perf_counter() - start)
            start = time.perf_counter()
            loss = F.cross_entropy(h, y)
            times["forward   cross_entropy"].append(time.perf_counter() - start)
            loss.backward()
            start = time.perf_counter()
            optimizer.step()
            times["optimizer SGD step"].append(time.perf_counter() - start)
            times["step (all of the above)"].append(time.perf_counter() - begin)
    finally:
        for cls, rule in originals.items():
            cls.backward = rule
    # a rule that runs k times per step counts k times in the step's median
    return {name: float(np.median(values)) * len(values) / n_steps
            for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=steps.MODELS, default="cnn")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    result = profile(args.model, args.steps)
    total = result.pop("step (all of the above)")
    print(f"gradflow {args.model} step: {total * 1e3:.2f} ms (median of {args.steps})")
    for name, seconds in sorted(result.items(), key=lambda item: -item[1]):
        print(f"  {seconds * 1e3:7.3f} ms  {name}")


if __name__ == "__main__":
    main()
