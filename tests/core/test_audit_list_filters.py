"""The filters of the audit lists (業務イベント, 変更履歴): a 期間 (from/to, Japan days, inclusive), the
actions and the users — chosen so that none reads the event or history table to draw itself (issue 8;
tests/scale/test_audit_lists.py measures that on PostgreSQL)."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse

from core.models import AuditEvent, audit_event
from core.services import changelist_queryset
from members.models import Person
from members.services import person_change_name
from tests.core.conftest import make_person

JST = ZoneInfo("Asia/Tokyo")
HistoricalPerson = Person.history.model

pytestmark = pytest.mark.django_db


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _event_at(when: datetime, action: str = "run.created", actor=None) -> AuditEvent:
    event = audit_event(action=action, actor=actor)
    AuditEvent.objects.filter(pk=event.pk).update(at=when)  # `at` is auto_now_add
    return event


@pytest.fixture
def april(clerk):
    """Events at the edges of April 2025, Japan time."""
    return {
        "before": _event_at(datetime(2025, 3, 31, 23, 59, tzinfo=JST), actor=clerk),
        "first": _event_at(datetime(2025, 4, 1, 0, 0, tzinfo=JST), actor=clerk),
        "last": _event_at(datetime(2025, 4, 30, 23, 59, 59, tzinfo=JST), actor=clerk),
        "after": _event_at(datetime(2025, 5, 1, 0, 0, tzinfo=JST)),
    }


def listed(client, model, params: dict) -> tuple[set[int], object]:
    page = client.get(_changelist(model), params)
    assert page.status_code == 200
    return {row.pk for row in page.context["cl"].result_list}, page


def test_the_period_is_inclusive_japan_days(client, auditor, april):
    client.force_login(auditor)
    found, _ = listed(client, AuditEvent, {"at__gte": "2025-04-01", "at__to": "2025-04-30"})
    assert found == {april["first"].pk, april["last"].pk}
    found, _ = listed(client, AuditEvent, {"at__to": "2025-03-31"})
    assert found == {april["before"].pk}
    found, _ = listed(client, AuditEvent, {"at__gte": "2025-05-01"})
    assert found == {april["after"].pk}


def test_the_form_shows_the_period_and_keeps_the_other_filters(client, auditor, april, clerk):
    client.force_login(auditor)
    _, page = listed(
        client,
        AuditEvent,
        {"at__gte": "2025-04-01", "at__lt": "2025-05-01", "actor__id__exact": clerk.pk},
    )
    html = re.search(
        r'<form method="get" class="period-filter">.*?</form>', page.content.decode(), re.S
    )[0]
    # an exclusive end (the links' at__lt) is shown as the inclusive last day
    assert 'name="at__gte" value="2025-04-01"' in html
    assert 'name="at__to" value="2025-04-30"' in html
    assert f'type="hidden" name="actor__id__exact" value="{clerk.pk}"' in html
    assert 'type="hidden" name="at__lt"' not in html  # the form replaces the period, all of it


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"at__gte": "2025-13-01"}, "開始日「2025-13-01」は日付ではありません"),
        ({"at__to": "4月1日"}, "終了日「4月1日」は日付ではありません"),
        ({"at__gte": "2025-04-02", "at__to": "2025-04-01"}, "終了日が開始日より前です"),
    ],
)
def test_a_wrong_period_shows_no_rows_and_says_why(client, auditor, april, params, message):
    client.force_login(auditor)
    found, page = listed(client, AuditEvent, params)
    assert found == set()
    assert any(message in str(m) for m in get_messages(page.wsgi_request))
    assert message in page.content.decode()  # next to the form too


def test_the_preset_links_are_ranges_of_days(client, auditor):
    client.force_login(auditor)
    now = _event_at(datetime.now(JST))
    long_ago = _event_at(datetime.now(JST) - timedelta(days=400))
    _, page = listed(client, AuditEvent, {})
    links = {
        c["display"]: c
        for spec in page.context["cl"].filter_specs
        for c in spec.choices(page.context["cl"])
        if "display" in c
    }
    assert {"すべて", "今日", "過去7日間", "今月", "今年"} <= set(links)
    today = client.get(_changelist(AuditEvent) + links["今日"]["query_string"])
    assert {e.pk for e in today.context["cl"].result_list} == {now.pk}
    everything = client.get(_changelist(AuditEvent) + links["すべて"]["query_string"])
    assert {e.pk for e in everything.context["cl"].result_list} >= {now.pk, long_ago.pk}


def test_users_are_listed_from_the_user_table(client, auditor, clerk):
    """A user who never did anything is offered too: the list is not read from the events."""
    newcomer = get_user_model().objects.create_user(username="newcomer", is_staff=True)
    audit_event(action="run.created", actor=clerk)
    client.force_login(auditor)
    _, page = listed(client, AuditEvent, {})
    by_title = {spec.title: spec for spec in page.context["cl"].filter_specs}
    offered = {name for _, name in by_title["実行者"].lookup_choices}
    assert {"clerk", "newcomer", "auditor"} <= offered
    found, _ = listed(client, AuditEvent, {"actor__id__exact": newcomer.pk})
    assert found == set()


def test_actions_are_listed_once_each_in_order_and_filter(client, auditor, clerk):
    for action in ["run.created", "invoice.paid", "run.created", "certificate.issued"]:
        audit_event(action=action, actor=clerk)
    client.force_login(auditor)
    _, page = listed(client, AuditEvent, {})
    by_title = {spec.title: spec for spec in page.context["cl"].filter_specs}
    assert [value for value, _ in by_title["操作"].lookup_choices] == [
        "certificate.issued",
        "invoice.paid",
        "run.created",
    ]
    found, _ = listed(client, AuditEvent, {"action": "run.created"})
    assert {AuditEvent.objects.get(pk=pk).action for pk in found} == {"run.created"}
    assert len(found) == 2


def test_the_history_list_filters_by_period_and_user_and_shows_changes(
    client, auditor, clerk, supervisor, employer
):
    person = make_person(employer=employer, bango="7", name="山田　一郎", kana="ヤマダ　イチロウ")
    person_change_name(
        person=person, name="山本　一郎", name_kana="ヤマモト　イチロウ", acting_user=clerk
    )
    person_change_name(
        person=person, name="山本　一朗", name_kana="ヤマモト　イチロウ", acting_user=supervisor
    )
    client.force_login(auditor)
    today = datetime.now(JST).date()
    found, page = listed(
        client,
        HistoricalPerson,
        {
            "history_date__gte": str(today),
            "history_date__to": str(today),
            "history_user__id__exact": clerk.pk,
        },
    )
    assert len(found) == 1
    html = page.content.decode()
    assert "氏名: 山田　一郎 → 山本　一郎" in html  # the previous record fetched for the page
    by_title = {spec.title for spec in page.context["cl"].filter_specs}
    assert {"期間", "変更者"} <= by_title
    _, page = listed(client, HistoricalPerson, {"history_user__id__exact": supervisor.pk})
    assert "氏名: 山本　一郎 → 山本　一朗" in page.content.decode()
    found, _ = listed(client, HistoricalPerson, {"history_date__to": str(today - timedelta(1))})
    assert found == set()


def test_a_csv_export_reselects_the_same_period(auditor, april):
    rows = changelist_queryset(
        model=AuditEvent,
        user=auditor,
        query={"at__gte": ["2025-04-01"], "at__to": ["2025-04-30"]},
        selected=[],
        select_across=True,
    )
    assert {e.pk for e in rows} == {april["first"].pk, april["last"].pk}


def test_no_date_hierarchy_and_no_facets_on_the_audit_lists():
    """date_hierarchy and facet counts aggregate the whole (filtered) table on every page view."""
    admins = [site._registry[AuditEvent]] + [
        a for m, a in site._registry.items() if hasattr(m, "instance_type")
    ]
    assert len(admins) > 5
    for model_admin in admins:
        assert model_admin.date_hierarchy is None, model_admin
        assert model_admin.show_facets.name == "NEVER", model_admin
