"""A certificate's state is always as of today (rules.md, After issue), in Python and in SQL."""

from datetime import date, timedelta

import pytest

from certificates.models import Certificate, CertificateState
from tests.fees.builders import issue, member

TODAY = date(2026, 6, 1)


@pytest.mark.parametrize(
    ("stored", "valid_until", "expected"),
    [
        (CertificateState.ACTIVE, TODAY, CertificateState.ACTIVE),  # last valid day
        (CertificateState.ACTIVE, TODAY - timedelta(days=1), CertificateState.NO_RETURN),
        (CertificateState.RETURN_PENDING, TODAY, CertificateState.RETURN_PENDING),
        (CertificateState.RETURN_PENDING, TODAY - timedelta(days=1), CertificateState.NO_RETURN),
        (CertificateState.RETURNED, TODAY - timedelta(days=1), CertificateState.RETURNED),
        (CertificateState.VOID, TODAY - timedelta(days=1), CertificateState.VOID),
        (CertificateState.NO_RETURN, TODAY + timedelta(days=9), CertificateState.NO_RETURN),
    ],
)
def test_effective_state_as_of_today(stored, valid_until, expected):
    cert = Certificate(state=stored, valid_until=valid_until)
    assert cert.effective_state(TODAY) == expected


@pytest.mark.django_db
def test_sql_filter_agrees_with_effective_state_for_every_state():
    certs = []
    for stored, days in (
        (CertificateState.ACTIVE, 0),
        (CertificateState.ACTIVE, -1),
        (CertificateState.RETURN_PENDING, 3),
        (CertificateState.RETURN_PENDING, -3),
        (CertificateState.RETURNED, -3),
        (CertificateState.VOID, 5),
        (CertificateState.NO_RETURN, 5),
    ):
        cert = issue(
            member(),
            issue_date=TODAY - timedelta(days=400),
            valid_until=TODAY + timedelta(days=days),
        )
        extra = {"return_due": TODAY} if stored == CertificateState.RETURN_PENDING else {}
        Certificate.objects.filter(pk=cert.pk).update(state=stored, **extra)
        certs.append(Certificate.objects.get(pk=cert.pk))
    for state in CertificateState.values:
        in_sql = set(
            Certificate.objects.in_effective_state(state, TODAY).values_list("pk", flat=True)
        )
        in_python = {c.pk for c in certs if c.effective_state(TODAY) == state}
        assert in_sql == in_python, state
    assert len({c.effective_state(TODAY) for c in certs}) == 5
