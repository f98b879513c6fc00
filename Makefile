# Rollwise: `make run` serves the demo, `make test` runs the whole suite.
# Both set everything up from a fresh clone; a second run reuses what is there.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := FLASK_APP=wsgi.py $(BIN)/flask
HOST ?= 127.0.0.1
# Small linear algebra (per-site fits, bootstraps) is far faster on one BLAS thread.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
PORT ?= 5000

.PHONY: run test setup setup-dev db demo demo-chain translations lint format bench system-deps clean

run: setup
	@$(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES="$(RUN_PACKAGES)" || true
	@mkdir -p instance
	@$(FLASK) demo prepare
	$(FLASK) run --host $(HOST) --port $(PORT)

test: setup-dev system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

setup: $(VENV)/.runtime-installed translations-compiled

setup-dev: setup $(VENV)/.dev-installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

translations-compiled: $(VENV)/.runtime-installed
	@$(BIN)/pybabel -q compile -d app/translations

db: setup
	@mkdir -p instance
	$(FLASK) db upgrade

demo: db
	$(FLASK) demo seed --if-empty

# The chain-sized data set (2,000 sites × 730 days; docs/performance.md), into an empty
# database, e.g. `make demo-chain DATABASE_URL=postgresql+psycopg://… CHAIN="--sites 500"`.
CHAIN ?=
demo-chain: db
	$(FLASK) demo seed --scale chain $(CHAIN)

# Debian packages: Chromium for the browser journeys, a CJK font and Pango for PDF exports.
# Installed with apt when missing and we are root; otherwise the affected tests say so loudly.
RUN_PACKAGES := fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
SYSTEM_PACKAGES ?= chromium $(RUN_PACKAGES)
system-deps:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null \
	      || echo "!!! could not install$$missing: browser or PDF tests will be skipped"; \
	  else \
	    echo "!!! missing Debian packages$$missing (not root): browser or PDF tests will be skipped"; \
	  fi; \
	fi

translations: setup
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -o app/translations/messages.pot .
	$(BIN)/pybabel -q update -i app/translations/messages.pot -d app/translations
	$(BIN)/pybabel -q compile -d app/translations

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup-dev
	@for script in tests/bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
