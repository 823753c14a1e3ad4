"""A bulk run survives its parts failing: the worker killed, Redis restarted empty, two executes of
the same run at once. Each test runs `manage.py issuance_run execute RUN --wait` (what an operator
runs) in its own process against real worker processes, breaks something in the middle of the run,
and then checks the whole outcome: nothing lost, nothing twice (outcome.assert_run_complete)."""

from __future__ import annotations

import time

import pytest

from core.models import AuditEvent
from documents.models import DocumentState, GeneratedDocument
from tests.support.processes import wait_for

from .outcome import approved_run, assert_run_complete, chunk_states, seed_society

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PERSONS = 150  # about 50 targets in chunks of 4 households: a dozen chunks or more


def _mid_run(run_id: int) -> bool:
    """Some chunks stored, one being rendered, some still waiting: the middle of a run."""
    states = chunk_states(run_id)
    return (
        states[DocumentState.STORED] >= 2
        and states[DocumentState.RENDERING] >= 1
        and states[DocumentState.PENDING] >= 2
    )


def _execute(manage, run_id: int, **env):
    return manage(
        "issuance_run",
        "execute",
        str(run_id),
        "--by",
        "supervisor2",
        "--wait",
        "--timeout",
        "300",
        **env,
    )


@pytest.fixture
def run(process_env, clerk, supervisor, supervisor2):  # process_env: skip early without services
    seed_society(PERSONS)
    return approved_run(clerk, supervisor)


def test_pool_processes_killed_mid_render_have_their_chunks_redelivered(
    run, media_root, start_worker, manage
):
    """The out-of-memory killer takes the renderers: the worker's parent sees them die, rejects
    their messages back to the queue (acks_late + reject_on_worker_lost) and forks new ones."""
    worker = start_worker("w1")
    # No resume by execute --wait within the test: the broker alone must bring the chunks back.
    execute = _execute(manage, run.pk, DOCUMENT_RESUME_AFTER_SECONDS="3600")
    wait_for(lambda: _mid_run(run.pk), timeout=120, what="the middle of the run")
    rendering = set(
        GeneratedDocument.objects.filter(run=run, state=DocumentState.RENDERING).values_list(
            "pk", flat=True
        )
    )
    killed = worker.kill_pool_children()
    assert killed

    assert execute.wait(timeout=300) == 0, execute.output()
    assert "完了しました" in execute.output()
    outcome = assert_run_complete(run.pk, media_root)
    # The chunks being rendered when their process died were rendered again: a second attempt.
    again = GeneratedDocument.objects.filter(pk__in=rendering, attempts__gte=2)
    assert again.exists(), outcome
    assert max(outcome["attempts"]) <= 3
    assert "WorkerLostError" in worker.log_text()
    worker.assert_pool_healthy()  # the replacements came up at once


def test_worker_killed_with_sigkill_and_restarted_loses_nothing(
    run, media_root, start_worker, manage
):
    """The whole worker dies at once (SIGKILL to its process group: the machine or container went
    away), and comes back. Its unacknowledged messages are still in Redis."""
    worker = start_worker("w1")
    execute = _execute(manage, run.pk)
    wait_for(lambda: _mid_run(run.pk), timeout=120, what="the middle of the run")
    worker.kill()
    orphaned = list(
        GeneratedDocument.objects.filter(run=run, state=DocumentState.RENDERING).values_list(
            "pk", flat=True
        )
    )
    assert orphaned, "the kill did not land while a chunk was being rendered"
    stored_at_kill = chunk_states(run.pk)[DocumentState.STORED]
    time.sleep(1)
    assert chunk_states(run.pk)[DocumentState.STORED] == stored_at_kill  # nothing is working now

    worker.start()
    assert execute.wait(timeout=300) == 0, execute.output()
    outcome = assert_run_complete(run.pk, media_root)
    for doc in GeneratedDocument.objects.filter(pk__in=orphaned):
        assert doc.attempts >= 2, (doc.chunk_no, outcome)
    assert max(outcome["attempts"]) <= 3
    worker.assert_pool_healthy()


@pytest.mark.parametrize("persistent", [False, True], ids=["no-persistence", "append-only-file"])
def test_redis_killed_and_restarted_mid_run_loses_nothing(
    persistent, run, media_root, start_worker, manage, private_redis, process_env
):
    """Redis dies (kill -9) in the middle of a run and comes back on the same port: without
    persistence it comes back empty, every queued message lost; with the append-only file (as
    docker-compose.yml runs it) it comes back with the queue and the unacknowledged messages.
    The worker reconnects; `execute --wait` notices when the run stops moving and enqueues the
    chunks not yet stored again. Either way: nothing lost, nothing printed twice."""
    redis = private_redis(persistent=persistent)
    process_env["CELERY_BROKER_URL"] = redis.url
    start_worker("w1")
    execute = _execute(manage, run.pk)
    wait_for(lambda: _mid_run(run.pk), timeout=120, what="the middle of the run")
    redis.kill()
    time.sleep(2)
    redis.start()

    assert execute.wait(timeout=300) == 0, execute.output()
    if not persistent:
        assert "再投入しました" in execute.output()  # the lost messages were sent again
    outcome = assert_run_complete(run.pk, media_root)
    assert max(outcome["attempts"]) <= 3


def test_two_executes_of_the_same_run_at_once_issue_and_print_everything_once(
    run, media_root, start_worker, manage
):
    """Two operators (or a retried cron job) run `issuance_run execute RUN --wait` at the same
    moment, with two worker machines sharing the queue."""
    start_worker("w1", concurrency=1)
    start_worker("w2", concurrency=1)
    first = _execute(manage, run.pk)
    second = _execute(manage, run.pk)
    codes = [first.wait(timeout=300), second.wait(timeout=300)]
    assert codes == [0, 0], (first.output(), second.output())
    for cmd in (first, second):
        assert f"一括交付 #{run.pk} は完了しました" in cmd.output()

    assert_run_complete(run.pk, media_root)
    actions = list(
        AuditEvent.objects.filter(object_id=str(run.pk)).values_list("action", flat=True)
    )
    assert actions.count("run.started") == 1
    assert actions.count("run.executed") == 1
    assert actions.count("documents.scheduled") == 1
