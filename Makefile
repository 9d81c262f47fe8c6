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
# The MicroPython 1.29 source the board emulators are built from (a checkout or its tarball);
# without it the emulator tests skip (they fail under CI).
MICROPYTHON_SRC ?=
export MICROPYTHON_SRC

# Boards: `make flash DEVICE=<id> PORT=/dev/ttyUSB0`. An ESP32 takes the .mpy build (`make
# build`) on the MicroPython it has, or on FIRMWARE=micropython.bin. An ESP8266 (BOARD=esp8266)
# takes an image with the node frozen in: `make image` builds it with MicroPython's own build
# from MICROPYTHON_SRC (a source tree or tarball), unless FIRMWARE= gives one.
PORT ?=
DEVICE ?=
BOARD ?=
FIRMWARE ?=
MPY ?=
HOST_TOOLS := $(BIN)/python -m host_tools
FLASH_NEEDS := $(if $(filter esp8266,$(BOARD)),$(if $(FIRMWARE),,image),build)

.PHONY: setup test demo sim bench clean help build image flash repl dev smoke emu mutants

help:
	@echo "make demo    the node on the unix port publishing to a local Mosquitto over TLS"
	@echo "make sim DEVICE=<id> [SIM_ARGS=...]   a provisioned device tried on the unix port against its broker"
	@echo "make test    every test: device (MicroPython), host tools, integration (real broker)"
	@echo "make bench   the benchmarks: a table, and bench/results.json"
	@echo "make mutants the mutation check: one-line mutants of the firmware, none may pass the tests"
	@echo "make emu MICROPYTHON_SRC=<dir or tarball>   build the ESP8266 and ESP32 board emulators"
	@echo "make setup   create $(VENV) with the host tools and the test tools"
	@echo "make build   firmware/ compiled to .mpy in build/firmware (MPY=6.2 for older boards)"
	@echo "make image BOARD=esp8266 MICROPYTHON_SRC=<dir>   MicroPython with the node frozen in"
	@echo "make flash DEVICE=<id> PORT=<port> [BOARD=esp8266] [FIRMWARE=<.bin>]   image, files and bundle to a board"
	@echo "make repl PORT=<port>   the board's REPL (mpremote)"
	@echo "make dev PORT=<port>    run firmware/ on the board from this machine, nothing flashed"
	@echo "make smoke PORT=<port>  self test of a flashed board: TLS to the broker, flash buffer, RTC memory"
	@echo "$(HOST_TOOLS) --help   certificates, broker config, provisioning, check"

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

test: $(STAMP) $(if $(MICROPYTHON_SRC),emu)
	$(BIN)/pytest $(PYTEST_ARGS)

emu:
	@test -n "$(MICROPYTHON_SRC)" || { echo "make emu: give MICROPYTHON_SRC=<a MicroPython 1.29 checkout or its source tarball> (README, \"Board emulators\")"; exit 2; }
	bash emu/build "$(MICROPYTHON_SRC)"

# Each mutant of tests/mutants.py against the tests that must catch it (about 2 minutes; CI runs it).
mutants: $(STAMP)
	$(BIN)/python tests/mutants.py $(MUTANTS_ARGS)

demo: $(STAMP)
	$(BIN)/python -m host_tools demo

# Before flashing: the device's bundle on the unix port against its broker, e.g.
# `make sim DEVICE=node-1 SIM_ARGS="--wakes 20 --wifi-off 5-8 --login monitor"`.
SIM_ARGS ?=
sim: $(STAMP)
	@test -n "$(DEVICE)" || { echo "make sim: give DEVICE=<a provisioned device> (build/devices/<id>/)"; exit 2; }
	$(HOST_TOOLS) sim "$(DEVICE)" $(SIM_ARGS)

bench: $(STAMP) $(if $(MICROPYTHON_SRC),emu)
	$(BIN)/python -m bench

build: $(STAMP)
	$(HOST_TOOLS) build $(if $(MPY),--mpy $(MPY)) $(if $(BOARD),--board $(BOARD))

image: $(STAMP)
	$(HOST_TOOLS) image --board $(or $(BOARD),esp8266) --micropython-src "$(MICROPYTHON_SRC)" $(IMAGE_ARGS)

flash: $(FLASH_NEEDS)
	$(HOST_TOOLS) flash --port "$(PORT)" $(if $(DEVICE),--device $(DEVICE)) $(if $(BOARD),--board $(BOARD)) $(if $(FIRMWARE),--firmware $(FIRMWARE)) $(FLASH_ARGS)

repl: $(STAMP)
	$(HOST_TOOLS) repl --port "$(PORT)"

dev: $(STAMP)
	$(HOST_TOOLS) dev --port "$(PORT)"

smoke: $(STAMP)
	$(HOST_TOOLS) smoke --port "$(PORT)"

clean:
	rm -rf build .pytest_cache
