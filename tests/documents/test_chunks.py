"""Chunk planning and the chunk task's idempotency: redelivery, dead workers, failures, retries."""

import hashlib
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import TestCase

from certificates.models import RunState
from documents import services
from documents.models import DocumentState, GeneratedDocument
from documents.services import document_retry, run_documents_schedule
from documents.tasks import render_run_chunk
from members.models import Employer

from .conftest import execute_run, make_dependent, make_member, pdf_text, set_status, squash

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_society(db):
    e1 = Employer.objects.create(code="E001", name="株式会社テスト")
    e2 = Employer.objects.create(code="E002", name="第二工業")
    people = [
        make_member(name="青木 一郎", employer=e1),
        make_member(name="井上 二郎", employer=e1),
        make_member(name="上田 三郎", employer=e1),
        make_member(name="江藤 四郎", employer=e2),
    ]
    people.append(make_dependent(people[0], name="青木 花子"))
    from datetime import date

    for i in range(3):
        people.append(
            make_member(
                name=f"任意 {i}郎",
                voluntary_until=date(2026, 9, 30),
                postal_code="1500001",
                address="東京都渋谷区神宮前一丁目2番3号",
            )
        )
    set_status([(p, "未登録", None) for p in people])
    return people


def _docs(run):
    return list(GeneratedDocument.objects.filter(run=run).order_by("chunk_no"))


def _files(media_root, run):
    d = Path(media_root) / "documents" / "runs" / str(run.pk)
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_large_employer_is_split_and_each_part_has_its_own_list(
    small_society, clerk, supervisor, media_root, settings, tmp_path
):
    settings.PDF_CHUNK_HOUSEHOLDS = 2
    run = execute_run(clerk, supervisor)
    docs = _docs(run)
    # E001: 3 households → 2 parts; E002: 1; 自宅: 3 households → 2 chunks
    assert [(d.employer.code if d.employer else None, d.part_no, d.part_count) for d in docs] == [
        ("E001", 1, 2),
        ("E001", 2, 2),
        ("E002", 1, 1),
        (None, 1, 2),
        (None, 2, 2),
    ]
    assert [len(d.item_ids) for d in docs] == [3, 1, 1, 2, 1]  # a household is never split
    assert run.state == RunState.DONE
    first = squash(pdf_text(docs[0].file.read(), tmp_path)[0])
    second = squash(pdf_text(docs[1].file.read(), tmp_path)[0])
    assert "対象者一覧表(その1/2)" in first and "青木 一郎" in first and "上田 三郎" not in first
    assert "対象者一覧表(その2/2)" in second and "上田 三郎" in second
    assert sum(d.certificate_pages for d in docs) == len(small_society)


def test_rescheduling_never_duplicates_chunks_or_files(
    small_society, clerk, supervisor, media_root
):
    run = execute_run(clerk, supervisor)
    before = [(d.pk, d.chunk_no, d.item_ids, d.sha256, d.attempts) for d in _docs(run)]
    files = _files(media_root, run)
    with TestCase.captureOnCommitCallbacks(execute=True):
        again = run_documents_schedule(run_id=run.pk)
    assert [d.pk for d in again] == [b[0] for b in before]
    assert [(d.pk, d.chunk_no, d.item_ids, d.sha256, d.attempts) for d in _docs(run)] == before
    assert _files(media_root, run) == files
    assert len(files) == len(before)


def test_redelivered_stored_chunk_does_nothing(small_society, clerk, supervisor, media_root):
    run = execute_run(clerk, supervisor)
    doc = _docs(run)[0]
    path = Path(doc.file.path)
    mtime = path.stat().st_mtime_ns
    render_run_chunk.apply(args=(doc.pk,))
    doc.refresh_from_db()
    assert doc.attempts == 1 and doc.state == DocumentState.STORED
    assert path.stat().st_mtime_ns == mtime


def test_chunk_of_a_dead_worker_is_rerendered_into_the_same_single_file(
    small_society, clerk, supervisor, media_root
):
    run = execute_run(clerk, supervisor)
    doc = _docs(run)[0]
    good_sha = doc.sha256
    path = Path(doc.file.path)
    # A worker was killed after writing half a file and before recording anything.
    path.write_bytes(b"%PDF-1.7 truncated")
    GeneratedDocument.objects.filter(pk=doc.pk).update(
        state=DocumentState.RENDERING, sha256="", page_count=None, file=""
    )
    # the broker's redelivery: the same message (acks_late), so the same task id holds the claim
    render_run_chunk.apply(args=(doc.pk,), task_id=doc.claimed_by or None)
    doc.refresh_from_db()
    assert doc.state == DocumentState.STORED
    assert doc.attempts == 2
    assert Path(doc.file.path) == path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == doc.sha256 == good_sha
    assert len(_files(media_root, run)) == len(_docs(run))


def test_chunk_whose_workers_keep_dying_fails_after_the_limit(
    small_society, clerk, supervisor, media_root
):
    run = execute_run(clerk, supervisor)
    doc = _docs(run)[0]
    GeneratedDocument.objects.filter(pk=doc.pk).update(
        state=DocumentState.RENDERING, attempts=services.MAX_ATTEMPTS
    )
    render_run_chunk.apply(args=(doc.pk,), task_id=doc.claimed_by or None)  # redelivered
    doc.refresh_from_db()
    run.refresh_from_db()
    assert doc.state == DocumentState.FAILED
    assert "ワーカーの異常終了" in doc.error
    assert run.state == RunState.FAILED and doc.label in run.error


def test_failing_chunk_is_retried_then_failed_then_retried_by_a_clerk(
    small_society, clerk, supervisor, media_root, monkeypatch
):
    real = services.render_chunk
    calls = []

    def broken(chunk):
        calls.append(chunk)
        raise OSError("disk full")

    monkeypatch.setattr(services, "render_chunk", broken)
    run = execute_run(clerk, supervisor)
    docs = _docs(run)
    assert all(d.state == DocumentState.FAILED for d in docs)
    assert all(d.attempts == services.MAX_ATTEMPTS for d in docs)
    assert "OSError: disk full" in docs[0].error
    assert len(calls) == services.MAX_ATTEMPTS * len(docs)
    assert run.state == RunState.FAILED and "disk full" in run.error

    monkeypatch.setattr(services, "render_chunk", real)
    for doc in docs:
        with TestCase.captureOnCommitCallbacks(execute=True):
            document_retry(document=doc, acting_user=clerk)
    run.refresh_from_db()
    assert [d.state for d in _docs(run)] == [DocumentState.STORED] * len(docs)
    assert all(d.attempts == 1 for d in _docs(run))
    assert run.state == RunState.DONE and run.error == ""


def test_retry_refuses_a_chunk_that_did_not_fail_and_users_without_rights(
    small_society, clerk, supervisor, media_root, outsider
):
    run = execute_run(clerk, supervisor)
    doc = _docs(run)[0]
    with pytest.raises(ValidationError, match="失敗状態ではない"):
        document_retry(document=doc, acting_user=clerk)
    GeneratedDocument.objects.filter(pk=doc.pk).update(state=DocumentState.FAILED)
    with pytest.raises(PermissionDenied):
        document_retry(document=doc, acting_user=outsider)


def test_run_without_targets_is_complete_at_once(clerk, supervisor, media_root):
    run = execute_run(clerk, supervisor)
    assert run.target_count == 0
    assert run.state == RunState.DONE
    assert not _docs(run)
