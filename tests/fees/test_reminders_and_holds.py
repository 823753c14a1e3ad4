"""返却督促 letters (per 事業所 / per household for direct returns) and 宛所不明 → address → resend."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from certificates.lifecycle import (
    ReturnsError,
    certificate_record_undeliverable,
    certificates_require_return,
)
from certificates.models import CertificateState, ReturnedMail, ReturnReminder
from certificates.returns import (
    address_correct_and_resend,
    mail_record_returned,
    returns_generate_reminders,
)
from core.models import AuditEvent
from documents.models import DocumentKind, GeneratedDocument
from tests.fees.builders import dependent, employer, issue, member, refresh

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


def _pending(person):
    t = _today()
    cert = issue(person, issue_date=t - timedelta(days=100), valid_until=t + timedelta(days=300))
    person.lost_on = t - timedelta(days=10)
    person.save(update_fields=["lost_on"])
    certificates_require_return(person=person, lost_on=person.lost_on)
    return refresh(cert)


def test_reminders_one_pdf_per_employer_and_one_per_direct_household(clerk):
    e1, e2 = employer("E1", "一社"), employer("E2", "二社")
    a = _pending(member(employer_obj=e1))
    b = _pending(member(employer_obj=e1))
    c = _pending(member(employer_obj=e2))
    v = member(insured_type="任意継続", voluntary_until=_today() + timedelta(days=300))
    vd = dependent(v)
    d1, d2 = _pending(v), _pending(vd)
    docs = returns_generate_reminders(certificates=[a, b, c, d1, d2], acting_user=clerk)
    assert len(docs) == 3
    by_items = {tuple(sorted(d.item_ids)): d for d in docs}
    assert set(by_items) == {
        tuple(sorted([a.pk, b.pk])),
        (c.pk,),
        tuple(sorted([d1.pk, d2.pk])),
    }
    assert "事業所 E1 一社 2件" in by_items[tuple(sorted([a.pk, b.pk]))].label
    assert "直接返却" in by_items[tuple(sorted([d1.pk, d2.pk]))].label
    assert all(d.kind == DocumentKind.REMINDER for d in docs)
    assert ReturnReminder.objects.filter(created_by=clerk).count() == 5
    assert AuditEvent.objects.filter(action="returns.reminder_generated").count() == 3


def test_reminders_refuse_certificates_not_awaiting_return(clerk):
    a = _pending(member())
    active = issue(member(), valid_until=_today() + timedelta(days=300))
    with pytest.raises(ReturnsError) as exc:
        returns_generate_reminders(certificates=[a, active], acting_user=clerk)
    assert exc.value.problems == [(active.number, "返却待ちではありません(状態: 有効)")]
    assert not GeneratedDocument.objects.exists()
    with pytest.raises(ValidationError, match="選んでください"):
        returns_generate_reminders(certificates=[], acting_user=clerk)


def test_address_correction_resends_the_households_held_certificates_and_lifts_the_hold(clerk):
    t = _today()
    m = member(insured_type="任意継続", voluntary_until=t + timedelta(days=300))
    d = dependent(m)
    cm = issue(m, issue_date=t - timedelta(days=10), valid_until=t + timedelta(days=300))
    cd = issue(d, issue_date=t - timedelta(days=10), valid_until=t + timedelta(days=300))
    for c in (cm, cd):
        mail_record_returned(number=c.number, returned_on=t, acting_user=clerk)
    assert refresh(m).address_unknown_since == t
    assert ReturnedMail.objects.filter(recorded_by=clerk, resolved_at__isnull=True).count() == 2
    resent = address_correct_and_resend(
        person=d,
        postal_code="１００-０００５",
        address="東京都千代田区丸の内2-2-2",
        acting_user=clerk,
    )
    assert {c.pk for c in resent} == {cm.pk, cd.pk}
    m = refresh(m)
    assert m.postal_code == "1000005" and m.address == "東京都千代田区丸の内2-2-2"
    assert m.address_unknown_since is None
    for c in (cm, cd):
        c = refresh(c)
        assert c.held_since is None and c.state == CertificateState.ACTIVE
    doc = GeneratedDocument.objects.get(kind=DocumentKind.REPRINT)
    assert sorted(doc.item_ids) == sorted([cm.pk, cd.pk])
    for mail in ReturnedMail.objects.all():
        assert mail.resolved_by == clerk and mail.resolved_at and mail.document == doc
    # the envelope can come back again: a new record, the resolved one stays
    mail_record_returned(number=cm.number, returned_on=t, acting_user=clerk)
    assert ReturnedMail.objects.filter(certificate=cm).count() == 2
    assert AuditEvent.objects.filter(action="certificate.hold_released").count() == 2


def test_address_correction_validates_input_and_changes_nothing(clerk):
    t = _today()
    m = member()
    c = issue(m, issue_date=t - timedelta(days=10), valid_until=t + timedelta(days=300))
    certificate_record_undeliverable(number=c.number, returned_on=t, acting_user=clerk)
    with pytest.raises(ValidationError, match="郵便番号は7桁"):
        address_correct_and_resend(
            person=m, postal_code="12-34", address="どこか", acting_user=clerk
        )
    with pytest.raises(ValidationError, match="住所を入力"):
        address_correct_and_resend(person=m, postal_code="1000005", address=" ", acting_user=clerk)
    assert refresh(c).held_since == t
    assert refresh(m).address_unknown_since == t


def test_a_held_certificate_that_expired_meanwhile_is_released_but_not_resent(clerk):
    t = _today()
    m = member()
    c = issue(m, issue_date=t - timedelta(days=10), valid_until=t + timedelta(days=300))
    certificate_record_undeliverable(number=c.number, returned_on=t, acting_user=clerk)
    c.valid_until = t - timedelta(days=1)
    c.issue_date = t - timedelta(days=10)
    c.save(update_fields=["valid_until"])
    assert (
        address_correct_and_resend(
            person=m, postal_code="1000005", address="東京都", acting_user=clerk
        )
        == []
    )
    assert refresh(c).held_since is None
    assert not GeneratedDocument.objects.filter(kind=DocumentKind.REPRINT).exists()


def test_reminders_refuse_the_old_certificate_of_a_name_change(clerk):
    """The reminder letter speaks of 資格喪失: not sent for a 記載事項変更 return."""
    from fees.services import reissue_application_receive_change

    t = _today()
    old = issue(member(), issue_date=t - timedelta(days=30), valid_until=t + timedelta(days=300))
    reissue_application_receive_change(
        certificate=old, route="事業主経由", received_on=t, acting_user=clerk
    )
    with pytest.raises(ReturnsError) as exc:
        returns_generate_reminders(certificates=[refresh(old)], acting_user=clerk)
    assert "記載事項変更による返却待ち" in exc.value.problems[0][1]
