# Weir: the two commands are `make demo` and `make test`; both set themselves up (venv, packages, jars).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.weir-installed
# SPARK_LOCAL_IP: weir.spark.driver_bind_env binds the driver to loopback for local masters only
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: help setup up down status demo test test-unit test-integration lint bench clean airflow airflow-down

help:
	@echo "make demo   - set up, start the local stack, generate data and run the pipeline end to end"
	@echo "make test   - set up, lint (ruff, mypy) and run every test (unit + integration on the real stack)"
	@echo "make up | down | status - the local stack (Kafka broker, DynamoDB-compatible server)"
	@echo "make airflow | airflow-down - Airflow (api-server, scheduler, dag-processor, triggerer) on SQLite"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Weir needs Python 3.11; set PYTHON=/path/to/python3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/weir jars resolve --s3a

up: setup
	$(BIN)/weir dev up

down:
	@if [ -x $(BIN)/weir ]; then $(BIN)/weir dev down; fi

status: setup
	$(BIN)/weir dev status

demo: up
	$(BIN)/weir demo

airflow: up
	$(BIN)/weir airflow up

airflow-down:
	@if [ -x $(BIN)/weir ]; then $(BIN)/weir airflow down; fi

lint: setup
	$(BIN)/ruff check $(wildcard src tests dags plugins bench)
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q -ra --durations=20 tests

test-unit: setup
	$(BIN)/pytest -q tests/unit

test-integration: setup
	$(BIN)/pytest -q -ra tests/integration

clean: down
	rm -rf .state
