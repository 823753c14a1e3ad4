"""Fixtures of the integration and browser tests: PostgreSQL, Redis and Celery worker processes.

`make test` (scripts/test.sh) starts a throwaway PostgreSQL (DATABASE_URL) and Redis (TEST_REDIS_URL).
pytest-django creates its test database on that PostgreSQL; the worker processes started here are
given the same database (read from the live connection, so `test_shikaku` and not `shikaku`), a
dedicated Redis database as their broker and the test's MEDIA_ROOT. Tests use
`django_db(transaction=True)`: rows are committed, so the workers see them.

The test process itself also sends to Redis (not eager): `celery_to_redis` points config.celery.app
at the same broker for the test's duration.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.processes import CeleryWorker, ManageCommand, RedisServer, redis_url_with_db

# Redis database 0 belongs to whoever else uses TEST_REDIS_URL; the workers of these tests use their
# own, flushed before and after each test, so no message survives from one test into the next.
BROKER_DB = 5
# The shortest visibility timeout settings accept (CELERY_VISIBILITY_TIMEOUT ≥ 60): how long Redis
# keeps a dead worker's unacknowledged message before another worker gets it.
VISIBILITY_TIMEOUT = 60


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def missing(reason: str):
    """Skip a test whose service is not there — unless `make test` started the services
    (scripts/services.sh exports TEST_SERVICES_DIR): then a missing one is a failure, never a
    silent skip."""
    if os.environ.get("TEST_SERVICES_DIR"):
        pytest.fail(f"{reason}, although make test started the services (TEST_SERVICES_DIR is set)")
    pytest.skip(reason)


def _failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture
def test_redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        missing("needs Redis: TEST_REDIS_URL is not set (make test starts one)")
    return url


@pytest.fixture
def live_database_url(transactional_db) -> str:
    """DATABASE_URL of the database this test uses (pytest-django's test database)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        missing("needs PostgreSQL: DATABASE_URL is not postgres:// (make test provides it)")
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(s['NAME'], safe='')}"


def _flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


@pytest.fixture
def broker_url(test_redis_url) -> str:
    url = redis_url_with_db(test_redis_url, BROKER_DB)
    _flush(url)
    yield url
    _flush(url)


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    """MEDIA_ROOT shared by the test process and every process it starts."""
    path = tmp_path / "media"
    path.mkdir()
    settings.MEDIA_ROOT = path
    return path


@pytest.fixture
def process_env(live_database_url, broker_url, media_root, tmp_path) -> dict[str, str]:
    """Environment of the processes a test starts (workers, manage.py). A test may change it
    before starting them (e.g. another broker)."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=live_database_url,
        CELERY_BROKER_URL=broker_url,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        MEDIA_ROOT=str(media_root),
        PDF_CHUNK_HOUSEHOLDS="4",  # many small chunks: a kill lands in the middle of a run
        # execute --wait enqueues chunks again after 10 s without progress (documents.services.
        # run_documents_resume); production waits 10 minutes.
        DOCUMENT_RESUME_AFTER_SECONDS="10",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        VAR_DIR=str(tmp_path / "var"),
    )
    return env


def _point_celery_at(url: str, *, eager: bool) -> None:
    from kombu import pools

    from config.celery import app

    # Drop the pooled connections to the previous broker: kombu keeps them in global registries
    # keyed by URL, so closing just the app's pool would hand a closed pool to the next test.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url = url
    app.conf.task_always_eager = eager


@pytest.fixture
def celery_to_redis(settings, process_env):
    """Tasks sent by the test process go to the workers through Redis, as in production."""
    url = process_env["CELERY_BROKER_URL"]
    settings.CELERY_BROKER_URL = url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.PDF_CHUNK_HOUSEHOLDS = int(process_env["PDF_CHUNK_HOUSEHOLDS"])
    from config.celery import app

    before = (app.conf.broker_url, app.conf.task_always_eager)
    _point_celery_at(url, eager=False)
    yield url
    _point_celery_at(before[0], eager=before[1])


@pytest.fixture
def start_worker(request, process_env, tmp_path):
    """start_worker(name="w1", concurrency=2, **env) → a running CeleryWorker. All workers are
    killed at the end of the test (before the database is flushed); their logs are printed when
    the test failed."""
    workers: list[CeleryWorker] = []

    def start(name: str = "w1", *, concurrency: int = 2, **env) -> CeleryWorker:
        worker = CeleryWorker(
            name=name,
            env={**process_env, **env},
            log_dir=tmp_path,
            concurrency=concurrency,
        )
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.kill()
    if _failed(request):
        for worker in workers:
            print(f"\n----- worker {worker.name} log (tail) -----\n{worker.log_tail(120)}")


@pytest.fixture
def manage(request, process_env, tmp_path):
    """manage(*args, **env) → a started ManageCommand (python manage.py args...)."""
    commands: list[ManageCommand] = []

    def run(*args: str, **env) -> ManageCommand:
        cmd = ManageCommand(
            list(args),
            env={**process_env, **env},
            log_path=tmp_path / f"manage-{len(commands) + 1}-{args[0]}.log",
        )
        commands.append(cmd)
        return cmd

    yield run
    for cmd in commands:
        cmd.kill()
    if _failed(request):
        for cmd in commands:
            print(f"\n----- manage.py {' '.join(cmd.args)} -----\n{cmd.output()[-4000:]}")


@pytest.fixture
def private_redis(tmp_path):
    """private_redis(persistent=False) → a started redis-server of this test alone (it will be
    killed and restarted on the same port). persistent: append-only file, as in production."""
    servers: list[RedisServer] = []

    def start(*, persistent: bool = False) -> RedisServer:
        server = RedisServer(workdir=tmp_path / f"redis-{len(servers)}", persistent=persistent)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
