"""Fast checks of the benchmark entry points (never of times): each section runs with the quick
preset on tiny inputs, results and tables come out complete, targets are judged right, and the
README splice keeps everything outside the markers. Part of `make test` (pyproject testpaths);
alone: ``python -m pytest bench/test_run.py`` (about 15 s).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import suite
import table

pytest.importorskip("torch")

import epoch
import memory
import overhead
import run
import steps


@pytest.fixture
def settings(tmp_path):
    return suite.Settings.quick(out_dir=tmp_path, blocks=1)


def _saved(settings, section):
    data = json.loads((settings.out_dir / f"{section}.json").read_text())
    assert data["name"] == section
    assert "thread_pools" in data["environment"]  # threadpoolctl's BLAS record
    assert data["results"]["settings"]["preset"] == "quick"
    return data["results"]


@pytest.mark.parametrize("model", steps.MODELS)
def test_gradflow_matches_torch_for_the_same_weights(model):
    report = steps.check_against_torch(model, batch=2)
    assert report["gradflow_loss"] == pytest.approx(report["torch_loss"], rel=1e-5)


def test_steps_section(settings):
    steps.run(settings, models=("cnn",))
    results = _saved(settings, "steps_cnn")
    assert set(results["contenders"]) == {"gradflow", "numpy", "torch", "torch channels_last"}
    assert results["batch"] == settings.batches["cnn"]
    assert results["sanity"]["max_grad_error"] < steps.GRAD_RTOL


def test_gradflow_step_trains():
    step = steps.gradflow_step_factory("mlp", batch=8)
    losses = [float(step().item()) for _ in range(10)]
    assert losses[-1] < losses[0]


def test_overhead_chain_matches_numpy():
    overhead.check_chain(n_ops=7)
    assert overhead.gradflow_chain_factory(n_ops=7)().shape == (4,)


def test_epoch_section_trains_every_image(settings):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((150, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 150)
    epoch.run(settings, models=("mlp",), data=(images, labels))
    results = _saved(settings, "epoch_mlp")
    assert results["images"] == 150  # 128 + a last batch of 22
    assert set(results["contenders"]) == {"gradflow", "numpy", "torch"}
    # The NumPy reference trains the short last batch with the main model's parameters.
    train = epoch.numpy_epoch_factory("cnn", images[:70], labels[:70], batch=64)
    assert np.isfinite(train())


def test_memory_section(settings):
    memory.run(settings, workloads=("mlp",), frameworks=("numpy", "gradflow"))
    results = _saved(settings, "memory")
    figures = results["workloads"]["mlp"]
    assert 10 < figures["numpy"]["median_mib"] < figures["gradflow"]["median_mib"] < 1000
    assert "| mlp | " in memory.memory_table(results)


def test_run_only_overhead_writes_table(tmp_path, capsys):
    assert run.main(["--quick", "--device", "cpu", "--only", "overhead", "--blocks", "1",
                     "--out-dir", str(tmp_path)]) == 0
    text = (tmp_path / "TABLE.md").read_text()
    assert "Smoke-test run" in text
    assert "per-op overhead" in text and "≤ 4 µs per op" in text
    assert text.count("not measured") == 6  # the rows of the sections not run
    assert "overhead.json" in (tmp_path / "DETAILS.md").read_text()
    assert "total wall time" in capsys.readouterr().out


def test_only_rejects_unknown_sections():
    with pytest.raises(SystemExit):
        run.main(["--only", "steps,nonsense"])


def _timed(names_seconds, **extra):
    """A ``measure``-shaped result: one round per entry of each contender's list."""
    contenders = {}
    for name, seconds in names_seconds.items():
        median = float(np.median(seconds))
        contenders[name] = {
            "block_seconds_per_iter": seconds, "median_s": median, "median_s_per_op": median,
            "ops_per_step": 1, "spread_pct": 0.0, "min_s": min(seconds), "max_s": max(seconds),
            "iqr_s": 0.0, "minflt_per_iter": 0.0,
        }
    return {"results": {"contenders": contenders, "baseline": "gradflow", **extra},
            "environment": {}}


def test_targets_met_and_missed():
    sections = {
        "steps_mlp": _timed({"gradflow": [1.0, 1.0, 1.0], "numpy": [1.0, 0.9, 1.0],
                             "torch": [1.1, 1.1, 1.2]}),
        "epoch_mlp": _timed({"gradflow": [0.79], "numpy": [0.5], "torch": [1.0]}, images=60000),
        "epoch_cnn": _timed({"gradflow": [1.0], "numpy": [1.0], "torch": [1.0]}, images=600),
    }
    rows = {row.section: table._row_cells(row, sections) for row in table.ROWS}
    mlp_vs_numpy, mlp_vs_torch = rows["steps_mlp"]
    assert mlp_vs_numpy[-3:] == ["≤ 1.05× NumPy", "1.00× (1.00–1.11)", "met"]
    assert mlp_vs_torch[-2:] == ["0.91× (0.83–0.91)", "**missed**"]
    assert rows["epoch_mlp"][0][-1] == "met"
    assert rows["epoch_cnn"][0][-1] == "met"  # ratio targets hold on any number of images
    assert rows["overhead"] is None


def test_splice_readme_adds_end_marker_then_replaces(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{table.BEGIN_MARKER}\n\n## Next\n")
    table.splice_readme(readme, "| a |\n")
    first = readme.read_text()
    assert first == f"# title\n\n{table.BEGIN_MARKER}\n| a |\n{table.END_MARKER}\n\n## Next\n"
    table.splice_readme(readme, "| b |")
    assert readme.read_text() == first.replace("| a |", "| b |")
    (tmp_path / "bad.md").write_text("no markers\n")
    with pytest.raises(ValueError):
        table.splice_readme(tmp_path / "bad.md", "x")


def test_cuda_is_refused_without_a_gpu():
    import gpu

    if not gpu.unavailable_reason():
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit, match="cannot run here"):
        run.main(["--device", "cuda", "--quick"])
    assert run.choose_device("auto") == "cpu"


def test_gpu_results_render_like_cpu_results(monkeypatch, settings):
    import time

    import gpu
    from harness import environment, markdown_table

    def wall_clock(library):  # stands in for the CUDA events
        def time_block(step, iters):
            start = time.perf_counter()
            for _ in range(iters):
                step()
            return time.perf_counter() - start

        return time_block

    monkeypatch.setattr(gpu, "_timer", wall_clock)
    contenders = [gpu.GpuContender(name, lambda: (lambda: None), "cupy", 10)
                  for name in ("gradflow", "torch")]
    results = gpu.measure_cuda(contenders, settings)
    assert "| torch |" in markdown_table(results)
    rendered = table.render({"cuda_overhead": {"results": results, "environment": environment()}})
    assert "GPU: gradflow on CuPy" in rendered


def test_profile_step_times_every_layer_and_rule():
    import profile_step

    result = profile_step.profile("cnn", 2, warmup=1)
    forward = [name for name in result if name.startswith("forward")]
    backward = [name for name in result if name.startswith("backward")]
    assert len(forward) == len(steps.build_gradflow_model("cnn")) + 1  # and the loss
    assert any("Conv2d" in name for name in backward) and any("MaxPool2d" in name
                                                              for name in backward)
    parts = sum(seconds for name, seconds in result.items() if not name.startswith("step"))
    assert 0 < parts <= result["step (all of the above)"] * 1.5
