"""Writes for documents: planning a run's PDF chunks, rendering and storing them, retries.

The run's progress lives in GeneratedDocument rows (state, attempts, error, file, sha256), never in
Celery's result backend. A chunk task may be delivered more than once (acks_late +
reject_on_worker_lost: a worker killed mid-render has its message redelivered), so every step is
idempotent: a stored chunk is never rendered again, and re-rendering replaces the chunk's one file.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from certificates.models import IssuanceRun, RunState, RunTarget
from core.models import audit_event

from .models import DocumentKind, DocumentState, GeneratedDocument
from .render import RenderResult, render_chunk
from .selectors import bundle_employer, chunk_render_data, run_targets_for_planning

logger = logging.getLogger(__name__)

# A chunk that fails this many times (errors or workers lost mid-render) is 失敗 and needs a clerk's
# retry from the admin; its run becomes 失敗 with the error.
MAX_ATTEMPTS = 3
RETRY_COUNTDOWN_SECONDS = 30


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedChunk:
    label: str
    item_ids: list[int]
    employer_id: int | None
    part_no: int = 1
    part_count: int = 1


def _split(households: list[list[int]], size: int) -> list[list[list[int]]]:
    return [households[i : i + size] for i in range(0, len(households), size)] or [[]]


def plan_run_chunks(targets: list[RunTarget], *, households_per_chunk: int) -> list[PlannedChunk]:
    """Group a run's targets (already in print order) into chunks.

    事業主経由: one bundle per 事業所, split into parts of at most `households_per_chunk` households
    (each part gets its own 対象者一覧表). 自宅: households in chunks of at most that many. A household
    is never split across chunks: its letter and cards travel in one envelope.
    """
    bundles: OrderedDict[int, tuple[object, OrderedDict[int, list[int]]]] = OrderedDict()
    home: OrderedDict[int, list[int]] = OrderedDict()
    for t in targets:
        employer = bundle_employer(t)
        if employer is not None:
            _, households = bundles.setdefault(employer.pk, (employer, OrderedDict()))
            households.setdefault(t.household_id, []).append(t.pk)
        else:
            home.setdefault(t.household_id, []).append(t.pk)
    plan: list[PlannedChunk] = []
    for employer_id, (employer, households) in bundles.items():
        parts = _split(list(households.values()), households_per_chunk)
        for n, part in enumerate(parts, start=1):
            suffix = f" (その{n}/{len(parts)})" if len(parts) > 1 else ""
            plan.append(
                PlannedChunk(
                    label=f"事業所 {employer.code} {employer.name}{suffix}"[:200],
                    item_ids=[i for hh in part for i in hh],
                    employer_id=employer_id,
                    part_no=n,
                    part_count=len(parts),
                )
            )
    if home:
        parts = _split(list(home.values()), households_per_chunk)
        for n, part in enumerate(parts, start=1):
            plan.append(
                PlannedChunk(
                    label=f"自宅送付 その{n}/{len(parts)} ({len(part)}世帯)",
                    item_ids=[i for hh in part for i in hh],
                    employer_id=None,
                    part_no=n,
                    part_count=len(parts),
                )
            )
    return plan


def _enqueue(document_ids: list[int]) -> None:
    from .tasks import render_run_chunk

    for document_id in document_ids:
        render_run_chunk.delay(document_id)


@transaction.atomic
def run_documents_schedule(*, run_id: int) -> list[GeneratedDocument]:
    """Plan the PDF chunks of an issued run and enqueue one render task per chunk after commit.

    Idempotent: chunks are keyed by (run, chunk_no) and planned from the run's frozen target list in a
    fixed order, so calling this again (a resumed execute) creates nothing new; it re-enqueues the
    chunks not yet stored (the task itself skips a stored one). A run without targets is 完了 at once.
    """
    # The run row lock serialises two schedulers of the same run (two executes finishing together).
    run = IssuanceRun.objects.select_for_update().get(pk=run_id)
    existing = {d.chunk_no: d for d in GeneratedDocument.objects.filter(run=run)}
    plan = plan_run_chunks(
        run_targets_for_planning(run_id=run.pk),
        households_per_chunk=settings.PDF_CHUNK_HOUSEHOLDS,
    )
    # An execute of a 失敗 run is the supervisor's retry: chunks that failed start their attempts
    # again (else the run would wait in 実行中 for ever with nothing to render; issue 12).
    failed = [d for d in existing.values() if d.state == DocumentState.FAILED]
    for doc in failed:
        doc.state, doc.attempts, doc.error, doc.claimed_by = DocumentState.PENDING, 0, "", ""
        doc.save(update_fields=["state", "attempts", "error", "claimed_by", "updated_at"])
    if failed:
        audit_event(action="documents.retried", obj=run, chunks=[d.chunk_no for d in failed][:100])
    documents: list[GeneratedDocument] = []
    created = 0
    for chunk_no, chunk in enumerate(plan, start=1):
        doc = existing.get(chunk_no)
        if doc is None:
            doc = GeneratedDocument.objects.create(
                kind=DocumentKind.BUNDLE,
                run=run,
                chunk_no=chunk_no,
                label=chunk.label,
                item_ids=chunk.item_ids,
                employer_id=chunk.employer_id,
                part_no=chunk.part_no,
                part_count=chunk.part_count,
            )
            created += 1
        elif doc.item_ids != chunk.item_ids:
            # Targets are frozen when the run is created, so this means the plan itself changed
            # (e.g. PDF_CHUNK_HOUSEHOLDS was edited between two executes). The planned chunks stay
            # authoritative: re-slicing could print a certificate twice.
            logger.warning("run %s chunk %s: plan differs from the stored chunk", run.pk, chunk_no)
        documents.append(doc)
    if created:
        audit_event(action="documents.scheduled", obj=run, chunks=len(documents), created=created)
    if not plan:
        _run_complete_if_done(run)
    to_render = [
        d.pk for d in documents if d.state in (DocumentState.PENDING, DocumentState.RENDERING)
    ]
    # Never before commit: a worker must find the rows it is given (conventions.md).
    transaction.on_commit(lambda: _enqueue(to_render))
    return documents


# ---------------------------------------------------------------------------------------------
# Rendering one chunk (called by the Celery task)
# ---------------------------------------------------------------------------------------------


class ChunkRetry(Exception):
    """The attempt failed and another one is allowed: the task re-enqueues itself."""


_KIND_DIRS = {
    DocumentKind.BUNDLE: "runs",
    DocumentKind.REPRINT: "reprints",
    DocumentKind.REISSUE: "reissues",
    DocumentKind.INVOICE: "invoices",
    DocumentKind.REMINDER: "reminders",
}


def document_file_name(document: GeneratedDocument) -> str:
    """One fixed name per document: a re-render replaces the file instead of adding a second one."""
    if document.run_id is not None:
        return f"documents/runs/{document.run_id}/run{document.run_id}-chunk{document.chunk_no:04d}.pdf"
    return f"documents/{_KIND_DIRS.get(document.kind, 'other')}/{document.pk}.pdf"


@transaction.atomic
def document_claim(*, document_id: int, claim: str = "") -> GeneratedDocument | None:
    """Start an attempt: None when there is nothing to do (stored, or failed awaiting a retry) or
    when another task message holds the chunk (`claim`: this message's task id).

    A chunk is claimed once: two executes of a run, or a resume, may enqueue a chunk twice; the
    second message finds it 処理中 under another claim and leaves it (no second render, no second
    attempt counted). The claim is given back to its own message (redelivered after its worker
    died) and lapses after the longest a render can last (_render_deadline), when the worker that
    held it cannot still be running."""
    doc = GeneratedDocument.objects.select_for_update().get(pk=document_id)
    if doc.state in (DocumentState.STORED, DocumentState.FAILED):
        return None
    if (
        claim
        and doc.state == DocumentState.RENDERING
        and doc.claimed_by
        and doc.claimed_by != claim
        and doc.started_at is not None
        and doc.started_at > timezone.now() - _render_deadline()
    ):
        logger.info("document %s: already being rendered by task %s", doc.pk, doc.claimed_by)
        return None
    doc.claimed_by = claim
    doc.attempts += 1
    if doc.attempts > MAX_ATTEMPTS:
        # Earlier attempts never reported back: their workers died (killed, out of memory).
        _fail(doc, f"{MAX_ATTEMPTS}回試行しても完了しませんでした(ワーカーの異常終了)。{doc.error}")
        return None
    doc.state = DocumentState.RENDERING
    doc.started_at = timezone.now()
    doc.save(update_fields=["attempts", "state", "started_at", "claimed_by", "updated_at"])
    return doc


def _fail(doc: GeneratedDocument, error: str) -> None:
    doc.state = DocumentState.FAILED
    doc.error = error
    doc.finished_at = timezone.now()
    doc.save(update_fields=["state", "error", "finished_at", "attempts", "updated_at"])
    audit_event(action="document.failed", obj=doc, error=error[:500], attempts=doc.attempts)
    if doc.run_id is not None:
        run = IssuanceRun.objects.select_for_update().get(pk=doc.run_id)
        run.state = RunState.FAILED
        run.error = f"帳票 {doc.label} の作成に失敗しました: {error}"[:2000]
        run.save(update_fields=["state", "error", "updated_at"])


@transaction.atomic
def document_store(*, document_id: int, result: RenderResult) -> GeneratedDocument:
    """Store a rendered chunk: one file under MEDIA_ROOT (replacing any earlier attempt's), its
    sha256, page count (read back with pypdf) and certificate count; then maybe complete the run."""
    from pypdf import PdfReader

    doc = GeneratedDocument.objects.select_for_update().get(pk=document_id)
    if doc.state == DocumentState.STORED:
        return doc  # a concurrent delivery of the same chunk stored it first
    name = document_file_name(doc)
    # Under the row lock, so two deliveries of one chunk cannot both write: delete, then save under
    # the fixed name. A file left by a worker that died after saving is replaced here.
    if default_storage.exists(name):
        default_storage.delete(name)
    if result.pdf:
        saved = default_storage.save(name, ContentFile(result.pdf))
        if saved != name:  # pragma: no cover - storage renamed it: a file appeared meanwhile
            default_storage.delete(saved)
            raise RuntimeError(f"保存先 {name} が使用中です")
        doc.file.name = saved
        doc.sha256 = hashlib.sha256(result.pdf).hexdigest()
        doc.page_count = len(PdfReader(io.BytesIO(result.pdf)).pages)
    else:
        doc.file.name = ""
        doc.sha256 = ""
        doc.page_count = 0
    doc.certificate_pages = result.certificate_pages
    doc.skipped = [s.as_json() for s in result.skipped]
    doc.state = DocumentState.STORED
    doc.error = ""
    doc.finished_at = timezone.now()
    doc.save(
        update_fields=[
            "file",
            "sha256",
            "page_count",
            "certificate_pages",
            "skipped",
            "state",
            "error",
            "finished_at",
            "updated_at",
        ]
    )
    audit_event(
        action="document.stored",
        obj=doc,
        sha256=doc.sha256,
        pages=doc.page_count,
        certificate_pages=doc.certificate_pages,
        skipped=len(doc.skipped),
    )
    if doc.run_id is not None:
        _run_lock_and_complete(doc.run_id)
    return doc


def _run_lock_and_complete(run_id: int) -> None:
    # Taken after this chunk's row was updated, in the same transaction (see _run_complete_if_done).
    _run_complete_if_done(IssuanceRun.objects.select_for_update().get(pk=run_id))


def _run_complete_if_done(run: IssuanceRun) -> None:
    """Set the run 完了 when every chunk is stored. The caller holds the run's row lock (taken after
    its own chunk row was updated), so of two workers finishing the last two chunks at once, the
    second to get the lock sees both chunks stored."""
    if run.state in (RunState.DONE, RunState.PRINT_INCOMPLETE, RunState.CREATED):
        return
    open_chunks = GeneratedDocument.objects.filter(run=run).exclude(state=DocumentState.STORED)
    if open_chunks.exists():
        return
    skipped = []
    for doc_id, items in GeneratedDocument.objects.filter(run=run).values_list("pk", "skipped"):
        skipped += [{**s, "document_id": doc_id} for s in items or []]
    # 完了 only when every target has its printed page. Holders whose name or address has a
    # character no font covers hold a 有効 certificate that was not printed: the run says so
    # (印刷未了) with who is missing and what to do, on the run page and in execute's last line.
    run.state = RunState.PRINT_INCOMPLETE if skipped else RunState.DONE
    run.finished_at = timezone.now()
    run.error = print_incomplete_message(run.pk, skipped) if skipped else ""
    run.summary = {**(run.summary or {}), "print_skipped": skipped}
    run.save(update_fields=["state", "finished_at", "error", "summary", "updated_at"])
    audit_event(action="run.documents_done", obj=run, skipped=len(skipped))


def print_incomplete_message(run_id: int, skipped: list[dict]) -> str:
    """Who was left out of a run's printing and what to do (shown on the run and by execute)."""
    who = "、".join(f"{s.get('person', '')} {s.get('field', '')}" for s in skipped[:20])
    more = f" ほか{len(skipped) - 20}名" if len(skipped) > 20 else ""
    return (
        f"一括交付 #{run_id}: {len(skipped)}名の資格確認書は交付済みですが印刷されていません"
        f"(印刷できない文字: {who}{more})。氏名・住所の文字を印刷できる字形に直してから、"
        "render_certificate 記号 番号 枝番 --output … で一人ずつ印刷してください"
        "(帳票の画面で「印刷除外あり」を選ぶと一覧できます)"
    )[:2000]


@transaction.atomic
def document_attempt_failed(*, document_id: int, error: str) -> bool:
    """Record a failed attempt; True when another attempt is allowed (the task retries)."""
    doc = GeneratedDocument.objects.select_for_update().get(pk=document_id)
    if doc.state in (DocumentState.STORED, DocumentState.FAILED):
        return False
    if doc.attempts >= MAX_ATTEMPTS:
        _fail(doc, error)
        return False
    doc.state = DocumentState.PENDING
    doc.error = error
    doc.save(update_fields=["state", "error", "updated_at"])
    return True


def document_render(*, document_id: int, claim: str = "") -> GeneratedDocument | None:
    """Render and store one run chunk (the body of the Celery task).

    Not one transaction on purpose: rendering takes seconds to minutes and must not hold row locks;
    the claim and the store are each atomic and idempotent. Raises ChunkRetry when the attempt
    failed and may be retried.
    """
    doc = document_claim(document_id=document_id, claim=claim)
    if doc is None:
        return None
    try:
        result = render_chunk(chunk_render_data(doc))
        return document_store(document_id=doc.pk, result=result)
    except Exception as exc:
        logger.exception("document %s: attempt %s failed", document_id, doc.attempts)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if document_attempt_failed(document_id=doc.pk, error=error):
            raise ChunkRetry(error) from exc
        return None


@transaction.atomic
def document_retry(*, document: GeneratedDocument, acting_user) -> GeneratedDocument:
    """A clerk retries a failed chunk (admin action): attempts start again, the run resumes."""
    if acting_user is not None and not acting_user.has_perm("documents.change_generateddocument"):
        raise PermissionDenied("帳票の再作成には帳票の変更権限が必要です")
    doc = GeneratedDocument.objects.select_for_update().get(pk=document.pk)
    if doc.state != DocumentState.FAILED:
        raise ValidationError(f"帳票 {doc.label} は失敗状態ではないため再作成できません")
    if doc.run_id is None:
        raise ValidationError("一括交付の帳票のみ再作成できます")
    doc.state = DocumentState.PENDING
    doc.attempts = 0
    doc.error = ""
    doc.save(update_fields=["state", "attempts", "error", "updated_at"])
    run = IssuanceRun.objects.select_for_update().get(pk=doc.run_id)
    if run.state == RunState.FAILED:
        # Back to 実行中: the run completes when this and every other chunk is stored.
        run.state = RunState.RUNNING
        run.error = ""
        run.save(update_fields=["state", "error", "updated_at"])
    audit_event(action="document.retried", actor=acting_user, obj=doc, run=doc.run_id)
    document_id = doc.pk
    transaction.on_commit(lambda: _enqueue([document_id]))
    return doc


# ---------------------------------------------------------------------------------------------
# Resuming a run whose task messages were lost
# ---------------------------------------------------------------------------------------------


def _render_deadline() -> timedelta:
    """After this long a chunk's render cannot still be running: Celery's hard time limit has
    killed it, or Redis has already handed its unacknowledged message to another worker (the
    visibility timeout)."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return timedelta(seconds=min(settings.CELERY_TASK_TIME_LIMIT, visibility))


@transaction.atomic
def run_documents_resume(*, run_id: int, quiet_seconds: int | None = None) -> list[int]:
    """Enqueue again the chunks of a 実行中 run whose task messages were lost; returns their ids.

    The broker redelivers what it still holds: a message is acknowledged only after its chunk is
    stored (acks_late), a killed pool process's message is requeued (reject_on_worker_lost), and
    Redis hands a dead worker's unacknowledged message to another worker after the visibility
    timeout. What it cannot give back is a message Redis itself lost (restarted without its data,
    or the last second of its append-only file missing): the chunk then waits in 待機 for ever and
    the run never completes. So once no chunk of the run has changed for `quiet_seconds`
    (DOCUMENT_RESUME_AFTER_SECONDS), the chunks still 待機 are enqueued again, and so are those
    処理中 for longer than a render can last (_render_deadline). A run issued whose hand-over to
    documents never ran (the process died right after the last batch's commit) is scheduled.

    Safe to call at any time and from several processes: the run's row lock serialises callers,
    re-enqueued chunks are touched so the next resume waits another quiet period, and an extra
    message costs nothing but a claim (a stored chunk is never rendered again).
    """
    quiet = timedelta(
        seconds=settings.DOCUMENT_RESUME_AFTER_SECONDS if quiet_seconds is None else quiet_seconds
    )
    run = IssuanceRun.objects.select_for_update().get(pk=run_id)
    if run.state != RunState.RUNNING or run.issued_at is None:
        return []  # not yet issued (the execute is still issuing), finished, or failed
    now = timezone.now()
    chunks = GeneratedDocument.objects.filter(run=run)
    last_change = chunks.aggregate(last=Max("updated_at"))["last"]
    if last_change is None:
        if run.issued_at > now - quiet:
            return []
        return [d.pk for d in run_documents_schedule(run_id=run.pk)]
    if last_change > now - quiet:
        return []  # the run is moving
    stale = list(
        chunks.select_for_update()
        .filter(
            Q(state=DocumentState.PENDING)
            | Q(state=DocumentState.RENDERING, started_at__lt=now - _render_deadline())
        )
        .order_by("chunk_no")
    )
    if not stale:
        return []
    ids = [d.pk for d in stale]
    GeneratedDocument.objects.filter(pk__in=ids).update(updated_at=now)
    audit_event(action="documents.resumed", obj=run, chunks=[d.chunk_no for d in stale][:100])
    logger.warning("run %s: no progress for %s, %s chunks enqueued again", run.pk, quiet, len(ids))
    transaction.on_commit(lambda: _enqueue(ids))
    return ids


def runs_documents_resume() -> dict[int, int]:
    """run_documents_resume for every 実行中 run whose certificates are issued (the beat task):
    {run id: chunks enqueued again}."""
    runs = IssuanceRun.objects.filter(state=RunState.RUNNING, issued_at__isnull=False)
    resumed = {}
    for run_id in runs.order_by("pk").values_list("pk", flat=True):
        ids = run_documents_resume(run_id=run_id)
        if ids:
            resumed[run_id] = len(ids)
    return resumed


# ---------------------------------------------------------------------------------------------
# Reprint (manage.py render_certificate)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reprint:
    pdf: bytes
    pages: int
    person_key: str
    certificate_number: str


@transaction.atomic
def certificate_reprint(*, kigo: str, bango: str, edaban: str, acting_user=None) -> Reprint:
    """The person's current certificate and their household letter as one PDF (a clerk's reprint).

    LookupError: no such person, or no certificate that is 有効 today. UnprintableCharacters (a
    ValueError): the name or address holds a character no font covers — nothing is produced.
    """
    from pypdf import PdfReader

    from members.models import Person

    from .render import Chunk, UnprintableCharacters
    from .selectors import current_certificate, household_data

    person = (
        Person.objects.select_related("member", "member__employer", "employer")
        .filter(kigo=kigo, bango=bango, edaban=edaban)
        .first()
    )
    if person is None:
        raise LookupError(
            f"記号・番号・枝番 {kigo}・{bango}・{edaban} の加入者は登録されていません"
        )
    cert = current_certificate(person)
    if cert is None:
        raise LookupError(f"{person.key} には現在有効な資格確認書がありません")
    household = household_data(
        person.household_member,
        [(cert, cert.pk)],
        route=cert.route,
        letter_date=timezone.localdate(),
        reprint=True,
    )
    result = render_chunk(Chunk(households=(household,)))
    if result.skipped:
        raise UnprintableCharacters(list(result.skipped))
    pages = len(PdfReader(io.BytesIO(result.pdf)).pages)
    audit_event(
        action="document.reprinted",
        actor=acting_user,
        obj=cert,
        person=person.key,
        sha256=hashlib.sha256(result.pdf).hexdigest(),
        pages=pages,
    )
    return Reprint(
        pdf=result.pdf, pages=pages, person_key=person.key, certificate_number=cert.number
    )
