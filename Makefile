# interlink-lab: the common paths. `make up` and `make test` work on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB ?= ilab
SCENARIO ?= basic
APT_PACKAGES := iproute2 iptables iputils-ping tcpdump procps frr bird2 docker.io debootstrap \
  graphviz chromium chromium-driver iperf3
STAMP := $(VENV)/.installed

.PHONY: setup up down status test quick unit e2e golden containerlab lint bench bench-scale clean images

TS_SDK := tests/sdk/ts
TS_STAMP := $(TS_SDK)/node_modules/.installed

# The topology page's libraries (cytoscape.js + dagre layout), served by the controller.
WEB := lab/daemon/web
WEB_STAMP := $(WEB)/node_modules/.installed

setup: $(STAMP) $(TS_STAMP) $(WEB_STAMP)
	@# Bytecode written once here: with PYTHONDONTWRITEBYTECODE set, every CLI call, daemon,
	@# ExaBGP bridge would compile the lab's sources again at start (~0.4 s for the daemon).
	@$(BIN)/python -m compileall -q -j0 controller lab bench tests >/dev/null
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Scaleway's TypeScript SDK for tests/e2e/test_sdk_ts.py (versions pinned in the lock file).
$(TS_STAMP): $(TS_SDK)/package.json $(TS_SDK)/package-lock.json
	@if command -v npm >/dev/null; then \
	  echo "installing Scaleway's TypeScript SDK (npm ci in $(TS_SDK))"; \
	  cd $(TS_SDK) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the TypeScript SDK test will be skipped (install nodejs and npm)"; fi

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@if command -v npm >/dev/null; then \
	  echo "installing the topology page's libraries (npm ci in $(WEB))"; \
	  cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the topology page (/lab/graph, graph --format html) will say so"; fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

up: setup
	$(BIN)/interlink-lab --lab $(LAB) up $(SCENARIO)

down:
	@if [ -x $(BIN)/interlink-lab ]; then $(BIN)/interlink-lab --lab $(LAB) down; fi

status:
	$(BIN)/interlink-lab --lab $(LAB) status

# The node image of the docker runtime (debootstrap + docker import + docker build; rebuilt
# only when its inputs change). `up --runtime docker` builds it too where missing.
images: setup
	$(BIN)/interlink-lab images build

# Everything, every customer router kind and both node runtimes included. In parallel
# (pytest-xdist): the suite mostly waits on daemons and timers, so 3 workers fit 2 cores;
# a lab stays on one worker (tests/conftest.py). JOBS=1 runs it serially.
JOBS ?= 3
test: setup images
	$(BIN)/pytest -q -rs --durations=25 -n $(JOBS)

# Unit + e2e on the default router kind only (no `matrix` tests).
quick: setup
	$(BIN)/pytest -q -rs -m "not matrix"

unit: setup
	$(BIN)/pytest -q tests/unit

e2e: setup
	$(BIN)/pytest -q -rs -n $(JOBS) tests/e2e

# Rewrite tests/golden/ from the code after an intended topology change; review the diff.
golden: setup
	$(BIN)/pytest -q tests/unit/test_topology_golden.py tests/unit/test_graph.py --update-golden

# Rewrite containerlab/<scenario>.clab.yml from the shipped scenarios (lab ilab, the default
# image); tests/unit/test_containerlab.py fails when they drift.
containerlab: setup
	@for f in lab/scenarios/*.yaml; do s=$$(basename $$f .yaml); \
	  $(BIN)/interlink-lab --lab ilab export containerlab $$s -o containerlab/$$s.clab.yml || exit 1; \
	done

lint: setup
	$(BIN)/ruff check controller lab tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench.run --json bench/results.json $(BENCH_ARGS)

# The scale runs only (100k prefixes from BIRD and ExaBGP customers, 100 links through the
# SDK); `make bench BENCH_ARGS=--scale` runs them after the others.
bench-scale: setup
	$(BIN)/python -m bench.run --scale-only --json bench/results-scale.json $(BENCH_ARGS)

clean: down
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache
