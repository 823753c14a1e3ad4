"""The one selection (certificates.selectors.issuance_targets, the queryset run_create freezes)
agrees with the independent reference model evaluated naively, person by person, field by field,
on generated societies — on PostgreSQL and SQLite alike."""

from datetime import date, timedelta

import pytest

from certificates import rules
from certificates.models import Certificate
from certificates.selectors import issuance_target_rows, issuance_targets
from members.models import Person

from . import reference_rules
from .factories import dependent, member, snapshot
from .population import build

pytestmark = pytest.mark.django_db

ISSUE = date(2026, 12, 1)
STATUS_DATE = date(2026, 11, 15)
# every 交付事由 a bulk run can give: the generated population must produce each
BULK_REASONS = {
    "未登録",
    "登録状況不明",
    "登録解除",
    "カード返納",
    "電子証明書失効",
    "要配慮者",
    "更新",
}


def naive_targets(*, status_date, issue_date, valid_until, window=60, lapse=3):
    """One person at a time, straight from the ORM, calling the reference model directly."""
    out = {}
    for p in Person.objects.select_related("member").order_by("pk"):
        m = p.member or p
        h = reference_rules.Holder(
            birth_date=p.birth_date,
            acquired_on=p.acquired_on,
            lost_on=p.lost_on,
            needs_consideration=p.needs_consideration,
            insured_type=m.insured_type,
            voluntary_until=m.voluntary_until,
            standard_remuneration=m.standard_remuneration,
            is_dependent=p.member_id is not None,
            member_birth_date=p.member.birth_date if p.member else None,
            member_lost_on=p.member.lost_on if p.member else None,
        )
        latest = (
            p.registration_statuses.filter(as_of__lte=status_date)
            .order_by("-as_of", "-snapshot_id")
            .first()
        )
        status = rules.Status(latest.status, latest.ec_expiry) if latest else None
        actives = list(
            Certificate.objects.filter(person=p, state="有効").values_list("valid_until", flat=True)
        )
        d = reference_rules.evaluate(
            h,
            status,
            actives,
            issue_date=issue_date,
            run_valid_until=valid_until,
            renewal_window_days=window,
            ec_lapse_months=lapse,
        )
        if d is not None:
            out[p.pk] = (m.pk, m.employer_id, d, status)
    return out


def expected_rows(*, status_date, issue_date, valid_until) -> dict[int, dict]:
    """The reference model's targets as RunTarget columns."""
    expected = {}
    for pid, (household_id, employer_id, d, status) in naive_targets(
        status_date=status_date, issue_date=issue_date, valid_until=valid_until
    ).items():
        replaces = (
            Certificate.objects.get(person_id=pid, state="有効", valid_until__gte=issue_date).pk
            if d.renews
            else None
        )
        expected[pid] = {
            "person_id": pid,
            "household_id": household_id,
            "employer_id": employer_id if d.route == "事業主経由" else None,
            "reason": d.reason,
            "valid_until": d.valid_until,
            "route": d.route,
            "elderly_start": d.elderly_start,
            "copay_ratio": d.copay_ratio,
            "registration_status": status.status if status else "",
            "ec_expiry": status.ec_expiry if status else None,
            "replaces_id": replaces,
        }
    return expected


@pytest.mark.parametrize(
    ("seed", "valid_until"),
    [(1, date(2031, 11, 30)), (2, date(2027, 11, 30)), (3, date(2028, 3, 31))],
)
def test_selection_matches_the_reference_on_a_generated_population(seed, valid_until):
    persons, _ = build(seed=seed, households=1500, issue=ISSUE, status_date=STATUS_DATE)
    assert persons > 2500
    expected = expected_rows(status_date=STATUS_DATE, issue_date=ISSUE, valid_until=valid_until)
    got = {
        row["person_id"]: row
        for row in issuance_target_rows(
            status_date=STATUS_DATE, issue_date=ISSUE, valid_until=valid_until
        )
    }
    assert got == expected
    # the population really exercises the rules: every reason and both routes occur, some renew
    assert {r["reason"] for r in expected.values()} == BULK_REASONS
    assert {r["route"] for r in expected.values()} == {"事業主経由", "自宅"}
    assert any(r["elderly_start"] for r in expected.values())
    assert {r["copay_ratio"] for r in expected.values()} >= {"2割", "3割"}
    assert any(r["replaces_id"] for r in expected.values())
    assert len(expected) < persons  # and some are excluded


def test_the_selection_is_one_query_whatever_the_size(django_assert_num_queries):
    build(seed=4, households=400, issue=ISSUE, status_date=STATUS_DATE)
    with django_assert_num_queries(1):
        n = len(
            list(
                issuance_target_rows(
                    status_date=STATUS_DATE, issue_date=ISSUE, valid_until=date(2031, 11, 30)
                )
            )
        )
    assert n > 0


def test_snapshot_after_the_status_date_is_ignored():
    p = member()
    snapshot(date(2026, 10, 1), [(p, "未登録", None)])
    snapshot(date(2026, 11, 20), [(p, "登録済", None)])  # after the status date
    (t,) = issuance_target_rows(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=date(2031, 11, 30)
    )
    assert (t["reason"], t["registration_status"]) == ("未登録", "未登録")
    # with a later status date the 登録済 snapshot counts and nobody is a target
    assert not issuance_targets(
        status_date=date(2026, 11, 20), issue_date=ISSUE, valid_until=date(2031, 11, 30)
    ).exists()


def test_dependent_household_and_employer_are_the_members():
    m = member()
    d = dependent(m)
    targets = {
        t["person_id"]: t
        for t in issuance_target_rows(
            status_date=STATUS_DATE, issue_date=ISSUE, valid_until=date(2031, 11, 30)
        )
    }
    assert targets[d.pk]["household_id"] == m.pk
    assert targets[d.pk]["employer_id"] == m.employer_id
    assert targets[m.pk]["household_id"] == m.pk


def test_renewal_target_names_the_certificate_it_replaces():
    p = member()
    old = Certificate.objects.create(
        number="OLD-1",
        person=p,
        reason="未登録",
        issue_date=date(2025, 12, 1),
        valid_until=date(2027, 1, 30),
        route="事業主経由",
        printed_name=p.name,
        printed_name_kana=p.name_kana,
    )
    (t,) = issuance_target_rows(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=date(2031, 11, 30)
    )
    assert t["reason"] == "更新" and t["replaces_id"] == old.pk


def test_ec_lapse_cutoff_agrees_with_the_rule_for_every_day_of_two_years():
    """The one cutoff the selection compares 電子証明書有効期限 with, against the reference."""
    for months in (1, 3, 6):
        for offset in range(0, 730, 7):
            issue = date(2026, 1, 1) + timedelta(days=offset)
            cutoff = rules.ec_lapsed_through(issue, months)
            for expiry in (cutoff - timedelta(days=1), cutoff, cutoff + timedelta(days=1)):
                lapsed = reference_rules.status_reason(
                    rules.Status("電子証明書失効", expiry), issue, months
                )
                assert (lapsed == "電子証明書失効") == (expiry <= cutoff)
