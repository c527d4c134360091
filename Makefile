# Two commands on a fresh machine: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test lint setup

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/register

lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check src tests

# The backend's tests run on SQLite and on PostgreSQL: scripts/ensure-postgres.sh installs (apt-get) and
# starts a server on 127.0.0.1 unless REGISTER_TEST_PG_URL names one already.
test: lint
	REGISTER_TEST_PG_URL="$${REGISTER_TEST_PG_URL:-$$(scripts/ensure-postgres.sh)}" $(VENV)/bin/pytest
