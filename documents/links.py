"""Links to a stored document in the admin's lists and pages (download, or open in the browser), or
the document's state while it is not stored."""

from django.urls import reverse
from django.utils.html import format_html

from .models import DocumentState


def document_link(doc) -> str:
    """The PDF's download link (documents' permission-checked view), or its state."""
    if doc is None:
        return "-"
    if doc.state == DocumentState.STORED and doc.file:
        return format_html(
            '<a href="{}">PDF ({}ページ)</a>',
            reverse("documents:download", args=[doc.pk]),
            doc.page_count or "?",
        )
    if doc.state == DocumentState.FAILED:
        return format_html('<span class="errornote">作成失敗: {}</span>', doc.error[:120])
    return doc.get_state_display()


def pdf_view_link(doc) -> str:
    """A short link that opens the PDF in the browser (lists at 1366 px), else its state."""
    if doc is not None and doc.state == DocumentState.STORED and doc.file:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">PDF</a>',
            reverse("documents:view", args=[doc.pk]),
        )
    return document_link(doc)
