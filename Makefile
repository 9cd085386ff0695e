# Two commands: `make run` starts the whole product, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := .venv
# Cache compiled bytecode (the machines set PYTHONDONTWRITEBYTECODE): otherwise every run recompiles pandas, scipy...
export PYTHONDONTWRITEBYTECODE :=
MANAGE := .venv/bin/python manage.py
WEB_PORT ?= 8000
export WEB_PORT

.PHONY: run test install install-dev lint check-deploy db-stop clean messages

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --frozen --no-dev --inexact

install-dev: $(UV)
	$(UV) sync --frozen

run: install
	$(MANAGE) migrate --noinput
	$(MANAGE) sync_schedules
	$(MANAGE) seed_demo
	@echo ""
	@echo "  Chuhai is starting: open http://127.0.0.1:$(WEB_PORT)/"
	@echo "  Demo owner: owner@demo.chuhai.test / chuhai-demo-2026  (analyst: analyst@demo.chuhai.test)"
	@echo "  Stop with Ctrl-C."
	@echo ""
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv/bin/honcho --procfile Procfile start

test: install-dev
	.venv/bin/pytest $(PYTEST_ARGS)

lint: install-dev
	.venv/bin/ruff check .

messages: install-dev
	$(MANAGE) makemessages --locale zh_Hans --no-obsolete --no-location --ignore '.venv/*' --ignore '.tools/*' \
		--ignore 'staticfiles/*' --ignore '.data/*' --ignore 'test-artifacts/*'
	$(MANAGE) compilemessages --locale zh_Hans --ignore '.venv/*' --ignore '.tools/*'

db-stop:
	.venv/bin/python -m config.embedded_pg stop

clean:
	rm -rf .venv .tools staticfiles test-artifacts
