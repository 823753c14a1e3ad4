"""The after-issue admin screens, through the test client with the role personas."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from certificates.lifecycle import certificate_record_undeliverable, certificates_require_return
from certificates.models import CertificateState, ReturnReminder
from documents.models import DocumentKind, GeneratedDocument
from fees.models import (
    ApplicationState,
    Invoice,
    InvoiceState,
    PaymentImport,
    ReissueApplication,
)
from fees.services import invoice_confirm_payment, reissue_application_receive_loss
from tests.fees.builders import issue, member, refresh

pytestmark = pytest.mark.django_db

APP_ADD = "admin:fees_reissueapplication_add"


def _today():
    return timezone.localdate()


def _cert(person=None):
    t = _today()
    return issue(
        person or member(), issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=700)
    )


def _loss_app(clerk):
    return reissue_application_receive_loss(
        certificate=_cert(), route="事業主経由", received_on=_today(), acting_user=clerk
    )


def _messages(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def _pending(lost_days_ago=10, **kw):
    p = member(**kw)
    c = _cert(p)
    p.lost_on = _today() - timedelta(days=lost_days_ago)
    p.save(update_fields=["lost_on"])
    certificates_require_return(person=p, lost_on=p.lost_on)
    return refresh(c)


# --- 再交付申請 ---------------------------------------------------------------------------------------


def test_clerk_receives_a_loss_application_through_the_form(client, clerk):
    cert = _cert()
    client.force_login(clerk)
    page = client.get(reverse(APP_ADD))
    assert page.status_code == 200 and "再交付申請の受付" in page.content.decode()
    response = client.post(
        reverse(APP_ADD),
        {
            "kind": "滅失・き損",
            "certificate_number": cert.number,
            "route": "事業主経由",
            "received_on": _today().isoformat(),
            "reissue_requested": "on",
            "note": "警察に遺失届済",
        },
        follow=True,
    )
    assert response.status_code == 200
    app = ReissueApplication.objects.get()
    assert app.created_by == clerk and app.note == "警察に遺失届済"
    assert refresh(cert).state == CertificateState.VOID
    assert any("請求書" in m and "1,000円" in m for m in _messages(response))


def test_loss_form_refusal_shows_the_reason_and_changes_nothing(client, clerk):
    cert = _cert()
    client.force_login(clerk)
    response = client.post(
        reverse(APP_ADD),
        {
            "kind": "滅失・き損",
            "certificate_number": cert.number,
            "route": "直接",
            "received_on": _today().isoformat(),
            "reissue_requested": "on",
        },
    )
    assert response.status_code == 200
    assert "届出経路は「事業主経由」です" in response.content.decode()
    assert not ReissueApplication.objects.exists()
    assert refresh(cert).state == CertificateState.ACTIVE
    response = client.post(
        reverse(APP_ADD),
        {
            "kind": "滅失・き損",
            "certificate_number": "2099-0000001",
            "route": "事業主経由",
            "received_on": _today().isoformat(),
        },
    )
    assert "該当する資格確認書がありません" in response.content.decode()


def test_clerk_receives_a_change_application_and_the_new_certificate_is_issued(client, clerk):
    cert = _cert(member(name="山田 花子", name_kana="ヤマダ ハナコ"))
    client.force_login(clerk)
    response = client.post(
        reverse(APP_ADD),
        {
            "kind": "記載事項変更",
            "certificate_number": cert.number,
            "route": "事業主経由",
            "received_on": _today().isoformat(),
            "new_name": "鈴木 花子",
            "new_name_kana": "スズキ ハナコ",
        },
        follow=True,
    )
    app = ReissueApplication.objects.get()
    assert app.state == ApplicationState.ISSUED
    assert app.new_certificate.printed_name == "鈴木 花子"
    assert refresh(cert).state == CertificateState.RETURN_PENDING
    assert any("返却待ち" in m for m in _messages(response))


def test_issue_button_refuses_before_payment_then_issues_after(client, clerk):
    app = _loss_app(clerk)
    client.force_login(clerk)
    url = reverse("admin:fees_reissueapplication_issue", args=[app.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, follow=True)
    assert any("入金が確認できていないため交付できません" in m for m in _messages(response))
    assert refresh(app).new_certificate is None
    invoice_confirm_payment(invoice=app.invoice, paid_on=_today(), acting_user=clerk)
    response = client.post(url, follow=True)
    assert any("再交付(滅失・き損)" in m for m in _messages(response))
    assert refresh(app).state == ApplicationState.ISSUED
    # a second click: refused, still one certificate
    response = client.post(url, follow=True)
    assert any("すでに交付済み" in m for m in _messages(response))


def test_cancel_view_needs_a_reason(client, clerk):
    app = _loss_app(clerk)
    client.force_login(clerk)
    url = reverse("admin:fees_reissueapplication_cancel", args=[app.pk])
    response = client.post(url, {"reason": ""})
    assert response.status_code == 200 and refresh(app).state == ApplicationState.OPEN
    client.post(url, {"reason": "本人から取下げ"})
    assert refresh(app).state == ApplicationState.CANCELLED
    assert refresh(app.invoice).state == InvoiceState.CANCELLED


def test_application_list_and_ready_filter_render(client, clerk):
    a, b = _loss_app(clerk), _loss_app(clerk)
    invoice_confirm_payment(invoice=a.invoice, paid_on=_today(), acting_user=clerk)
    client.force_login(clerk)
    url = reverse("admin:fees_reissueapplication_changelist")
    page = client.get(url + "?ready=1").content.decode()
    assert a.certificate.number in page and b.certificate.number not in page
    assert (
        client.get(reverse("admin:fees_reissueapplication_change", args=[a.pk])).status_code == 200
    )


def test_outsider_and_auditor_cannot_receive_applications(client, outsider, auditor):
    cert = _cert()
    client.force_login(outsider)
    assert client.get(reverse(APP_ADD)).status_code in (302, 403)
    client.force_login(auditor)
    assert client.get(reverse("admin:fees_reissueapplication_changelist")).status_code == 200
    response = client.post(
        reverse(APP_ADD),
        {"kind": "滅失・き損", "certificate_number": cert.number, "route": "事業主経由"},
    )
    assert response.status_code == 403
    assert refresh(cert).state == CertificateState.ACTIVE


# --- 請求書 -----------------------------------------------------------------------------------------


def _action(client, action, invoices, **data):
    return client.post(
        reverse("admin:fees_invoice_changelist"),
        {"action": action, "_selected_action": [i.pk for i in invoices], **data},
        follow=True,
    )


def test_clerk_confirms_payment_through_the_action(client, clerk):
    app = _loss_app(clerk)
    client.force_login(clerk)
    page = _action(client, "confirm_payment", [app.invoice])
    assert "入金の確認" in page.content.decode()  # the intermediate page
    _action(client, "confirm_payment", [app.invoice], post="yes", paid_on=_today().isoformat())
    invoice = refresh(app.invoice)
    assert invoice.state == InvoiceState.PAID and invoice.state_changed_by == clerk
    response = _action(
        client, "confirm_payment", [invoice], post="yes", paid_on=_today().isoformat()
    )
    assert any("すでに入金済み" in m for m in _messages(response))


def test_clerk_cannot_waive_but_a_supervisor_can_with_a_reason(client, clerk, supervisor):
    app = _loss_app(clerk)
    client.force_login(clerk)
    changelist = client.get(reverse("admin:fees_invoice_changelist")).content.decode()
    assert "手数料を免除する" not in changelist
    response = _action(client, "waive", [app.invoice], post="yes", reason="x")
    assert refresh(app.invoice).state == InvoiceState.UNPAID
    assert response.status_code == 200  # unknown action for a clerk: nothing happens
    client.force_login(supervisor)
    assert (
        "手数料を免除する" in client.get(reverse("admin:fees_invoice_changelist")).content.decode()
    )
    _action(client, "waive", [app.invoice], post="yes", reason="")
    assert refresh(app.invoice).state == InvoiceState.UNPAID
    _action(client, "waive", [app.invoice], post="yes", reason="災害による滅失")
    invoice = refresh(app.invoice)
    assert invoice.state == InvoiceState.WAIVED and invoice.state_changed_by == supervisor
    assert invoice.waive_reason == "災害による滅失"


def test_invoice_change_page_shows_history_and_pdf_state(client, clerk):
    app = _loss_app(clerk)
    client.force_login(clerk)
    page = client.get(reverse("admin:fees_invoice_change", args=[app.invoice.pk]))
    assert page.status_code == 200 and app.invoice.number in page.content.decode()
    assert (
        client.get(reverse("admin:fees_invoice_history", args=[app.invoice.pk])).status_code == 200
    )


# --- 振込データ取込 -----------------------------------------------------------------------------------


def test_payment_upload_applies_matching_rows_and_lists_the_rest(client, clerk):
    a, b = _loss_app(clerk), _loss_app(clerk)
    content = (
        f"請求書番号,入金額,入金日\n{a.invoice.number},1000,{_today()}\n{b.invoice.number},100,{_today()}\n"
    ).encode("cp932")
    client.force_login(clerk)
    response = client.post(
        reverse("admin:fees_paymentimport_add"),
        {"file": SimpleUploadedFile("furikomi.csv", content, "text/csv")},
        follow=True,
    )
    imp = PaymentImport.objects.get()
    assert imp.imported_by == clerk and (imp.applied_count, imp.rejected_count) == (1, 1)
    page = response.content.decode()
    assert "入金額 100円 が請求金額 1,000円 と一致しません" in page
    assert refresh(a.invoice).state == InvoiceState.PAID
    assert refresh(b.invoice).state == InvoiceState.UNPAID


def test_payment_import_page_shows_the_first_rows_of_a_long_list_with_the_count(
    client, clerk, monkeypatch
):
    from fees.admin import payments as page
    from fees.services import payments_import

    monkeypatch.setattr(page, "SHOWN_ROWS", 2)
    d = _today().isoformat()
    content = (
        "請求書番号,入金額,入金日\n" + "".join(f"1999-00000{i},1000,{d}\n" for i in range(5))
    ).encode()
    imp = payments_import(content=content, source_name="long.csv", acting_user=clerk)
    client.force_login(clerk)
    html = client.get(reverse("admin:fees_paymentimport_change", args=[imp.pk])).content.decode()
    assert "先頭2行を表示しています(全5行)。" in html
    assert "1999-000000" in html and "1999-000001" in html and "1999-000004" not in html
    assert "該当する請求書がありません" in html


def test_payment_upload_of_a_bad_file_lists_problems_and_applies_nothing(client, clerk):
    a = _loss_app(clerk)
    content = f"請求書番号,金額,入金日\n{a.invoice.number},1000,{_today()}\n".encode()
    client.force_login(clerk)
    response = client.post(
        reverse("admin:fees_paymentimport_add"),
        {"file": SimpleUploadedFile("bad.csv", content, "text/csv")},
    )
    page = response.content.decode()
    assert "何も反映していません" in page and "必要な列がありません: 入金額" in page
    assert not PaymentImport.objects.exists()
    assert refresh(a.invoice).state == InvoiceState.UNPAID


def test_auditor_cannot_upload_payments(client, auditor):
    client.force_login(auditor)
    assert client.get(reverse("admin:fees_paymentimport_add")).status_code == 403


# --- 返却管理 -----------------------------------------------------------------------------------------


def test_receive_returns_by_pasted_numbers(client, clerk):
    a, b = _pending(), _pending()
    client.force_login(clerk)
    url = reverse("admin:certificates_returnpendingcertificate_receive")
    response = client.post(
        url,
        {"numbers": f"{a.number}\n{b.number}\n", "returned_on": _today().isoformat()},
        follow=True,
    )
    assert any("2件を返却済にしました" in m for m in _messages(response))
    assert refresh(a).state == refresh(b).state == CertificateState.RETURNED


def test_receive_returns_all_or_nothing_lists_the_bad_numbers(client, clerk):
    a = _pending()
    active = _cert()
    client.force_login(clerk)
    url = reverse("admin:certificates_returnpendingcertificate_receive")
    response = client.post(
        url,
        {
            "numbers": f"{a.number}\n{active.number}\n2099-0000001",
            "returned_on": _today().isoformat(),
        },
    )
    page = response.content.decode()
    assert "何も反映していません" in page
    assert f"{active.number}: 返却待ちではありません(状態: 有効)" in page
    assert "2099-0000001: 該当する資格確認書がありません" in page
    assert refresh(a).state == CertificateState.RETURN_PENDING


def test_overdue_filter_lists_only_overdue_returns_as_of_today(client, clerk):
    late = _pending(lost_days_ago=10)
    on_time = _pending(lost_days_ago=1)
    client.force_login(clerk)
    page = client.get(
        reverse("admin:certificates_returnpendingcertificate_changelist") + "?status=overdue"
    ).content.decode()
    assert late.number in page and on_time.number not in page
    assert "5日" in page  # days overdue: lost 10 days ago, due 5 days after the loss


def test_reminder_action_plans_one_letter_per_employer(client, clerk):
    a, b = _pending(), _pending()
    client.force_login(clerk)
    response = client.post(
        reverse("admin:certificates_returnpendingcertificate_changelist"),
        {"action": "generate_reminders", "_selected_action": [a.pk, b.pk]},
        follow=True,
    )
    assert any("督促状を1通作成しています" in m for m in _messages(response))
    doc = GeneratedDocument.objects.get(kind=DocumentKind.REMINDER)
    assert sorted(doc.item_ids) == sorted([a.pk, b.pk])
    assert ReturnReminder.objects.count() == 2


def test_mark_returned_today_action(client, clerk):
    a = _pending()
    client.force_login(clerk)
    client.post(
        reverse("admin:certificates_returnpendingcertificate_changelist"),
        {"action": "mark_returned_today", "_selected_action": [a.pk]},
    )
    a = refresh(a)
    assert a.state == CertificateState.RETURNED and a.returned_on == _today()


# --- 送付保留 ------------------------------------------------------------------------------------------


def test_record_undeliverable_and_correct_address_through_the_admin(client, clerk):
    p = member()
    c = _cert(p)
    client.force_login(clerk)
    response = client.post(
        reverse("admin:certificates_heldcertificate_record"),
        {"number": c.number, "returned_on": _today().isoformat()},
        follow=True,
    )
    assert any("送付保留" in m for m in _messages(response))
    assert refresh(c).held_since == _today()
    page = client.get(reverse("admin:certificates_heldcertificate_changelist")).content.decode()
    assert c.number in page and "0日" in page
    url = reverse("admin:certificates_heldcertificate_correct", args=[c.pk])
    response = client.post(url, {"postal_code": "12", "address": "東京都"})
    assert "郵便番号は7桁" in response.content.decode() and refresh(c).held_since == _today()
    response = client.post(
        url, {"postal_code": "100-0005", "address": "東京都千代田区丸の内1-1"}, follow=True
    )
    assert any(f"再送する資格確認書: {c.number}" in m for m in _messages(response))
    assert refresh(c).held_since is None
    assert refresh(p).address_unknown_since is None and refresh(p).postal_code == "1000005"
    assert GeneratedDocument.objects.filter(kind=DocumentKind.REPRINT).count() == 1
    page = client.get(reverse("admin:certificates_returnedmail_changelist")).content.decode()
    assert c.number in page and "待機" in page  # the resend PDF, rendered after commit
    assert (
        c.number
        not in client.get(reverse("admin:certificates_heldcertificate_changelist")).content.decode()
    )


def test_record_undeliverable_refusal_is_shown(client, clerk):
    c = _cert()
    certificate_record_undeliverable(number=c.number, returned_on=_today(), acting_user=clerk)
    client.force_login(clerk)
    response = client.post(
        reverse("admin:certificates_heldcertificate_record"),
        {"number": c.number, "returned_on": _today().isoformat()},
    )
    assert "すでに送付保留中です" in response.content.decode()


def test_every_fees_screen_renders_for_a_clerk(client, clerk):
    _loss_app(clerk)
    _pending()
    client.force_login(clerk)
    for name in [
        "admin:fees_reissueapplication_changelist",
        "admin:fees_invoice_changelist",
        "admin:fees_paymentimport_changelist",
        "admin:fees_paymentimport_add",
        "admin:certificates_returnpendingcertificate_changelist",
        "admin:certificates_returnpendingcertificate_receive",
        "admin:certificates_heldcertificate_changelist",
        "admin:certificates_heldcertificate_record",
        "admin:certificates_returnedmail_changelist",
    ]:
        assert client.get(reverse(name)).status_code == 200, name
    assert Invoice.objects.count() == 1
