# The front door. On a fresh machine:
#   make book    # installs the library + book toolchain into .venv, runs every notebook (profile cpu), writes the HTML
#   make test    # installs everything into .venv, runs lint, checks, unit tests, the smoke compute and nbval
PROFILE ?= cpu
VENV    ?= .venv
PYTHON  ?= python3
# The CPU wheel of torch that lies on this machine's disk. A GPU user installs a CUDA torch
# into the venv first (or sets TORCH_SPEC); an installed torch is never replaced.
TORCH_SPEC ?= torch==2.13.0
PY    := $(VENV)/bin/python

.PHONY: book test venv browser lint bench clean-build check compute

# The library alone (what `flowstage compute` and `flowstage analyze` need), then the extras.
$(VENV)/.flowstage-core: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.flowstage-book: $(VENV)/.flowstage-core
	$(PY) -m pip install -q -e ".[book]"
	@touch $@

$(VENV)/.flowstage-test: $(VENV)/.flowstage-book
	$(PY) -m pip install -q -e ".[book,test]"
	@touch $@

venv: $(VENV)/.flowstage-test

book: $(VENV)/.flowstage-book
	$(VENV)/bin/flowstage book --profile $(PROFILE)

# The experiments only (no papermill / Jupyter / Sphinx needed), e.g. on a GPU node.
compute: $(VENV)/.flowstage-core
	$(VENV)/bin/flowstage compute --all --profile $(PROFILE)

# The browser test drives Debian's chromium with its chromedriver (no browser download).
browser:
	@command -v chromedriver >/dev/null 2>&1 || apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
	  || echo "note: could not install chromium + chromium-driver; the browser test will be skipped"

# Lint, every profile's check, the unit tests, then the smoke book: its experiments through
# `flowstage compute` (the path a GPU node runs) into a fresh cache, and every notebook under
# nbval rendering from that cache only (FLOWSTAGE_CACHE_STRICT: a cache miss fails the test).
test: $(VENV)/.flowstage-test browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/flowstage check --profile all
	$(PY) -m pytest -q tests
	rm -rf _build/smoke-compute
	FLOWSTAGE_CACHE=$(CURDIR)/_build/smoke-compute/cache FLOWSTAGE_RESULTS=$(CURDIR)/_build/smoke-compute/results \
	  $(VENV)/bin/flowstage compute --all --profile smoke
	FLOWSTAGE_CACHE=$(CURDIR)/_build/smoke-compute/cache FLOWSTAGE_RESULTS=$(CURDIR)/_build/smoke-compute/results \
	  FLOWSTAGE_CACHE_STRICT=1 FLOWSTAGE_PROFILE=smoke $(PY) -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider book

lint: $(VENV)/.flowstage-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Validate every profile's parameters, data and models in seconds, and print the plan.
check: $(VENV)/.flowstage-core
	$(VENV)/bin/flowstage check --profile all

bench: $(VENV)/.flowstage-core
	$(PY) benchmarks/bench_oracle.py
	$(PY) benchmarks/bench_models.py

clean-build:
	rm -rf _build
