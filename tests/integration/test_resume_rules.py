"""documents.run_documents_resume on its own (tasks in-process, any database): when it enqueues a
run's chunks again and when it must not. The real failure it answers — Redis restarted empty in
the middle of a run — is test_failures.test_redis_restarted_empty_mid_run_loses_nothing."""

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from certificates.models import IssuanceRun, RunState
from certificates.services import run_execute
from core.models import AuditEvent
from documents.models import DocumentState, GeneratedDocument
from documents.services import run_documents_resume, run_documents_schedule, runs_documents_resume

from .outcome import approved_run, assert_run_complete, seed_society

pytestmark = pytest.mark.django_db

QUIET = 600


@pytest.fixture
def lost_run(settings, tmp_path, clerk, supervisor):
    """An issued run whose chunks were planned but whose task messages never reached a worker
    (the on-commit callbacks that would send them are captured and dropped)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PDF_CHUNK_HOUSEHOLDS = 3
    settings.DOCUMENT_RESUME_AFTER_SECONDS = QUIET
    seed_society(30)
    run = approved_run(clerk, supervisor)
    with TestCase.captureOnCommitCallbacks(execute=False):
        run_execute(run=run, acting_user=supervisor)
    with TestCase.captureOnCommitCallbacks(execute=False) as sent:
        run_documents_schedule(run_id=run.pk)
    assert len(sent) == 1  # the enqueue of every chunk, dropped: the messages are lost
    run.refresh_from_db()
    assert run.state == RunState.RUNNING
    assert GeneratedDocument.objects.filter(run=run, state=DocumentState.PENDING).count() >= 3
    return run


def _age(run: IssuanceRun, seconds: float, **filters) -> None:
    """Pretend the run's chunks last changed `seconds` ago (update() leaves auto_now alone)."""
    past = timezone.now() - timedelta(seconds=seconds)
    GeneratedDocument.objects.filter(run=run, **filters).update(updated_at=past)


def _resumed_events(run) -> int:
    return AuditEvent.objects.filter(action="documents.resumed", object_id=str(run.pk)).count()


def test_a_moving_run_is_left_alone(lost_run):
    _age(lost_run, QUIET - 30)
    with TestCase.captureOnCommitCallbacks(execute=True) as sent:
        assert run_documents_resume(run_id=lost_run.pk) == []
    assert sent == []
    assert _resumed_events(lost_run) == 0


def test_a_quiet_run_has_its_waiting_chunks_enqueued_again_and_completes(lost_run, settings):
    _age(lost_run, QUIET + 1)
    waiting = set(GeneratedDocument.objects.filter(run=lost_run).values_list("pk", flat=True))
    with TestCase.captureOnCommitCallbacks(execute=True):  # tasks run in-process (eager)
        resumed = run_documents_resume(run_id=lost_run.pk)
    assert set(resumed) == waiting
    assert _resumed_events(lost_run) == 1
    assert_run_complete(lost_run.pk, settings.MEDIA_ROOT)
    # Once complete there is nothing to resume.
    assert run_documents_resume(run_id=lost_run.pk) == []


def test_enqueued_again_at_most_once_per_quiet_period(lost_run):
    _age(lost_run, QUIET + 1)
    with TestCase.captureOnCommitCallbacks(execute=False) as first:
        assert run_documents_resume(run_id=lost_run.pk)
    with TestCase.captureOnCommitCallbacks(execute=False) as second:
        # A second watcher (another execute --wait, the beat task) right after: the chunks were
        # just touched, so the run counts as moving.
        assert run_documents_resume(run_id=lost_run.pk) == []
        assert runs_documents_resume() == {}
    assert len(first) == 1 and second == []


def test_a_chunk_being_rendered_is_not_enqueued_again_until_its_render_must_have_died(
    lost_run, settings
):
    chunks = list(GeneratedDocument.objects.filter(run=lost_run).order_by("chunk_no"))
    busy, dead = chunks[0], chunks[1]
    deadline = min(
        settings.CELERY_TASK_TIME_LIMIT,
        settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"],
    )
    now = timezone.now()
    GeneratedDocument.objects.filter(pk=busy.pk).update(
        state=DocumentState.RENDERING, attempts=1, started_at=now - timedelta(seconds=deadline - 60)
    )
    GeneratedDocument.objects.filter(pk=dead.pk).update(
        state=DocumentState.RENDERING, attempts=1, started_at=now - timedelta(seconds=deadline + 1)
    )
    _age(lost_run, QUIET + 1)
    with TestCase.captureOnCommitCallbacks(execute=False):
        resumed = run_documents_resume(run_id=lost_run.pk)
    assert dead.pk in resumed
    assert busy.pk not in resumed
    assert set(resumed) == {c.pk for c in chunks[1:]}


def test_a_run_not_yet_issued_or_finished_is_not_touched(lost_run, clerk):
    _age(lost_run, QUIET + 1)
    IssuanceRun.objects.filter(pk=lost_run.pk).update(state=RunState.FAILED)
    assert run_documents_resume(run_id=lost_run.pk) == []
    IssuanceRun.objects.filter(pk=lost_run.pk).update(state=RunState.RUNNING, issued_at=None)
    assert run_documents_resume(run_id=lost_run.pk) == []
    assert _resumed_events(lost_run) == 0


def test_an_issued_run_whose_hand_over_never_ran_is_scheduled(
    settings, tmp_path, clerk, supervisor
):
    """The execute process died between the commit of its last batch and the on-commit hand-over:
    certificates exist, no chunk does."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DOCUMENT_RESUME_AFTER_SECONDS = QUIET
    seed_society(30)
    run = approved_run(clerk, supervisor)
    with TestCase.captureOnCommitCallbacks(execute=False):
        run_execute(run=run, acting_user=supervisor)
    assert not GeneratedDocument.objects.filter(run=run).exists()
    assert run_documents_resume(run_id=run.pk) == []  # just issued: the hand-over may be running
    IssuanceRun.objects.filter(pk=run.pk).update(
        issued_at=timezone.now() - timedelta(seconds=QUIET + 1)
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert run_documents_resume(run_id=run.pk)
    assert_run_complete(run.pk, settings.MEDIA_ROOT)
