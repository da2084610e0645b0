# Two commands on a fresh machine:
#   make demo   install, then run the whole DVC pipeline on the embedded demo data and print the gate verdict
#   make test   install, then run the test suite (what .ci/run and CI call)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test bench clean

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

# `dvc repro` exits 1 when the gate blocks; the report is written either way.
demo: install
	$(BIN)/dvc repro; status=$$?; \
	echo "report: reports/report.html  (PR summary: reports/summary.md)"; \
	exit $$status

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/bench_score.py

clean:
	rm -rf $(VENV) .pytest_cache
