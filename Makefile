# Two commands on a fresh machine:
#   make demo   install, then run the whole DVC pipeline on the embedded demo data and print the gate verdict
#   make test   install, then run the test suite (what .ci/run and CI call)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# dvc.yaml stages call `labelgate`: the venv's bin must be on PATH without activating it.
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser demo test bench clean

install: $(STAMP)

# torch is pinned first and alone: the CPU build 2.13.0 is what this project is tested with, and an unpinned
# torch pulled in by another package would fetch a multi-GB CUDA build.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# The demo gates two label sets and expects one of each verdict: the Gemma labels BLOCKED, their crowd-labelled
# version PASSED. `dvc repro gate gold_check` computes both verdicts (it fails only on a crash); the script prints
# them in two lines and exits 0 when they are the documented ones. A plain `dvc repro` also runs the `enforce`
# stage, which fails when the gate blocks, as it should in a real pipeline.
demo: install
	$(BIN)/dvc repro gate gold_check
	$(BIN)/python scripts/demo_verdicts.py

# The report test renders the HTML in headless chromium; LABELGATE_REQUIRE_BROWSER makes a missing browser fail
# the suite instead of skipping it.
# The whole-adoption tests (tests/test_adoption.py, a few minutes of tiny training) run here too, so CI runs them;
# `make test LABELGATE_ADOPTION=0` skips them while iterating.
LABELGATE_ADOPTION ?= 1
test: install browser
	LABELGATE_ADOPTION=$(LABELGATE_ADOPTION) LABELGATE_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q

# Debian/Ubuntu chromium for the headless report test (sudo only when not root and sudo exists). A Chrome that
# is already there (GitHub's Ubuntu runners ship one) serves as well; the test looks for the same names.
SUDO := $(shell [ "$$(id -u)" = 0 ] || ! command -v sudo >/dev/null 2>&1 || echo sudo)
browser:
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
	  || ($(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

bench: install
	$(BIN)/python bench/bench_score.py

clean:
	rm -rf $(VENV) .pytest_cache
