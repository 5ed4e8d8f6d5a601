# The two commands of the quick start: `make run` and `make test`.
.PHONY: run test setup setup-test lint bench

BPM := .venv/bin/bpm-crm

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh --test

run: setup
	$(BPM) init
	$(BPM) deploy
	$(BPM) demo
	$(BPM) run

test: setup-test
	.venv/bin/ruff check bpm_crm tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports
	.venv/bin/python -m pytest

lint: setup-test
	.venv/bin/ruff check bpm_crm tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: setup
	.venv/bin/python bench/complete_task.py
