"""Background work of the fees app: rendering the after-issue documents (thin: ids in, one call)."""

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def render_after_issue_document(document_id: int) -> None:
    """Render a planned 請求書 / 返却督促 / 再交付 / 再印刷 document. Idempotent (a stored one is left)."""
    from .paperwork import document_render

    document_render(document_id)


@shared_task(name="fees.payments_import_job_run", ignore_result=True, acks_late=True)
def payments_import_job_run_task(job_id: int) -> None:
    """A large 振込データ file uploaded in the admin (members.import_jobs.ImportJob)."""
    from .payments import payments_import_job_run

    payments_import_job_run(job_id=job_id)
