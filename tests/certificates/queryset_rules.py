"""certificates.selectors.issuance_targets for one reference_rules.Holder: the person (and their
member) are written to the database, the run's queryset is read back for them as a Decision. Lets
the table-driven tests of the reference model run unchanged against the one production selection,
on PostgreSQL and SQLite alike."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from certificates.models import Certificate
from certificates.selectors import issuance_target_rows

from . import reference_rules as ref
from .factories import dependent, member, snapshot

_numbers = itertools.count(9_000_000)


def queryset_evaluate(
    h: ref.Holder,
    status: ref.Status | None,
    active_valid_untils: list[date],
    *,
    issue_date: date,
    run_valid_until: date,
    renewal_window_days: int,
) -> ref.Decision | None:
    if len(active_valid_untils) > 1:
        pytest.skip("certificate_one_active_per_person: the database never holds two")
    household = dict(
        insured_type=h.insured_type,
        voluntary_until=h.voluntary_until if h.insured_type == "任意継続" else None,
        standard_remuneration=h.standard_remuneration,
    )
    if h.is_dependent:
        m = member(
            birth_date=h.member_birth_date or date(1978, 3, 3),
            acquired_on=h.acquired_on,
            lost_on=h.member_lost_on,
            **household,
        )
        person = dependent(
            m,
            birth_date=h.birth_date,
            lost_on=h.lost_on,
            needs_consideration=h.needs_consideration,
        )
    else:
        person = member(
            birth_date=h.birth_date,
            acquired_on=h.acquired_on,
            lost_on=h.lost_on,
            needs_consideration=h.needs_consideration,
            **household,
        )
    if status is not None:
        snapshot(issue_date - timedelta(days=10), [(person, status.status, status.ec_expiry)])
    for until in active_valid_untils:
        Certificate.objects.create(
            number=f"2025-{next(_numbers):07d}",
            person=person,
            reason="未登録",
            issue_date=until - timedelta(days=300),
            valid_until=until,
            route=ref.route_for(h),
            printed_name=person.name,
            printed_name_kana=person.name_kana,
        )
    rows = list(
        issuance_target_rows(
            status_date=issue_date,
            issue_date=issue_date,
            valid_until=run_valid_until,
            renewal_window_days=renewal_window_days,
        )
    )
    rows = [r for r in rows if r["person_id"] == person.pk]
    if not rows:
        return None
    (row,) = rows
    return ref.Decision(
        reason=row["reason"],
        valid_until=row["valid_until"],
        route=row["route"],
        elderly_start=row["elderly_start"],
        copay_ratio=row["copay_ratio"],
        renews=row["replaces_id"] is not None,
    )
