"""Background work of the fees app: rendering the after-issue documents (thin: ids in, one call)."""

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def render_after_issue_document(document_id: int) -> None:
    """Render a planned 請求書 / 返却督促 / 再交付 / 再印刷 document. Idempotent (a stored one is left)."""
    from .paperwork import document_render

    document_render(document_id)
