# dental-clinic-ai — the README's commands. Everything installs into .venv from the lock files.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export PORT

.DEFAULT_GOAL := help
.PHONY: help install run stand-ins test lint typecheck pytest bench train lock clean dashboard hooks infra-check

help: ## Show the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the locked dependencies
	@$(BIN)/python -m serving.build_info

run: install ## Migrate, load the demo clinic on first start, serve on 127.0.0.1:$PORT
	$(BIN)/dental serve --demo

stand-ins: install ## Local SMTP, Twilio and Telegram stand-ins for trying escalations by hand (docs/ESCALATION.md)
	$(BIN)/python -m tests.stand_ins

lint: install ## ruff lint and format check, the import layers contracts (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install ## mypy (strict) over serving, flows, evals
	$(BIN)/mypy

# Two workers (pytest-xdist), a whole file per worker at a time so that a file's module
# fixtures (a PostgreSQL cluster, a git repository) are built once. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
pytest: install ## The test suite only (SQLite and PostgreSQL), on $(PYTEST_WORKERS) workers
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck infra-check pytest ## Everything CI runs: lint, types, infra lint, the whole suite

# Infrastructure linters, each in its own virtualenv from pinned versions (their dependencies
# conflict with the app's), created on first use and rebuilt when the pins change. Both run
# offline: no API key, no downloads, no GitHub API.
TOOLS := var/tools
$(TOOLS)/%/.installed: requirements/tools-%.txt
	rm -rf $(TOOLS)/$*
	$(PYTHON) -m venv $(TOOLS)/$*
	$(TOOLS)/$*/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

infra-check: $(TOOLS)/checkov/.installed $(TOOLS)/zizmor/.installed ## checkov on infra/terraform, zizmor on .github/workflows (offline)
	$(PYTHON) infra/terraform/checkov_gate.py $(TOOLS)/checkov/bin/checkov infra/terraform
	$(TOOLS)/zizmor/bin/zizmor --offline --pedantic .github/workflows

hooks: ## Check commit messages here: install infra/git/hooks and the .gitmessage template
	git config core.hooksPath infra/git/hooks
	git config commit.template .gitmessage
	@echo "commit-msg hook and template installed (docs/GIT_PROTOCOL.md)"

bench: install ## Benchmarks with same-run baselines: docs/BENCHMARKS.md, LOAD_TEST.md, TELEGRAM_BENCH.md, TELEGRAM_CRASH_BENCH.md
	$(BIN)/python -m evals.bench.speed
	$(BIN)/python -m flows.load_test --benchmark
	$(BIN)/python -m evals.bench.telegram
	$(BIN)/python -m evals.bench.telegram_crash

train: install ## Retrain the triage and intent classifiers into prompts/models/ (MLflow: var/mlflow)
	$(BIN)/python -m flows.train --bundle prompts

dashboard: install ## Prefect (127.0.0.1:4200) and MLflow (127.0.0.1:5000) UIs on the local stores; Ctrl-C stops both
	@mkdir -p var/mlflow/artifacts var/prefect
	@PREFECT_HOME=$(CURDIR)/var/prefect PREFECT_SERVER_ANALYTICS_ENABLED=false \
		$(BIN)/prefect server start --host 127.0.0.1 --port 4200 & prefect=$$!; \
	MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true $(BIN)/mlflow ui \
		--backend-store-uri sqlite:///var/mlflow/mlflow.db \
		--default-artifact-root var/mlflow/artifacts --host 127.0.0.1 --port 5000 & mlflow=$$!; \
	trap 'kill $$prefect $$mlflow 2>/dev/null; wait' INT TERM EXIT; \
	echo "Prefect: http://127.0.0.1:4200  MLflow: http://127.0.0.1:5000 (Ctrl-C stops both)"; \
	echo "Flows report here with: export PREFECT_API_URL=http://127.0.0.1:4200/api"; \
	while kill -0 $$prefect 2>/dev/null && kill -0 $$mlflow 2>/dev/null; do sleep 1; done

lock: ## Re-resolve the lock files after changing pyproject.toml dependencies
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml -q --python-version 3.11 --no-header -o requirements/runtime.lock
	$(BIN)/uv pip compile pyproject.toml -q --python-version 3.11 --no-header --extra dev --extra mlops -o requirements/dev.lock

clean: ## Remove the virtualenv and local data under var/
	rm -rf $(VENV) var
