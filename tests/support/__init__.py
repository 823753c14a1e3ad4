"""Helpers for the integration and browser tests: real processes (Celery workers, redis-server,
manage.py commands) started from the test, and readers of the PDFs they produce."""
