# mqtt-node: firmware for ESP8266/ESP32 MicroPython and the host tools around it.
# `make demo` runs the node on the unix port against a local Mosquitto over TLS; `make test` tests.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The unix-port interpreter; point it at your own build where the PyPI wheel does not exist.
MICROPYTHON ?= $(abspath $(BIN)/micropython)
export MICROPYTHON

STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup test demo bench clean help

help:
	@echo "make demo    the node on the unix port publishing to a local Mosquitto over TLS"
	@echo "make test    every test: device (MicroPython), host tools, integration (real broker)"
	@echo "make bench   the benchmarks: a table, and bench/results.json"
	@echo "make setup   create $(VENV) with the host tools and the test tools"

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m host_tools demo

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf build .pytest_cache
