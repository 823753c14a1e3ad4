"""documents' side of the certificates' hooks: the documents of a certificate's life after issue
(返却督促, the certificate + letter of a reissue or of a resend after a 宛所不明 return), which
certificates asks for through `certificates.paperwork.letters()` without importing this app
(registered from DocumentsConfig.ready); other apps register their own kinds (fees: the 請求書) with
`register_renderer`, so this module never imports them.

Services plan a GeneratedDocument row (state 待機, `item_ids` fixed) inside their transaction and
enqueue `render_after_issue_document` on commit (conventions: a task never runs before the rows it
reads are committed). The task calls `document_render`, which loads the rows, builds the plain data
for documents.render (pure rendering, helper C) and stores the file. A redelivered task finds the
document stored and returns; a failure (e.g. a character no font covers) is recorded on the row and
the clerk sees it in the admin — it never undoes the application or the payment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from certificates import rules
from certificates.lifecycle import RETURN_DAYS
from certificates.models import Certificate, Route
from core.models import audit_event

from . import render
from .models import DocumentKind, DocumentState, GeneratedDocument
from .render import (
    BundleCover,
    CertificateCard,
    ChecklistEntry,
    Chunk,
    Household,
    ReturnReminderData,
)
from .services import document_claim, document_store

logger = logging.getLogger(__name__)

# kind → function(doc, letter_date) → documents.render.RenderResult, for the kinds other apps own.
_RENDERERS: dict[str, Callable] = {}


def register_renderer(kind: str, render: Callable) -> None:
    """An app adds the renderer of its own after-issue kind (from its AppConfig.ready)."""
    _RENDERERS[kind] = render


AFTER_ISSUE_KINDS = (DocumentKind.REMINDER, DocumentKind.REISSUE, DocumentKind.REPRINT)


class AfterIssueLetters:
    """The letters certificates asks for (certificates.paperwork.Letters), planned here."""

    def plan_reminder(self, *, label: str, certificate_ids: list[int]) -> GeneratedDocument:
        return document_plan(kind=DocumentKind.REMINDER, label=label, item_ids=certificate_ids)

    def plan_resend(self, *, label: str, certificate_ids: list[int]) -> GeneratedDocument:
        return document_plan(kind=DocumentKind.REPRINT, label=label, item_ids=certificate_ids)


# --- planning ------------------------------------------------------------------------------------


def document_plan(*, kind: str, label: str, item_ids: list[int]) -> GeneratedDocument:
    """Create the document row now and render it once the transaction has committed."""
    doc = GeneratedDocument.objects.create(kind=kind, label=label[:200], item_ids=item_ids)
    _enqueue_on_commit(doc.pk)
    return doc


def _enqueue_on_commit(document_id: int) -> None:
    transaction.on_commit(lambda: render_after_issue_document.delay(document_id))


# --- data for documents.render -------------------------------------------------------------------


def reminder_data(cert: Certificate, letter_date: date):
    holder = cert.person
    addressee = holder.household_member
    direct = cert.return_route == Route.HOME
    employer = addressee.employer
    return ReturnReminderData(
        letter_date=letter_date,
        addressee_name=addressee.name,
        holder_name=holder.name,
        holder_key=holder.key,
        certificate_number=cert.number,
        valid_until=cert.valid_until,
        lost_on=holder.lost_on
        or addressee.lost_on
        or cert.return_due - timedelta(days=RETURN_DAYS),
        return_due=cert.return_due,
        route=cert.return_route,
        postal_code=addressee.postal_code if direct else "",
        address=addressee.address if direct else "",
        employer_name=employer.name if (employer and not direct) else "",
    )


def reminder_cover(certs: list[Certificate], letter_date: date):
    """The 対象者一覧表 on top of a 事業所's 返却督促 letters (as on an issue run's bundle); None for
    letters returned directly (任意継続) or without a known 事業所."""
    employer = certs[0].person.household_member.employer
    if certs[0].return_route == "自宅" or employer is None:
        return None
    return BundleCover(
        employer_code=employer.code,
        employer_name=employer.name,
        issue_date=letter_date,
        employer_postal_code=employer.postal_code,
        employer_address=employer.address,
    )


def certificates_chunk(certs: list[Certificate], *, letter_date: date, reprint: bool):
    """One envelope: the household's letter and the given certificates (all of one household)."""
    addressee = certs[0].person.household_member
    cards = []
    checklist = []
    for cert in certs:
        p = cert.person
        cards.append(
            CertificateCard(
                item_id=cert.pk,
                number=cert.number,
                relationship=p.relationship,
                name=cert.printed_name,
                name_kana=cert.printed_name_kana,
                birth_date=p.birth_date,
                sex=p.sex,
                kigo=p.kigo,
                bango=p.bango,
                edaban=p.edaban,
                issue_date=cert.issue_date,
                valid_until=cert.valid_until,
                acquired_on=p.acquired_on,
                reason=cert.reason,
                elderly_start=cert.elderly_start,
                copay_ratio=cert.copay_ratio,
            )
        )
        status = (
            rules.Status(cert.registration_status, cert.ec_expiry)
            if cert.registration_status
            else None
        )
        checklist.append(ChecklistEntry(name=cert.printed_name, step=rules.checklist_step(status)))
    route = certs[0].route
    employer = addressee.employer
    household = Household(
        kigo=addressee.kigo,
        bango=addressee.bango,
        addressee_name=addressee.name,
        addressee_kana=addressee.name_kana,
        route=route,
        letter_date=letter_date,
        cards=tuple(cards),
        checklist=tuple(checklist),
        postal_code=addressee.postal_code if route == Route.HOME else "",
        address=addressee.address if route == Route.HOME else "",
        employer_name=employer.name if employer else "",
        reprint=reprint,
    )
    return Chunk(households=(household,))


# --- rendering -----------------------------------------------------------------------------------


def _render(doc: GeneratedDocument):
    """documents.render.RenderResult for one planned document."""
    letter_date = timezone.localdate()
    if doc.kind in _RENDERERS:
        return _RENDERERS[doc.kind](doc, letter_date)
    certs = list(
        Certificate.objects.select_related(
            "person", "person__member", "person__employer", "person__member__employer"
        )
        .filter(pk__in=doc.item_ids)
        .order_by("person__edaban", "pk")
    )
    if doc.kind == DocumentKind.REMINDER:
        reminders = [reminder_data(c, letter_date) for c in certs]
        pdf = render.render_return_reminders(reminders, cover=reminder_cover(certs, letter_date))
        return render.RenderResult(pdf=pdf, certificate_pages=0)
    # 再交付 / 再印刷: the household's letter with its certificates
    result = render.render_chunk(
        certificates_chunk(certs, letter_date=letter_date, reprint=doc.kind == DocumentKind.REPRINT)
    )
    if not result.pdf:
        raise render.UnprintableCharacters(list(result.skipped))
    return result


def document_render(document_id: int) -> GeneratedDocument:
    """Render and store one planned document (the body of render_after_issue_document).

    The claim and the store are documents.services' (attempt counting, one fixed file name, sha256
    and page count). A failure — typically a character no font covers, which no retry can fix — is
    recorded on the row (状態 失敗, the message) for the clerk; `document_rerender` starts it again."""
    doc = document_claim(document_id=document_id)
    if doc is None:  # stored already (a redelivered task), or failed
        return GeneratedDocument.objects.get(pk=document_id)
    try:
        result = _render(doc)
    except Exception as exc:
        logger.warning("document %s (%s) failed: %s", doc.pk, doc.kind, exc)
        doc.state = DocumentState.FAILED
        doc.error = f"{type(exc).__name__}: {exc}"[:2000]
        doc.finished_at = timezone.now()
        doc.save(update_fields=["state", "error", "finished_at", "updated_at"])
        audit_event(action="document.failed", obj=doc, error=doc.error[:500])
        return doc
    return document_store(document_id=doc.pk, result=result)


@transaction.atomic
def document_rerender(*, document: GeneratedDocument, acting_user) -> GeneratedDocument:
    """A clerk starts a failed after-issue document again (e.g. after correcting a name)."""
    doc = GeneratedDocument.objects.select_for_update().get(pk=document.pk)
    if doc.run_id is not None or doc.kind not in (*AFTER_ISSUE_KINDS, *_RENDERERS):
        raise ValidationError(f"帳票 {doc.label} はこの画面では再作成できません")
    if doc.state != DocumentState.FAILED:
        raise ValidationError(f"帳票 {doc.label} は失敗状態ではないため再作成できません")
    doc.state = DocumentState.PENDING
    doc.attempts = 0
    doc.error = ""
    doc.save(update_fields=["state", "attempts", "error", "updated_at"])
    audit_event(action="document.retried", actor=acting_user, obj=doc)
    _enqueue_on_commit(doc.pk)
    return doc


# The task kept its name from before the after-issue documents moved out of the fees app, so a
# message queued by a previous release is still understood by a new worker.
@shared_task(name="fees.tasks.render_after_issue_document", ignore_result=True, acks_late=True)
def render_after_issue_document(document_id: int) -> None:
    """Render a planned 請求書 / 返却督促 / 再交付 / 再印刷 document. Idempotent (a stored one is left)."""
    document_render(document_id)
