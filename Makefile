# Common tasks. `make help` lists them. VENV points at the environment (default: .venv here).
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ela_mm-setup
EXT_SRC := $(wildcard ela_mm/ops/csrc/*.cpp ela_mm/ops/csrc/*.h)
EXT_STAMP := $(VENV)/.ela_mm-ext
LINT_PATHS := ela_mm tools tests configs setup.py
# test workers (pytest-xdist, whole files per worker, one torch thread each): one per core
JOBS ?= 2
export VENV

.PHONY: help setup ext demo demo-seg demo-cls test lint format bench gpu-check
help:
	@echo "make setup     create/refresh $(VENV) with the pinned OpenMMLab stack (first time ~15 min)"
	@echo "make ext       rebuild only ela_mm's C++ extension (after a change in ela_mm/ops/csrc)"
	@echo "make demo      the main job: train + test YOLOX-Nano+ELA on the toy data (set-up first if missing)"
	@echo "make demo-seg  the same for DeepLabV3+ELA (mIoU)"
	@echo "make demo-cls  the same for ResNet-18+ELA (top-1 accuracy)"
	@echo "make test      run the test suite (set-up first if missing)"
	@echo "make lint      ruff check + ruff format --check over the Python tree"
	@echo "make format    apply ruff's fixes and formatting"
	@echo "make bench     attention-module benchmark -> docs/benchmarks.md"
	@echo "make gpu-check on a machine with one GPU: CUDA tests + GPU measurements -> work_dirs/gpu_check.md (<= 8 min)"

setup:
	bash tools/setup_env.sh
	@touch $(STAMP) $(EXT_STAMP)

# set-up runs only when it has never completed in this environment, or its recipe changed
$(STAMP): tools/setup_env.sh requirements/stack.txt requirements/tests.txt setup.py
	$(MAKE) setup

# the extension alone, in place (the editable install loads it from the source tree)
$(EXT_STAMP): $(STAMP) $(EXT_SRC)
	$(PY) setup.py -q build_ext --inplace
	@touch $(EXT_STAMP)

ext:
	@rm -f $(EXT_STAMP)
	$(MAKE) $(EXT_STAMP)

demo: $(EXT_STAMP)
	PY=$(PY) bash tools/demo.sh

demo-seg: $(EXT_STAMP)
	PY=$(PY) TASK=seg bash tools/demo.sh

demo-cls: $(EXT_STAMP)
	PY=$(PY) TASK=cls bash tools/demo.sh

test: $(EXT_STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadfile tests

lint: $(STAMP)
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(PY) -m ruff check --fix $(LINT_PATHS)
	$(PY) -m ruff format $(LINT_PATHS)

bench: $(EXT_STAMP)
	$(PY) tools/analysis/bench_modules.py --write docs/benchmarks.md

gpu-check: $(EXT_STAMP)
	$(PY) tools/analysis/gpu_check.py --out work_dirs/gpu_check.md
