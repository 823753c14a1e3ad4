"""Background work of the fees app (thin: ids in, one call; eager in-process when no broker is
configured)."""

from celery import shared_task


@shared_task(name="fees.payments_import_job_run", ignore_result=True, acks_late=True)
def payments_import_job_run_task(job_id: int) -> None:
    """A large 振込データ file uploaded in the admin (members.import_jobs.ImportJob)."""
    from .payments import payments_import_job_run

    payments_import_job_run(job_id=job_id)
