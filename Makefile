# caloforge: the two set-up commands are `make demo` and `make test`.
# Both create .venv if it is absent and install what they need.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# a CUDA build of PyTorch: `make venv CUDA=cu126` (any tag of download.pytorch.org/whl)
CUDA        ?=
TORCH_INDEX ?= $(if $(CUDA),https://download.pytorch.org/whl/$(CUDA))

# two pytest-xdist workers, one torch thread each (see tests/conftest.py)
PYTEST_WORKERS ?= -n 2 --dist load

.PHONY: demo test test-fast lint bench venv clean cpp

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# PyTorch is pinned to the CPU wheel on disk; an unpinned torch pulls several GB.
	$(BIN)/python -m pip install --quiet "torch==2.13.0" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[all]"
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -q $(PYTEST_WORKERS)

# the tests not marked slow (more than ~10 s on 2 cores each): under 2 minutes on 2 cores
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# the C++ caller of `caloforge export --format aoti` packages, against the wheel's LibTorch
cpp: $(STAMP)
	cmake -S deploy/cpp -B deploy/cpp/build -DCMAKE_BUILD_TYPE=Release \
	    -DCMAKE_PREFIX_PATH="$$($(BIN)/python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
	cmake --build deploy/cpp/build -j 2

clean:
	rm -rf $(VENV) demo-output .pytest_cache
