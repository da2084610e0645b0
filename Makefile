# Two commands on a fresh machine:
#   make demo   install, then run the whole DVC pipeline on the embedded demo data and print the gate verdict
#   make test   install, then run the test suite (what .ci/run and CI call)
# While iterating: `make test-fast`, every test not marked slow.
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

.PHONY: install browser demo test test-fast bench clean

install: $(STAMP)

# torch is pinned first and alone: the CPU build 2.13.0 is what this project is tested with, and an unpinned
# torch pulled in by another package would fetch a multi-GB CUDA build.
$(STAMP): pyproject.toml src/labelgate/defaults/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r src/labelgate/defaults/constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# The demo gates two label sets and expects one of each verdict: the Gemma labels BLOCKED, their crowd-labelled
# version WARN (passed with one warning). `dvc repro gate gold_check` computes both verdicts (it fails only on a
# crash); the script prints them in two lines and exits 0 when they are the documented ones. A plain `dvc repro`
# also runs the `enforce` stage, which fails when the gate blocks, as it should in a real pipeline.
demo: install
	$(BIN)/dvc repro gate gold_check
	$(BIN)/python scripts/demo_verdicts.py

# The report test renders the HTML in headless chromium; LABELGATE_REQUIRE_BROWSER makes a missing browser fail
# the suite instead of skipping it.
# The whole-adoption tests (tests/test_adoption.py, a few minutes of tiny training) run here too, so CI runs them;
# `make test LABELGATE_ADOPTION=0` skips them while iterating.
# The suite runs in parallel (pytest-xdist), one worker per core; --dist loadfile keeps each file on one worker, so a
# module fixture (the adoption repositories) is built once. `make test TEST_WORKERS=0` runs it in one process.
LABELGATE_ADOPTION ?= 1
TEST_WORKERS ?= auto
test: install browser
	LABELGATE_ADOPTION=$(LABELGATE_ADOPTION) LABELGATE_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q \
	  -n $(TEST_WORKERS) --dist loadfile

# The inner loop, under a minute: no test that trains a model (the text model of an end-to-end check included),
# runs DVC, builds a wheel or venv, starts a browser, a server or a child run (those are marked slow;
# docs/architecture.md). The import contracts and dvc.yaml's dependencies run here.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile

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

# --- A real audit tool --------------------------------------------------------------------------------------------
# Label Studio in its own venv (a large dependency tree; the project venv and the default suite are unaffected).
# `make label-studio-test` runs the round trip against a real server that the test starts on a free local port with
# a temporary sqlite data dir (tests/test_label_studio_server.py, skipped by the default suite when the venv is absent).
LABEL_STUDIO_VENV := .venvs/label-studio
LABEL_STUDIO_VERSION ?= 1.23.2
.PHONY: label-studio label-studio-test

label-studio: $(LABEL_STUDIO_VENV)/.installed

$(LABEL_STUDIO_VENV)/.installed:
	$(PYTHON) -m venv $(LABEL_STUDIO_VENV)
	$(LABEL_STUDIO_VENV)/bin/pip install --quiet --upgrade pip
	nice -n 10 $(LABEL_STUDIO_VENV)/bin/pip install --quiet "label-studio==$(LABEL_STUDIO_VERSION)"
	touch $@

label-studio-test: install label-studio
	LABELGATE_LABEL_STUDIO=$(abspath $(LABEL_STUDIO_VENV))/bin/label-studio \
	  $(BIN)/python -m pytest -q tests/test_label_studio_server.py

# --- Past one laptop -------------------------------------------------------------------------------------------
# llama.cpp's own OpenAI-compatible server, built from source into a separate venv so the project venv and the
# default test suite are unaffected (the build takes ~8 min on 2 cores). `make llama-server-test` then runs the
# real-server tests (skipped by the default suite when .venv-llama is absent) and `make llama-server-bench` writes
# the record in bench/llama_server.md.
LLAMA_VENV := .venv-llama
LLAMA_VERSION ?= 0.3.36
.PHONY: llama-server llama-server-test llama-server-bench llama-cpp-server llama-cpp-server-bench bench-score-10m

llama-server: $(LLAMA_VENV)/.installed

$(LLAMA_VENV)/.installed:
	$(PYTHON) -m venv $(LLAMA_VENV)
	$(LLAMA_VENV)/bin/pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-2} nice -n 10 $(LLAMA_VENV)/bin/pip install \
	  --no-binary llama-cpp-python "llama-cpp-python[server]==$(LLAMA_VERSION)"
	touch $@

llama-server-test: install llama-server
	LABELGATE_LLAMA_PYTHON=$(abspath $(LLAMA_VENV))/bin/python LABELGATE_LLAMA_CPP_SERVER=$(abspath $(LLAMA_CPP_SERVER)) \
	  $(BIN)/python -m pytest -q -m llama_server tests/test_llama_server.py

llama-server-bench: install llama-server
	nice -n 10 $(BIN)/python bench/bench_llama_server.py --server-python $(abspath $(LLAMA_VENV))/bin/python

# llama.cpp's own C++ server (continuous batching over `--parallel N` KV slots), built from the llama.cpp sources
# that the llama-cpp-python sdist vendors (same version as above; PyPI only, no git), CPU only, into .llama-cpp/.
# Only the llama-server target is built; the web UI is not embedded (nothing is downloaded during the build).
LLAMA_CPP_DIR := .llama-cpp
LLAMA_CPP_SERVER := $(LLAMA_CPP_DIR)/build/bin/llama-server
LLAMA_CPP_JOBS ?= 2

llama-cpp-server: $(LLAMA_CPP_SERVER)

$(LLAMA_CPP_SERVER):
	mkdir -p $(LLAMA_CPP_DIR)
	$(PYTHON) -m pip download --quiet --no-binary :all: --no-deps "llama-cpp-python==$(LLAMA_VERSION)" -d $(LLAMA_CPP_DIR)
	rm -rf $(LLAMA_CPP_DIR)/src && mkdir -p $(LLAMA_CPP_DIR)/src
	tar -xzf $(LLAMA_CPP_DIR)/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $(LLAMA_CPP_DIR)/src --strip-components=3 \
	  llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp
	cmake -S $(LLAMA_CPP_DIR)/src -B $(LLAMA_CPP_DIR)/build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
	  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF \
	  -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF
	nice -n 15 cmake --build $(LLAMA_CPP_DIR)/build --target llama-server -j $(LLAMA_CPP_JOBS)

# slots = concurrency 1, 4, 16, then 1 slot at concurrency 16 (no batching); the Python server's concurrency-1 run
# first, as a baseline under the same load. --swa-full: Gemma 3's sliding-window cache otherwise blocks prefix reuse.
llama-cpp-server-bench: install llama-server llama-cpp-server
	nice -n 10 $(BIN)/python bench/bench_llama_server.py --server cpp --texts 10 --concurrency 1 4 16 16 \
	  --parallel 1 4 16 1 --cpp-args=--swa-full --server-python $(abspath $(LLAMA_VENV))/bin/python \
	  --cpp-server $(abspath $(LLAMA_CPP_SERVER))

bench-score-10m: install
	nice -n 10 $(BIN)/python bench/bench_score.py --rows 10000000 --stream
