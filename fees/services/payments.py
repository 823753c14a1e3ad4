"""The bank-transfer import of reissue fees (the file format and its reader: fees.payments)."""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from core.models import audit_event
from members.staging import CHUNK_ROWS, Stage, execute, qn

from ..models import ApplicationState, Invoice, InvoiceState, PaymentImport, PaymentImportRow
from ..payments import MATCHING, PaymentFile, PaymentFileError
from .invoices import invoice_confirm_payment

__all__ = ["payments_import"]


_PAYMENT_STAGE = (("line", "int"), ("number", "text"), ("amount", "int"), ("paid_on", "date"))


def _not_applied(invoice: Invoice | None, line: int, first_line: int, amount: int) -> str:
    """Why a row of the file is listed and not applied ('' when it is applied)."""
    if invoice is None:
        return "該当する請求書がありません"
    if line != first_line:
        return "同じ請求書番号の入金がファイル内で重複しています(二重入金の可能性)"
    if invoice.state == InvoiceState.PAID:
        return f"すでに入金済みです(入金日 {invoice.paid_on:%Y-%m-%d})"
    if invoice.state == InvoiceState.WAIVED:
        return "手数料は免除済みです"
    if invoice.state == InvoiceState.CANCELLED:
        return "請求書は取消済みです"
    if amount != invoice.amount:
        return f"入金額 {amount:,}円 が請求金額 {invoice.amount:,}円 と一致しません"
    if invoice.application.state != ApplicationState.OPEN:
        return f"申請が{invoice.application.get_state_display()}です"
    return ""


@transaction.atomic
def payments_import(
    *, content: bytes | None = None, source=None, source_name: str, acting_user
) -> PaymentImport:
    """Apply a bank-transfer file (columns 請求書番号,入金額,入金日; see fees.payments).

    The rule: a file that cannot be read as a whole is refused and nothing is applied
    (fees.payments.PaymentFileError). Otherwise each row that matches an invoice — known 請求書番号,
    invoice 未入金, amount equal to the 請求金額 — is applied (入金済, source 振込データ取込); every other
    row (unknown number, wrong amount, already paid, 免除, 取消, the same invoice twice in the file) is
    listed on the PaymentImport (its PaymentImportRow rows, with the reason) and NEVER applied,
    for the clerk to settle by hand. Importing the
    same file again therefore applies nothing and lists every row as already paid.

    The file (`content` bytes, or `source`: a path or a binary file) is streamed: the readable rows
    go to a staging table in chunks (members.staging) while the whole file is checked, and are
    then matched against the invoices a chunk at a time (one query per chunk), each chunk's rows
    written before the next is read (flat memory); the matching is reported as MATCHING progress."""
    file = PaymentFile(content if content is not None else source, today=timezone.localdate())
    stage = Stage("import_stage_payments", _PAYMENT_STAGE, (("first_line", "int"),))
    stage.create()
    try:
        chunk: list[tuple] = []
        for row in file.rows():
            chunk.append((row.row, row.number, row.amount, row.paid_on))
            if len(chunk) >= CHUNK_ROWS:
                stage.load(chunk)
                chunk = []
        stage.load(chunk)
    finally:
        file.close()
    if file.problem_count:
        raise file.error()
    if not stage.rows:
        raise PaymentFileError(["入金の行がありません"])
    stage.index("number", "line")
    t = stage.table
    # the first row of each 請求書番号: a later one is a double payment in the same file
    execute(
        f"UPDATE {t} SET first_line = (SELECT MIN(o.line) FROM {t} o "  # noqa: S608
        f"WHERE o.number = {t}.number)"
    )
    imp = PaymentImport.objects.create(
        source_name=source_name[:255],
        sha256=file.sha256,
        row_count=stage.rows,
        imported_by=acting_user,
    )
    applied = rejected = 0
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT line, number, amount, paid_on, first_line FROM {qn(stage.name)} "  # noqa: S608
                "WHERE line > %s ORDER BY line LIMIT %s",
                [last, CHUNK_ROWS],
            )
            batch = cursor.fetchall()
        if not batch:
            break
        last = batch[-1][0]
        invoices = {
            inv.number: inv
            for inv in Invoice.objects.select_for_update(of=("self",))
            .select_related("application")
            .filter(number__in={r[1] for r in batch})
        }
        settled: list[PaymentImportRow] = []
        for line_no, number, amount, paid_on, first_line in batch:
            paid_on = date.fromisoformat(paid_on) if isinstance(paid_on, str) else paid_on
            invoice = invoices.get(number)
            reason = _not_applied(invoice, line_no, first_line, amount)
            settled.append(
                PaymentImportRow(
                    payment_import=imp,
                    row=line_no,
                    number=number,
                    amount=amount,
                    paid_on=paid_on,
                    applied=not reason,
                    reason=reason,
                )
            )
            if reason:
                rejected += 1
                continue
            invoice_confirm_payment(
                invoice=invoice,
                paid_on=paid_on,
                paid_amount=amount,
                acting_user=acting_user,
                payment_import=imp,
            )
            applied += 1
        PaymentImportRow.objects.bulk_create(settled)
        file.report(MATCHING, (applied + rejected) / stage.rows)
    stage.drop()
    imp.applied_count = applied
    imp.rejected_count = rejected
    imp.save(update_fields=["applied_count", "rejected_count"])
    audit_event(
        action="payments.imported",
        actor=acting_user,
        obj=imp,
        source_name=imp.source_name,
        applied=imp.applied_count,
        rejected=imp.rejected_count,
    )
    return imp
