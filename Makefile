# Customer lifecycle orchestration on Kafka. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(PYTHON) -m uv
UV_VERSION := 0.13.9
KAFKA_JARS := deploy/kafka/lib/.fetched
PYTEST_ARGS ?=

.PHONY: help setup run test test-chaos test-unit test-integration lint format contracts bench bench-quick kafka-start kafka-stop kafka-status soak clean
.PHONY: container-packages images compose-keys compose-up compose-down test-containers chart deploy-check

help: ## List the targets, one line each
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

setup: .venv/.synced $(KAFKA_JARS) debian-packages ## Install what is missing: uv, Python packages (locked), Kafka jars, Prometheus, Chromium

.venv/.synced: uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml deploy/admin/pyproject.toml
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q "uv==$(UV_VERSION)"
	$(UV) sync --frozen --all-packages
	@touch $@

$(KAFKA_JARS): deploy/kafka/pom.xml
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies
	@touch $@

# The end of a recipe that collected "$$missing" Debian packages: installs them as root, else
# names them and fails.
INSTALL_MISSING = if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

.PHONY: debian-packages
# Prometheus (promtool) for the metrics server and rule tests; Alertmanager's amtool for the
# example routing's test; Chromium for the browser tests; PostgreSQL's server (off the PATH, in
# /usr/lib/postgresql/*/bin) for the shared-inbox tests.
debian-packages:
	@missing=""; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v amtool >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	$(INSTALL_MISSING)

run: setup ## Run the whole system locally: Kafka, topics, services, Prometheus (Ctrl-C stops)
	$(UV) run --frozen lifecycle-admin run-local

test: setup ## Run the whole test suite: the live end-to-end tests alone, then the rest on 2 workers (each its own broker on free ports)
	UV="$(UV)" tests/run $(PYTEST_ARGS)

test-unit: setup ## Run only the fast tests that need no broker
	$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

test-integration: setup ## Run only the tests against the real broker
	$(UV) run --frozen pytest tests/integration $(PYTEST_ARGS)

lint: setup ## ruff (lint + format check) and mypy --strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy schemas/src deploy/admin/src services/*/src bench/src tests

format: setup ## Format and auto-fix the code
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

contracts: setup ## Regenerate the JSON Schemas and the AsyncAPI document from the models
	$(UV) run --frozen python -m lifecycle_schemas.generate

test-chaos: setup ## The chaos and security suite (real processes, faults injected; CI runs it after make test)
	$(UV) run --frozen pytest tests/chaos $(PYTEST_ARGS)

SOAK_ARGS ?=
soak: setup ## Soak the local stack (own ports): 500 events/s for 5 min; .cache/soak report (not in CI)
	$(UV) run --frozen lifecycle-admin soak $(SOAK_ARGS)

bench: setup ## Benchmark (own broker): ceiling, peers, orchestrator, ingest, latency, scale-out, state; bench/results/<timestamp>.{json,md,png}
	$(UV) run --frozen lifecycle-bench run

bench-quick: setup ## A short benchmark run (under 3 minutes), same outputs
	$(UV) run --frozen lifecycle-bench run --quick

kafka-start: setup ## Start the local broker on 9092 (idempotent)
	deploy/local/kafka start

kafka-stop: ## Stop the local broker
	deploy/local/kafka stop

kafka-status: ## Is the local broker running?
	deploy/local/kafka status

# Containers without Docker: Debian's podman (runc, netavark) and mmdebstrap for the base image.
CONTAINER_PACKAGES := podman runc netavark aardvark-dns catatonit mmdebstrap
COMPOSE := $(UV) run --frozen podman-compose --podman-path deploy/docker/podman -f deploy/docker-compose.yml
COMPOSE_KEYS := .cache/compose/keys

container-packages:
	@missing=""; \
	for package in $(CONTAINER_PACKAGES); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	$(INSTALL_MISSING)

images: setup container-packages ## Build the images with podman (base from Debian packages; no Docker, no registry)
	deploy/docker/build-images

compose-keys: setup ## Development API keys for the compose stack (.cache/compose/keys, kept across runs)
	$(UV) run --frozen lifecycle-admin dev-keys $(COMPOSE_KEYS)

compose-up: images compose-keys ## Run the whole system in containers (podman-compose); make compose-down stops it
	$(COMPOSE) up -d
	@echo "orchestrator http://127.0.0.1:$${LIFECYCLE_ORCHESTRATOR_HOST_PORT:-8100}/dashboard  Prometheus http://127.0.0.1:$${LIFECYCLE_PROMETHEUS_HOST_PORT:-9090}  keys $(COMPOSE_KEYS)/department-api-keys.plain.json"

compose-down: setup ## Stop the compose stack and delete its volumes
	$(COMPOSE) stop orchestrator marketing sales service-desk
	$(COMPOSE) down -v -t 30

test-containers: images ## The container tests: the compose stack end to end, and the chart's workloads in podman kube play
	$(UV) run --frozen pytest tests/containers $(PYTEST_ARGS)

chart: setup ## Regenerate the Helm chart's files (topics, ACLs, alert rules, dashboard) from their sources
	$(UV) run --frozen python -m lifecycle_admin.helm_chart

deploy-check: setup ## Lint and render the Helm chart (Helm's SDK from PyPI), validate every object against the Kubernetes and CRD schemas
	deploy/helm/check

clean: kafka-stop ## Stop the broker and delete local state (.cache)
	rm -rf .cache
