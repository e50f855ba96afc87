# `make demo` runs the whole system on embedded defaults; `make test` runs the test suite.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean deb

$(STAMP): pyproject.toml scripts/bootstrap
	./scripts/bootstrap $(VENV)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/retail-hub demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The wheel, sdist and the edge-agent and retail-hub .deb packages into dist/ (docs/operations.md).
deb: $(STAMP)
	PYTHON=$(abspath $(BIN))/python packaging/build-deb

# Every benchmark (about 16 minutes), then a table; JSON in bench/results/. Not part of `make test`.
bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check protocol runtime edge_agent hub demo tryton_retail_sync
	$(BIN)/ruff check --select F tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-data demo-data-erp-template *.egg-info
