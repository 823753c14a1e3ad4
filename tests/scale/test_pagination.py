"""Counting rows on huge tables: an unfiltered changelist of a table above the threshold shows
PostgreSQL's estimate (pg_class.reltuples) instead of running COUNT(*) over the whole table; a
filtered or searched list, a small table and SQLite count exactly (core/pagination.py)."""

import os

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from certificates.models import Certificate
from core.models import AuditEvent
from core.pagination import EstimatedCountPaginator, is_unfiltered
from members.models import Person, RegistrationStatus

from . import builders

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL (DATABASE_URL)",
)


def counts_in(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


def analyze_and_fake_reltuples(table: str, rows: int) -> None:
    """ANALYZE, then pretend the table is huge (as after seeding 1.2 million persons)."""
    with connection.cursor() as cur:
        cur.execute(f'ANALYZE "{table}"')
        cur.execute("UPDATE pg_class SET reltuples = %s WHERE oid = %s::regclass", [rows, table])


def test_big_changelists_use_the_estimating_paginator_and_no_full_count():
    for model in (Person, RegistrationStatus, Certificate, AuditEvent, Person.history.model):
        admin = site._registry[model]
        assert admin.paginator is EstimatedCountPaginator, model
        assert admin.show_full_result_count is False, model


def test_unfiltered_means_no_where_clause():
    assert is_unfiltered(Person.objects.select_related("employer").order_by("kigo"))
    assert not is_unfiltered(Person.objects.filter(kigo="1"))
    assert not is_unfiltered(Person.objects.distinct())
    assert not is_unfiltered(Person.objects.all()[:10])


def test_sqlite_or_small_tables_count_exactly(settings):
    builders.households(3)
    with CaptureQueriesContext(connection) as ctx:
        count = EstimatedCountPaginator(Person.objects.order_by("pk"), 50).count
    assert count == 6
    assert len(counts_in(ctx.captured_queries)) == 1


@pytest.mark.postgres_only
@on_postgres
def test_unfiltered_count_above_the_threshold_is_the_estimate(settings):
    settings.ADMIN_ESTIMATED_COUNT_THRESHOLD = 1000
    builders.households(3)
    analyze_and_fake_reltuples("members_person", 1_200_000)
    with CaptureQueriesContext(connection) as ctx:
        count = EstimatedCountPaginator(Person.objects.order_by("pk"), 50).count
    assert count == 1_200_000
    assert counts_in(ctx.captured_queries) == []
    # a filtered list counts exactly: the estimate of the table says nothing about it
    with CaptureQueriesContext(connection) as ctx:
        exact = EstimatedCountPaginator(Person.objects.filter(edaban="00"), 50).count
    assert exact == 3
    assert len(counts_in(ctx.captured_queries)) == 1


@pytest.mark.postgres_only
@on_postgres
def test_below_the_threshold_or_never_analysed_counts_exactly(settings):
    settings.ADMIN_ESTIMATED_COUNT_THRESHOLD = 2_000_000
    builders.households(2)
    analyze_and_fake_reltuples("members_person", 1_200_000)
    assert EstimatedCountPaginator(Person.objects.all(), 50).count == 4
    settings.ADMIN_ESTIMATED_COUNT_THRESHOLD = 10
    with connection.cursor() as cur:  # -1: never vacuumed nor analysed
        cur.execute("UPDATE pg_class SET reltuples = -1 WHERE oid = 'members_person'::regclass")
    assert EstimatedCountPaginator(Person.objects.all(), 50).count == 4


@pytest.mark.postgres_only
@on_postgres
def test_person_changelist_does_not_count_the_table(client, supervisor, settings):
    settings.ADMIN_ESTIMATED_COUNT_THRESHOLD = 1000
    client.force_login(supervisor)
    builders.households(3, kana="サトウ")
    analyze_and_fake_reltuples("members_person", 1_200_000)
    url = reverse("admin:members_person_changelist")
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url)
    assert resp.status_code == 200
    assert resp.context["cl"].result_count == 1_200_000
    assert [q for q in counts_in(ctx.captured_queries) if "members_person" in q] == []
    # searched: an exact count of the matches
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url, {"q": "サトウ"})
    assert resp.context["cl"].result_count == 6
    assert len([q for q in counts_in(ctx.captured_queries) if "members_person" in q]) == 1
