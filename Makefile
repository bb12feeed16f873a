# Kaizen — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# reinstall when the pins, the project file or the set of packages change
STAMP  := $(VENV)/.installed-$(shell (cat requirements/lock.txt requirements/no-deps.txt pyproject.toml; ls */__init__.py) | cksum | cut -d' ' -f1)

.PHONY: install run test lint format typecheck pytest postgres-bin bench bench-slack bench-store schema lock clean

$(STAMP): requirements/lock.txt requirements/no-deps.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/no-deps.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## run: install, then start Kaizen: in Slack over Socket Mode when SLACK_BOT_TOKEN and
## SLACK_APP_TOKEN are set, otherwise the local console (`kaizen chat`) on embedded defaults
run: install
	$(BIN)/kaizen start

## test: install, then lint, type-check and run the whole test suite
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install postgres-bin
	$(BIN)/pytest

## postgres-bin: install PostgreSQL's server binaries if missing (the tests start a throwaway
## server on 127.0.0.1 with them); nothing to do with KAIZEN_PG_BIN or KAIZEN_TEST_POSTGRES_URL
postgres-bin:
	@if [ -n "$$KAIZEN_PG_BIN$$KAIZEN_TEST_POSTGRES_URL" ] \
		|| ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| [ -x "$$(pg_config --bindir 2>/dev/null)/initdb" ] \
		|| command -v initdb >/dev/null 2>&1; then :; else \
		echo "PostgreSQL server binaries not found: apt-get install postgresql"; \
		APT="env DEBIAN_FRONTEND=noninteractive apt-get"; \
		[ "$$(id -u)" -eq 0 ] || APT="sudo $$APT"; \
		$$APT install -y --no-install-recommends postgresql \
		|| { $$APT update -qq && $$APT install -y --no-install-recommends postgresql; }; \
	fi

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python benchmarks/engine_overhead.py

## bench-slack: ack latency of the Slack app under 100 concurrent commands, and duplicate runs
bench-slack: install
	$(BIN)/python benchmarks/slack_ack.py

## bench-store: what durable runs cost over the bare engine (SQLite, and PostgreSQL if installed)
bench-store: install
	$(BIN)/python benchmarks/store_overhead.py

## schema: regenerate docs/blueprint.schema.json from the engine's models
schema: install
	$(BIN)/kaizen schema --output docs/blueprint.schema.json

## lock: re-resolve pinned dependencies after editing pyproject.toml
lock: install
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements/lock.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
