"""core.db.analyze_if_stale: ANALYZE after a table changed a lot since its last analyze, nothing
when it did not (PostgreSQL's pg_stat_user_tables); nothing at all on SQLite."""

import os
import time

import pytest
from django.db import connection

from core.db import analyze_if_stale, stale_tables
from members.models import Employer, Person

POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")


def _last_analyze(table: str):
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cur.fetchone()[0]


def _add_employers(n: int, start: int) -> None:
    Employer.objects.bulk_create(
        Employer(code=f"S{start + i:06d}", name=f"統計商事{i}") for i in range(n)
    )


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_a_bulk_insert_is_analyzed_once_and_then_skipped():
    table = Employer._meta.db_table
    analyze_if_stale(Employer)  # whatever the test database left behind
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {table}")  # noqa: S608 (a model's table)
    before = _last_analyze(table)
    assert analyze_if_stale(Employer) == []  # nothing changed since
    assert _last_analyze(table) == before

    _add_employers(500, 0)  # committed: the test runs outside a transaction
    time.sleep(0.01)  # last_analyze has microseconds; keep the two apart
    assert stale_tables(Employer, Person) == [table]
    assert analyze_if_stale(Employer, Person) == [table]
    after = _last_analyze(table)
    assert after is not None and after > before

    # nothing changed since: skipped, and last_analyze stays where it was
    assert analyze_if_stale(Employer) == []
    assert _last_analyze(table) == after
    # a change below the threshold (50 rows + 10% of 500) is left to autovacuum
    _add_employers(60, 1000)
    assert analyze_if_stale(Employer) == []
    _add_employers(60, 2000)
    assert analyze_if_stale(Employer) == [table]


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_it_sees_what_others_committed_and_may_analyze():
    from django.db import transaction

    _add_employers(300, 0)  # committed before the transaction below
    with connection.cursor() as cur:  # reported as another process's import would be, on exit
        cur.execute("SELECT pg_stat_force_next_flush()")
    with transaction.atomic():
        assert analyze_if_stale(Employer) == [Employer._meta.db_table]
        assert analyze_if_stale(Employer) == []


@pytest.mark.django_db
def test_sqlite_is_a_no_op():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    _add_employers(500, 0)
    assert analyze_if_stale(Employer, Person) == []
