# pipeline_core: every target creates .venv if missing and installs what it needs, idempotently.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: demo test lint typecheck bench docs clean help

help:
	@echo "make demo   - install and run the demo on the embedded SQLite store"
	@echo "make test   - install dev extras, lint, type-check and run the whole test suite"
	@echo "make lint   - ruff + mypy --strict"
	@echo "make bench  - run the benchmarks and print the ratio table"
	@echo "make docs   - build the documentation site into site/ (mkdocs --strict)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# One stamp per install profile; re-installs only when pyproject.toml changes.
$(VENV)/.stamp-demo: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[all]'
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(VENV)/.stamp-docs: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[docs]'
	@touch $@

$(VENV)/.stamp-bench: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $@

demo: $(VENV)/.stamp-demo
	$(BIN)/pipeline-core demo

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

# PostgreSQL tests use PIPELINE_CORE_TEST_POSTGRES_URL, or the local server when one answers on
# 127.0.0.1:5432; with neither they skip, saying how to run them.
PG_URL = url="$${PIPELINE_CORE_TEST_POSTGRES_URL:-}"; \
	if [ -z "$$url" ] && command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then \
	  url=postgresql://postgres@127.0.0.1:5432/test; fi

test: lint
	@$(PG_URL); PIPELINE_CORE_TEST_POSTGRES_URL="$$url" $(BIN)/pytest

# The PostgreSQL rows use PIPELINE_CORE_TEST_POSTGRES_URL, or the local server when one answers.
bench: $(VENV)/.stamp-bench
	@$(PG_URL); PIPELINE_CORE_TEST_POSTGRES_URL="$$url" $(PY) -m benchmarks

docs: $(VENV)/.stamp-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build
