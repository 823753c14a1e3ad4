"""Returns after 資格喪失 (rules.md "After issue"; 規則§51: within 5 days) and the receipt of returns."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from certificates.lifecycle import (
    ReturnsError,
    certificates_record_returns,
    certificates_require_return,
    parse_number_list,
)
from certificates.models import Certificate, CertificateState
from core.models import AuditEvent
from tests.fees.builders import dependent, issue, member, refresh

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


def _lose(person, lost_on, reason="退職"):
    person.lost_on = lost_on
    person.loss_reason = reason
    person.save(update_fields=["lost_on", "loss_reason"])
    return person


def test_retirement_makes_a_valid_certificate_return_pending_due_five_days_later_via_employer(
    clerk,
):
    p = member()
    cert = issue(
        p, issue_date=_today() - timedelta(days=30), valid_until=_today() + timedelta(days=900)
    )
    lost_on = _today() - timedelta(days=1)
    changed = certificates_require_return(
        person=_lose(p, lost_on), lost_on=lost_on, acting_user=clerk
    )
    cert = refresh(cert)
    assert changed == [cert]
    assert cert.state == CertificateState.RETURN_PENDING
    assert cert.return_due == lost_on + timedelta(days=5)
    assert cert.return_route == "事業主経由"
    assert cert.state_note == "資格喪失(退職)"
    ev = AuditEvent.objects.get(action="certificate.return_required", object_id=str(cert.pk))
    assert (
        ev.actor == clerk and ev.detail["return_due"] == (lost_on + timedelta(days=5)).isoformat()
    )


def test_voluntary_member_and_dependents_return_directly_to_the_society():
    m = member(insured_type="任意継続", voluntary_until=_today() + timedelta(days=300))
    d = dependent(m)
    cm = issue(m, valid_until=_today() + timedelta(days=300))
    cd = issue(d, valid_until=_today() + timedelta(days=300))
    lost_on = _today()
    certificates_require_return(person=_lose(m, lost_on), lost_on=lost_on)
    certificates_require_return(person=_lose(d, lost_on, "被保険者の資格喪失"), lost_on=lost_on)
    for cert in (refresh(cm), refresh(cd)):
        assert cert.state == CertificateState.RETURN_PENDING
        assert cert.return_route == "自宅"
        assert cert.return_due == lost_on + timedelta(days=5)
    assert refresh(cd).state_note == "資格喪失(被保険者の資格喪失)"


def test_dependent_no_longer_dependent_returns_via_employer_of_the_member():
    m = member()
    d = dependent(m)
    cd = issue(d, valid_until=_today() + timedelta(days=300))
    certificates_require_return(person=_lose(d, _today(), "被扶養者でなくなった"), lost_on=_today())
    cd = refresh(cd)
    assert cd.state == CertificateState.RETURN_PENDING and cd.return_route == "事業主経由"


def test_certificate_expired_before_the_loss_needs_no_return():
    """The usual 75th-birthday case: the validity ends the day before the birthday (rules.md)."""
    birth = date(1951, 12, 3)
    p = member(birth_date=birth)
    cert = issue(p, issue_date=date(2025, 12, 1), valid_until=date(2026, 12, 2))
    birthday75 = date(2026, 12, 3)
    certificates_require_return(person=_lose(p, birthday75, "75歳到達"), lost_on=birthday75)
    cert = refresh(cert)
    assert cert.state == CertificateState.NO_RETURN
    assert cert.state_note == "有効期限切れ"
    assert cert.return_due is None


def test_75th_birthday_with_a_certificate_reaching_past_it_is_returned():
    birthday75 = _today() + timedelta(days=2)
    p = member()
    cert = issue(p, valid_until=birthday75 + timedelta(days=100))  # e.g. a corrected birth date
    certificates_require_return(person=_lose(p, birthday75, "75歳到達"), lost_on=birthday75)
    cert = refresh(cert)
    assert cert.state == CertificateState.RETURN_PENDING
    assert cert.return_due == birthday75 + timedelta(days=5)
    assert cert.state_note == "資格喪失(75歳到達)"


def test_running_the_loss_twice_keeps_the_first_due_date():
    p = member()
    cert = issue(p, valid_until=_today() + timedelta(days=300))
    certificates_require_return(person=_lose(p, _today()), lost_on=_today())
    assert certificates_require_return(person=p, lost_on=_today() + timedelta(days=3)) == []
    assert refresh(cert).return_due == _today() + timedelta(days=5)


def test_held_certificate_is_recorded_as_returned_on_loss():
    p = member()
    cert = issue(p, valid_until=_today() + timedelta(days=300))
    Certificate.objects.filter(pk=cert.pk).update(held_since=_today() - timedelta(days=4))
    certificates_require_return(person=_lose(p, _today()), lost_on=_today())
    cert = refresh(cert)
    assert cert.state == CertificateState.RETURNED
    assert cert.returned_on == _today() - timedelta(days=4)


def _pending(n=1, lost_on=None):
    lost_on = lost_on or _today() - timedelta(days=2)
    certs = []
    for _ in range(n):
        p = member()
        c = issue(p, valid_until=_today() + timedelta(days=300))
        certificates_require_return(person=_lose(p, lost_on), lost_on=lost_on)
        certs.append(refresh(c))
    return certs


def test_record_returns_marks_each_certificate_returned_with_the_date(clerk):
    a, b = _pending(2)
    done = certificates_record_returns(
        numbers=[a.number, b.number], returned_on=_today(), acting_user=clerk
    )
    assert {c.pk for c in done} == {a.pk, b.pk}
    for c in (refresh(a), refresh(b)):
        assert c.state == CertificateState.RETURNED and c.returned_on == _today()
    assert AuditEvent.objects.filter(action="certificate.returned", actor=clerk).count() == 2


def test_record_returns_is_all_or_nothing_and_lists_every_bad_number(clerk):
    a, b = _pending(2)
    active = issue(member(), valid_until=_today() + timedelta(days=300))
    with pytest.raises(ReturnsError) as exc:
        certificates_record_returns(
            numbers=[a.number, "2099-0000001", active.number, b.number],
            returned_on=_today(),
            acting_user=clerk,
        )
    problems = dict(exc.value.problems)
    assert set(problems) == {"2099-0000001", active.number}
    assert "該当する資格確認書がありません" in problems["2099-0000001"]
    assert "返却待ちではありません(状態: 有効)" in problems[active.number]
    # nothing half-applied
    assert refresh(a).state == CertificateState.RETURN_PENDING
    assert refresh(b).state == CertificateState.RETURN_PENDING
    assert not AuditEvent.objects.filter(action="certificate.returned").exists()


def test_recording_the_same_return_twice_is_refused_the_second_time(clerk):
    (a,) = _pending(1)
    certificates_record_returns(numbers=[a.number], returned_on=_today(), acting_user=clerk)
    with pytest.raises(ReturnsError) as exc:
        certificates_record_returns(numbers=[a.number], returned_on=_today(), acting_user=clerk)
    assert "返却済" in exc.value.problems[0][1]


def test_record_returns_refuses_a_future_date_and_an_empty_list(clerk):
    (a,) = _pending(1)
    with pytest.raises(ValidationError, match="未来"):
        certificates_record_returns(
            numbers=[a.number], returned_on=_today() + timedelta(days=1), acting_user=clerk
        )
    with pytest.raises(ValidationError, match="入力されていません"):
        certificates_record_returns(numbers=["  "], returned_on=_today(), acting_user=clerk)
    assert refresh(a).state == CertificateState.RETURN_PENDING


def test_number_list_accepts_full_width_blank_lines_and_duplicates():
    text = "２０２６－０００００１２\n\n 2026-0000013 ,2026-0000012\t2026-0000014\r\n"
    assert parse_number_list(text) == ["2026-0000012", "2026-0000013", "2026-0000014"]
