"""Issue 12, items 4 and 5: a chunk is claimed once; a second execute never renders a chunk twice;
the admin refuses to execute a 実行中 run; `execute --wait` on a 失敗 run renders the failed chunks
again; the retry action's message says what it did."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from certificates.models import IssuanceRun, RunState
from core.models import AuditEvent
from documents import services
from documents.models import DocumentState, GeneratedDocument
from documents.services import document_claim

from .conftest import execute_run
from .test_chunks import _docs, small_society  # noqa: F401 (fixture)


def _pending(doc):
    GeneratedDocument.objects.filter(pk=doc.pk).update(
        state=DocumentState.PENDING, attempts=0, claimed_by="", file=""
    )


def test_a_chunk_is_claimed_by_one_task_message(small_society, clerk, supervisor, media_root):  # noqa: F811
    run = execute_run(clerk, supervisor)
    doc = _docs(run)[0]
    _pending(doc)
    first = document_claim(document_id=doc.pk, claim="task-a")
    assert first is not None and first.attempts == 1
    # a second message for the same chunk (a second execute, a resume) leaves it alone
    assert document_claim(document_id=doc.pk, claim="task-b") is None
    doc.refresh_from_db()
    assert (doc.attempts, doc.claimed_by, doc.state) == (1, "task-a", DocumentState.RENDERING)
    # the same message redelivered (its worker died) takes it back, counting the attempt
    again = document_claim(document_id=doc.pk, claim="task-a")
    assert again is not None and again.attempts == 2
    # a claim older than a render can last has lapsed: its worker cannot still be running
    GeneratedDocument.objects.filter(pk=doc.pk).update(
        started_at=timezone.now() - services._render_deadline() - timedelta(seconds=1)
    )
    assert document_claim(document_id=doc.pk, claim="task-c") is not None


def test_two_messages_for_one_chunk_render_it_once(
    small_society,  # noqa: F811
    clerk,
    supervisor,
    media_root,
    monkeypatch,
):
    """Two executes enqueue every chunk twice: the second message, arriving while the first renders,
    renders nothing."""
    run = execute_run(clerk, supervisor)
    doc = _docs(run)[0]
    _pending(doc)
    real = services.render_chunk
    renders = []

    def render_while_a_second_message_arrives(chunk):
        renders.append(chunk)
        if len(renders) == 1:
            assert services.document_render(document_id=doc.pk, claim="second") is None
        return real(chunk)

    monkeypatch.setattr(services, "render_chunk", render_while_a_second_message_arrives)
    services.document_render(document_id=doc.pk, claim="first")
    doc.refresh_from_db()
    assert len(renders) == 1 and doc.attempts == 1 and doc.state == DocumentState.STORED


def test_the_admin_refuses_to_execute_a_running_run(
    small_society,  # noqa: F811
    client,
    clerk,
    supervisor,
    supervisor2,
    media_root,
):
    run = execute_run(clerk, supervisor)
    IssuanceRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING)
    events = AuditEvent.objects.count()
    client.force_login(supervisor2)
    response = client.post(reverse("admin:certificates_run_execute", args=[run.pk]), follow=True)
    text = response.content.decode()
    assert "実行中" in text and "実行できません" in text
    assert AuditEvent.objects.count() == events  # no run.resumed, no task
    run.refresh_from_db()
    assert run.state == RunState.RUNNING


@pytest.mark.django_db(transaction=True)
def test_execute_wait_on_a_failed_run_renders_the_failed_chunks_again(
    small_society,  # noqa: F811
    clerk,
    supervisor,
    media_root,
    monkeypatch,
):
    from certificates.services import run_approve, run_create

    from .conftest import ISSUE, STATUS_DATE, VALID_UNTIL

    real = services.render_chunk

    def broken(chunk):
        raise OSError("disk full")

    run = run_create(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=VALID_UNTIL, acting_user=clerk
    )
    run_approve(run=run, acting_user=supervisor)
    monkeypatch.setattr(services, "render_chunk", broken)
    with pytest.raises(Exception, match="失敗"):
        call_command(
            "issuance_run", "execute", str(run.pk), "--wait", "--poll", "0.01", stdout=StringIO()
        )
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert all(d.state == DocumentState.FAILED for d in _docs(run))

    monkeypatch.setattr(services, "render_chunk", real)  # the disk is fixed
    out = StringIO()
    call_command(
        "issuance_run",
        "execute",
        str(run.pk),
        "--wait",
        "--poll",
        "0.01",
        "--timeout",
        "120",
        stdout=out,
    )
    assert out.getvalue().splitlines()[-1] == f"一括交付 #{run.pk} は完了しました"
    run.refresh_from_db()
    assert run.state == RunState.DONE
    assert all(d.state == DocumentState.STORED and d.file for d in _docs(run))


def test_the_retry_action_says_what_it_did(small_society, client, clerk, supervisor, media_root):  # noqa: F811
    run = execute_run(clerk, supervisor)
    docs = _docs(run)
    GeneratedDocument.objects.filter(pk=docs[0].pk).update(state=DocumentState.FAILED, error="x")
    client.force_login(supervisor)
    response = client.post(
        reverse("admin:documents_generateddocument_changelist"),
        {"action": "retry_failed", "_selected_action": [docs[0].pk]},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert "1件の帳票を再作成します。" in texts
    assert not any("対象外" in t for t in texts), texts
