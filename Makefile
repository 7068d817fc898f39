# kvmdeck: `make run` starts the app, `make test` runs the whole suite. Both set up what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
URI ?= $(or $(LIBVIRT_DEFAULT_URI),qemu:///system)

.PHONY: run test lint unit screenshots bench clean sysdeps sysdeps-test services wheel-check lab-test lab-screenshot

run: $(VENV)/.installed
	@if $(PY) -c "import libvirt; libvirt.registerErrorHandler(lambda *a: None, None); libvirt.open('$(URI)').close()" 2>/dev/null; then \
		exec $(VENV)/bin/kvmdeck -c '$(URI)' $(ARGS); \
	else \
		echo "kvmdeck: no libvirtd answers at $(URI); starting demo mode (kvmdeck --demo)."; \
		echo "         Start libvirtd ('virtlogd -d; libvirtd -d') for real guests."; \
		sleep 2; exec $(VENV)/bin/kvmdeck --demo $(ARGS); \
	fi

sysdeps:
	@scripts/apt-ensure.sh deps/apt-run.txt

sysdeps-test:
	@scripts/apt-ensure.sh deps/apt-run.txt deps/apt-test.txt deps/apt-lab.txt

$(VENV)/.installed: pyproject.toml | sysdeps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	$(PY) -m compileall -q tui  # an editable install gets no bytecode: start-up would compile it (bench P5)
	touch $@

$(VENV)/.installed-dev: pyproject.toml | sysdeps-test
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m compileall -q tui
	touch $(VENV)/.installed $@

services: $(VENV)/.installed-dev
	@scripts/start-libvirtd.sh $(PY)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check tui tests bench testbed lab
	$(VENV)/bin/ruff format --check tui tests bench testbed lab
	$(VENV)/bin/mypy tui testbed lab
	$(VENV)/bin/lint-imports

# scripts/run-tests.sh: the slow tests (a host hung 200 s) beside the main suite, the umockdev
# tests under umockdev-wrapper (LD_PRELOAD; the fake /sys leaks into children started later, so
# the daemons are up first), the libvirtd-restart tests on their own, then the USB lab
# (lab/README.md: a nested VM, booted once for its suite).
test: sysdeps-test $(VENV)/.installed-dev services lint
	PY=$(PY) PYTEST=$(PYTEST) scripts/run-tests.sh

# Only the USB lab: builds the L1 image when its recipe changed, boots L1 once.
lab-test: sysdeps-test $(VENV)/.installed-dev
	$(PYTEST) tests/lab -m lab

unit: $(VENV)/.installed-dev
	$(PYTEST) tests --ignore=tests/usb --ignore=tests/lab -m "not libvirtd and not last and not xvfb and not sshd"

screenshots: sysdeps-test $(VENV)/.installed-dev services
	$(PY) -m tests.support.screenshots
	$(PY) -m tests.support.screenshots_os
	$(PY) -m tests.support.screenshots_storage
	$(PY) -m tests.support.screenshots_fleet
	$(PY) -m lab.screenshot

bench: sysdeps-test $(VENV)/.installed-dev services
	$(PY) -m bench

# screenshots/usb.svg from the lab: kvmdeck's USB screen in L1 with real devices, one owned by L2
lab-screenshot: sysdeps-test $(VENV)/.installed-dev
	$(PY) -m lab.screenshot

wheel-check: $(VENV)/.installed-dev
	scripts/wheel-check.sh

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
