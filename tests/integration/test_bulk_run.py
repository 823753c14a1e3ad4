"""A bulk run of a few hundred people end to end through Redis and a real prefork worker."""

import pytest

from certificates.models import IssuanceRun
from certificates.services import run_execute
from tests.support.processes import wait_for

from .outcome import approved_run, assert_run_complete, seed_society

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_run_of_300_people_is_rendered_by_the_worker_through_redis(
    settings, clerk, supervisor, media_root, celery_to_redis, start_worker
):
    settings.PDF_CHUNK_HOUSEHOLDS = 10  # the test process plans the chunks
    seed_society(300)
    worker = start_worker("w1")
    run = approved_run(clerk, supervisor)

    # The test process is the web server here: run_execute issues, then (after commit) plans the
    # chunks and sends one task per chunk to Redis. Nothing renders in this process.
    run_execute(run=run, acting_user=supervisor)

    def finished():
        run.refresh_from_db()
        return run.state in ("完了", "失敗")

    wait_for(finished, timeout=240, interval=0.5, what="the run to finish")
    outcome = assert_run_complete(run.pk, media_root)
    assert outcome["certificates"] >= 80  # a few hundred people: about a third are targets
    assert outcome["chunks"] >= 10
    assert set(outcome["attempts"]) == {1}  # nothing failed, nothing was delivered twice
    # Every chunk was rendered by the worker process, received from the broker.
    log = worker.log_text()
    assert log.count("documents.tasks.render_run_chunk") >= outcome["chunks"]
    worker.assert_pool_healthy()
    assert IssuanceRun.objects.get(pk=run.pk).finished_at is not None
