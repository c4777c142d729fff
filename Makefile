# Two set-up commands: `make run` and `make test`. Both install what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint system-deps venv clean

system-deps:
	@bash scripts/system-deps.sh

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Bytecode as `pip install .` leaves it (an editable install compiles nothing, and PYTHONDONTWRITEBYTECODE
# would keep every CLI start compiling the sources again); stale files are skipped by Python anyway.
venv: $(STAMP)
	@$(PY) -m compileall -q adapter harbor_client provisioning >/dev/null

run: system-deps venv
	$(VENV)/bin/swr-bridge run

test: system-deps venv
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: system-deps venv
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/run_all.py

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
