# The two commands of the README: `make up` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_TICKETS ?= 3000
DEMO_DAYS ?= 60

.PHONY: up test install install-test lint demo build serve bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

## Start the platform on demo data: API, watcher and site on http://$(HOST):$(PORT)
up: install
	@if [ -z "$$(find data/tickets -name '*.json' 2>/dev/null | head -n 1)" ]; then \
		$(BIN)/shoufa demo --tickets $(DEMO_TICKETS) --days $(DEMO_DAYS); fi
	$(BIN)/shoufa serve --host $(HOST) --port $(PORT)

## Run the whole test suite
test: install-test
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: install-test
	$(BIN)/ruff check intake_api generator tests

demo: install
	$(BIN)/shoufa demo --tickets $(DEMO_TICKETS) --days $(DEMO_DAYS)

build: install
	$(BIN)/shoufa build --full

bench: install
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/shoufa bench

clean:
	rm -rf site .shoufa-build build *.egg-info
