# Quick start: `make sync` (the main job, into ./mirror) and `make test` (the whole suite).
# Each target creates .venv itself when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A starter set of popular formulae (their runtime dependencies come along): widen it with
#   make sync FORMULAE="wget jq git node"   or mirror everything with   make sync FORMULAE=
FORMULAE ?= wget jq ripgrep tree htop
SYNC_ARGS ?=

.PHONY: install sync demo test test-fast lint lint-infra build soak fmt samconfig clean bench help

help:
	@echo "make sync | demo | test | test-fast | lint | lint-infra | fmt | build | bench | soak | install | samconfig | clean"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

sync: $(STAMP)
	$(BIN)/bottlesync sync $(addprefix --formula ,$(FORMULAE)) $(SYNC_ARGS)

demo: $(STAMP)
	$(BIN)/python -m tests.fakes.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The quick loop while editing: the suite without `slow`-marked tests, tests/reliability
# (fault matrix, soak, crash safety) and tests/bench; `make test` (and CI) still runs them all.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" --ignore=tests/reliability --ignore=tests/bench

# Apply ruff's safe fixes (import order, pyupgrade, ...) to src and tests. Not `ruff format`:
# the code keeps its own line wrapping, which the formatter would rewrite.
fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests

# Each benchmark next to its baseline, as a table (moves several GiB; figures in bench/out/).
bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP) lint-infra
	$(BIN)/ruff check src tests
	$(BIN)/mypy

# AWS SAM CLI lives in its own venv: it pins many dependencies that must not leak into .venv.
SAM_VENV ?= .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
# `sam build` (no container) needs a real python3.12 binary first on PATH: pyenv's shim does not do.
PY312_BIN ?= $(lastword $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin))
ASL_LINT := build/mirror-asl.template.json

$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli>=1.120,<2'
	touch $(SAM_STAMP)

# Template, state machine (wrapped in a throwaway AWS::StepFunctions::StateMachine so cfn-lint's
# E3601 reads it), SAM's own validation, and the container's Dockerfile. Offline; no credentials.
lint-infra: $(STAMP) $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	mkdir -p build
	$(BIN)/python -c "import json; d = json.load(open('statemachine/mirror.asl.json')); \
	  print(json.dumps({'Resources': {'Machine': {'Type': 'AWS::StepFunctions::StateMachine', \
	  'Properties': {'RoleArn': 'arn:aws:iam::123456789012:role/lint', 'Definition': d}}}}))" \
	  > $(ASL_LINT)
	$(BIN)/cfn-lint $(ASL_LINT)
	$(SAM) validate --lint
	$(BIN)/hadolint container/Dockerfile

# Builds the functions and the bottlesync layer (arm64 wheels) into .aws-sam/build.
build: $(SAM_STAMP)
	PATH="$(PY312_BIN):$$PATH" $(SAM) build

# The long soak (5,000 bottles, 5 % faults): prints runs, faults by kind, landed, lost.
soak: $(STAMP)
	$(BIN)/python -m bench.soak

samconfig: $(STAMP)
	$(BIN)/python -c "from bottlesync.config import load_config; \
	  from bottlesync.deploy import render_samconfig; \
	  print(render_samconfig(load_config('config.yaml')), end='')" > samconfig.toml

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache build *.egg-info src/*.egg-info
