# Set-up, serving and checks. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := build-essential python3-dev python3-venv libgdal-dev libfftw3-dev gdal-bin proj-data
S2P_VERSION := 1.0b25
TEST_DATABASE := postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: help setup system run test test-fast lint format bench image image-test clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system: ## Install the Debian packages S2P and the server need (once; sudo when not root)
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[cloud,test,lint]'
	@# s2p's own pins do not build on Python 3.11: install it without them (its needs are in pyproject.toml)
	$(BIN)/pip install -q --no-deps s2p==$(S2P_VERSION)
	$(BIN)/python -c "import s2p, rasterio, distributed, pywps, owslib"
	touch $@

setup: system $(VENV)/.installed ## Install everything: system packages, .venv, the project and S2P

run: setup ## Serve http://127.0.0.1:5000/wps with a local Dask cluster and SQLite under ./var
	$(BIN)/wps-server serve

test: setup ## Run the whole test suite (PostgreSQL tests when its server answers)
	@url=$${WPS_TEST_DATABASE_URL:-$$($(BIN)/python -c "import psycopg; psycopg.connect('$(TEST_DATABASE)', connect_timeout=3).close(); print('$(TEST_DATABASE)')" 2>/dev/null)}; \
	if [ -n "$$url" ]; then echo "PostgreSQL tests against $$url"; else echo "no PostgreSQL answers: its tests are skipped"; fi; \
	WPS_TEST_DATABASE_URL=$$url $(BIN)/python -m pytest -ra $(PYTEST_ARGS)

test-fast: setup ## The quick loop: every test not marked slow
	$(BIN)/python -m pytest -m "not slow" -q $(PYTEST_ARGS)

lint: setup ## ruff (lint and format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## Benchmarks side by side with the alternatives; figures in benchmarks/README.md
	$(BIN)/python -m benchmarks.run

clean: ## Remove the virtualenv, caches and ./var
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
