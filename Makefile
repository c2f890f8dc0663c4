# All set-up goes through these targets: a fresh machine needs only python3 (>=3.11),
# and for the anvil tests, node/npm.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ANVIL_VERSION := 1.7.1
ANVIL := .tools/anvil/node_modules/@foundry-rs/anvil/package.json

.PHONY: install test test-fast lint typecheck pytest devnet bench vectors clean

install: $(STAMP) $(ANVIL)

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

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q

test: lint typecheck pytest

# The inner loop: lint, types and every test not marked `slow` (end-to-end runs with L1 and
# validator processes, crash tests, long Hypothesis machines). `make test`, as CI, runs them all.
test-fast: lint typecheck
	$(BIN)/pytest -q -m "not slow"

vectors: install
	$(BIN)/python -m prover.vectors tests/vectors/rfc9162_keccak.json

devnet: install
	$(BIN)/attest devnet

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
