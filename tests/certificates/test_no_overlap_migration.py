"""Migration 0009_s14_no_overlap on a database holding certificates from before it: the early
cover ends are filled in (a replaced certificate, one awaiting return after a loss) so that the
constraint can be added, and a database already holding two certificates covering the same day
stops the migration with their numbers. Both databases."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from .factories import member

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("certificates", "0008_merge_i12_i13")]
AFTER = [("certificates", "0009_s14_no_overlap")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    _migrate(executor.loader.graph.leaf_nodes())


def _cert(Certificate, person, number, issue, until, **extra):
    return Certificate.objects.create(
        number=number,
        person_id=person.pk,
        reason="未登録",
        issue_date=issue,
        valid_until=until,
        route="事業主経由",
        printed_name="x",
        printed_name_kana="x",
        **extra,
    )


def test_backfill_ends_the_covers_of_replaced_and_lost_certificates():
    renewed, leaving = member(), member(lost_on=date(2027, 6, 1))
    try:
        old = _migrate(BEFORE).get_model("certificates", "Certificate")
        first = _cert(
            old, renewed, "2026-0000001", date(2026, 12, 1), date(2027, 1, 31), state="返却不要"
        )
        _cert(
            old, renewed, "2026-0000002", date(2027, 1, 4), date(2031, 12, 31), replaces_id=first.pk
        )
        _cert(
            old,
            leaving,
            "2026-0000003",
            date(2026, 12, 1),
            date(2031, 11, 30),
            state="返却待ち",
            return_due=date(2027, 6, 6),
        )
        new = _migrate(AFTER).get_model("certificates", "Certificate")
        ends = dict(new.objects.values_list("number", "covers_until"))
        assert ends == {
            "2026-0000001": date(2027, 1, 3),
            "2026-0000002": None,
            "2026-0000003": date(2027, 5, 31),
        }
    finally:
        _latest()


def test_existing_overlaps_stop_the_migration_with_their_numbers():
    p = member()
    try:
        old = _migrate(BEFORE).get_model("certificates", "Certificate")
        _cert(old, p, "2026-0000011", date(2026, 12, 1), date(2031, 11, 30))
        _cert(old, p, "2026-0000012", date(2027, 1, 1), date(2031, 11, 30), state="返却不要")
        with pytest.raises(RuntimeError, match="2026-0000011 と 2026-0000012"):
            _migrate(AFTER)
    finally:
        old = _migrate(BEFORE).get_model("certificates", "Certificate")
        old.objects.filter(number="2026-0000012").delete()
        _latest()
