# FISSION developer tasks. Everything runs inside .venv, which is (re)installed only when
# pyproject.toml changes (the stamp file records the last install).

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

DEMO_NET := demo_network_v3
DEMO_SIM := examples/$(DEMO_NET)/simulation

.PHONY: venv demo test lint bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	cd examples && ../$(PYTHON) manage.py $(DEMO_NET) simulate --duration 12
	@echo
	@echo "CSV files written by the simulation:"
	@echo "  $(DEMO_SIM)/6/join.csv"
	@head -n 5 $(DEMO_SIM)/6/join.csv
	@echo "  $(DEMO_SIM)/7/reduce.csv"
	@head -n 5 $(DEMO_SIM)/7/reduce.csv
	@echo
	@echo "The same network on three nodes of this machine, one of which dies:"
	$(PYTHON) demo/loopback_cluster.py

test: $(STAMP)
	$(PYTHON) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check fission tests benchmarks demo

bench: $(STAMP)
	$(PYTHON) benchmarks/run_all.py
