"""The reissue fee's invoices: created with a 滅失・き損 application, settled by a clerk's payment
confirmation (or the bank-transfer import, fees.services.payments) or waived by a 承認者."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.models import NumberSequence, audit_event
from core.text_safety import check_texts
from documents.models import DocumentKind
from documents.receivers import document_plan
from members.dates import fiscal_year

from ..models import (
    ApplicationState,
    Invoice,
    InvoiceState,
    PaymentImport,
    PaymentSource,
    ReissueApplication,
)

__all__ = ["invoice_confirm_payment", "invoice_waive"]


def _invoice_create(app: ReissueApplication, acting_user) -> Invoice:
    issued_on = timezone.localdate()
    year = fiscal_year(issued_on)
    (n,) = NumberSequence.allocate("invoice", year)
    invoice = Invoice(
        number=f"{year}-{n:06d}",
        fiscal_year=year,
        application=app,
        amount=settings.REISSUE_FEE_YEN,
        issued_on=issued_on,
        created_by=acting_user,
        state_changed_by=acting_user,
        state_changed_at=timezone.now(),
    )
    invoice._history_user = acting_user
    invoice.save()
    invoice.document = document_plan(
        kind=DocumentKind.INVOICE,
        label=f"請求書 {invoice.number} {app.certificate.person.name}",
        item_ids=[invoice.pk],
    )
    invoice.save(update_fields=["document", "updated_at"])
    audit_event(
        action="invoice.created",
        actor=acting_user,
        obj=invoice,
        number=invoice.number,
        amount=invoice.amount,
        application=app.pk,
    )
    return invoice


def _lock_invoice(invoice: Invoice) -> Invoice:
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("application", "application__certificate")
        .get(pk=invoice.pk)
    )


def _refuse_unless_unpaid(invoice: Invoice) -> None:
    if invoice.state != InvoiceState.UNPAID:
        done = {
            InvoiceState.PAID: f"すでに入金済みです(入金日 {invoice.paid_on:%Y-%m-%d})"
            if invoice.paid_on
            else "すでに入金済みです",
            InvoiceState.WAIVED: "すでに免除済みです",
            InvoiceState.CANCELLED: "取消済みです",
        }[invoice.state]
        raise ValidationError(f"請求書 {invoice.number} は{done}")


def _settle(invoice: Invoice, *, state: str, acting_user, **fields) -> Invoice:
    invoice.state = state
    for name, value in fields.items():
        setattr(invoice, name, value)
    invoice.state_changed_by = acting_user
    invoice.state_changed_at = timezone.now()
    invoice._history_user = acting_user
    invoice.save()
    return invoice


@transaction.atomic
def invoice_confirm_payment(
    *,
    invoice: Invoice,
    paid_on: date,
    acting_user,
    paid_amount: int | None = None,
    payment_import: PaymentImport | None = None,
) -> Invoice:
    """入金済: the full amount was received on `paid_on`. Confirming twice is refused (the second
    call finds the invoice 入金済), so a payment is never counted twice."""
    invoice = _lock_invoice(invoice)
    _refuse_unless_unpaid(invoice)
    amount = invoice.amount if paid_amount is None else paid_amount
    if amount != invoice.amount:
        raise ValidationError(
            f"請求書 {invoice.number}: 入金額 {amount:,}円 が請求金額 {invoice.amount:,}円 と一致しません"
        )
    if paid_on > timezone.localdate():
        raise ValidationError(f"入金日({paid_on:%Y-%m-%d})が未来の日付です")
    if invoice.application.state != ApplicationState.OPEN:
        raise ValidationError(
            f"請求書 {invoice.number} の申請は{invoice.application.get_state_display()}です"
        )
    _settle(
        invoice,
        state=InvoiceState.PAID,
        acting_user=acting_user,
        paid_on=paid_on,
        paid_amount=amount,
        payment_source=PaymentSource.TRANSFER_IMPORT if payment_import else PaymentSource.CLERK,
        payment_import=payment_import,
    )
    audit_event(
        action="invoice.paid",
        actor=acting_user,
        obj=invoice,
        number=invoice.number,
        amount=amount,
        paid_on=paid_on.isoformat(),
        source=invoice.payment_source,
        payment_import=payment_import.pk if payment_import else None,
    )
    return invoice


@transaction.atomic
def invoice_waive(*, invoice: Invoice, reason: str, acting_user) -> Invoice:
    """免除: only a 承認者 (permission fees.waive_invoice) may waive the fee, always with a reason."""
    if acting_user is None or not acting_user.has_perm("fees.waive_invoice"):
        raise PermissionDenied("手数料の免除は承認者のみが行えます")
    check_texts({"免除理由": reason}, multiline=frozenset({"免除理由"}))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("免除理由を入力してください")
    invoice = _lock_invoice(invoice)
    _refuse_unless_unpaid(invoice)
    _settle(invoice, state=InvoiceState.WAIVED, acting_user=acting_user, waive_reason=reason[:200])
    audit_event(
        action="invoice.waived",
        actor=acting_user,
        obj=invoice,
        number=invoice.number,
        reason=reason,
    )
    return invoice
