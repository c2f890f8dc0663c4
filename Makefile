# All set-up goes through these targets: a fresh machine needs only python3 (>=3.11), node/npm
# (anvil and the explorer's JavaScript), and for the explorer's browser tests Debian's
# `chromium` package (`make browser` says how to install it; .ci/run installs it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ANVIL_VERSION := 1.7.1
ANVIL := .tools/anvil/node_modules/@foundry-rs/anvil/package.json
WEB := web/node_modules/.package-lock.json
CHROMIUM ?= /usr/bin/chromium

.PHONY: install test test-fast lint typecheck pytest devnet bench vectors clean web browser

install: $(STAMP) $(ANVIL) $(WEB)

# The explorer's verifier: @noble/hashes, @noble/curves and esbuild, pinned by
# web/package-lock.json (esbuild's native binary is an npm package too: offline from the
# registry alone).
$(WEB): web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --silent
	touch $(WEB)

# Rebuild the committed bundle sequencer/explorer/static/verify.js from web/src/verify.js
# (tests/sequencer/explorer/test_js.py fails while it is stale).
web: $(WEB)
	cd web && node build.mjs

# The browser tests drive the system's Chromium; playwright's own browser download is never used.
browser:
	@test -x $(CHROMIUM) || { echo "Chromium not found at $(CHROMIUM): the explorer's browser tests need it."; \
	  echo "  Debian/Ubuntu: apt-get update && apt-get install -y chromium   (or set CHROMIUM=/path/to/chromium)"; exit 1; }
	@$(CHROMIUM) --version

# anvil, the real Ethereum node the end-to-end tests also run against: the npm package ships
# the native binary (no download step), so this works offline from the registry alone.
$(ANVIL):
	mkdir -p .tools/anvil
	npm install --prefix .tools/anvil --no-audit --no-fund --silent @foundry-rs/anvil@$(ANVIL_VERSION)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24,<27"
	$(BIN)/pip install -q -c constraints.txt -e '.[server,client,dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check sequencer prover state_db l1_contracts bench tests
	$(BIN)/ruff format --check sequencer prover state_db l1_contracts bench tests

typecheck: install
	$(BIN)/mypy

# Four workers on any machine: the end-to-end files mostly wait on L1 blocks and windows, so
# they overlap even on two cores. A file stays on one worker (its fixtures start one devnet).
PYTEST_WORKERS ?= 4

pytest: install browser
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

# The inner loop: lint, types and every test not marked `slow` (end-to-end runs with L1 and
# validator processes, crash tests, long Hypothesis machines). `make test`, as CI, runs them all.
test-fast: lint typecheck browser
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not slow"

vectors: install
	$(BIN)/python -m prover.vectors tests/vectors/rfc9162_keccak.json

devnet: install
	$(BIN)/attest devnet

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache web/node_modules
