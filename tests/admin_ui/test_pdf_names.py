"""PDFs in the browser: shown inline or saved, named for what they hold (UTF-8, ASCII fallback)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from django.test import Client
from django.urls import reverse

from core.models import AuditEvent
from documents.filenames import content_disposition, document_filenames
from documents.models import DocumentState, GeneratedDocument

pytestmark = pytest.mark.django_db


def _utf8_name(disposition: str) -> str:
    return unquote(disposition.split("filename*=UTF-8''", 1)[1])


def test_bundle_and_home_chunks_are_named_for_what_they_hold(society):
    run = society.run
    employer_doc = GeneratedDocument.objects.get(run=run, employer__code="10002")
    name, ascii_name = document_filenames(employer_doc)
    assert name == f"一括交付{run.pk}_事業所10002_東邦電機株式会社.pdf"
    assert ascii_name == f"run{run.pk}-employer10002.pdf"
    home = GeneratedDocument.objects.get(run=run, employer__isnull=True)
    name, ascii_name = document_filenames(home)
    assert name == f"一括交付{run.pk}_自宅_{home.chunk_no:04d}.pdf"
    invoice_doc = society.invoice.document
    name, _ = document_filenames(invoice_doc)
    assert name.startswith("請求書_") and society.invoice.number in name


def test_view_is_inline_and_download_is_attachment_both_audited(society, clerk):
    client = Client()
    client.force_login(clerk)
    doc = GeneratedDocument.objects.filter(run=society.run, state=DocumentState.STORED).first()
    view = client.get(reverse("documents:view", args=[doc.pk]))
    assert view["Content-Type"] == "application/pdf"
    assert view["Content-Disposition"].startswith('inline; filename="run')
    assert _utf8_name(view["Content-Disposition"]) == document_filenames(doc)[0]
    assert b"".join(view.streaming_content).startswith(b"%PDF-")
    save = client.get(reverse("documents:download", args=[doc.pk]))
    assert save["Content-Disposition"].startswith("attachment; ")
    vias = list(
        AuditEvent.objects.filter(action="document.downloaded", object_id=str(doc.pk)).values_list(
            "detail__via", flat=True
        )
    )
    assert sorted(vias) == ["保存", "表示"]


def test_view_needs_the_download_permission(society, outsider):
    client = Client()
    client.force_login(outsider)
    doc = GeneratedDocument.objects.filter(run=society.run).first()
    assert client.get(reverse("documents:view", args=[doc.pk])).status_code == 404


def test_the_fallback_is_plain_ascii_and_quotes_cannot_break_the_header():
    header = content_disposition('a"b\\c.pdf', 'x"y.pdf', inline=True)
    assert header.startswith("inline; filename=\"xy.pdf\"; filename*=UTF-8''")
    assert header.isascii()
    assert _utf8_name(header) == 'a"b\\c.pdf'
