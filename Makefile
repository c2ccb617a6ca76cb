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

# The pictures the docs refer to: the demo's SVGs and trace, and each command's --help.
docs:
	mkdir -p build/docs
	$(PYTHON) -m gradviz demo --out build/docs/demo
	$(PYTHON) -m gradviz trace --out build/docs/vector-jacobian examples/10_vector_jacobian.py
	cp build/docs/vector-jacobian/backward-001.svg docs/concepts/vector-jacobian.svg
	$(PYTHON) -m gradviz trace --quiet --out build/docs/transformer examples/12_transformer_modules.py
	cp build/docs/transformer/backward-001.svg docs/figures/transformer-full.svg
	$(PYTHON) -m gradviz trace --quiet --depth 3 --out build/docs/transformer-depth3 examples/12_transformer_modules.py
	cp build/docs/transformer-depth3/backward-001.svg docs/figures/transformer-depth3.svg
	for command in trace render tui demo; do \
		COLUMNS=100 $(PYTHON) -m gradviz $$command --help > build/docs/$$command-help.txt || exit 1; \
	done
	@echo "docs: see docs/*.md; generated pictures and help text are in build/docs/"

bench:
	$(PYTHON) benchmarks/bench_trace.py

ci:
	.ci/run
