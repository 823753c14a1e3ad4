"""Integration tests on the real parts: PostgreSQL, Redis and Celery worker processes (fixtures in
tests/support/fixtures.py, shared with the browser tests)."""

from tests.support.fixtures import *  # noqa: F403
