# nasgen developer commands. `make install` then `make test` is what CI runs (.ci/run).
PYTHON ?= python
SHARED ?= ../shared/benchmarks

.PHONY: install test smoke lint data reproduce reproduce-compare measure-load

install:  ## CPU torch first (never the multi-GB CUDA build), then nasgen with dev extras
	$(PYTHON) -m pip install torch==2.13.0 && $(PYTHON) -m pip install -e ".[dev]"

test:  ## the full default test suite, one pytest-xdist worker per core (a module's tests share one worker)
	$(PYTHON) -m pytest -q -n auto --dist loadgroup

smoke:  ## a complete tiny AG-Net search through the CLI
	nasgen run experiment=smoke

lint:
	$(PYTHON) -m ruff check nasgen tests scripts

data:  ## rebuild the bundled NB201 tables from the shared benchmark files
	$(PYTHON) scripts/build_bundled_data.py --shared $(SHARED)

reproduce:  ## AG-Net on NB201, 10 seeds x 3 datasets (about 20-25 min on 2 cores, no pretraining)
	$(PYTHON) scripts/reproduce_nb201.py ag_net_nb201 --seeds 10 --jobs 2

reproduce-compare:  

measure-load:  ## time and memory of loading the benchmark tables
	$(PYTHON) scripts/measure_benchmark_load.py --shared $(SHARED)
