from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from certificates.models import Certificate, CertificateState
from certificates.services import certificate_issue
from core.models import AuditEvent

from .factories import member

pytestmark = pytest.mark.django_db

ISSUE = date(2026, 12, 1)
UNTIL = date(2027, 11, 30)


def _issue(person, **kw):
    args = dict(
        person=person,
        reason="再交付(滅失・き損)",
        issue_date=ISSUE,
        valid_until=UNTIL,
        route="事業主経由",
    )
    args.update(kw)
    return certificate_issue(**args)


def test_issue_copies_printed_name_allocates_number_and_audits(clerk):
    p = member(name="髙﨑 𠮷男", name_kana="タカサキ ヨシオ")
    cert = _issue(p, acting_user=clerk)
    assert cert.state == CertificateState.ACTIVE
    assert cert.printed_name == "髙﨑 𠮷男"
    assert cert.printed_name_kana == "タカサキ ヨシオ"
    assert cert.number == "2026-0000001"
    ev = AuditEvent.objects.get(action="certificate.issued")
    assert ev.actor == clerk and ev.object_id == str(cert.pk)
    assert _issue(member(), acting_user=clerk).number == "2026-0000002"


def test_issue_refuses_while_another_active_certificate_remains():
    p = member()
    first = _issue(p)
    with pytest.raises(ValidationError, match="有効な資格確認書"):
        _issue(p)
    first.refresh_from_db()
    assert first.state == CertificateState.ACTIVE
    assert Certificate.objects.count() == 1


def test_issue_replacing_the_active_one_retires_it():
    p = member()
    first = _issue(p)
    second = _issue(p, replaces=first, reason="再交付(記載事項変更)")
    first.refresh_from_db()
    assert first.state == CertificateState.NO_RETURN
    assert second.replaces == first and second.state == CertificateState.ACTIVE


def test_issue_turns_an_expired_stored_active_certificate_into_no_return():
    p = member()
    old = _issue(p, issue_date=date(2024, 12, 1), valid_until=date(2025, 11, 30))
    new = _issue(p)
    old.refresh_from_db()
    assert old.state == CertificateState.NO_RETURN and old.state_note == "有効期限切れ"
    assert new.state == CertificateState.ACTIVE


def test_issue_refuses_expiry_before_issue_date():
    with pytest.raises(ValidationError, match="交付年月日"):
        _issue(member(), valid_until=date(2026, 11, 30))
    assert Certificate.objects.count() == 0


def test_replaces_must_belong_to_the_same_person():
    other = _issue(member())
    with pytest.raises(ValidationError, match="のものではありません"):
        _issue(member(), replaces=other)


def test_database_refuses_two_active_certificates_for_one_person():
    p = member()
    c = _issue(p)
    with pytest.raises(IntegrityError), transaction.atomic():
        Certificate.objects.create(
            number="X-1",
            person=p,
            reason=c.reason,
            issue_date=c.issue_date,
            valid_until=c.valid_until,
            route=c.route,
            printed_name="x",
            printed_name_kana="x",
        )
