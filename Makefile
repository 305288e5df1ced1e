# faceprint: `make run` sets up .venv and runs the main job; `make test` sets up .venv and runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SAMPLES := $(or $(FACEPRINT_DATASETS),../shared/datasets)/samples

.PHONY: setup run test lint benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Until the web app exists, the main job is a demonstration of the command line on sample photos.
run: setup
	$(BIN)/faceprint models list
	$(BIN)/faceprint detect $(SAMPLES)/group/two_people_2.jpg
	$(BIN)/faceprint verify $(SAMPLES)/people/obama/obama.jpg $(SAMPLES)/people/obama/obama2.jpg
	$(BIN)/faceprint verify $(SAMPLES)/people/obama/obama.jpg $(SAMPLES)/people/biden/biden.jpg

test: setup
	$(BIN)/ruff check faceprint tests tools benchmarks
	$(BIN)/python -m pytest -n 2

lint: setup
	$(BIN)/ruff check faceprint tests tools benchmarks
	$(BIN)/ruff format --check faceprint tests tools benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
