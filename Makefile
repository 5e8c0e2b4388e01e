PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,uk,charts]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/milwatch demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The long suites (kill -9 loops, fault injection; a few minutes): CI runs them too.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The rules ruff checks are chosen in pyproject.toml; mypy's settings are there too.
lint: $(STAMP)
	$(BIN)/ruff check bot tests
	$(BIN)/python -m mypy bot

clean:
	rm -rf $(VENV) data/demo.sqlite3* data/demo-stats.png data/demo-chart.png
