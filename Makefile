# The front door. On a fresh machine:
#   make book    # installs everything into .venv, executes every notebook (profile cpu), writes the HTML
#   make test    # installs everything into .venv, runs lint + unit tests + every notebook (smoke) under nbval
PROFILE ?= cpu
VENV    ?= .venv
PYTHON  ?= python3
# The CPU wheel of torch that lies on this machine's disk. A GPU user installs a CUDA torch
# into the venv first (or sets TORCH_SPEC); an installed torch is never replaced.
TORCH_SPEC ?= torch==2.13.0
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.flowstage-installed

.PHONY: book test venv browser lint bench clean-build check

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e .
	@touch $@

book: venv
	$(VENV)/bin/flowstage book --profile $(PROFILE)

# The browser test drives Debian's chromium with its chromedriver (no browser download).
browser:
	@command -v chromedriver >/dev/null 2>&1 || apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
	  || echo "note: could not install chromium + chromium-driver; the browser test will be skipped"

test: venv browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/flowstage check --profile all
	$(PY) -m pytest -q tests
	FLOWSTAGE_PROFILE=smoke $(PY) -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider book

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Validate every profile's parameters, data and models in seconds, and print the plan.
check: venv
	$(VENV)/bin/flowstage check --profile all

bench: venv
	$(PY) benchmarks/bench_oracle.py
	$(PY) benchmarks/bench_models.py

clean-build:
	rm -rf _build
