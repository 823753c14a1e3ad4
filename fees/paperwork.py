"""The documents of the after-issue work: 請求書, 返却督促, and the certificate + letter of a reissue or of a
resend after a 宛所不明 return.

Services plan a GeneratedDocument row (state 待機, `item_ids` fixed) inside their transaction and
enqueue `fees.tasks.render_after_issue_document` on commit (conventions: a task never runs before the
rows it reads are committed). The task calls `document_render`, which loads the rows, builds the plain
data for documents.render (pure rendering, helper C) and stores the file. A redelivered task finds the
document stored and returns; a failure (e.g. a character no font covers) is recorded on the row and the
clerk sees it in the admin — it never undoes the application or the payment.
"""

from __future__ import annotations

import io
import logging
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from certificates import rules
from certificates.lifecycle import RETURN_DAYS
from certificates.models import Certificate, Route
from core.models import audit_event
from documents.models import DocumentKind, DocumentState, GeneratedDocument

from .models import ApplicationRoute

logger = logging.getLogger(__name__)

# 支払期限 printed on the 請求書: two weeks after the invoice date (the society's practice; no legal rule).
INVOICE_DUE_DAYS = 14
AFTER_ISSUE_KINDS = (
    DocumentKind.INVOICE,
    DocumentKind.REMINDER,
    DocumentKind.REISSUE,
    DocumentKind.REPRINT,
)


# --- planning ------------------------------------------------------------------------------------


def document_plan(*, kind: str, label: str, item_ids: list[int]) -> GeneratedDocument:
    """Create the document row now and render it once the transaction has committed."""
    doc = GeneratedDocument.objects.create(kind=kind, label=label[:200], item_ids=item_ids)
    _enqueue_on_commit(doc.pk)
    return doc


def _enqueue_on_commit(document_id: int) -> None:
    def _enqueue():
        from .tasks import render_after_issue_document

        render_after_issue_document.delay(document_id)

    transaction.on_commit(_enqueue)


# --- data for documents.render -------------------------------------------------------------------


def invoice_data(invoice):
    from documents.render import InvoiceData
    from documents.wareki import wareki

    app = invoice.application
    cert = app.certificate
    holder = cert.person
    addressee = holder.household_member
    direct = app.route == ApplicationRoute.DIRECT
    return InvoiceData(
        invoice_number=invoice.number,
        issue_date=invoice.issued_on,
        due_date=invoice.issued_on + timedelta(days=INVOICE_DUE_DAYS),
        amount_yen=invoice.amount,
        addressee_name=addressee.name,
        # mailed directly to 任意継続 households; handed over by the employer otherwise
        postal_code=addressee.postal_code if direct else "",
        address=addressee.address if direct else "",
        holder_name=holder.name,
        holder_key=holder.key,
        note=f"対象の資格確認書: 証明書番号 {cert.number}(滅失・き損の届出 {wareki(app.received_on)}受付)",
    )


def reminder_data(cert: Certificate, letter_date: date):
    from documents.render import ReturnReminderData

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


def certificates_chunk(certs: list[Certificate], *, letter_date: date, reprint: bool):
    """One envelope: the household's letter and the given certificates (all of one household)."""
    from documents.render import CertificateCard, ChecklistEntry, Chunk, Household

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


def _merge(pdfs: list[bytes]) -> bytes:
    """One PDF of several letters (a 事業所's reminders): pages appended in order."""
    if len(pdfs) == 1:
        return pdfs[0]
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for pdf in pdfs:
        for page in PdfReader(io.BytesIO(pdf)).pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _render(doc: GeneratedDocument):
    """documents.render.RenderResult for one planned document."""
    from documents import render

    letter_date = timezone.localdate()
    if doc.kind == DocumentKind.INVOICE:
        from .models import Invoice

        invoice = Invoice.objects.select_related("application__certificate__person__member").get(
            pk=doc.item_ids[0]
        )
        return render.RenderResult(
            pdf=render.render_invoice(invoice_data(invoice)), certificate_pages=0
        )
    certs = list(
        Certificate.objects.select_related(
            "person", "person__member", "person__employer", "person__member__employer"
        )
        .filter(pk__in=doc.item_ids)
        .order_by("person__edaban", "pk")
    )
    if doc.kind == DocumentKind.REMINDER:
        pdfs = [render.render_return_reminder(reminder_data(c, letter_date)) for c in certs]
        return render.RenderResult(pdf=_merge(pdfs), certificate_pages=0)
    # 再交付 / 再印刷: the household's letter with its certificates
    result = render.render_chunk(
        certificates_chunk(certs, letter_date=letter_date, reprint=doc.kind == DocumentKind.REPRINT)
    )
    if not result.pdf:
        raise render.UnprintableCharacters(list(result.skipped))
    return result


def document_render(document_id: int) -> GeneratedDocument:
    """Render and store one planned document (the body of fees.tasks.render_after_issue_document).

    The claim and the store are documents.services' (attempt counting, one fixed file name, sha256
    and page count). A failure — typically a character no font covers, which no retry can fix — is
    recorded on the row (状態 失敗, the message) for the clerk; `document_rerender` starts it again."""
    from documents.services import document_claim, document_store

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
    if doc.run_id is not None or doc.kind not in AFTER_ISSUE_KINDS:
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
