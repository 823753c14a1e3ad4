# One entry point for everything a developer runs. See README.md.
.PHONY: install demo test lint bench help

help:
	@echo "make install  Debian packages (when missing) and .venv/ from the pinned requirements"
	@echo "make demo     demo society on SQLite, demo logins, a bulk run; serves the admin on :\$${PORT:-8000}"
	@echo "make test     whole suite on throwaway PostgreSQL + Redis, then on SQLite"
	@echo "make lint     ruff check and ruff format --check"
	@echo "make bench    scale benchmark (scripts/bench.py)"

install:
	@scripts/install.sh

demo: install
	@scripts/demo.sh

test: install
	@scripts/test.sh

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

bench: install
	@if [ -f scripts/bench.py ]; then \
		.venv/bin/python scripts/bench.py; \
	else \
		echo "make bench: not yet implemented (scripts/bench.py does not exist yet)" >&2; \
		exit 1; \
	fi
