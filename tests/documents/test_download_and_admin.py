"""Stored PDFs are downloadable only by logged-in staff with the permission; the admin lists them."""

import hashlib
import io

import pytest
from django.test import TestCase
from django.urls import reverse

from core.models import AuditEvent
from documents.models import DocumentKind, DocumentState, GeneratedDocument
from members.models import Employer

from .conftest import execute_run, make_member, set_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(clerk, supervisor, media_root):
    """A chunk of a real executed run, rendered and stored."""
    e = Employer.objects.create(code="E001", name="株式会社テスト")
    p = make_member(name="𠮷田 太郎", employer=e)
    set_status([(p, "未登録", None)])
    run = execute_run(clerk, supervisor)
    return GeneratedDocument.objects.get(run=run)


@pytest.fixture
def small(media_root):
    """A stored document without a run (as fees' invoices are), cheap to make: for the
    permission checks, which do not depend on what the PDF holds."""
    from pypdf import PdfWriter

    from documents.render import RenderResult
    from documents.services import document_claim, document_store

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buf = io.BytesIO()
    writer.write(buf)
    doc = GeneratedDocument.objects.create(kind=DocumentKind.INVOICE, label="請求書 テスト")
    document_claim(document_id=doc.pk)
    return document_store(
        document_id=doc.pk, result=RenderResult(pdf=buf.getvalue(), certificate_pages=0)
    )


def _login(client, user):
    # force_login: the password path is django-axes' business, tested elsewhere
    client.force_login(user)


def test_clerk_downloads_the_pdf_and_it_is_audited(client, clerk, stored):
    _login(client, clerk)
    response = client.get(reverse("documents:download", args=[stored.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"%PDF")
    assert hashlib.sha256(body).hexdigest() == stored.sha256
    event = AuditEvent.objects.get(action="document.downloaded")
    assert event.actor == clerk and event.object_id == str(stored.pk)


def test_auditor_may_download(client, auditor, small):
    _login(client, auditor)
    assert client.get(reverse("documents:download", args=[small.pk])).status_code == 200


def test_anonymous_is_sent_to_login(client, small):
    response = client.get(reverse("documents:download", args=[small.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not AuditEvent.objects.filter(action="document.downloaded").exists()


def test_user_without_the_permission_gets_404(client, outsider, small):
    _login(client, outsider)
    assert client.get(reverse("documents:download", args=[small.pk])).status_code == 404
    assert not AuditEvent.objects.filter(action="document.downloaded").exists()


def test_unknown_or_fileless_document_is_404(client, clerk, small):
    _login(client, clerk)
    assert client.get(reverse("documents:download", args=[small.pk + 999])).status_code == 404
    GeneratedDocument.objects.filter(pk=small.pk).update(file="")
    assert client.get(reverse("documents:download", args=[small.pk])).status_code == 404


def test_no_public_media_url(client, small):
    assert client.get("/media/" + small.file.name).status_code == 404


def test_admin_lists_documents_with_state_pages_and_link(client, clerk, stored):
    _login(client, clerk)
    response = client.get(reverse("admin:documents_generateddocument_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert stored.label in html
    assert "完了" in html
    assert reverse("documents:download", args=[stored.pk]) in html
    assert stored.sha256[:12] in html
    detail = client.get(reverse("admin:documents_generateddocument_change", args=[stored.pk]))
    assert detail.status_code == 200
    assert "印刷除外" in detail.content.decode()


def test_admin_retry_action_rerenders_a_failed_chunk(client, clerk, stored):
    GeneratedDocument.objects.filter(pk=stored.pk).update(
        state=DocumentState.FAILED, attempts=3, error="boom"
    )
    stored.run.state = "失敗"
    stored.run.save(update_fields=["state"])
    _login(client, clerk)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("admin:documents_generateddocument_changelist"),
            {"action": "retry_failed", "_selected_action": [stored.pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert "1件の帳票を再作成します" in response.content.decode()
    stored.refresh_from_db()
    stored.run.refresh_from_db()
    assert stored.state == DocumentState.STORED and stored.attempts == 1
    assert stored.run.state == "完了"
    assert AuditEvent.objects.filter(action="document.retried", actor=clerk).exists()


def test_auditor_cannot_retry(client, auditor, stored):
    GeneratedDocument.objects.filter(pk=stored.pk).update(state=DocumentState.FAILED)
    _login(client, auditor)
    response = client.post(
        reverse("admin:documents_generateddocument_changelist"),
        {"action": "retry_failed", "_selected_action": [stored.pk]},
        follow=True,
    )
    stored.refresh_from_db()
    assert stored.state == DocumentState.FAILED
    # The action is not even offered to an auditor, so the POST selects nothing.
    changelist = client.get(reverse("admin:documents_generateddocument_changelist"))
    assert changelist.status_code == 200
    assert 'value="retry_failed"' not in changelist.content.decode()
    assert "操作が選択されていません" in response.content.decode()
