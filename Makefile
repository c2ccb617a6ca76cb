# Developer tasks. `make test` is what the README and .ci/run call the test command.
PYTHON ?= python

.PHONY: test lint format docs bench ci

test:
	$(PYTHON) -m pytest

lint:
	ruff check .
	ruff format --check .
	mypy
	lint-imports

format:
	ruff check --fix .
	ruff format .

# The docs site (build/site/, every figure drawn from examples/ by docs/hooks/figures.py), then the
# committed copies of the figures that GitHub shows (README, big-graphs.md) and each command's --help.
docs:
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict
	cp build/site/figures/vector-jacobian.svg build/site/figures/transformer-full.svg \
		build/site/figures/transformer-depth3.svg docs/figures/
	mkdir -p build/docs
	$(PYTHON) -m gradviz demo --out build/docs/demo
	for command in trace render tui demo; do \
		COLUMNS=100 $(PYTHON) -m gradviz $$command --help > build/docs/$$command-help.txt || exit 1; \
	done
	@echo "docs: the site is in build/site/ (mkdocs serve to read it); the demo's trace and help text are in build/docs/"

bench:
	$(PYTHON) benchmarks/bench_trace.py

ci:
	.ci/run
