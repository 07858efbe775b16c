# Two commands for a new user: `make run` and `make test`. Everything lives in .venv,
# so this works on Raspberry Pi OS too, where pip refuses to touch the system Python.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-rt lint clean

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

# Figures, printed with a JSON line each (never pass/fail on time).
bench: $(STAMP)
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/cycle_cost.py
	$(PY) benchmarks/vision_cost.py
	$(PY) benchmarks/log_cost.py
	$(PY) benchmarks/i2c_cost.py
	$(PY) benchmarks/camera_stream.py --pty-seconds 10
	$(PY) benchmarks/scenario_sweep.py --seeds 5

# Loop wake-up latency against cyclictest (rt-tests) with and without stress-ng on the other
# cores: installs both through apt when run as root, else says how. SCHED_FIFO needs root.
bench-rt: $(STAMP)
	@command -v cyclictest >/dev/null && command -v stress-ng >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get install -y -q rt-tests stress-ng; } || \
	  echo "loop_latency wants cyclictest and stress-ng: sudo apt-get install rt-tests stress-ng"
	$(PY) benchmarks/loop_latency.py --duration 60
	$(PY) benchmarks/loop_latency.py --duration 60 --cycle benchmarks.fsw_cycle:one_cycle

clean:
	rm -rf $(VENV) build *.egg-info logs
