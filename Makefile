# `make test` and `make demo` set themselves up: they create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATASET ?= digits
MODEL ?= cnn
EPOCHS ?=
DEVICE ?= auto
# the suite on NumPy and on array-api-strict, including a second simulated device and one
# without float64 (what CuPy-correctness-by-construction rests on), and CUDA where a GPU is
# present (its cases skip elsewhere)
DEVICES ?= cpu,strict,strict:device1,strict:no_float64,cuda
PYTEST_ARGS ?=

.PHONY: test test-cuda-compile demo bench check lint docs clean

$(VENV)/.installed-test: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,examples]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

$(VENV)/.installed-docs: $(VENV)/.installed-test
	$(PY) -m pip install -q -e '.[docs,tables,tensorboard,viz]'
	touch $@

test: $(VENV)/.installed-test
	$(PY) -m pytest -q --gradflow-devices=$(DEVICES) $(PYTEST_ARGS)

# every CUDA kernel compiled with NVRTC for sm_80 and sm_90: no GPU or driver needed
test-cuda-compile: $(VENV)/.installed-test
	$(PY) -m pip install -q -e '.[test-cuda-compile]'
	$(PY) -m gradflow.backends.nvrtc
	GRADFLOW_REQUIRE_NVRTC=1 $(PY) -m pytest -q tests/backends/test_cuda_compile.py

demo: $(VENV)/.installed-test
	$(PY) -m gradflow train --dataset $(DATASET) --model $(MODEL) --device $(DEVICE) \
		$(if $(EPOCHS),--epochs $(EPOCHS),) --out runs/demo-$(DATASET)-$(MODEL)

bench: $(VENV)/.installed-bench
	$(PY) bench/run.py --device $(DEVICE)

check: $(VENV)/.installed-test
	$(PY) -m gradflow check --devices cpu,strict,strict:device1

# the documentation site (build/site); --strict: a broken link or API reference fails
docs: $(VENV)/.installed-docs
	$(VENV)/bin/mkdocs build --strict

# ruff (pinned in the test extra): pyflakes, pycodestyle, isort, bugbear, pyupgrade
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check gradflow tests bench examples tools
	$(VENV)/bin/pyright gradflow

clean:
	rm -rf $(VENV) build *.egg-info runs
