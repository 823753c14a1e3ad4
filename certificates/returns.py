"""The certificate's life after issue that the clerks drive by hand: 返却督促 letters, 宛所不明 returns
and the resend after the address is corrected (rules.md "After issue"; the seed notice's 返却は5日以内).

The rules themselves stay in certificates.lifecycle (when a return is required, the 5-day period,
receipts, the overdue flag, recording an envelope as undeliverable); this module writes the rows that
follow them (ReturnReminder, ReturnedMail) and plans their documents (certificates.paperwork).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.models import audit_event
from members.models import Person
from members.services import person_correct_address

from .lifecycle import ReturnsError, certificate_record_undeliverable, overdue_returns_q
from .models import Certificate, CertificateState, ReturnedMail, ReturnReminder, Route
from .paperwork import letters

__all__ = [
    "address_correct_and_resend",
    "certificates_held",
    "mail_record_returned",
    "returns_generate_reminders",
    "returns_overdue",
]


# --- reads ----------------------------------------------------------------------------------------


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


# --- 返却督促 ---------------------------------------------------------------------------------------


@transaction.atomic
def returns_generate_reminders(*, certificates: Iterable[Certificate], acting_user) -> list:
    """返却督促 letters: one PDF per 事業所 for returns via the employer (a letter per certificate, for
    the employer to hand over), one per household for direct returns (任意継続). Each certificate
    must still be 返却待ち; otherwise nothing is generated and the numbers are listed."""
    ids = [c.pk for c in certificates]
    certs = list(
        Certificate.objects.select_related("person", "person__member", "person__employer")
        .filter(pk__in=ids)
        .order_by("number")
    )
    if not certs:
        raise ValidationError("督促する資格確認書を選んでください")
    today = timezone.localdate()
    problems = []
    for c in certs:
        if c.state != CertificateState.RETURN_PENDING or c.valid_until < today:
            problems.append((c.number, f"返却待ちではありません(状態: {c.effective_state()})"))
        elif c.person.lost_on is None:
            # The letter (documents/return_reminder.html) is worded for a return after 資格喪失;
            # the old certificate of a 記載事項変更 is chased by phone until it has its own wording.
            problems.append(
                (c.number, "記載事項変更による返却待ちのため、資格喪失用の督促状は作成できません")
            )
    if problems:
        raise ReturnsError(problems)
    groups: dict[tuple, list[Certificate]] = defaultdict(list)
    for c in certs:
        household = c.person.household_member
        if c.return_route == Route.HOME:
            groups[("person", household.pk)].append(c)
        else:
            groups[("employer", household.employer_id)].append(c)
    docs = []
    for (kind, _key), members in sorted(groups.items(), key=lambda kv: kv[1][0].number):
        household = members[0].person.household_member
        if kind == "employer":
            employer = household.employer
            who = f"事業所 {employer.code} {employer.name}" if employer else "事業所不明"
        else:
            who = f"{household.kigo}・{household.bango} {household.name}(直接返却)"
        doc = letters().plan_reminder(
            label=f"返却督促 {who} {len(members)}件", certificate_ids=[c.pk for c in members]
        )
        ReturnReminder.objects.bulk_create(
            ReturnReminder(certificate=c, document=doc, created_by=acting_user) for c in members
        )
        audit_event(
            action="returns.reminder_generated",
            actor=acting_user,
            obj=doc,
            numbers=[c.number for c in members],
        )
        docs.append(doc)
    return docs


# --- 宛所不明: record, address correction and resend ----------------------------------------------------


@transaction.atomic
def mail_record_returned(*, number: str, returned_on: date, acting_user) -> ReturnedMail:
    """宛所不明の返戻 by 証明書番号: the certificate is held and the addressee's address flagged
    (certificates.lifecycle.certificate_record_undeliverable), and the return is recorded."""
    cert = certificate_record_undeliverable(
        number=number, returned_on=returned_on, acting_user=acting_user
    )
    return ReturnedMail.objects.create(
        certificate=cert, returned_on=returned_on, recorded_by=acting_user
    )


@transaction.atomic
def address_correct_and_resend(
    *, person: Person, postal_code: str, address: str, acting_user
) -> list[Certificate]:
    """The corrected address of an envelope's addressee (the household's 被保険者) after a 宛所不明
    return: the address is saved and its flag cleared (members.services.person_correct_address), and
    every held certificate of the household that is still 有効 is sent again in one new letter
    (documents kind 再印刷); all holds are lifted. Returns the certificates sent again."""
    addressee, _unknown_since = person_correct_address(
        person=person.household_member,
        postal_code=postal_code,
        address=address,
        acting_user=acting_user,
    )
    household_ids = [addressee.pk, *addressee.dependents.values_list("pk", flat=True)]
    held = list(
        Certificate.objects.select_for_update()
        .filter(person_id__in=household_ids, held_since__isnull=False)
        .order_by("person__edaban", "pk")
    )
    today = timezone.localdate()
    resend = [c for c in held if c.effective_state(today) == CertificateState.ACTIVE]
    doc = None
    if resend:
        doc = letters().plan_resend(
            label=f"再送(宛所不明→住所訂正) {addressee.kigo}・{addressee.bango} {addressee.name} {len(resend)}件",
            certificate_ids=[c.pk for c in resend],
        )
    ReturnedMail.objects.filter(certificate__in=held, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=acting_user, document=doc
    )
    for cert in held:
        held_since = cert.held_since
        cert.held_since = None
        cert.save(update_fields=["held_since", "updated_at"])
        audit_event(
            action="certificate.hold_released",
            actor=acting_user,
            obj=cert,
            held_since=held_since.isoformat(),
            resent=cert in resend,
            document=doc.pk if (doc and cert in resend) else None,
        )
    return resend
