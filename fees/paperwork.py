"""The 請求書 (reissue fee invoice): its data for documents.render and its renderer, registered with the
after-issue documents (documents.receivers.register_renderer) from FeesConfig.ready."""

from __future__ import annotations

from datetime import timedelta

from .models import ApplicationRoute, Invoice

# 支払期限 printed on the 請求書: two weeks after the invoice date (the society's practice; no legal rule).
INVOICE_DUE_DAYS = 14


def invoice_data(invoice: Invoice):
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


def render_invoice(doc, letter_date):
    """documents.render.RenderResult of a planned 請求書 (kind 請求書, item_ids = [invoice id])."""
    from documents import render

    invoice = Invoice.objects.select_related("application__certificate__person__member").get(
        pk=doc.item_ids[0]
    )
    return render.RenderResult(
        pdf=render.render_invoice(invoice_data(invoice)), certificate_pages=0
    )
