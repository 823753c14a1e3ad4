"""Double submissions at the same moment (PostgreSQL row locks): one application, one invoice, one
payment, one reissued certificate — the other attempt gets a clear refusal."""

import os
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from certificates.models import Certificate
from fees.models import Invoice, InvoiceState, ReissueApplication
from fees.services import (
    invoice_confirm_payment,
    reissue_application_issue,
    reissue_application_receive_loss,
)
from tests.fees.builders import issue, member

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL)",
    ),
    pytest.mark.django_db(transaction=True),
]


def _race(fn, n=4) -> list:
    barrier = threading.Barrier(n)
    outcomes: list = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(fn())
        except Exception as exc:  # asserted on below
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def _refusals(outcomes):
    return [str(o) for o in outcomes if isinstance(o, Exception)]


def test_simultaneous_loss_applications_make_one_application_one_invoice_one_certificate(clerk):
    assert connection.vendor == "postgresql"
    t = timezone.localdate()
    cert = issue(member(), issue_date=t - timedelta(days=10), valid_until=t + timedelta(days=500))

    outcomes = _race(
        lambda: reissue_application_receive_loss(
            certificate=Certificate(pk=cert.pk),
            route="事業主経由",
            received_on=t,
            acting_user=clerk,
        )
    )
    assert sum(isinstance(o, ReissueApplication) for o in outcomes) == 1
    assert all("すでに滅失・き損の申請があります" in r for r in _refusals(outcomes)), outcomes
    assert ReissueApplication.objects.count() == 1 and Invoice.objects.count() == 1
    app = ReissueApplication.objects.get()

    outcomes = _race(
        lambda: invoice_confirm_payment(
            invoice=Invoice(pk=app.invoice.pk), paid_on=t, acting_user=clerk
        )
    )
    assert sum(isinstance(o, Invoice) for o in outcomes) == 1
    assert all("すでに入金済み" in r for r in _refusals(outcomes)), outcomes
    assert Invoice.objects.get().state == InvoiceState.PAID

    outcomes = _race(
        lambda: reissue_application_issue(
            application=ReissueApplication(pk=app.pk), acting_user=clerk
        )
    )
    assert sum(isinstance(o, Certificate) for o in outcomes) == 1
    assert all("すでに交付済み" in r for r in _refusals(outcomes)), outcomes
    assert Certificate.objects.filter(reason="再交付(滅失・き損)").count() == 1
