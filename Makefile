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
	@echo "What you just saw: a data center in network namespaces (rrt-demo-*) running the Kubernetes network."
	@echo "The fabric: one core switch, two racks (a ToR each, two nodes per rack, a pod per node), an external"
	@echo "client. The control plane, as in a real cluster: a datastore (SQLite, /run/rrt-lab/demo/datastore.db)"
	@echo "holding ordinary Calico/MetalLB/Kubernetes YAML (/run/rrt-lab/demo/cluster.yaml: an IPv4 and an IPv6 IPPool and a"
	@echo "BGPPeer per rack, Nodes labelled rack=..., Services), the LoadBalancer controller, and one"
	@echo "\`rackroute agent\` per node: it claimed a block of its rack's pool, peers with its ToR (rack1, a listen"
	@echo "range) or in-rack route reflector (rack2), announces its block and the Service IPs it should attract,"
	@echo "and answered the CNI ADD that started its pod (an IPv4 and an IPv6 address; IPv6 routes ride the same IPv4"
	@echo "sessions). The check proved, in both families, sessions, next hops (same rack direct,"
	@echo "other racks via the ToR), ECMP for the LoadBalancer IPs, and real traffic."
	@echo
	@echo "It keeps running. Explore it (docs/lab.md):"
	@echo "  export RACKROUTE_DATASTORE=sqlite:///run/rrt-lab/demo/datastore.db"
	@echo "  $(BIN)/rackroute get ippools           the rack pools;  get bgppeers.projectcalico.org, get services"
	@echo "  $(BIN)/rackroute ipam show --show-blocks    blocks per node and rack"
	@echo "  $(BIN)/rackroute node status --all          every agent's sessions, blocks and problems"
	@echo "  edit /run/rrt-lab/demo/cluster.yaml, then $(BIN)/rackroute apply -f /run/rrt-lab/demo/cluster.yaml"
	@echo "  $(LAB) gr-test            kill -9 a node's agent under traffic, lose no packet"
	@echo "  $(LAB) status             every member; \`status rack1-tor\` one member's neighbours"
	@echo "  $(BIN)/rackroute dashboard --lab demo   the fabric live in a browser at http://127.0.0.1:8080/ (docs/dashboard.md)"
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
