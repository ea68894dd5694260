# rackroute: two commands on a fresh machine — `make demo` and `make test`.
# Both install what they need: a venv in .venv (pip) and Debian packages (apt-get).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit deps venv debian-deps captures bench-codec clean

demo: deps
	$(BIN)/rackroute decode --summary tests/golden/vectors/frr-bird-session.hex
	@echo
	@echo "That was a real BGP session between FRR and BIRD, decoded by rackroute."
	@echo "Decode your own capture:  $(BIN)/rackroute decode FILE.pcap   (or a hex dump)"

test: deps lint typecheck unit

lint: venv
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: venv
	$(BIN)/mypy src

unit: deps
	$(BIN)/pytest

deps: venv debian-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

debian-deps:
	bash scripts/install-debian-deps

captures: deps
	$(BIN)/python scripts/capture_vectors.py

bench-codec: venv
	$(BIN)/python bench/codec.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
