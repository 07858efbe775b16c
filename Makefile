# Two commands for a new user: `make run` and `make test`. Everything lives in .venv,
# so this works on Raspberry Pi OS too, where pip refuses to touch the system Python.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST := $(PY) -m pytest -q --hypothesis-profile=ci

.PHONY: run test fast test-fast fuzz bench bench-rt soak lint flight-review clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,plot,html,cluster]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/flightsw fly

# The whole suite: everything judged by results on two workers, then everything judged against
# the wall clock alone, serially, with the shipped real-time settings (SCHED_FIFO where
# permitted), as a user runs the bench.
test: $(STAMP)
	$(PYTEST) -n 2 -m "not realtime"
	$(PYTEST) -p no:xdist -m realtime

# For editing: unit and emulator tests, no flights (seconds). tests/ is split by kind: unit,
# emulator, closed_loop (lockstep flights), realtime (judged against the wall clock), hardware.
fast: $(STAMP)
	$(PYTEST) -n 2 -m "not realtime and not slow" tests/unit tests/emulator
test-fast: fast

# Long random runs: every property test with 10^5 fresh examples, the mutation fuzzers (10^6
# corrupted camera streams, 10^5 corrupted VC0706 captures), and the coverage-guided fuzzers
# if atheris is installed (pip install -e '.[fuzz]'). Any counterexample prints a reproducer.
FUZZ_SEED ?= $(shell date +%s)
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -n 2 -m property --timeout=0
	$(PY) -m fuzz.stream --count 1000000 --seed $(FUZZ_SEED) --jobs 2
	$(PY) -m fuzz.vc0706 --count 100000 --seed $(FUZZ_SEED) --jobs 2
	@if $(PY) -c 'import atheris' 2>/dev/null; then \
	  $(PY) -m fuzz.stream --atheris 300 && $(PY) -m fuzz.vc0706 --atheris 300; \
	else echo "atheris not installed: pip install -e '.[fuzz]' for the coverage-guided runs"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check app firmware ground hal sim_hal tests benchmarks fuzz
	$(VENV)/bin/mypy

# Figures, printed with a JSON line each (never pass/fail on time).
bench: $(STAMP)
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/cycle_cost.py
	$(PY) benchmarks/vision_cost.py
	$(PY) benchmarks/log_cost.py
	$(PY) benchmarks/i2c_cost.py
	$(PY) benchmarks/camera_stream.py --pty-seconds 10
	$(PY) benchmarks/vc0706_capture.py
	$(PY) benchmarks/scenario_sweep.py --seeds 5

# The hil bench under host load (needs stress-ng): 10 nominal flights with the shipped config
# under stress-ng --cpu 2, then 10 under bursts of load with SCHED_OTHER.
soak: $(STAMP)
	$(PY) benchmarks/hil_soak.py --flights 10 --load stress
	$(PY) benchmarks/hil_soak.py --flights 10 --load bursts --sched-other

# Loop wake-up latency against cyclictest (rt-tests) with and without stress-ng on the other
# cores: installs both through apt when run as root, else says how. SCHED_FIFO needs root.
bench-rt: $(STAMP)
	@command -v cyclictest >/dev/null && command -v stress-ng >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get install -y -q rt-tests stress-ng; } || \
	  echo "loop_latency wants cyclictest and stress-ng: sudo apt-get install rt-tests stress-ng"
	$(PY) benchmarks/loop_latency.py --duration 60
	$(PY) benchmarks/loop_latency.py --duration 60 --cycle benchmarks.fsw_cycle:one_cycle

# PX4's Flight Review on a flight log: the plots it draws from ours (not part of `make test`).
# The first run clones github.com/PX4/flight_review at a pinned commit into
# ~/.cache/flightsw/flight_review and makes a venv there (needs GitHub, then PyPI); then it
# flies nominal_flight6 and reviews its log. FR_ARGS="--log FILE" reviews a given log.
FR_ARGS ?=
flight-review: $(STAMP)
	$(PY) benchmarks/flight_review_check.py --setup $(FR_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info logs
