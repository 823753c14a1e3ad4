"""Background work of the members app: large registry imports from the admin (ids in, one call;
eager in-process when no broker is configured)."""

from celery import shared_task


@shared_task(name="members.import_job_run", ignore_result=True, acks_late=True)
def import_job_run_task(job_id: int) -> None:
    from .import_jobs import import_job_run

    import_job_run(job_id=job_id)
