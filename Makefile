# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_OUT ?= demo-out

.PHONY: demo test install install-test lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# re-install when pyproject.toml changes
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test
	./scripts/install-system-deps.sh

demo: install
	$(BIN)/calcscan run sample_data/ -o $(DEMO_OUT)
	@echo
	@echo "Open $(DEMO_OUT)/index.html in a browser: every study's report.html with key images."
	@echo "Per study: $(DEMO_OUT)/studies/<study>/report.json and dicom/ (SEG, TID 1500 SR)."
	@echo "Run summary: $(DEMO_OUT)/summary.csv and $(DEMO_OUT)/run.json"

test: install-test
	$(BIN)/python -m pytest -q

# not part of `make test`: generates clinical-size phantoms once (benchmarks/data/), ~15 min
bench: install
	$(BIN)/python benchmarks/bench_performance.py
	$(BIN)/python -m benchmarks.bench_real_anatomy

# not part of `make test` (which runs 1000): 10,000 mutated studies from tests/fuzz as one batch,
# roughly 40 min on 2 cores (0.22 s per study measured at 1000) and 2 GB in a temporary folder,
# where one example per failure class is kept
fuzz: install-test
	$(BIN)/python -m tests.fuzz --n 10000 --seed 1

lint: install-test
	$(BIN)/ruff check pipeline tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
