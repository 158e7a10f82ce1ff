# Vivres — the two commands a newcomer needs are `make run` and `make test`.
# Everything is set up by this file: a virtualenv in .venv, Kafka and the registry from Maven
# Central (cached in ~/.cache/vivres), the topics and schemas.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make up BROKERS=3`: a three-node KRaft cluster on loopback; `make up SECURE=1`: SASL_SSL with
# a SCRAM user and least-privilege ACLs per service (deploy/local/stack.py, services/bus/access.py);
# `make up DEMAND_WORKERS=2`: two demand workers share the partitions (deploy/local/services.toml).
# Given on each command line, so that $(shell ...) sees them too.
SECURED := $(filter-out 0 false no,$(SECURE))
STACK_SHAPE := $(if $(BROKERS),VIVRES_KAFKA_BROKERS=$(BROKERS)) $(if $(SECURE),VIVRES_SECURE=$(SECURE))
STACK := $(STACK_SHAPE) $(PYTHON) deploy/local/stack.py
PROCS = $(STACK_SHAPE) $(if $(DEMAND_WORKERS),VIVRES_DEMAND_WORKERS=$(DEMAND_WORKERS)) \
        VIVRES_DEMO_TOKENS=$(DEMO_TOKENS) $(PYTHON) deploy/local/procs.py
PYTEST := $(BIN)/python -m pytest
# The servers the Python side talks to: those named by KAFKA_BOOTSTRAP_SERVERS and
# SCHEMA_REGISTRY_URL, else the local stack on its ports (VIVRES_KAFKA_PORT, ...).
BUS_ENV = env $(shell $(STACK) env)
# (quiet: on a secured stack BUS_ENV holds the administrator's password)
SECURITY_APPLY = @$(if $(SECURED),echo "vivres security apply" && \
                 $(BUS_ENV) $(BIN)/vivres security apply,true)

.DEFAULT_GOAL := help
.PHONY: help venv browser fetch up demo-data down run status test test-unit test-checks test-integration test-e2e \
        lint schemas-check compose-check prometheus-check kube-schemas asyncapi-parser bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv and install Vivres with its pinned dependencies

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# The browser tests drive the system's Chromium through Playwright (whose own browser download
# is not used): Debian's package, installed once.
CHROMIUM := /usr/bin/chromium
AXE := tests/e2e/js/node_modules/axe-core/axe.min.js
browser: ## install Chromium (Debian's package) and axe-core (npm, pinned) for the browser tests, once
	@if [ -x $(CHROMIUM) ]; then \
	  echo "Chromium: $$($(CHROMIUM) --version 2>/dev/null || echo present) ($(CHROMIUM))"; \
	elif command -v apt-get >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "Chromium is missing at $(CHROMIUM) and installing it needs root or sudo:" \
	            "apt-get install chromium"; exit 1; fi; \
	  echo "Installing Chromium for the browser tests (apt-get, once)"; \
	  $$sudo apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends chromium \
	    || exit 1; \
	else echo "Chromium is missing at $(CHROMIUM) and there is no apt-get here:" \
	          "install your system's chromium package"; exit 1; fi
	@if [ ! -f $(AXE) ]; then \
	  echo "Installing axe-core for the accessibility checks (npm ci, pinned, once)"; \
	  npm ci --prefix tests/e2e/js --no-audit --no-fund --loglevel=error || exit 1; \
	else echo "axe-core: $(AXE)"; fi

fetch: ## download Kafka and Apicurio Registry with Maven (once)
	$(STACK) fetch

up: venv ## start the stack and every service in the background (BROKERS=3, SECURE=1)
	$(STACK) start
	@$(MAKE) --no-print-directory demo-data
	$(PROCS) up

# What `make up` and `make run` set up once the stack answers, each step once per stack: the
# topics (and the ACLs on a secured stack), the demo's directory, then its 16 weeks of sales
# (services/simulator/backfill.py says the rule). The services read the tokens from
# .vivres/demo-tokens.json; a test puts its own elsewhere with DEMO_TOKENS=...
DEMO_TOKENS := .vivres/demo-tokens.json
demo-data: venv ## topics, demo directory and 16 weeks of demo sales, once per stack (stack up)
	@echo "vivres topics provision" && $(BUS_ENV) $(BIN)/vivres topics provision
	$(SECURITY_APPLY)
	@echo "vivres demo seed" && $(BUS_ENV) $(BIN)/vivres demo seed --tokens $(DEMO_TOKENS)
	@echo "vivres demo backfill" && $(BUS_ENV) $(BIN)/vivres demo backfill

down: ## stop every service and the stack; leaves no process behind
	$(PROCS) down
	$(STACK) stop

status: ## what runs, and where
	-$(STACK) status
	-$(PROCS) status

run: venv ## set up and run the whole system in the foreground; Ctrl-C stops everything
	$(STACK) start
	@$(MAKE) --no-print-directory demo-data
	$(PROCS) run --stop-stack

schemas-check: venv ## every schema reads all its earlier versions (names the offending field)
	$(BIN)/vivres schemas check

lint: venv ## ruff: blocking calls in async code, naive datetimes, blind excepts, prints
	$(BIN)/ruff check services tests bench examples deploy

# The deploy files are checked by the loaders of the tools that read them, in small Go programs
# under deploy/tools, each built once into the cache (~30 s from nothing, then instant) under a
# name with its sources' hash, so checkouts of different versions sharing the cache each get theirs.
VIVRES_CACHE_DIR ?= $(HOME)/.cache/vivres
GO ?= $(shell command -v go || command -v /usr/local/go/bin/go)
go_tool_src = $(sort $(wildcard deploy/tools/$(1)/*.go deploy/tools/$(1)/go.*))
go_tool = $(VIVRES_CACHE_DIR)/bin/$(1)-$(shell cat $(call go_tool_src,$(1)) | sha256sum | cut -c1-12)
define GO_TOOL
$(call go_tool,$(1)): $(call go_tool_src,$(1))
	@test -n "$(GO)" || { echo "Go 1.24 or later is needed to build deploy/tools/$(1):" \
	  "install it and put go on the PATH"; exit 1; }
	mkdir -p $$(dir $$@)
	cd deploy/tools/$(1) && $(GO) build -trimpath -buildvcs=false -o $$@ .
endef
$(foreach tool,compose-check prometheus-check,$(eval $(call GO_TOOL,$(tool))))

# docker-compose.yml against the Compose specification, by compose-go, the loader that `docker
# compose config` is built on: there is no Docker engine nor compose plugin here, and Debian's
# docker-compose (1.29) rejects valid files (a top-level `name:`).
COMPOSE_CHECK := $(call go_tool,compose-check)
compose-check: $(COMPOSE_CHECK) ## validate docker-compose.yml against the Compose specification
	$(COMPOSE_CHECK) docker-compose.yml

# deploy/prometheus and the alerts of deploy/k8s by Prometheus' own loaders (its configuration's,
# and its rule files' with the PromQL parser), as `promtool check config` and `check rules` do.
PROMETHEUS_CHECK := $(call go_tool,prometheus-check)
prometheus-check: $(PROMETHEUS_CHECK) ## validate deploy/prometheus (configuration, alert rules) as Prometheus loads it
	$(PROMETHEUS_CHECK) -config deploy/prometheus/prometheus.yml deploy/prometheus/alerts.yml

# deploy/k8s is validated (tests/checks/test_k8s_manifests.py) by a validator of its own: a virtualenv
# with kubernetes-validate (Kubernetes' JSON schemas) from PyPI, Strimzi's CRDs from Maven
# Central (the io.strimzi:api tests jar) and the prometheus-operator's (PodMonitor,
# PrometheusRule) from its Go module, fetched once into the cache by deploy/k8s/schemas.py.
kube-schemas: ## fetch the Kubernetes, Strimzi and prometheus-operator schemas deploy/k8s is validated against (once)
	GO="$(GO)" $(PYTHON) deploy/k8s/schemas.py fetch

# docs/asyncapi.yaml (`vivres asyncapi`) is validated (tests/checks/test_asyncapi.py) by the AsyncAPI
# project's own parser, @asyncapi/parser with its Avro schema parser, from npm, pinned by
# tests/checks/js/package-lock.json: installed there once, again when the lock file changes.
ASYNCAPI_JS := tests/checks/js
ASYNCAPI_PARSER := $(ASYNCAPI_JS)/node_modules/.package-lock.json
asyncapi-parser: $(ASYNCAPI_PARSER) ## install the AsyncAPI parser (npm, pinned) docs/asyncapi.yaml is checked with

$(ASYNCAPI_PARSER): $(ASYNCAPI_JS)/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 18 or later) is needed to install the" \
	  "AsyncAPI parser: install your system's nodejs and npm packages"; exit 1; }
	@echo "Installing the AsyncAPI parser for the contract checks (npm ci, pinned)"
	npm ci --prefix $(ASYNCAPI_JS) --no-audit --no-fund --loglevel=error
	@touch $@

# `make test` starts the stack only if it is not already up, and stops it only if it started it.
CHECKERS := compose-check prometheus-check kube-schemas asyncapi-parser
test: venv browser lint schemas-check $(CHECKERS) ## set up and run the whole suite (every tier)
	@started=0; \
	if ! $(STACK) status --quiet; then $(STACK) start || exit 1; started=1; fi; \
	$(BUS_ENV) $(PYTEST) tests; rc=$$?; \
	if [ $$started = 1 ]; then $(STACK) stop; fi; \
	exit $$rc

test-unit: venv ## the fast tier: no broker, no Go, no download
	$(PYTEST) tests/unit

test-checks: venv $(CHECKERS) ## docker-compose.yml, deploy/k8s and docs/asyncapi.yaml against their real validators
	$(PYTEST) tests/checks

test-integration: venv ## needs the stack (make up)
	$(BUS_ENV) $(PYTEST) tests/integration

test-e2e: venv browser ## needs the stack (make up)
	$(BUS_ENV) $(PYTEST) tests/e2e

bench: venv ## run the benchmarks under bench/ (needs the stack)
	$(BUS_ENV) $(BIN)/python -m bench

clean: down ## remove the virtualenv and the local stack's data (keeps the Maven cache)
	rm -rf $(VENV) .vivres
