# Two commands do everything on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint install index chromium clean

run: index
	$(BIN)/python app.py

test: lint chromium
	$(BIN)/python -m pytest -q

# Seconds, so before the tests: lint (no `ruff format`: see pyproject.toml) and types, package only.
lint: $(STAMP)
	$(BIN)/ruff check assistant
	$(BIN)/mypy

install: $(STAMP)

# torch first and pinned: unpinned, pip would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

index: $(STAMP)
	$(BIN)/assistant ingest samples/articles

# Browser tests drive Debian's Chromium (never `playwright install`: it downloads a browser).
chromium:
	@test -x /usr/bin/chromium -a -x /usr/sbin/nginx || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium nginx >/dev/null; } || echo "warning: could not install chromium and nginx; browser and nginx proxy tests will be skipped"

clean:
	rm -rf $(VENV) index/CURRENT index/.CURRENT.tmp index/.lock index/store-* index/.tmp-*
