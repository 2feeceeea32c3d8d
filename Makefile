PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean bench bench-quick device-wheels docs

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,neurobench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/autosnn run configs/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the docs site, every warning an error (tests/test_docs.py builds it the same way in `make test`)
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -n -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

#: The benchmarks of `make bench-quick`: the ones that train nothing (timed forward passes,
#: Ray start-up, the GPU check). The others train supernets or subnets, enumerate a space,
#: or (energy.py) time spikingjelly's slow reference counters.
BENCH_QUICK := $(wildcard bench/device_check.py bench/forward.py bench/ray_scaling.py)

# Every bench/*.py runs to its end whatever the others gave; the last lines list each
# verdict (PASS, SKIP, SHORT, ERROR) and name what was not met (exit status 1 then).
bench: $(STAMP)
	@echo "make bench: every bench/*.py in turn, about an hour on 2 CPU cores with bench/.cache filled (the first"
	@echo "  time longer: exact_front.py enumerates its table, ~25 min; rank_fidelity.py trains 12 subnets x 4 seeds,"
	@echo "  ~1.5 h). A quick subset that trains nothing: make bench-quick ($(notdir $(BENCH_QUICK)))."
	$(BIN)/python bench/tools/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python bench/tools/run_all.py $(BENCH_QUICK)

# The project's small dependencies missing on a lent GPU machine, as CPython 3.12 wheels
# (bench/device_check.py --wheels .whl installs them there).
device-wheels: $(STAMP)
	$(BIN)/python bench/device_check.py --download-wheels .whl

clean:
	rm -rf $(VENV) *.egg-info docs/_build docs/_generated
