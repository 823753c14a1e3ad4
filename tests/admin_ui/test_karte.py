"""加入者カルテ: one page per person with the household, certificates (state today), applications,
invoices, returns and history, and the actions prefilled from the household."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.urls import reverse

from certificates.models import Certificate, CertificateState
from core.models import AuditEvent
from fees.models import ReissueApplication
from tests.admin_ui.crawl import english_words

pytestmark = pytest.mark.django_db


def _karte(client, person):
    return client.get(reverse("admin:members_person_karte", args=[person.pk]))


@pytest.fixture
def clerk_client(clerk):
    c = Client()
    c.force_login(clerk)
    return c


def test_karte_shows_household_certificates_applications_returns_and_history(society, clerk_client):
    page = _karte(clerk_client, society.takahashi).content.decode()
    assert english_words(page) == []
    # the household, each linked to their own カルテ
    assert reverse("admin:members_person_karte", args=[society.takahashi_wife.pk]) in page
    cert = Certificate.objects.get(person=society.takahashi, run=society.run)
    assert cert.number in page and "(現在)" in page
    # 和暦 with the ISO date beside it
    assert f"({cert.issue_date.isoformat()})" in page and "令和" in page
    # change history with the creation
    assert "作成" in page
    # actions prefilled from the household: certificate number and 届出経路
    k = _karte(clerk_client, society.takahashi).context["k"]
    loss = next(a for a in k.actions if a.label == "滅失・き損の届出")
    q = parse_qs(urlparse(loss.url).query)
    assert q["certificate_number"] == [cert.number] and q["route"] == ["事業主経由"]
    sato = _karte(clerk_client, society.sato).context["k"]
    loss = next(a for a in sato.actions if a.label == "滅失・き損の届出")
    assert parse_qs(urlparse(loss.url).query)["route"] == ["直接"]


def test_karte_of_each_kind_of_person(society, clerk_client):
    suzuki = _karte(clerk_client, society.suzuki)
    assert "返却待ち" in suzuki.content.decode()
    assert any(a.label == "返却の受付" for a in suzuki.context["k"].actions)
    assert suzuki.context["k"].reminders
    yamada = _karte(clerk_client, society.yamada)
    assert society.invoice.number in yamada.content.decode()
    assert any(a.label.startswith("再交付する") for a in yamada.context["k"].actions)
    kato = _karte(clerk_client, society.kato)
    assert any(a.label == "住所を訂正して再送" for a in kato.context["k"].actions)
    assert "住所訂正待ち" in kato.content.decode()


def test_loss_invoice_payment_issue_from_the_karte_returns_to_it(society, clerk_client, clerk):
    person = society.takahashi
    karte = reverse("admin:members_person_karte", args=[person.pk])
    k = _karte(clerk_client, person).context["k"]
    loss = next(a for a in k.actions if a.label == "滅失・き損の届出")
    form = clerk_client.get(loss.url)
    assert form.context["form"].initial["certificate_number"] == k.current.number
    # what will happen is said before the button
    assert "直ちに無効" in form.content.decode()
    data = {
        "kind": "滅失・き損",
        "certificate_number": k.current.number,
        "route": "事業主経由",
        "received_on": society.today.isoformat(),
        "reissue_requested": "on",
        "next": karte,
    }
    response = clerk_client.post(loss.url, data)
    assert response.status_code == 302 and response["Location"] == karte
    app = ReissueApplication.objects.get(certificate=k.current, kind="滅失・き損")
    k = _karte(clerk_client, person).context["k"]
    pay = next(a for a in k.actions if a.label.startswith("入金を確認"))
    response = clerk_client.post(pay.url, {"paid_on": society.today.isoformat(), "next": karte})
    assert response["Location"] == karte
    k = _karte(clerk_client, person).context["k"]
    issue = next(a for a in k.actions if a.label.startswith("再交付する"))
    confirm = clerk_client.get(issue.url).content.decode()
    assert person.name in confirm and app.certificate.number in confirm
    response = clerk_client.post(issue.url, {"next": karte})
    assert response["Location"] == karte
    app.refresh_from_db()
    assert app.new_certificate is not None
    assert app.new_certificate.state == CertificateState.ACTIVE


def test_the_application_form_has_no_default_kind(clerk_client):
    page = clerk_client.get(reverse("admin:fees_reissueapplication_add"))
    assert page.context["form"]["kind"].value() in (None, "")
    response = clerk_client.post(
        reverse("admin:fees_reissueapplication_add"),
        {"certificate_number": "2026-0000001", "route": "事業主経由", "received_on": "2026-01-05"},
    )
    assert response.status_code == 200 and "kind" in response.context["form"].errors


def test_next_never_leaves_the_site(society, clerk_client):
    inv = society.invoice
    url = reverse("admin:fees_invoice_waive_one", args=[inv.pk])
    assert clerk_client.get(url).status_code == 403  # a clerk may not waive


def test_reprint_from_the_karte_is_inline_named_and_audited(society, clerk_client, clerk):
    url = reverse("admin:members_person_reprint", args=[society.takahashi.pk])
    confirm = clerk_client.get(url)
    assert "PDFを作成して表示" in confirm.content.decode()
    response = clerk_client.post(url)
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    disposition = response["Content-Disposition"]
    assert disposition.startswith('inline; filename="certificate-10-19-00.pdf"; ')
    assert "filename*=UTF-8''%E8%B3%87%E6%A0%BC%E7%A2%BA%E8%AA%8D%E6%9B%B8_10-19-00_" in disposition
    from urllib.parse import unquote

    assert unquote(disposition.split("''", 1)[1]) == "資格確認書_10-19-00_髙橋𠮷男.pdf"
    event = AuditEvent.objects.get(action="document.reprinted")
    assert event.actor == clerk


def test_audit_event_of_a_person_links_to_the_karte(society, auditor):
    client = Client()
    client.force_login(auditor)
    event = AuditEvent.objects.filter(action="person.loss_recorded").first()
    page = client.get(f"/admin/core/auditevent/{event.pk}/change/").content.decode()
    assert f"/admin/members/person/{society.suzuki.pk}/karte/" in page


def test_the_person_list_links_to_the_karte(society, clerk_client):
    page = clerk_client.get("/admin/members/person/").content.decode()
    assert reverse("admin:members_person_karte", args=[society.takahashi.pk]) in page


@pytest.mark.parametrize(
    "url, who",
    [
        ("/admin/certificates/certificate/", "takahashi"),
        ("/admin/fees/reissueapplication/", "yamada"),
        ("/admin/fees/invoice/", "yamada"),
        ("/admin/certificates/returnpendingcertificate/", "suzuki"),
        ("/admin/certificates/returnedmail/", "kato"),
        ("/admin/members/registrationstatus/", "takahashi"),
    ],
)
def test_every_list_that_names_a_person_links_to_the_karte(society, clerk_client, url, who):
    person = getattr(society, who)
    page = clerk_client.get(url).content.decode()
    assert reverse("admin:members_person_karte", args=[person.pk]) in page


def test_certificate_application_and_invoice_pages_link_to_the_karte(society, clerk_client):
    yamada = reverse("admin:members_person_karte", args=[society.yamada.pk])
    for url in (
        reverse("admin:certificates_certificate_change", args=[society.loss_app.certificate_id]),
        reverse("admin:fees_reissueapplication_change", args=[society.loss_app.pk]),
        reverse("admin:fees_invoice_change", args=[society.invoice.pk]),
    ):
        assert yamada in clerk_client.get(url).content.decode(), url


def test_an_auditor_sees_the_karte_but_cannot_act_or_reprint(society, auditor):
    client = Client()
    client.force_login(auditor)
    response = _karte(client, society.yamada)
    assert response.status_code == 200
    assert response.context["k"].actions == []
    url = reverse("admin:members_person_reprint", args=[society.takahashi.pk])
    assert client.post(url).status_code == 403
    assert not AuditEvent.objects.filter(action="document.reprinted").exists()


def test_the_karte_shows_the_issuance_decision_panel(society, clerk_client):
    response = _karte(clerk_client, society.takahashi)
    page = response.content.decode()
    assert 'id="karte-decision"' in page and "交付判定" in page
    assert reverse("admin:members_person_issuance_decision", args=[society.takahashi.pk]) in page
