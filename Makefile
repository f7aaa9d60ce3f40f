# The commands the README names; CI (.ci/run) calls `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install serve test lint typecheck unit contract integration cluster e2e browser deploy migrations clean

$(BIN)/gomicroim: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

install: $(BIN)/gomicroim          ## create .venv and install gomicroim with test and bench tools

serve: install                     ## start the embedded server on 127.0.0.1:8080 (data in ./data)
	$(BIN)/gomicroim serve --config config/default.toml

lint: install                      ## ruff lint and format check
	$(BIN)/ruff check src tests migrations
	$(BIN)/ruff format --check src tests

typecheck: install                 ## mypy --strict
	$(BIN)/mypy

unit: install                      ## seconds: pure rules and services with fakes
	$(BIN)/pytest tests/unit -q

contract: install                  ## every store port against fakes, SQLite, MariaDB and Redis
	scripts/services
	$(BIN)/pytest tests/contract -q

integration: install               ## adapters on real engines: Redis, Kafka (tansu, started by the tests), MariaDB; faults
	scripts/services
	$(BIN)/pytest tests/integration -q

cluster: install                   ## loopback clusters from scripts/loopback-cluster (tansu, replicas, nginx)
	scripts/services
	$(BIN)/pytest tests/cluster -q

e2e: install                       ## real server processes over HTTP
	$(BIN)/pytest tests/e2e -q

browser: install                   ## the web client in headless Chromium (/usr/bin/chromium)
	$(BIN)/pytest tests/browser -q

deploy: install                    ## deployment files: nginx -t, yamllint, compose and k8s schemas
	$(BIN)/pytest tests/deploy -q

test: lint typecheck               ## everything CI runs
	scripts/services
	$(BIN)/pytest -q

migrations: install                ## write migrations after changing a module's storage.py
	scripts/makemigrations

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
