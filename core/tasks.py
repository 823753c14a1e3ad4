"""Background work of the core app: large CSV exports from the admin (eager in-process when no
broker is configured)."""

from celery import shared_task

from .services import export_job_run


@shared_task(name="core.export_job_run")
def export_job_run_task(job_id: int) -> None:
    export_job_run(job_id=job_id)
