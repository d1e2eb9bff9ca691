# harflow — every target does its own set-up on a fresh machine.
#   make run    create .venv, install (torch pinned to the local CPU wheel), fetch data, train, print test results
#   make test   same set-up, then lint + the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/$(shell date +%Y%m%d-%H%M%S)
PYTEST_ARGS ?=

.PHONY: install run test test-heavy lint format system-deps horovod clean image image-smoke e2e-k8s bench

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

# Debian packages the tests use (PostgreSQL server, iproute2 for network namespaces); root only, idempotent.
system-deps:
	@bash scripts/system-deps.sh

run: install
	$(VENV)/bin/harflow train --out $(RUN_DIR)

test: install system-deps horovod
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-heavy: install system-deps
	$(VENV)/bin/pytest -m heavy $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format src tests
	$(VENV)/bin/ruff check --fix src tests

# Horovod 0.28.1 built against the pinned torch (patched to C++17), for --engine horovod.
horovod: install
	VENV=$(VENV) bash scripts/build-horovod.sh

# The performance study (host 1-2 workers + the podman image when built) → results/*.json + results/report/.
bench: install
	bash scripts/bench-study.sh

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache

# Container image localhost/harflow:latest (docker or podman; deploy/docker/Dockerfile), its smoke run, and the
# end-to-end run on a local single-node Kubernetes (builds the cluster binaries once, ~10 min, cached).
image:
	bash scripts/image-build.sh

image-smoke: image
	bash scripts/image-smoke.sh

e2e-k8s: install
	bash scripts/k8s-e2e.sh
