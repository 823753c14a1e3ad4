"""The audit trail in the admin: field-level history (who, when, which fields, before → after) and
the business events, filtered by auditors."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.lifecycle import certificates_require_return
from certificates.models import Certificate
from core.admin import history_changes
from core.models import AuditEvent
from members.models import Person
from members.services import person_change_name
from tests.core.conftest import make_certificate, make_person

HistoricalPerson = Person.history.model
HistoricalCertificate = Certificate.history.model


def _changelist(model, query: str = "") -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") + query


@pytest.fixture
def renamed(employer, clerk):
    person = make_person(employer=employer, bango="1", name="山田　花子", kana="ヤマダ　ハナコ")
    person_change_name(person=person, name="𠮷田　花子", name_kana="ﾖｼﾀﾞ ﾊﾅｺ", acting_user=clerk)
    return person


def test_a_name_change_shows_before_after_and_who_in_the_history_list(client, auditor, renamed):
    client.force_login(auditor)

    page = client.get(_changelist(HistoricalPerson, "?history_type__exact=~"))

    assert page.status_code == 200
    html = page.content.decode()
    assert "氏名: 山田　花子 → 𠮷田　花子" in html
    assert "氏名カナ: ヤマダ　ハナコ → ヨシダ　ハナコ" in html
    assert "clerk" in html
    assert "変更" in html


def test_the_history_detail_page_has_a_before_after_table(client, auditor, renamed, clerk):
    record = HistoricalPerson.objects.filter(id=renamed.pk, history_type="~").get()
    assert record.history_user == clerk
    assert history_changes(record) == [
        ("氏名", "山田　花子", "𠮷田　花子"),
        ("氏名カナ", "ヤマダ　ハナコ", "ヨシダ　ハナコ"),
    ]
    client.force_login(auditor)

    page = client.get(
        reverse("admin:members_historicalperson_change", args=[record.history_id])
    ).content.decode()

    assert "<td>氏名</td><td>山田　花子</td><td>𠮷田　花子</td>" in page
    assert 'name="_save"' not in page


def test_history_filters_by_user_change_type_date_and_object(
    client, auditor, renamed, supervisor, clerk
):
    client.force_login(auditor)

    def listed(query):
        page = client.get(_changelist(HistoricalPerson, query))
        assert page.status_code == 200
        return list(page.context["cl"].result_list)

    assert len(listed(f"?history_user__id__exact={clerk.pk}")) == 1
    assert listed(f"?history_user__id__exact={supervisor.pk}") == []
    assert [r.history_type for r in listed("?history_type__exact=%2B")] == ["+"]
    today = timezone.localdate()
    assert len(listed(f"?history_date__gte={today}&history_date__lt={today + timedelta(1)}")) == 2
    assert listed(f"?history_date__gte={today + timedelta(1)}") == []
    assert len(listed(f"?q={renamed.pk}")) == 2


def test_a_certificate_state_change_is_in_its_history(client, auditor, employer, clerk):
    person = make_person(employer=employer, bango="1")
    cert = make_certificate(person, "2025-0000001", issue_date=date(2025, 12, 1))
    certificates_require_return(person=person, lost_on=date(2026, 3, 31), acting_user=clerk)
    record = HistoricalCertificate.objects.filter(id=cert.pk).order_by("-history_id").first()

    changes = dict((label, (old, new)) for label, old, new in history_changes(record))

    assert changes["状態"] == ("有効", "返却待ち")
    assert changes["返却期限"] == ("", "2026-04-05")
    client.force_login(auditor)
    assert (
        "状態: 有効 → 返却待ち" in client.get(_changelist(HistoricalCertificate)).content.decode()
    )


def test_business_events_are_filtered_by_action_and_found_by_object_id(
    client, auditor, renamed, clerk
):
    client.force_login(auditor)

    page = client.get(_changelist(AuditEvent, "?action=person.name_changed"))
    rows = list(page.context["cl"].result_list)
    assert [(e.action, e.actor, e.object_id) for e in rows] == [
        ("person.name_changed", clerk, str(renamed.pk))
    ]
    found = client.get(_changelist(AuditEvent, f"?q={renamed.pk}")).context["cl"].result_list
    assert {e.object_id for e in found} == {str(renamed.pk)}
    assert client.get(_changelist(AuditEvent, f"?actor__id__exact={clerk.pk}")).status_code == 200
