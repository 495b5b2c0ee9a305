# Reproduction harness for explainable AIGI detection. Quick start (README.md):
#   make reproduce PAPER=fakexplain     # creates the environment on first use
#   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch; a plain `torch` requirement would pull a CUDA build of several GB.
TORCH_CPU := torch==2.13.0

# The GPU set: the `gpu` extra (torch as vLLM 0.24 pins it, vLLM, DeepSpeed) from wheels only
# (common/gpu_install.py), in its own environment. `make reproduce` uses it on a machine with
# NVIDIA GPUs; GPU=1 forces it (GPU=0 the CPU set).
GPU_VENV ?= .venv-gpu
GPU_PY := $(GPU_VENV)/bin/python
GPU_STAMP := $(GPU_VENV)/.installed
GPU ?= $(shell $(PYTHON) -m common.gpu_env detect 2>/dev/null || echo 0)
ifeq ($(GPU),1)
RUN_STAMP := $(GPU_STAMP)
RUN_PY := $(GPU_PY)
else
RUN_STAMP := $(STAMP)
RUN_PY := $(PY)
endif

PAPER ?= fakexplain
PROFILE ?=
DRY_RUN ?=
ARGS ?=
PYTEST_ARGS ?=
# pytest-xdist workers of `make test`: the CI machine's two cores (tests/conftest.py keeps a test file's
# tests, and the Slurm / torchrun / Ray jobs, each on one worker). PYTEST_WORKERS=0 runs one process.
PYTEST_WORKERS ?= 2

.PHONY: install install-gpu install-flash-attn lint test test-table test-fast reproduce gpu-lock gpu-smoke \
	bench-cli bench-reward bench-data bench-learn bench-table bench-expert bench-eval clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_CPU)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(GPU_STAMP): pyproject.toml
	test -x $(GPU_PY) || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_PY) -m pip install --quiet --upgrade pip 'uv>=0.5'
	$(GPU_PY) -m common.gpu_install install --python $(GPU_PY)
	touch $(GPU_STAMP)

install-gpu: $(GPU_STAMP)

# Opt-in for attention=flash_attention_2: compiles flash-attn against the GPU set's torch (CUDA
# toolkit with nvcc needed; no wheel exists for torch 2.11).
install-flash-attn: $(GPU_STAMP)
	$(GPU_PY) -m common.gpu_install flash-attn --python $(GPU_PY)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not table_smoke" $(PYTEST_ARGS)

# The one test that runs a paper table on the CPU (tests/smoke/test_smoke_table.py, ~13 minutes):
# outside `make test` to keep it under 30 minutes; CI runs it after make test (.ci/run).
test-table: $(STAMP)
	$(PY) -m pytest -m table_smoke $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# make reproduce PAPER=<name> [TABLE=<id>|all|[<id>,...]] [PROFILE=full|smoke] [DRY_RUN=1|0] [GPU=0|1] [ARGS='<hydra overrides>']
# DRY_RUN=1|true dry-runs, 0|false runs; any other value reaches the harness, which refuses it
# (DRY_RUN=0 and a misspelt DRY_RUN=ture were dry runs, the value unread).
# The variables reach harness/make_entry.py as typed: single-quoted from make's unexpanded value, so
# neither make's `$` nor a shell reads them; it splits ARGS into Hydra overrides and prints the command.
make_literal = '$(subst ','"'"',$(value $(1)))'
# $(call run_script,<python>,<script>): the script with ARGS as its argv, split the same way, no shell.
run_script = @AIGI_MAKE_ARGS=$(call make_literal,ARGS) $(1) -m harness.make_entry --script $(2)
reproduce: $(RUN_STAMP)
	@$(RUN_PY) -m common.gpu_env describe
	@AIGI_MAKE_PAPER=$(call make_literal,PAPER) AIGI_MAKE_TABLE=$(call make_literal,TABLE) \
		AIGI_MAKE_PROFILE=$(call make_literal,PROFILE) AIGI_MAKE_DRY_RUN=$(call make_literal,DRY_RUN) \
		AIGI_MAKE_ARGS=$(call make_literal,ARGS) $(RUN_PY) -m harness.make_entry

# Resolve the gpu extra for linux x86_64 with source builds forbidden (wheels only, but for the
# pure-Python sdists common/gpu_install.py lists); no GPU machine is needed to prove it.
gpu-lock: $(STAMP)
	$(PY) -m common.gpu_install lock -o requirements-gpu.lock

# The whole GPU check on one GPU in under 10 minutes, installing the gpu set first
# (scripts/gpu_smoke.py; the gpu_smoke profile). One line per check, non-zero exit on a failure.
gpu-smoke:
	$(call run_script,$(PYTHON),scripts/gpu_smoke.py)

bench-cli: $(STAMP)
	$(PY) scripts/bench_cli.py

bench-reward: $(STAMP)
	$(PY) scripts/bench_reward.py

bench-data: $(STAMP)
	$(PY) scripts/bench_data_prep.py

# The smoke run end to end: time per stage, held-out accuracy / parsable / IoU, GRPO reward per step.
# make bench-learn [ARGS='--all' | ARGS='variant=staged']
bench-learn: $(STAMP)
	$(call run_script,$(PY),scripts/bench_learn.py)

# A paper table in the smoke profile: wall time, what each run ran and reused, the filled cells.
# make bench-table [ARGS='--paper fakexplain --table table4 table_runs=[no_bbox,sft]']
bench-table: $(STAMP)
	$(call run_script,$(PY),scripts/bench_table.py)

# The AIGI-Holmes visual expert's training images/s on this CPU with 1 and 2 dataloader workers.
bench-expert: $(STAMP)
	$(PY) scripts/bench_expert.py

# The transformers evaluation backend with prefix soft scoring: images/s and peak memory at batch
# 1/4/16 on the tiny model (ARGS='--compare' also times the full-logits prefix pass).
bench-eval: $(STAMP)
	$(call run_script,$(PY),scripts/bench_eval.py)

clean-venv:
	rm -rf $(VENV) $(GPU_VENV)
