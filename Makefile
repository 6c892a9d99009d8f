# Parley: `make run` serves the whole product on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODE := $(wildcard src tests bench migrations)

.PHONY: install tools run test lint format migrate worker bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@command -v chromium >/dev/null || command -v /usr/bin/chromium >/dev/null || \
		{ SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); $$SUDO apt-get install -y -q chromium || \
			{ $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; } || \
		echo "warning: the browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)"
	@touch $(STAMP)

# Tools the tests run and never skip without: promtool (Debian's prometheus package) and kubectl.
tools:
	@command -v promtool >/dev/null || { command -v apt-get >/dev/null && \
		{ $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q --no-install-recommends prometheus || \
		{ $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q --no-install-recommends prometheus; }; }; } || \
		{ echo "promtool is missing: install Prometheus's promtool (Debian/Ubuntu: apt-get install prometheus)"; exit 1; }
	@command -v kubectl >/dev/null || { echo "kubectl is missing: install kubectl 1.32 or newer"; exit 1; }

run: install
	$(BIN)/parley serve

worker: install
	$(BIN)/parley worker

migrate: install
	$(BIN)/parley migrate

test: install tools
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy src
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
