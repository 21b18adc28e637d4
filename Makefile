# Two commands do all set-up on a fresh Debian machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest processes in `make test`; each runs whole files, with its own shared stacks.
TEST_PROCESSES ?= 2

.PHONY: install guest libvirtd demo test lint typecheck bench bench-scheduler bench-images bench-fleet bench-scale bench-real chaos conformance clean

# System packages, the virtualenv and the project with its dev tools; redone when
# pyproject.toml or the package list changes.
$(STAMP): pyproject.toml scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

# The guest image real guests boot: Debian's cloud kernel, a busybox initramfs and root disk,
# from Debian packages only. guest/build.py caches it in .guest/ (gitignored) and rebuilds
# only when one of its inputs changes.
guest: install
	$(BIN)/python guest/build.py --out .guest

# libvirtd + virtlogd for real guests: reuses running daemons, else starts them (as root).
libvirtd: install
	scripts/start-libvirtd.sh

# Start the embedded stack in the background (if it is not running), boot a server, show it
# and its console. Where it runs as root, libvirtd is started, so the server is a real guest
# (bootflow up picks qemu:///system when libvirtd answers); else libvirt's test driver.
demo: install guest
	@scripts/start-libvirtd.sh || echo "(no libvirtd: the demo runs on libvirt's test driver)"
	$(BIN)/bootflow up --hosts 3 --detach
	name=demo-$$(date +%H%M%S) && \
	  $(BIN)/bootflow server create $$name --flavor m1.tiny --image cirros --network private --wait && \
	  echo "--- console of $$name (bootflow console log $$name):" && \
	  $(BIN)/bootflow console log $$name
	$(BIN)/bootflow server list
	@echo "The stack keeps running: Web UI http://127.0.0.1:8233, \`.venv/bin/bootflow down\` stops it."

test: install guest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core workflows activities bootflow workers services clients compute scheduler db
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy core workflows activities bootflow workers services clients compute scheduler db

# Benchmarks run on demand, never in `make test`; results go to bench/results/*.json.
# `make bench` is the boot benchmark (bootflow against the engine's floor); the others
# measure one part each.
bench: install
	$(BIN)/python -m bench.boot

bench-scheduler: install
	$(BIN)/python -m bench.scheduler

bench-images: install
	$(BIN)/python -m bench.image_transfer

# 1,000 idle simulated hosts (`bootflow up --hypervisor fake`): start time, RSS and CPU.
bench-fleet: install
	$(BIN)/python -m bench.fleet

# 10, 100 and 1,000 fake hosts in one run (bench/scale.py, docs/performance.md).
bench-scale: install
	$(BIN)/python -m bench.scale

# Tempest 47.0.0 (OpenStack's own suite) on issue 20's groups against a fresh stack, at most
# 2 workers; summary in bench/results/conformance.json (README, "Conformance").
conformance: install
	$(BIN)/python -m bench.conformance --database $(or $(DATABASE),sqlite)

# A real boot through bootflow against a bare `virsh create` of the same guest (needs root
# or a running libvirtd; the libvirtd it starts ends with it).
bench-real: install guest
	$(BIN)/python -m bench.real_boot

# The long chaos campaign (tests/chaos/, docs/chaos.md): 200 creates and deletes on 4 hosts
# per database while processes are killed and stalled, then an independent audit; plus 20
# real QEMU guests (on a running libvirtd, else on one it starts as root and stops). JSON in
# bench/results/chaos-*.json.
chaos: install guest
	$(BIN)/python -m tests.chaos.campaign --db sqlite --db postgresql --ops 200 --hosts 4 \
	  --real-guests 20 --rounds 1

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
