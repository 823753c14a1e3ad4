"""No return needed (expiry, マイナ保険証 registration), overdue flags and 宛所不明 holds."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from certificates.lifecycle import (
    certificate_record_undeliverable,
    certificates_apply_registration_snapshot,
    certificates_apply_registration_status,
    certificates_expire,
    certificates_mark_overdue,
    certificates_require_return,
)
from certificates.models import Certificate, CertificateState, IssuanceRun
from core.models import AuditEvent
from tests.fees.builders import dependent, issue, member, refresh, snapshot

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


# --- expiry -------------------------------------------------------------------------------------


def test_expire_stores_no_return_for_active_past_expiry_and_keeps_the_rest():
    t = _today()
    old = issue(member(), issue_date=t - timedelta(days=400), valid_until=t - timedelta(days=1))
    last_day = issue(member(), issue_date=t - timedelta(days=400), valid_until=t)
    assert old.effective_state(t) == CertificateState.NO_RETURN  # derived before the job runs
    assert refresh(old).state == CertificateState.ACTIVE
    changed = certificates_expire(today=t)
    assert changed == [old.pk]
    old = refresh(old)
    assert old.state == CertificateState.NO_RETURN and old.state_note == "有効期限切れ"
    assert refresh(last_day).state == CertificateState.ACTIVE  # valid through its 有効期限


def test_expire_also_stops_chasing_an_unreturned_certificate_once_expired():
    t = _today()
    p = member()
    cert = issue(p, issue_date=t - timedelta(days=400), valid_until=t + timedelta(days=3))
    p.lost_on = t - timedelta(days=10)
    p.save(update_fields=["lost_on"])
    certificates_require_return(person=p, lost_on=t - timedelta(days=10))
    assert refresh(cert).state == CertificateState.RETURN_PENDING
    certificates_expire(today=t + timedelta(days=4))
    cert = refresh(cert)
    assert cert.state == CertificateState.NO_RETURN
    assert cert.state_note == "有効期限切れ(未返却)"


def test_expire_twice_changes_nothing_the_second_time():
    t = _today()
    issue(member(), issue_date=t - timedelta(days=400), valid_until=t - timedelta(days=1))
    assert len(certificates_expire(today=t)) == 1
    assert certificates_expire(today=t) == []
    assert AuditEvent.objects.filter(action="certificate.expired").count() == 1


# --- マイナ保険証 registration -----------------------------------------------------------------------


def _run(status_date, clerk):
    t = _today()
    return IssuanceRun.objects.create(
        status_date=status_date,
        issue_date=t - timedelta(days=20),
        valid_until=t + timedelta(days=700),
        created_by=clerk,
    )


def test_later_snapshot_showing_registered_makes_the_certificate_no_return(clerk):
    t = _today()
    run = _run(t - timedelta(days=60), clerk)
    p = member()
    cert = issue(p, issue_date=t - timedelta(days=20), valid_until=t + timedelta(days=700), run=run)
    snap = snapshot(t - timedelta(days=5), [(p, "登録済", None)])
    changed = certificates_apply_registration_snapshot(snapshot=snap, acting_user=clerk)
    cert = refresh(cert)
    assert changed == [cert.pk]
    assert cert.state == CertificateState.NO_RETURN
    assert cert.state_note == "マイナ保険証登録"
    assert AuditEvent.objects.get(action="certificate.no_return_registered").actor == clerk


def test_consideration_holder_keeps_the_certificate_when_registered(clerk):
    t = _today()
    p = member(needs_consideration=True)
    cert = issue(p, issue_date=t - timedelta(days=20), valid_until=t + timedelta(days=700))
    snap = snapshot(t, [(p, "登録済", None)])
    assert certificates_apply_registration_snapshot(snapshot=snap, acting_user=clerk) == []
    assert refresh(cert).state == CertificateState.ACTIVE


def test_registration_not_later_than_the_run_status_date_changes_nothing(clerk):
    t = _today()
    run = _run(t - timedelta(days=60), clerk)
    p = member()
    cert = issue(p, issue_date=t - timedelta(days=20), valid_until=t + timedelta(days=700), run=run)
    snap = snapshot(t - timedelta(days=60), [(p, "登録済", None)])
    assert certificates_apply_registration_snapshot(snapshot=snap) == []
    assert refresh(cert).state == CertificateState.ACTIVE


def test_other_statuses_and_other_people_are_untouched(clerk):
    t = _today()
    p, q = member(), member()
    d = dependent(q)
    cp = issue(p, issue_date=t - timedelta(days=20), valid_until=t + timedelta(days=700))
    cq = issue(q, issue_date=t - timedelta(days=20), valid_until=t + timedelta(days=700))
    cd = issue(d, issue_date=t - timedelta(days=20), valid_until=t + timedelta(days=700))
    snap = snapshot(t, [(p, "未登録", None), (d, "登録済", None)])
    changed = certificates_apply_registration_snapshot(snapshot=snap)
    assert changed == [cd.pk]
    assert refresh(cp).state == CertificateState.ACTIVE
    assert refresh(cq).state == CertificateState.ACTIVE


def test_a_later_deregistration_wins_over_an_older_registered_row():
    t = _today()
    p = member()
    cert = issue(p, issue_date=t - timedelta(days=60), valid_until=t + timedelta(days=700))
    older = snapshot(t - timedelta(days=30), [(p, "登録済", None)])
    snapshot(t - timedelta(days=1), [(p, "登録解除", None)])
    # the older file is (re)imported late: the person's latest status is 登録解除
    assert certificates_apply_registration_snapshot(snapshot=older) == []
    assert refresh(cert).state == CertificateState.ACTIVE


def test_daily_sweep_applies_the_rule_and_is_safe_to_run_twice():
    t = _today()
    p, q = member(), member(needs_consideration=True)
    cp = issue(p, issue_date=t - timedelta(days=60), valid_until=t + timedelta(days=700))
    cq = issue(q, issue_date=t - timedelta(days=60), valid_until=t + timedelta(days=700))
    snapshot(t - timedelta(days=1), [(p, "登録済", None), (q, "登録済", None)])
    assert certificates_apply_registration_status(today=t) == [cp.pk]
    assert certificates_apply_registration_status(today=t) == []
    assert refresh(cq).state == CertificateState.ACTIVE


# --- overdue --------------------------------------------------------------------------------------


def _pending(lost_on):
    p = member()
    cert = issue(
        p, issue_date=lost_on - timedelta(days=100), valid_until=_today() + timedelta(days=300)
    )
    p.lost_on = lost_on
    p.save(update_fields=["lost_on"])
    certificates_require_return(person=p, lost_on=lost_on)
    return refresh(cert)


def test_mark_overdue_flags_each_certificate_once_past_its_due_date():
    t = _today()
    late = _pending(t - timedelta(days=6))  # due yesterday
    due_today = _pending(t - timedelta(days=5))
    flagged = certificates_mark_overdue(today=t)
    assert flagged == [late.pk]
    assert certificates_mark_overdue(today=t) == []
    assert certificates_mark_overdue(today=t + timedelta(days=1)) == [due_today.pk]
    assert AuditEvent.objects.filter(action="certificate.return_overdue").count() == 2


# --- 宛所不明 -------------------------------------------------------------------------------------


def test_undeliverable_mail_flags_the_addressee_and_holds_the_certificate(clerk):
    t = _today()
    m = member()
    d = dependent(m)
    cd = issue(d, issue_date=t - timedelta(days=10), valid_until=t + timedelta(days=700))
    cert = certificate_record_undeliverable(
        number=f" {cd.number} ", returned_on=t - timedelta(days=1), acting_user=clerk
    )
    assert cert.held_since == t - timedelta(days=1)
    # letters go to the household's 被保険者: their address is the one that failed
    assert refresh(m).address_unknown_since == t - timedelta(days=1)
    assert refresh(d).address_unknown_since is None
    assert refresh(cd).state == CertificateState.ACTIVE
    ev = AuditEvent.objects.get(action="certificate.undeliverable")
    assert ev.actor == clerk and ev.detail["number"] == cd.number


def test_undeliverable_refusals_change_nothing(clerk):
    t = _today()
    p = member()
    cert = issue(p, issue_date=t - timedelta(days=10), valid_until=t + timedelta(days=700))
    with pytest.raises(ValidationError, match="該当する資格確認書がありません"):
        certificate_record_undeliverable(number="2099-0000009", returned_on=t, acting_user=clerk)
    with pytest.raises(ValidationError, match="未来"):
        certificate_record_undeliverable(
            number=cert.number, returned_on=t + timedelta(days=1), acting_user=clerk
        )
    certificate_record_undeliverable(number=cert.number, returned_on=t, acting_user=clerk)
    with pytest.raises(ValidationError, match="すでに送付保留中"):
        certificate_record_undeliverable(number=cert.number, returned_on=t, acting_user=clerk)
    expired = issue(member(), issue_date=t - timedelta(days=400), valid_until=t - timedelta(days=1))
    with pytest.raises(ValidationError, match="返却不要"):
        certificate_record_undeliverable(number=expired.number, returned_on=t, acting_user=clerk)
    assert Certificate.objects.filter(held_since__isnull=False).count() == 1
