# One virtual environment in .venv, installed from pyproject.toml with the versions pinned in
# constraints.txt (the versions that produced the committed notebook outputs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lab voila demo lint test notebooks bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[notebook,test,lint]'
	$(BIN)/python -m compileall -q simlib
	touch $(STAMP)

install: $(STAMP)

# JupyterLab refuses to start as root without --allow-root (containers and CI machines run as root).
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
LAB_ARGS ?=

## JupyterLab on the explorer (the main job); open the URL it prints
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/explorer.ipynb --ip 127.0.0.1 $(ROOT_FLAG) $(LAB_ARGS)

## The explorer as a code-free app for support staff (configured by etc/jupyter/voila.py: a kernel
## per page, shut down when the page closes, idle unconnected kernels culled, nothing from a CDN)
voila: $(STAMP)
	$(BIN)/voila notebooks/explorer.ipynb --Voila.ip=127.0.0.1 --Voila.config_file_paths=$(CURDIR)/etc/jupyter $(LAB_ARGS)

## Headless: local receiver + demo webhook + one send per event type
demo: $(STAMP)
	$(BIN)/simlib demo

## Static checks: ruff over the code and tests, mypy (strict on core/, toolkit/, records, errors, simulator)
lint: $(STAMP)
	$(BIN)/ruff check simlib tests benchmarks scripts conftest.py
	$(BIN)/mypy

## The whole test suite: lint, then pytest, nbval (strict) over the notebooks, browser tests if chromium exists
test: lint
	$(BIN)/python -m pytest

## Re-execute the notebooks in place, the way CI runs them
notebooks: $(STAMP)
	$(BIN)/python scripts/execute_notebooks.py

## Benchmarks (ratios against bare httpx in the same process)
bench: $(STAMP)
	$(BIN)/python -m compileall -q simlib
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
