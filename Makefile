# retro-treadmill: the two set-up commands are `make demo` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# OS package:command it provides (mosquitto-clients: README's mosquitto_pub/mosquitto_sub examples;
# chromium and poppler-utils' pdfinfo render the report tests' PNGs and PDFs)
APT_PACKAGES := mosquitto:mosquitto mosquitto-clients:mosquitto_pub tshark:tshark tmux:tmux \
	chromium:chromium poppler-utils:pdfinfo
# The BlueZ VM tests (tests/bluez/run-vm.sh): QEMU, Debian's kernel (hci_vhci), BlueZ, D-Bus, kmod
# for modprobe in the guest, and a static busybox for virtme-ng's initramfs.
BLUEZ_APT_PACKAGES := qemu-system-x86 linux-image-amd64 bluez dbus kmod busybox-static
export DEBIAN_FRONTEND := noninteractive

.PHONY: demo test test-bluez check lint typecheck imports pytest bench venv system-deps bluez-deps clean

## venv: create .venv and install the package with its dev extra (re-run when pyproject changes)
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "retro-treadmill needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  { echo "installing python3-venv"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

## system-deps: OS packages the tests use (mosquitto broker and clients, tshark, tmux, chromium and
## poppler's pdfinfo for the report tests), installed when missing
system-deps:
	@missing=""; \
	for pc in $(APT_PACKAGES); do p=$${pc%%:*}; c=$${pc##*:}; \
	  command -v $$c >/dev/null 2>&1 || [ -x /usr/sbin/$$c ] || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing OS packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## bluez-deps: OS packages of the BlueZ VM tests, installed when missing (dpkg's view)
bluez-deps:
	@missing=""; \
	for p in $(BLUEZ_APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing OS packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## demo: a short guided session on the built-in virtual treadmill
demo: venv
	@# exit 3 = stopped by the operator (space/Enter/s): a normal way to end the demo
	@$(BIN)/retro-treadmill demo; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 3 ] || exit $$rc

## test: everything CI checks: ruff, mypy --strict, import-linter, pytest, the BlueZ VM tests
test: venv system-deps bluez-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest
	$(SUDO) env VENV=$(VENV) tests/bluez/run-vm.sh

## test-bluez: the BlueZ VM tests alone (the CLI through bleak's BlueZ backend, in a QEMU guest)
test-bluez: venv bluez-deps
	$(SUDO) env VENV=$(VENV) tests/bluez/run-vm.sh

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
typecheck: venv
	$(BIN)/mypy
imports: venv
	$(BIN)/lint-imports
pytest: venv
	$(BIN)/pytest

## bench: codec, emergency-stop, footprint and fleet benchmarks (ratios against a baseline from the same run)
bench: venv system-deps
	$(BIN)/python bench/codec.py
	$(BIN)/python bench/estop.py
	$(BIN)/python bench/footprint.py
	$(BIN)/python bench/fleet.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
