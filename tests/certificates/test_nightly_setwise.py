"""The nightly jobs write set-wise (certificates.retire_sql, issue 18): expiry, the registration
sweep and the overdue flags take the same statements for two certificates as for twelve, and still
leave one history row and one audit event (with its detail) per certificate, by the acting user.
Runs on SQLite and PostgreSQL (scripts/test.sh)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certificates.lifecycle import (
    certificates_apply_registration_status,
    certificates_expire,
    certificates_mark_overdue,
    certificates_require_return,
)
from certificates.models import Certificate, CertificateState
from core.models import AuditEvent
from tests.fees.builders import issue, member, refresh, snapshot

pytestmark = pytest.mark.django_db

T = timezone.localdate()


def _expired(n):
    return [
        issue(member(), issue_date=T - timedelta(days=400), valid_until=T - timedelta(days=1))
        for _ in range(n)
    ]


def _registered(n):
    certs = [
        issue(member(), issue_date=T - timedelta(days=60), valid_until=T + timedelta(days=700))
        for _ in range(n)
    ]
    snapshot(T - timedelta(days=1), [(c.person, "登録済", None) for c in certs])
    return certs


def _overdue(n):
    certs = []
    for _ in range(n):
        p = member()
        cert = issue(p, issue_date=T - timedelta(days=100), valid_until=T + timedelta(days=300))
        p.lost_on = T - timedelta(days=10)
        p.save(update_fields=["lost_on"])
        certificates_require_return(person=p, lost_on=p.lost_on)
        certs.append(refresh(cert))
    return certs


def _statements(build, job, n, user) -> tuple[int, list]:
    certs = build(n)
    with CaptureQueriesContext(connection) as ctx:
        changed = job(today=T, acting_user=user)
    assert changed == sorted(c.pk for c in certs)
    assert not [q for q in ctx.captured_queries if "CASE" in q["sql"].upper()]
    return len(ctx.captured_queries), certs


@pytest.mark.parametrize(
    "build, job",
    [
        (_expired, certificates_expire),
        (_registered, certificates_apply_registration_status),
        (_overdue, certificates_mark_overdue),
    ],
    ids=["expire", "registration", "overdue"],
)
def test_the_same_statements_for_two_certificates_as_for_twelve(build, job, clerk):
    with transaction.atomic():
        few, _ = _statements(build, job, 2, clerk)
        transaction.set_rollback(True)
    many, _ = _statements(build, job, 12, clerk)
    assert few == many


def test_expiry_history_and_audit_per_certificate(clerk):
    certs = _expired(3)
    pending = _overdue(1)[0]
    Certificate.objects.filter(pk=pending.pk).update(valid_until=T - timedelta(days=1))
    changed = certificates_expire(today=T, acting_user=clerk)
    assert changed == sorted([*(c.pk for c in certs), pending.pk])
    for c in certs:
        c = refresh(c)
        assert (c.state, c.state_note) == (CertificateState.NO_RETURN, "有効期限切れ")
        assert c.updated_at == c.state_changed_at
        last = Certificate.history.filter(id=c.pk).order_by("-history_id").first()
        assert (last.history_type, last.state, last.state_note, last.history_user_id) == (
            "~",
            "返却不要",
            "有効期限切れ",
            clerk.pk,
        )
        assert last.number == c.number and last.valid_until == c.valid_until
        event = AuditEvent.objects.get(action="certificate.expired", object_id=str(c.pk))
        assert event.actor == clerk and event.object_type == "certificates.Certificate"
        assert event.detail == {"previous_state": "有効", "valid_until": c.valid_until.isoformat()}
        assert event.at == c.state_changed_at
    pending = refresh(pending)
    assert pending.state_note == "有効期限切れ(未返却)"
    event = AuditEvent.objects.get(action="certificate.expired", object_id=str(pending.pk))
    assert event.detail["previous_state"] == "返却待ち"


def test_registration_audit_names_the_status_file(clerk):
    (cert,) = _registered(1)
    snap = cert.person.registration_statuses.get().snapshot
    assert certificates_apply_registration_status(today=T, acting_user=clerk) == [cert.pk]
    event = AuditEvent.objects.get(action="certificate.no_return_registered")
    assert event.detail == {"status_as_of": snap.as_of.isoformat(), "snapshot": snap.pk}
    assert event.object_id == str(cert.pk) and event.actor == clerk
    cert = refresh(cert)
    assert (cert.state, cert.state_note) == ("返却不要", "マイナ保険証登録")
    assert Certificate.history.filter(id=cert.pk, history_type="~", state="返却不要").count() == 1


def test_overdue_audit_detail(clerk):
    (cert,) = _overdue(1)
    assert certificates_mark_overdue(today=T, acting_user=clerk) == [cert.pk]
    event = AuditEvent.objects.get(action="certificate.return_overdue")
    assert event.detail == {
        "number": cert.number,
        "return_due": cert.return_due.isoformat(),
        "as_of": T.isoformat(),
    }
    assert refresh(cert).state == CertificateState.RETURN_PENDING  # flagged, not changed
