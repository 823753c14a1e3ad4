"""Two workers store the last two chunks of a run at the same moment (PostgreSQL row locks): the
run becomes 完了 exactly once, never stays 実行中 with every chunk stored."""

import os
import threading

import pytest
from django.db import connection, connections

from certificates.models import IssuanceRun, RunState
from core.models import AuditEvent
from documents import services
from documents.models import DocumentState, GeneratedDocument
from members.models import Employer

from .conftest import execute_run, make_member, set_status

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL)",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_last_two_chunks_stored_together_complete_the_run_once(
    clerk, supervisor, media_root, monkeypatch
):
    assert connection.vendor == "postgresql"
    people = [
        make_member(
            name=f"並行 {i}郎",
            employer=Employer.objects.get_or_create(code=f"E{i}", name=f"事業所{i}")[0],
        )
        for i in range(2)
    ]
    set_status([(p, "未登録", None) for p in people])
    # Issue, then plan the chunks but hold their tasks back: the threads below play the workers.
    schedule = services.run_documents_schedule
    monkeypatch.setattr(services, "run_documents_schedule", lambda *, run_id: None)
    run = execute_run(clerk, supervisor)
    assert run.state == RunState.RUNNING
    monkeypatch.setattr(services, "_enqueue", lambda ids: None)
    schedule(run_id=run.pk)
    docs = list(GeneratedDocument.objects.filter(run=run).order_by("chunk_no"))
    assert len(docs) == 2

    # Both workers have stored their chunk (row updated, not yet committed) before either looks at
    # the run; then each lingers after its look before committing. Without the run's row lock both
    # would look at once, each see the other's chunk unfinished, and the run would stay 実行中.
    real_lock_and_complete = services._run_lock_and_complete
    real_complete = services._run_complete_if_done
    both_stored = threading.Barrier(2)
    both_looked = threading.Barrier(2)

    def meet_then_lock(run_id):
        both_stored.wait(timeout=120)
        real_lock_and_complete(run_id)

    def look_then_linger(run):
        real_complete(run)
        try:
            both_looked.wait(timeout=3)  # with the lock the other worker cannot get here: timeout
        except threading.BrokenBarrierError:
            pass

    monkeypatch.setattr(services, "_run_lock_and_complete", meet_then_lock)
    monkeypatch.setattr(services, "_run_complete_if_done", look_then_linger)
    errors = []

    def worker(document_id):
        try:
            services.document_render(document_id=document_id)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(d.pk,)) for d in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert errors == []
    assert [d.attempts for d in GeneratedDocument.objects.filter(run=run)] == [1, 1]
    assert set(GeneratedDocument.objects.filter(run=run).values_list("state", flat=True)) == {
        DocumentState.STORED
    }
    run = IssuanceRun.objects.get(pk=run.pk)
    assert run.state == RunState.DONE and run.finished_at is not None
    assert (
        AuditEvent.objects.filter(action="run.documents_done", object_id=str(run.pk)).count() == 1
    )
