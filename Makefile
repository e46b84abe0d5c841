# The two commands of the README. Both create .venv with python3 -m venv and install the project.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# A DuckDB 1.5 CLI (PyPI: duckdb-cli) checks that BI clients embedding DuckDB 1.x can read the
# served warehouse (contract §4). If it cannot be installed, that one test skips.
DUCK15 := var/duckdb15/bin/duckdb

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/etsflow demo

$(DUCK15):
	($(PY) -m venv var/duckdb15 && var/duckdb15/bin/python -m pip install -qq duckdb-cli==1.5.6) \
	  || echo "DuckDB 1.5 CLI unavailable: the 1.5 compatibility test will skip"

test: $(STAMP) $(DUCK15)
	ETSFLOW_DUCKDB15=$(abspath $(DUCK15)) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf var .pytest_cache
