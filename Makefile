# Set-up, serving and checks. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := build-essential python3-dev python3-venv libgdal-dev libfftw3-dev gdal-bin proj-data
# Debian's PyQGIS drives the QGIS interoperability tests (offscreen, with Debian's own python3).
# sshd, SLURM (with munge) and iproute2 (loopback in a network namespace) are the per-job cluster tests'
# engines: the tests start them with their own configuration, on loopback only (tests/engines).
# Debian's Chromium is the browser the page tests drive with Playwright (no browser download).
TEST_PACKAGES := python3-qgis python3-owslib openssh-server slurm-wlm munge iproute2 chromium chromium-driver
S2P_VERSION := 1.0b25
TEST_DATABASE := postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

# Run inside the image: start wps-server serve, wait for GetCapabilities, stop it, leave nothing running.
define IMAGE_CHECK
import signal, subprocess, sys, time, urllib.request
server = subprocess.Popen(["wps-server", "serve", "--port", "5099", "--host", "127.0.0.1"], cwd="/srv/wps")
url = "http://127.0.0.1:5099/wps?service=WPS&request=GetCapabilities"
try:
    for _ in range(240):
        try:
            body = urllib.request.urlopen(url, timeout=5).read()
            if b"Capabilities" in body:
                print("image-test: GetCapabilities answered inside the image (%d bytes)" % len(body))
                break
        except OSError:
            time.sleep(0.5)
    else:
        sys.exit("image-test: the server did not answer GetCapabilities")
finally:
    server.send_signal(signal.SIGINT)
    server.wait(60)
endef
export IMAGE_CHECK

IMAGE ?= space-wps:latest
BASE_IMAGE := docker.io/library/debian:bookworm-slim
IMAGE_TOOLS := buildah podman debootstrap
HOST_CA ?= /etc/ssl/certs/ca-certificates.crt

.PHONY: help setup system run test test-fast lint format bench screenshots image image-tools image-test clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system: ## Install the Debian packages S2P and the server need (once; sudo when not root)
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
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

test test-fast screenshots: PACKAGES = $(SYSTEM_PACKAGES) $(TEST_PACKAGES)
PACKAGES ?= $(SYSTEM_PACKAGES)

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
	@# ccsds-ndm's reader is the TDM baseline (GPL: benchmark only); without its lxml-stubs pin, which
	@# would change what mypy sees of lxml
	$(BIN)/pip install -q xsdata
	$(BIN)/pip install -q --no-deps ccsds-ndm
	$(BIN)/python -m benchmarks.run $(BENCH)

screenshots: setup ## Drive the pages in Chromium (an S2P job, a pass prediction) and save them in docs/screenshots
	WPS_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/e2e/test_pages_browser.py

image-tools:
	@missing=$$(for p in $(IMAGE_TOOLS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# With no registry to pull from, the Debian base image is made with debootstrap (once).
	@if ! $(SUDO) buildah inspect --type image $(BASE_IMAGE) >/dev/null 2>&1; then \
		root=$$(mktemp -d); \
		$(SUDO) debootstrap --variant=minbase bookworm $$root http://deb.debian.org/debian >/dev/null && \
		$(SUDO) tar -C $$root -c . | $(SUDO) podman import - $(BASE_IMAGE) >/dev/null; \
		status=$$?; $(SUDO) rm -rf $$root; exit $$status; \
	fi

image: image-tools ## Build the container image with buildah (no Docker engine needed)
	@# The host's CA bundle goes in read-only, for PyPI behind a TLS-inspecting proxy.
	$(SUDO) buildah bud --isolation chroot --layers --format docker -t $(IMAGE) \
		--volume $(HOST_CA):/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt .

image-test: image ## Run the server inside the built image and check that GetCapabilities answers
	@ctr=$$($(SUDO) buildah from $(IMAGE)); \
	trap '$(SUDO) buildah rm '"$$ctr"' >/dev/null' EXIT; \
	$(SUDO) buildah run --isolation chroot --user wps $$ctr -- python3 -c "$$IMAGE_CHECK"

clean: ## Remove the virtualenv, caches and ./var
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
