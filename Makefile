# realtime2 — the two-command quick start is `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test check lint types install browser balancer sip bench soak clean

# Create the virtual environment and install the project with its embedded models.
# llama-cpp-python comes from scripts/llama-wheel.sh: built once for any x86-64 CPU (CPU
# kernels chosen at run time, no AMX unless proven usable) and cached in ~/.cache/realtime2;
# never pip's own -march=native build, which its wheel cache could also hand back.
$(STAMP): pyproject.toml scripts/llama-wheel.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel
	wheel="$$(PYTHON=$(BIN)/python scripts/llama-wheel.sh)" && \
		$(BIN)/pip install --no-deps --force-reinstall "$$wheel" && $(BIN)/pip install "$$wheel"
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/realtime2 serve --bootstrap-demo

# Headless Chromium for the dashboard and playground tests (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium)

# nginx in front of three replicas (tests/security/test_multi_replica.py; Debian's package,
# run by the test as a foreground process with its own configuration, never as a service).
balancer:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || (apt-get update && apt-get install -y --no-install-recommends nginx)

# sipp (Debian's sip-tester), the real SIP user agent of the telephony tests
# (tests/transports/sip/test_sipp.py).
sip:
	@command -v sipp >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends sip-tester)

# npm clients the tests drive (tests/node: the `openai` package, from its lock file).
NODE_STAMP := tests/node/node_modules/.installed
$(NODE_STAMP): tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

test: $(STAMP) browser balancer sip $(NODE_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

check: lint types

lint: $(STAMP)
	$(BIN)/ruff check src tests bench soak
	$(BIN)/ruff format --check src tests bench soak
	$(BIN)/lint-imports --no-cache

types: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	@echo "Benchmarks: see bench/README.md (one command each, e.g. $(BIN)/python -m bench.pipeline)"

# Fault injection (SIGKILL mid-session, recover, audit the ledger) and a bounded load run;
# prints a summary and fails on any error, ledger mismatch or memory growth. ~3 minutes.
SOAK_ARGS ?=
soak: $(STAMP)
	$(BIN)/python -m soak.run $(SOAK_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
