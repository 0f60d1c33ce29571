# One entry point for a fresh machine: `make run` (the main job) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export ZENML_ANALYTICS_OPT_IN := false
export ZENML_AUTO_OPEN_DASHBOARD := false
export TOKENIZERS_PARALLELISM := false

.PHONY: setup stacks chromium run train test test-fast lint format bench bench-report dashboard ray-up ray-down clean

setup: $(STAMP) .zen/config.yaml stacks

# torch goes first and alone, then everything else with torch held at the same pin.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c <(echo torch==2.13.0) -e '.[dev]'
	touch $(STAMP)

.zen/config.yaml: $(STAMP)
	$(VENV)/bin/zenml init >/dev/null

stacks: $(STAMP) .zen/config.yaml
	$(PY) -m stacks.register --activate local

run: setup
	$(PY) run.py

train: setup
	$(PY) run.py train

# The dashboard tier drives Debian's headless Chromium; without it that one check is skipped.
chromium:
	@command -v chromium >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium could not be installed: the dashboard browser check will be skipped"

test: setup chromium
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow and not behavior"

lint: $(STAMP)
	$(VENV)/bin/ruff format --check . && $(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) -m benchmarks
	$(PY) -m benchmarks.report

# README's benchmark tables from benchmarks/results/*.json (`--check`: exit 1 if they are stale)
bench-report: $(STAMP)
	$(PY) -m benchmarks.report

dashboard: setup
	$(VENV)/bin/zenml login --local

# A Ray head on this machine for the ray-local stack. One logical CPU more than the cores: a step
# that drives Ray Train or Tune holds one while its workers take the real cores.
ray-up: setup
	$(VENV)/bin/ray start --head --num-cpus $$(( $$(nproc) + 1 )) \
	  --dashboard-host 127.0.0.1 --disable-usage-stats

ray-down:
	$(VENV)/bin/ray stop

clean:
	rm -rf .artifacts .zen .pytest_cache benchmarks/results
