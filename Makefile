# Reproduction harness for explainable AIGI detection. Quick start (README.md):
#   make reproduce PAPER=fakexplain     # creates .venv on first use
#   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch; a plain `torch` requirement would pull a CUDA build of several GB.
TORCH_CPU := torch==2.13.0

PAPER ?= fakexplain
PROFILE ?=
DRY_RUN ?=
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install lint test test-fast reproduce gpu-lock bench-cli bench-reward bench-data bench-expert clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_CPU)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# make reproduce PAPER=<name> [PROFILE=full|smoke] [DRY_RUN=1] [ARGS='<hydra overrides>']
reproduce: $(STAMP)
	$(PY) -m harness paper=$(PAPER) $(if $(PROFILE),profile=$(PROFILE)) $(if $(DRY_RUN),dry_run=true) $(ARGS)

# Resolve the gpu extra for linux x86_64 (no GPU machine installs it here).
gpu-lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --extra gpu --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --quiet -o requirements-gpu.lock

bench-cli: $(STAMP)
	$(PY) scripts/bench_cli.py

bench-reward: $(STAMP)
	$(PY) scripts/bench_reward.py

bench-data: $(STAMP)
	$(PY) scripts/bench_data_prep.py

# The AIGI-Holmes visual expert's training images/s on this CPU with 1 and 2 dataloader workers.
bench-expert: $(STAMP)
	$(PY) scripts/bench_expert.py

clean-venv:
	rm -rf $(VENV)
