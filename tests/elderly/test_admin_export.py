"""The elderly admin through the test client (clerk records, supervisor approves, auditor reads) and
the auditors' export kind `elderly_cards` (the certificates export is unchanged)."""

import csv
import io
from datetime import date
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.urls import reverse

from certificates.exports import CERTIFICATE_HEADER
from certificates.services import certificate_issue
from core.models import AuditEvent
from elderly.exports import ELDERLY_CARD_HEADER
from elderly.models import ElderlyCard
from elderly.services import elderly_batch_approve, elderly_events_prepare
from members.models import IncomeBasisApplication
from tests.certificates.factories import dependent, member

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 2)


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def today():
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY):
        yield TODAY


def household():
    m = member(birth_date=date(1954, 2, 2), standard_remuneration=300_000)
    d = dependent(m, birth_date=date(1955, 1, 20))
    for p in (m, d):
        certificate_issue(
            person=p,
            reason="未登録",
            issue_date=date(2026, 4, 1),
            valid_until=date(2028, 3, 31),
            route="事業主経由",
        )
    return m, d


def add_basis(client, m, **extra):
    data = {
        "member": m.pk,
        "valid_from": "2026-08-01",
        "valid_to": "",
        "decided_on": "2026-10-01",
        "note": "",
        **extra,
    }
    return client.post(reverse("admin:members_incomebasisapplication_add"), data)


def test_clerk_records_income_basis_through_the_service(client, clerk, today):
    m, d = household()
    client.force_login(clerk)
    r = add_basis(client, m)
    assert r.status_code == 302
    app = IncomeBasisApplication.objects.get()
    assert app.recorded_by == clerk
    assert AuditEvent.objects.filter(action="income_basis.recorded", actor=clerk).exists()
    # a second, overlapping window is refused with the reason; nothing is written
    r = add_basis(client, m, valid_from="2026-09-01")
    assert r.status_code == 200 and "重なっています" in r.content.decode()
    # a dependent cannot hold one
    r = add_basis(client, d, valid_from="2027-01-01")
    assert "被扶養者には記録できません" in r.content.decode()
    assert IncomeBasisApplication.objects.count() == 1


def test_clerk_ends_income_basis_and_only_the_end_changes(client, clerk, today):
    m, _ = household()
    client.force_login(clerk)
    add_basis(client, m)
    app = IncomeBasisApplication.objects.get()
    url = reverse("admin:members_incomebasisapplication_change", args=[app.pk])
    r = client.post(url, {"valid_to": "2026-07-31", "note": ""})
    assert r.status_code == 200 and "適用開始日" in r.content.decode()
    r = client.post(url, {"valid_to": "2026-12-31", "note": ""})
    assert r.status_code == 302
    app.refresh_from_db()
    assert app.valid_to == date(2026, 12, 31)
    assert AuditEvent.objects.filter(action="income_basis.ended").exists()


def test_auditor_reads_but_cannot_record(client, auditor, today):
    m, _ = household()
    client.force_login(auditor)
    assert client.get(reverse("admin:members_incomebasisapplication_changelist")).status_code == 200
    assert add_basis(client, m).status_code == 403
    assert not IncomeBasisApplication.objects.exists()


def test_batch_preview_and_approval_by_a_second_person(client, clerk, supervisor, auditor, today):
    household()
    batch = elderly_events_prepare(today=TODAY, acting_user=clerk)
    url = reverse("admin:elderly_elderlybatch_change", args=[batch.pk])
    approve = reverse("admin:elderly_batch_approve", args=[batch.pk])

    client.force_login(clerk)
    page = client.get(url).content.decode()
    assert "作成者は承認できません" in page and "承認する" not in page
    assert client.post(approve).status_code == 403
    client.force_login(auditor)
    assert client.post(approve).status_code == 403
    assert not ElderlyCard.objects.exists()

    client.force_login(supervisor)
    page = client.get(url).content.decode()
    assert "承認する" in page and "資格確認書交付" in page
    assert client.get(approve).status_code == 405
    assert client.post(approve).status_code == 302
    assert ElderlyCard.objects.count() == 2

    client.force_login(auditor)
    r = client.get(reverse("admin:elderly_batch_pdf", args=[batch.pk]))
    assert r.status_code == 200 and b"".join(r.streaming_content).startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="elderly_batch.downloaded", actor=auditor).exists()
    assert client.get(reverse("admin:elderly_elderlycard_changelist")).status_code == 200


def test_outsider_gets_no_pdf(client, outsider, supervisor, today):
    household()
    batch = elderly_events_prepare(today=TODAY)
    elderly_batch_approve(batch=batch, acting_user=supervisor)
    client.force_login(outsider)
    r = client.get(reverse("admin:elderly_batch_pdf", args=[batch.pk]))
    assert r.status_code in (302, 403, 404)


def test_export_kind_elderly_cards(tmp_path, supervisor, today):
    m, d = household()
    batch = elderly_events_prepare(today=TODAY)
    elderly_batch_approve(batch=batch, acting_user=supervisor)
    out = tmp_path / "e.csv"
    call_command("export_csv", "elderly_cards", "--output", str(out), stdout=StringIO())
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert tuple(rows[0]) == ELDERLY_CARD_HEADER
    by_edaban = {r[3]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert by_edaban["00"]["一部負担金割合"] == "3割"
    assert by_edaban["01"]["一部負担金割合"] == "3割"  # member is a high-income 高齢受給者
    assert by_edaban["00"]["状態"] == "有効"
    assert by_edaban["00"]["発効期日"] == "2026-08-01"
    assert by_edaban["00"]["承認者"] == "supervisor"


def test_certificates_export_header_is_unchanged(tmp_path):
    out = tmp_path / "c.csv"
    call_command("export_csv", "certificates", "--output", str(out), stdout=StringIO())
    header = out.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == (
        "証明書番号,記号,番号,枝番,氏名,氏名カナ,交付年月日,有効期限,交付事由,状態,送付先,"
        "高齢受給者証発効日,一部負担金割合,一括交付ID"
    )
    assert tuple(header.split(",")) == CERTIFICATE_HEADER
