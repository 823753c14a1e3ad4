"""The selector agrees with the rules evaluated naively, person by person."""

import os
from datetime import date, timedelta

import pytest

from certificates import rules, selection_sql
from certificates.models import Certificate
from certificates.selectors import issuance_targets
from members.models import Person

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
    """One person at a time, straight from the ORM, calling rules.evaluate directly."""
    out = {}
    for p in Person.objects.select_related("member").order_by("pk"):
        m = p.member or p
        h = rules.Holder(
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
        d = rules.evaluate(
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


@pytest.mark.parametrize(
    ("seed", "valid_until", "chunk"),
    [(1, date(2031, 11, 30), 5000), (2, date(2027, 11, 30), 137), (3, date(2028, 3, 31), 1000)],
)
def test_selector_matches_naive_evaluation_on_a_generated_population(seed, valid_until, chunk):
    persons, _ = build(seed=seed, households=1500, issue=ISSUE, status_date=STATUS_DATE)
    assert persons > 2500
    expected = naive_targets(status_date=STATUS_DATE, issue_date=ISSUE, valid_until=valid_until)
    got = {
        t.person_id: (t.household_id, t.employer_id, t.decision, t.status)
        for t in issuance_targets(
            status_date=STATUS_DATE, issue_date=ISSUE, valid_until=valid_until, chunk_size=chunk
        )
    }
    assert got == expected
    # the population really exercises the rules: every reason and both routes occur, some renew
    reasons = {d.reason for _, _, d, _ in expected.values()}
    assert reasons == BULK_REASONS
    assert {d.route for _, _, d, _ in expected.values()} == {"事業主経由", "自宅"}
    assert any(d.elderly_start for _, _, d, _ in expected.values())
    assert {d.copay_ratio for _, _, d, _ in expected.values()} >= {"2割", "3割"}
    assert len(expected) < persons  # and some are excluded


def test_selector_reads_a_constant_number_of_queries_per_chunk(django_assert_max_num_queries):
    build(seed=4, households=400, issue=ISSUE, status_date=STATUS_DATE)
    total = Person.objects.count()
    chunk = 200
    chunks = -(-total // chunk) + 1
    with django_assert_max_num_queries(2 * chunks + 1):
        n = sum(
            1
            for _ in issuance_targets(
                status_date=STATUS_DATE,
                issue_date=ISSUE,
                valid_until=date(2031, 11, 30),
                chunk_size=chunk,
            )
        )
    assert n > 0


def test_snapshot_after_the_status_date_is_ignored():
    p = member()
    snapshot(date(2026, 10, 1), [(p, "未登録", None)])
    snapshot(date(2026, 11, 20), [(p, "登録済", None)])  # after the status date
    (t,) = issuance_targets(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=date(2031, 11, 30)
    )
    assert t.decision.reason == "未登録" and t.status == rules.Status("未登録")
    # with a later status date the 登録済 snapshot counts and nobody is a target
    assert not list(
        issuance_targets(
            status_date=date(2026, 11, 20), issue_date=ISSUE, valid_until=date(2031, 11, 30)
        )
    )


def test_dependent_household_and_employer_are_the_members():
    m = member()
    d = dependent(m)
    targets = {
        t.person_id: t
        for t in issuance_targets(
            status_date=STATUS_DATE, issue_date=ISSUE, valid_until=date(2031, 11, 30)
        )
    }
    assert targets[d.pk].household_id == m.pk
    assert targets[d.pk].employer_id == m.employer_id
    assert targets[m.pk].household_id == m.pk


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
    (t,) = issuance_targets(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=date(2031, 11, 30)
    )
    assert t.decision.reason == "更新" and t.replaces_id == old.pk


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL (DATABASE_URL): SQLite selects with certificates.rules in Python",
)
@pytest.mark.parametrize(
    ("seed", "valid_until"),
    [(1, date(2031, 11, 30)), (2, date(2027, 11, 30)), (3, date(2028, 3, 31))],
)
def test_sql_selection_matches_naive_evaluation_on_a_generated_population(seed, valid_until):
    """certificates.selection_sql (run_create's path on PostgreSQL) selects the same persons on the
    same terms as rules.evaluate, person by person, every field of the frozen target."""
    persons, _ = build(seed=seed, households=1500, issue=ISSUE, status_date=STATUS_DATE)
    expected = {}
    for pid, (household_id, employer_id, d, status) in naive_targets(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=valid_until
    ).items():
        replaces = (
            Certificate.objects.get(person_id=pid, state="有効", valid_until__gte=ISSUE).pk
            if d.renews
            else None
        )
        expected[pid] = {
            "person_id": pid,
            "household_id": household_id,
            "employer_id": employer_id if d.route == rules.ROUTE_EMPLOYER else None,
            "reason": d.reason,
            "valid_until": d.valid_until,
            "route": d.route,
            "elderly_start": d.elderly_start,
            "copay_ratio": d.copay_ratio,
            "registration_status": status.status if status else "",
            "ec_expiry": status.ec_expiry if status else None,
            "replaces_id": replaces,
        }
    params = selection_sql.selection_params(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=valid_until
    )
    got = {row["person_id"]: row for row in selection_sql.selected_rows(params)}
    assert got == expected
    assert {r["reason"] for r in got.values()} == BULK_REASONS
    assert len(got) < persons


def test_ec_lapse_cutoff_agrees_with_the_rule_for_every_day_of_two_years():
    """The one cutoff the SQL compares 電子証明書有効期限 with, against rules.status_reason."""
    for months in (1, 3, 6):
        for offset in range(0, 730, 7):
            issue = date(2026, 1, 1) + timedelta(days=offset)
            cutoff = selection_sql.ec_lapsed_through(issue, months)
            for expiry in (cutoff - timedelta(days=1), cutoff, cutoff + timedelta(days=1)):
                lapsed = rules.status_reason(rules.Status(rules.EC_EXPIRED, expiry), issue, months)
                assert (lapsed == rules.R_EC_EXPIRED) == (expiry <= cutoff)
