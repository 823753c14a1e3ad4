"""Celery tasks of documents: thin, ids in, one service call.

Late acknowledgement, reject-on-worker-lost and a prefetch of one are set globally in settings
(CELERY_TASK_ACKS_LATE, CELERY_TASK_REJECT_ON_WORKER_LOST, CELERY_WORKER_PREFETCH_MULTIPLIER) and
repeated here for the chunk task, whose safety depends on them: a worker killed mid-render leaves the
message unacknowledged, the broker redelivers it, and document_render finds the chunk by id and
re-renders it into the same file. Attempts are counted in GeneratedDocument, not by Celery.
"""

from celery import shared_task
from celery.signals import worker_process_init

from . import services


@worker_process_init.connect
def _warm_renderer(**_kwargs) -> None:
    # Build the CSS, FontConfiguration and cmaps in each pool process after the fork (WeasyPrint
    # once crashed when set up before a prefork: Kozea/WeasyPrint#684), before the first task.
    from .render import warm_up

    warm_up()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def render_run_chunk(self, document_id: int) -> None:
    try:
        # the message's task id claims the chunk (kept by a retry and by a redelivery)
        services.document_render(document_id=document_id, claim=self.request.id or "")
    except services.ChunkRetry as exc:
        raise self.retry(countdown=services.RETRY_COUNTDOWN_SECONDS, exc=exc) from exc


@shared_task(ignore_result=True)
def resume_stalled_runs() -> dict[int, int]:
    """Beat, every few minutes: runs executed from the admin have no `execute --wait` watching
    them, so this re-enqueues chunks whose messages the broker lost (documents.services)."""
    return services.runs_documents_resume()
