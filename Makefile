# rackroute: two commands on a fresh machine — `make demo` and `make test`.
# Both install what they need: a venv in .venv (pip) and Debian packages (apt-get).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-down test lint typecheck unit lab-test deps venv debian-deps captures bench-codec bench-datastore bench bench-quick clean

# The lab needs root (network namespaces, routes); outside root, sudo runs just the lab commands.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
LAB := $(strip $(SUDO) $(BIN)/rackroute lab)
DEMO_TOPOLOGY := docs/lab/two-racks.yaml

# The emulated data center: 2 racks, 4 nodes with pods, ToRs and a core switch, all BGP speakers
# rackroute, in network namespaces. Rebuilt from scratch each time, then left running.
demo: deps
	@$(LAB) down --name demo >/dev/null 2>&1 || true
	$(LAB) up $(DEMO_TOPOLOGY)
	$(LAB) check --name demo
	@echo
	@echo "What you just saw: a data center in network namespaces (rrt-demo-*). One core switch, two racks,"
	@echo "each a ToR with two Kubernetes nodes and a pod per node, and an external client under the core."
	@echo "Every router is a rackroute BGP speaker programming its kernel: rack1's nodes peer with their"
	@echo "ToR (dynamic neighbours from a listen range), rack2's with an in-rack route reflector. Nodes"
	@echo "announce their pod blocks and LoadBalancer IPs; the check proved the sessions, the next hops in"
	@echo "every node's kernel (same rack direct, other racks via the ToR), ECMP for the LoadBalancer IPs"
	@echo "in ToRs and core, and real traffic: pod to pod, client to pods, client flows spread over endpoints."
	@echo
	@echo "It keeps running. Explore it (docs/lab.md):"
	@echo "  $(LAB) gr-test            kill -9 a node's speaker under traffic, lose no packet"
	@echo "  $(LAB) status             every member; \`status rack1-tor\` one member's neighbours"
	@echo "  $(LAB) routes rack1-n1    a member's BGP and kernel tables"
	@echo "  make demo-down                         remove it"

demo-down: venv
	$(LAB) down --name demo

# Whole fabrics in namespaces (root): both switch kinds, both discovery variants, graceful restart.
lab-test: deps
	$(SUDO) $(BIN)/pytest tests/lab

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

# SQLite, etcd on 1 and 3 members (started on loopback), the etcd client floor; bench/RESULTS.md.
bench-datastore: deps
	$(BIN)/python bench/datastore.py --rounds 3

# rackroute vs BIRD, FRR and GoBGP on loopback (bench/README.md, "Benchmark matrix"); needs root.
# Writes bench/results/matrix-{full,quick}.json and regenerates bench/RESULTS.md.
bench: deps
	$(BIN)/python bench/run.py --rounds 3

bench-quick: deps
	$(BIN)/python bench/run.py --quick --rounds 3

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
