# Bharosa: `make run` serves everything, `make test` runs the tests. Both set themselves up.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: run test system venv model lint bench clean

system:
	@scripts/ensure-system.sh $(MODE)

$(BIN)/activate:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

model: venv
	@$(BIN)/python -m voice.model

run: MODE=run
run: system venv model
	@PORT=$(PORT) scripts/run.sh

test: MODE=test
test: system venv model
	@scripts/test.sh

lint: venv
	$(BIN)/ruff check .

# The benchmarks' extras: wrk, espeak-ng/sox/ffmpeg (as for the tests) and openai-whisper (the reference
# backend bench/transcribe.py compares against).
bench: MODE=test
bench: system venv model
	$(BIN)/pip install -q -e '.[test,openai-whisper]'
	@echo "ready: see docs/benchmarks.md for each benchmark's command"

clean:
	rm -rf var/test-spool test-artifacts .pytest_cache
