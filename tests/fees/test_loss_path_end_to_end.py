"""The whole 滅失・き損 path through the admin, with real PDFs read back:

application → invoice (請求書 PDF) → refused early issue → payment CSV import → issue → certificate and
letter PDF; plus the 記載事項変更 documents and a 返却督促 letter.
"""

import subprocess
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from certificates.lifecycle import certificates_require_return
from certificates.models import Certificate, CertificateState, ReturnedMail
from certificates.returns import returns_generate_reminders
from core.models import AuditEvent
from documents.models import DocumentState
from fees.models import ApplicationState, InvoiceState, ReissueApplication
from members.dates import fiscal_year
from tests.fees.builders import issue, member, refresh

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


def _download(client, doc, tmp_path, name) -> tuple[str, int]:
    """Download a stored document through the documents view; its text (pdftotext) and pages."""
    doc.refresh_from_db()
    assert doc.state == DocumentState.STORED, doc.error
    response = client.get(reverse("documents:download", args=[doc.pk]))
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    path = tmp_path / name
    path.write_bytes(data)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return " ".join(text.split()), len(PdfReader(path).pages)


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_loss_application_to_reissued_certificate_with_pdfs(
    client, clerk, tmp_path, django_capture_on_commit_callbacks
):
    t = _today()
    holder = member(name="髙橋 𠮷子", name_kana="タカハシ ヨシコ")
    old = issue(holder, issue_date=t - timedelta(days=60), valid_until=t + timedelta(days=800))
    client.force_login(clerk)

    # 1. the application: the old certificate is 無効 at once, an invoice and its PDF are made
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:fees_reissueapplication_add"),
            {
                "kind": "滅失・き損",
                "certificate_number": old.number,
                "route": "事業主経由",
                "received_on": t.isoformat(),
                "reissue_requested": "on",
            },
        )
    app = ReissueApplication.objects.get()
    invoice = app.invoice
    assert refresh(old).state == CertificateState.VOID
    assert invoice.number == f"{fiscal_year(t)}-000001"
    text, pages = _download(client, invoice.document, tmp_path, "invoice.pdf")
    assert pages == 1
    assert "請求書" in text
    assert invoice.number in text
    assert "1,000円" in text
    assert "髙橋 𠮷子" in text
    assert old.number in text  # the certificate concerned
    assert "振込" in text

    # 2. issuing before payment is refused, nothing is issued
    issue_url = reverse("admin:fees_reissueapplication_issue", args=[app.pk])
    response = client.post(issue_url, follow=True)
    assert any("手数料の入金が確認できていないため交付できません" in m for m in _messages(response))
    assert not Certificate.objects.filter(reason="再交付(滅失・き損)").exists()

    # 3. the bank-transfer file confirms the payment
    csv = f"請求書番号,入金額,入金日\n{invoice.number},1000,{t:%Y/%m/%d}\n".encode("cp932")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:fees_paymentimport_add"),
            {"file": SimpleUploadedFile("furikomi.csv", csv, "text/csv")},
        )
    invoice = refresh(invoice)
    assert invoice.state == InvoiceState.PAID and invoice.paid_on == t
    assert invoice.payment_source == "振込データ取込" and invoice.state_changed_by == clerk
    history = [h.state for h in invoice.history.order_by("history_date")]
    assert history[0] == "未入金" and history[-1] == "入金済"

    # 4. issue: the new certificate and its documents
    with django_capture_on_commit_callbacks(execute=True):
        client.post(issue_url)
    app = refresh(app)
    assert app.state == ApplicationState.ISSUED
    new = app.new_certificate
    assert new.reason == "再交付(滅失・き損)" and new.replaces_id == old.pk
    assert new.valid_until == old.valid_until
    text, pages = _download(client, app.document, tmp_path, "reissue.pdf")
    assert pages >= 2  # the letter, then the card sheet
    assert app.document.certificate_pages == 1
    assert new.number in text
    assert "再交付(滅失・き損)" in text
    assert "紛失・き損の届出により再交付するため" in text
    assert "髙橋 𠮷子" in text
    assert "健康保険 資格確認書" in text
    assert old.number not in text  # the void certificate is not printed

    # 5. a double click on 交付 never makes a second certificate
    client.post(issue_url)
    assert Certificate.objects.filter(reason="再交付(滅失・き損)").count() == 1
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    for expected in [
        "certificate.voided",
        "invoice.created",
        "invoice.paid",
        "payments.imported",
        "certificate.issued",
        "reissue.loss_issued",
        "document.stored",
        "document.downloaded",
    ]:
        assert expected in actions, expected


def test_change_reissue_and_reminder_documents_are_rendered(
    client, clerk, tmp_path, django_capture_on_commit_callbacks
):
    t = _today()
    old = issue(
        member(name="山田 花子", name_kana="ヤマダ ハナコ"),
        issue_date=t - timedelta(days=60),
        valid_until=t + timedelta(days=800),
    )
    client.force_login(clerk)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:fees_reissueapplication_add"),
            {
                "kind": "記載事項変更",
                "certificate_number": old.number,
                "route": "事業主経由",
                "received_on": t.isoformat(),
                "new_name": "佐藤 花子",
                "new_name_kana": "サトウ ハナコ",
            },
        )
    app = ReissueApplication.objects.get()
    text, _ = _download(client, app.document, tmp_path, "change.pdf")
    assert "佐藤 花子" in text and app.new_certificate.number in text
    assert "再交付(記載事項変更)" in text

    # returns after a loss: once overdue, one reminder PDF for the 事業所 bundled like an issue run:
    # the 対象者一覧表 on top, then a letter per certificate (each part a duplex sheet)
    certs = []
    for name, kana in [("鈴木 一郎", "スズキ イチロウ"), ("高木 次郎", "タカギ ジロウ")]:
        leaver = member(name=name, name_kana=kana)
        c = issue(leaver, issue_date=t - timedelta(days=60), valid_until=t + timedelta(days=800))
        leaver.lost_on = t - timedelta(days=10)
        leaver.save(update_fields=["lost_on"])
        certificates_require_return(person=leaver, lost_on=leaver.lost_on)
        certs.append(refresh(c))
    with django_capture_on_commit_callbacks(execute=True):
        (doc,) = returns_generate_reminders(certificates=certs, acting_user=clerk)
    text, pages = _download(client, doc, tmp_path, "reminder.pdf")
    assert pages == 6
    assert "資格確認書 返却督促 対象者一覧表" in text
    assert certs[0].number in text and certs[1].number in text
    assert "鈴木 一郎" in text and "高木 次郎" in text
    assert "資格確認書の返却について(督促)" in text


def test_undeliverable_mail_is_sent_again_to_the_corrected_address(
    client, clerk, tmp_path, django_capture_on_commit_callbacks
):
    t = _today()
    m = member(
        name="田中 一郎",
        name_kana="タナカ イチロウ",
        insured_type="任意継続",
        voluntary_until=t + timedelta(days=300),
    )
    cert = issue(m, issue_date=t - timedelta(days=5), valid_until=t + timedelta(days=300))
    client.force_login(clerk)
    client.post(
        reverse("admin:certificates_heldcertificate_record"),
        {"number": cert.number, "returned_on": t.isoformat()},
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:certificates_heldcertificate_correct", args=[cert.pk]),
            {"postal_code": "150-0001", "address": "東京都渋谷区神宮前一丁目2番3号"},
        )
    mail = ReturnedMail.objects.get()
    assert mail.resolved_by == clerk
    text, _ = _download(client, mail.document, tmp_path, "resend.pdf")
    assert "150-0001" in text or "1500001" in text
    assert "東京都渋谷区神宮前一丁目2番3号" in text
    assert "田中 一郎" in text and cert.number in text
