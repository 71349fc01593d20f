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

.PHONY: install sync demo test test-fast lint fmt samconfig clean help

help:
	@echo "make sync | demo | test | lint | install | samconfig | clean"

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

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

samconfig: $(STAMP)
	$(BIN)/python -c "from bottlesync.config import load_config; \
	  from bottlesync.deploy import render_samconfig; \
	  print(render_samconfig(load_config('config.yaml')), end='')" > samconfig.toml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info src/*.egg-info
