# Everyday verbs. `make run` and `make test` work on a fresh machine: they create the venv,
# install the pinned dependencies and the Debian packages the project needs, and train the model if stale.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONHASHSEED := 0
export PYTHONWARNINGS := ignore

# pyenv's 3.10 first (its shim may be inactive), then any python3.10 that actually runs
PYTHON310 := $(shell ls -d $$HOME/.pyenv/versions/3.10*/bin/python3.10 2>/dev/null | tail -n1 || true)
ifeq ($(PYTHON310),)
PYTHON310 := $(shell python3.10 -c 'import sys; print(sys.executable)' 2>/dev/null)
endif

help:
	@echo "make run    – install if needed, train if stale, start everything, print the URLs"
	@echo "make test   – the full test suite (unit, integration on real Redis/PostgreSQL, conversation, browser)"
	@echo "make eval   – routing accuracy (+ BM25 baseline) and pre-review precision/recall"
	@echo "make bench  – latency and throughput figures"
	@echo "make lint   – ruff + mypy"
	@echo "make model  – train the Rasa model if its inputs changed"

$(PY):
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "需要 Python 3.10（Rasa 3.6 不支持 3.11+）。请安装 pyenv 的 3.10.x 或系统 python3.10 后重试。" >&2; exit 1; fi
	$(PYTHON310) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip==24.3.1"

$(STAMP): $(PY) requirements/constraints.txt requirements/base.in requirements/dev.in pyproject.toml
	$(PIP) install -q -c requirements/constraints.txt -r requirements/base.in -r requirements/dev.in
	$(PIP) install -q --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) system-deps

# Debian packages: a CJK font (PDF notices, test images), chromium (browser tests), nginx (scale-out demo). Installed only when missing.
system-deps:
	@missing=""; \
	  fc-list 2>/dev/null | grep -qi "wqy\|noto sans cjk" || [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing="$$missing fonts-wqy-zenhei"; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  fi

model: install
	$(VENV)/bin/guide train --if-stale

run: install model
	$(VENV)/bin/guide serve

# Tests use the machine's real Redis (db 14 unless REDIS_URL says otherwise) and PostgreSQL.
test: install
	bash .ci/services.sh
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/14} $(VENV)/bin/guide train --if-stale --test-model
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/14} $(VENV)/bin/pytest -q -p no:cacheprovider

eval: install model
	$(VENV)/bin/guide eval

# Load benchmarks start whole stacks on the machine's Redis (dbs 9–13; .ci/services.sh starts it if needed)
bench: install model
	bash .ci/services.sh
	$(VENV)/bin/guide train --if-stale --test-model
	$(VENV)/bin/guide bench $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check guide knowledge nlu actions channels bot prereview bench deploy tests
	$(VENV)/bin/mypy guide knowledge channels nlu actions bot bench prereview

.PHONY: help install system-deps model run test eval bench lint
