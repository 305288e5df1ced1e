# faceprint: `make run` sets up .venv and runs the main job; `make test` sets up .venv and runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

CHROMIUM := /usr/bin/chromium

.PHONY: setup browser run test lint benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[convert,train,dev,ray]'
	rm -f $(VENV)/.installed-*
	touch $@

# The real-browser tests drive Debian's Chromium; install it when missing (needs root or passwordless sudo).
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else echo "the browser tests need Debian's chromium: run 'sudo apt-get install -y chromium'" >&2; exit 1; fi; \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; }

# The main job: the web app on http://127.0.0.1:8000 with the shipped celebrity model and an SQLite gallery
# in the per-user data directory (override with FACEPRINT_GALLERY=sqlite:///path.db or postgresql://...).
run: setup
	$(BIN)/faceprint serve --host 127.0.0.1 --port 8000

test: setup browser
	$(BIN)/ruff check faceprint tests tools benchmarks
	$(BIN)/python -m pytest -n 2

lint: setup
	$(BIN)/ruff check faceprint tests tools benchmarks
	$(BIN)/ruff format --check faceprint tests tools benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
