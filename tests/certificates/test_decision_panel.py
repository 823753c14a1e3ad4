"""「交付判定」 on the person's admin page: one person's case for a run with given dates, read-only,
from the run's own queryset — it agrees with the bulk selection for every person of a generated
society, and names the rule that excludes a non-target."""

from datetime import date

import pytest
from django.urls import reverse

from certificates.models import Certificate
from certificates.selectors import issuance_decision, issuance_target_rows
from members.models import Person

from .factories import dependent, member, snapshot
from .population import build

pytestmark = pytest.mark.django_db

ISSUE = date(2026, 12, 1)
STATUS_DATE = date(2026, 11, 15)
UNTIL = date(2031, 11, 30)
DATES = {"status_date": STATUS_DATE, "issue_date": ISSUE, "valid_until": UNTIL}


def decide(person):
    return issuance_decision(person_id=person.pk, **DATES)


def test_the_decision_agrees_with_the_bulk_selection_for_every_person():
    build(seed=5, households=300, issue=ISSUE, status_date=STATUS_DATE)
    bulk = {r["person_id"]: r for r in issuance_target_rows(**DATES)}
    assert bulk
    for p in Person.objects.order_by("pk"):
        d = decide(p)
        assert d.target == bulk.get(p.pk), p
        assert bool(d.excluded_by) == (p.pk not in bulk), (p, d.excluded_by)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: member(birth_date=date(1951, 12, 1)), "75歳到達"),  # 75 on the issue date
        (lambda: member(lost_on=ISSUE), "資格喪失"),
        (lambda: member(acquired_on=date(2026, 12, 2)), "資格取得前"),
        (lambda: dependent(member(lost_on=ISSUE)), "被保険者の資格喪失"),
        (lambda: dependent(member(birth_date=date(1951, 11, 30))), "被保険者の75歳到達"),
        (
            lambda: member(insured_type="任意継続", voluntary_until=date(2026, 11, 30)),
            "任意継続満了",
        ),
    ],
)
def test_a_person_not_qualified_is_told_which_rule(make, why):
    p = make()
    snapshot(STATUS_DATE, [(p, "未登録", None)])
    d = decide(p)
    assert d.target is None and why in d.excluded_by


def test_registered_and_active_certificate_are_named():
    registered = member()
    holder = member()
    snapshot(STATUS_DATE, [(registered, "登録済", None), (holder, "未登録", None)])
    Certificate.objects.create(
        number="2026-0000001",
        person=holder,
        reason="未登録",
        issue_date=date(2026, 4, 1),
        valid_until=date(2028, 3, 31),
        route="事業主経由",
        printed_name=holder.name,
        printed_name_kana=holder.name_kana,
    )
    assert decide(registered).excluded_by == ["登録済(交付事由なし)"]
    assert decide(holder).excluded_by == ["有効な資格確認書あり"]


def test_change_page_shows_the_panel_with_the_terms(client, auditor):
    m = member(birth_date=date(1955, 3, 15), standard_remuneration=280_000)
    snapshot(STATUS_DATE, [(m, "カード返納", None)])
    client.force_login(auditor)  # read-only: auditors see it too
    url = reverse("admin:members_person_issuance_decision", args=[m.pk])
    resp = client.get(
        url, {"status_date": "2026-11-15", "issue_date": "2026-12-01", "valid_until": "2029-03-31"}
    )
    text = resp.content.decode()
    assert resp.status_code == 200
    for shown in ("交付対象", "カード返納", "2029-03-31", "事業主経由", "2025-04-01", "3割"):
        assert shown in text, shown
    change = client.get(reverse("admin:members_person_change", args=[m.pk]))
    assert change.status_code == 200
    assert "交付判定" in change.content.decode() and url in change.content.decode()


def test_bad_dates_are_refused_and_outsiders_see_nothing(client, clerk, outsider):
    m = member()
    url = reverse("admin:members_person_issuance_decision", args=[m.pk])
    client.force_login(clerk)
    resp = client.get(
        url, {"status_date": "2026-11-15", "issue_date": "2026-12-01", "valid_until": "2031-12-01"}
    )
    assert resp.status_code == 200 and "2031-11-30まで" in resp.content.decode()
    assert "判定</th>" not in resp.content.decode()
    client.force_login(outsider)
    assert client.get(url).status_code in (302, 403)
