"""Two executes of the same approved run at once (PostgreSQL row locks): exactly one certificate
per target, gap-free numbers, "run.executed" recorded once."""

import os
import threading

import pytest
from django.db import connection, connections

from certificates.models import Certificate, IssuanceRun, RunState
from certificates.services import run_approve, run_create, run_execute
from core.models import AuditEvent

from . import society
from .population import build

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL)",
    ),
    pytest.mark.django_db(transaction=True),
]


def _execute_in_threads(run_id: int, n: int, batch_size: int) -> list:
    barrier = threading.Barrier(n)
    outcomes: list = []

    def worker():
        try:
            barrier.wait()
            run_execute(run=IssuanceRun(pk=run_id), batch_size=batch_size)
            outcomes.append("ok")
        except Exception as exc:  # recorded and asserted on below
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return outcomes


def test_concurrent_executes_issue_one_certificate_per_target(clerk, supervisor, monkeypatch):
    assert connection.vendor == "postgresql"
    # PDFs are not the point here: count the hand-overs instead of rendering
    import documents.services

    handed_over = []
    monkeypatch.setattr(
        documents.services, "run_documents_schedule", lambda run_id: handed_over.append(run_id)
    )
    build(seed=11, households=600, issue=society.ISSUE, status_date=society.STATUS_DATE)
    run = run_create(
        status_date=society.STATUS_DATE,
        issue_date=society.ISSUE,
        valid_until=society.RUN_UNTIL,
        acting_user=clerk,
    )
    run_approve(run=run, acting_user=supervisor)
    assert run.target_count > 300

    from certificates import services

    real_batch = services._run_issue_batch
    issuers: list[str] = []

    def recording_batch(**kwargs):
        n, last = real_batch(**kwargs)
        if n:
            issuers.append(threading.current_thread().name)
        return n, last

    monkeypatch.setattr(services, "_run_issue_batch", recording_batch)
    outcomes = _execute_in_threads(run.pk, n=4, batch_size=25)
    assert outcomes == ["ok"] * 4
    assert len(set(issuers)) >= 2  # the executors really ran side by side, taking turns

    certs = Certificate.objects.filter(run=run)
    assert certs.count() == run.target_count
    assert certs.values("person").distinct().count() == run.target_count
    numbers = sorted(certs.values_list("number", flat=True))
    assert numbers == [f"2026-{i:07d}" for i in range(1, run.target_count + 1)]
    run.refresh_from_db()
    assert run.issued_count == run.target_count
    assert run.state == RunState.RUNNING and run.issued_at is not None
    assert AuditEvent.objects.filter(action="run.executed", object_id=str(run.pk)).count() == 1
    assert handed_over and set(handed_over) == {run.pk}
    # every batch was issued by exactly one of the executors
    batches = AuditEvent.objects.filter(action="run.batch_issued", object_id=str(run.pk))
    assert sum(b.detail["count"] for b in batches) == run.target_count


def test_concurrent_executes_with_real_documents_finish_the_run_once(clerk, supervisor):
    society.build()
    run = run_create(
        status_date=society.STATUS_DATE,
        issue_date=society.ISSUE,
        valid_until=society.RUN_UNTIL,
        acting_user=clerk,
    )
    run_approve(run=run, acting_user=supervisor)
    outcomes = _execute_in_threads(run.pk, n=2, batch_size=3)
    assert outcomes == ["ok", "ok"]
    run.refresh_from_db()
    assert run.state == RunState.DONE
    assert Certificate.objects.filter(run=run).count() == len(society.EXPECTED)
    docs = run.documents.all()
    assert sum(d.certificate_pages for d in docs) == len(society.EXPECTED)
