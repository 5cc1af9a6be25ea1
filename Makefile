# Common tasks. `make help` lists them. VENV points at the environment (default: .venv here).
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ela_mm-setup
export VENV

.PHONY: help setup demo demo-seg test bench
help:
	@echo "make setup   create/refresh $(VENV) with the pinned OpenMMLab stack (first time ~15 min)"
	@echo "make demo    the main job: train + test YOLOX-Nano+ELA on the toy data (set-up first if missing)"
	@echo "make demo-seg  the same for DeepLabV3+ELA (mIoU)"
	@echo "make test    run the test suite (set-up first if missing)"
	@echo "make bench   attention-module benchmark -> docs/benchmarks.md"

setup:
	bash tools/setup_env.sh
	@touch $(STAMP)

# set-up runs only when it has never completed in this environment, or its recipe changed
$(STAMP): tools/setup_env.sh requirements/tests.txt setup.py ela_mm/ops/csrc/strip_attention.cpp
	$(MAKE) setup

demo: $(STAMP)
	PY=$(PY) bash tools/demo.sh

demo-seg: $(STAMP)
	PY=$(PY) TASK=seg bash tools/demo.sh

test: $(STAMP)
	$(PY) -m pytest tests

bench: $(STAMP)
	$(PY) tools/analysis/bench_attention.py --write docs/benchmarks.md
