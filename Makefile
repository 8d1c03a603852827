# Two entry points for users: `make run` and `make test`. Everything else is set-up they call.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test fuzz lint system-deps serve-deps dev-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[serve]"
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[train,serve,dev]"
	touch $@ $(VENV)/.serve-installed

serve-deps: $(VENV)/.serve-installed
dev-deps: $(VENV)/.dev-installed

# Redis, Chromium, wrk (bench/) and kubectl (for kustomize) come from Debian's packages; installed only when missing.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v kustomize >/dev/null || command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: serve-deps
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m service

test: dev-deps system-deps
	$(BIN)/python -m pytest -q

# The property tests' long profile (fresh random examples, failures kept in .hypothesis/ and replayed first),
# for a nightly-style run; `make test` runs the same properties on a fixed seed with fewer examples.
fuzz: dev-deps
	PROPERTY_PROFILE=nightly $(BIN)/python -m pytest -q tests/test_text_properties.py

lint: dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy nmt_core model service tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
