# Two commands for a new user: `make run` and `make test`. Everything lives in .venv,
# so this works on Raspberry Pi OS too, where pip refuses to touch the system Python.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,plot]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/flightsw fly

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check firmware hal sim_hal tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/cycle_cost.py

clean:
	rm -rf $(VENV) build *.egg-info logs
