"""Reads of the after-issue work (lists the admin and reports show)."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from certificates.lifecycle import overdue_returns_q
from certificates.models import Certificate

from .models import ApplicationState, InvoiceState, ReissueApplication


def returns_overdue(*, today: date) -> QuerySet[Certificate]:
    """返却待ち past the due date as of `today` (still within 有効期限), oldest due first."""
    return (
        Certificate.objects.filter(overdue_returns_q(today))
        .select_related("person", "person__member", "person__employer", "person__member__employer")
        .order_by("return_due", "number")
    )


def certificates_held() -> QuerySet[Certificate]:
    """送付保留: certificates whose envelope came back 宛所不明, longest held first."""
    return (
        Certificate.objects.filter(held_since__isnull=False)
        .select_related("person", "person__member")
        .order_by("held_since", "number")
    )


def applications_ready_to_issue() -> QuerySet[ReissueApplication]:
    """Open 滅失・き損 applications whose fee is paid or waived: the clerk issues them."""
    return ReissueApplication.objects.filter(
        state=ApplicationState.OPEN,
        invoice__state__in=[InvoiceState.PAID, InvoiceState.WAIVED],
    ).select_related("certificate__person", "invoice")
