# Tillpoint: `make demo` runs the product locally, `make test` lints and runs the whole suite (what CI runs),
# `make test-quick` the same without the tests marked slow.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-quick bench contracts install clean

$(STAMP): pyproject.toml
	@echo "Installing into $(VENV) (first run only)…"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@($(PY) -m pip install --disable-pip-version-check --upgrade pip && \
	  $(PY) -m pip install --disable-pip-version-check -e '.[test]') > $(VENV)/install.log 2>&1 \
	  || (cat $(VENV)/install.log; echo "install failed (log: $(VENV)/install.log)"; exit 1)
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP) node_modules
	@$(VENV)/bin/tillpoint dev

test: $(STAMP) node_modules
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports  # the layers of DESIGN.md §2 (.importlinter): fails on an upward import
	$(PY) -m pytest $(PYTEST_ARGS)

test-quick: $(STAMP) node_modules
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/orders.py
	$(PY) bench/watcher.py
	$(PY) bench/pay_page.py
	$(PY) bench/webhooks.py

contracts: $(STAMP) node_modules
	$(PY) contracts_abi/build.py

node_modules: package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch node_modules

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
