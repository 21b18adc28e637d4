# Two commands do all set-up on a fresh Debian machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint typecheck bench clean

# System packages, the virtualenv and the project with its dev tools; redone when
# pyproject.toml or the package list changes.
$(STAMP): pyproject.toml scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

# Start the embedded stack in the background (if it is not running), boot a server, show it.
demo: install
	$(BIN)/bootflow up --hosts 3 --detach
	name=demo-$$(date +%H%M%S) && \
	  $(BIN)/bootflow server create $$name --flavor m1.tiny --image cirros --network private --wait
	$(BIN)/bootflow server list
	@echo "The stack keeps running: Web UI http://127.0.0.1:8233, \`.venv/bin/bootflow down\` stops it."

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy workflows activities bootflow workers services clients compute scheduler db
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy workflows activities bootflow workers services clients compute scheduler db

# Benchmarks run on demand, never in `make test`; results go to bench/results/*.json.
bench: install
	$(BIN)/python -m bench.image_transfer

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
