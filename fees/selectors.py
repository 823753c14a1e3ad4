"""Reads of the fees app (lists the admin and the home page show)."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import ApplicationState, InvoiceState, ReissueApplication


def applications_ready_to_issue() -> QuerySet[ReissueApplication]:
    """Open 滅失・き損 applications whose fee is paid or waived: the clerk issues them."""
    return ReissueApplication.objects.filter(
        state=ApplicationState.OPEN,
        invoice__state__in=[InvoiceState.PAID, InvoiceState.WAIVED],
    ).select_related("certificate__person", "invoice")
