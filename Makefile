# Every target creates .venv (pip, not uv: torch comes from this machine's disk) and installs the project when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: run test bench serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[test,baselines]'
	touch $(STAMP)

run: $(STAMP)  ## the main job: train-and-measure on the default (Fashion-MNIST, 5 epochs: quick)
	$(BIN)/neuroninfo train-and-measure --epochs 5

test: $(STAMP)  ## the whole test suite, two worker processes (pytest-xdist; a test module stays on one worker)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

bench: $(STAMP)  ## benchmarks: print ratios against references measured in the same run
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

serve: $(STAMP)  ## a local Prefect server (if none answers) + the served deployments
	$(BIN)/python -m flows.serve_local

clean:
	rm -rf $(VENV) *.egg-info
