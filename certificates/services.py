"""Writes of the certificates app: issuing one certificate, and the 一括職権交付 run
(create → approve → execute). Admin, commands and tasks call only these."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.models import audit_event
from members.models import Person

from .models import Certificate, CertificateState, IssuanceRun
from .numbering import allocate_certificate_numbers


def _retire_superseded(*, person_id: int, issue_date: date, acting_user=None) -> int:
    """Stored-有効 certificates that end before `issue_date` are no longer in force when the new one
    starts: they become 返却不要 (rules.md "After issue": an expired certificate needs no return).
    This keeps certificate_one_active_per_person satisfiable. Returns how many changed."""
    now = timezone.now()
    stale = list(
        Certificate.objects.select_for_update().filter(
            person_id=person_id, state=CertificateState.ACTIVE, valid_until__lt=issue_date
        )
    )
    for cert in stale:
        cert.state = CertificateState.NO_RETURN
        cert.state_note = "有効期限切れ"
        cert.state_changed_at = now
        cert.save(update_fields=["state", "state_note", "state_changed_at", "updated_at"])
        audit_event(
            action="certificate.expired",
            actor=acting_user,
            obj=cert,
            valid_until=cert.valid_until.isoformat(),
        )
    return len(stale)


@transaction.atomic
def certificate_issue(
    *,
    person: Person,
    reason: str,
    issue_date: date,
    valid_until: date,
    route: str,
    acting_user=None,
    elderly_start: date | None = None,
    copay_ratio: str = "",
    registration_status: str = "",
    ec_expiry: date | None = None,
    replaces: Certificate | None = None,
    run: IssuanceRun | None = None,
) -> Certificate:
    """Issue one 資格確認書 (reissue flows; a bulk run uses run_execute, which issues in batches).

    The person's row is locked so two concurrent issues for the same person serialise here; the
    database constraint certificate_one_active_per_person stays the final guard.

    `replaces`: the certificate this one supersedes. If it is still 有効 it becomes 返却不要
    (state_note names the reason). A caller that needs another state for it (無効 for 滅失・き損,
    返却待ち for 記載事項変更) sets that state before calling.
    """
    if valid_until < issue_date:
        raise ValidationError(
            f"有効期限({valid_until:%Y-%m-%d})が交付年月日({issue_date:%Y-%m-%d})より前です"
        )
    locked = Person.objects.select_for_update().get(pk=person.pk)
    if replaces is not None and replaces.person_id != locked.pk:
        raise ValidationError(
            f"置き換える資格確認書 {replaces.number} は {locked.key} のものではありません"
        )
    _retire_superseded(person_id=locked.pk, issue_date=issue_date, acting_user=acting_user)

    others = Certificate.objects.select_for_update().filter(
        person_id=locked.pk, state=CertificateState.ACTIVE
    )
    if replaces is not None:
        others = others.exclude(pk=replaces.pk)
    blocking = list(others)
    if blocking:
        numbers = "、".join(c.number for c in blocking)
        raise ValidationError(
            f"{locked.key} {locked.name} には有効な資格確認書({numbers})があるため交付できません"
        )

    now = timezone.now()
    if replaces is not None:
        replaces = Certificate.objects.select_for_update().get(pk=replaces.pk)
        if replaces.state == CertificateState.ACTIVE:
            replaces.state = CertificateState.NO_RETURN
            replaces.state_note = f"{reason}により置換"
            replaces.state_changed_at = now
            replaces.save(update_fields=["state", "state_note", "state_changed_at", "updated_at"])
            audit_event(
                action="certificate.replaced",
                actor=acting_user,
                obj=replaces,
                reason=reason,
            )

    (number,) = allocate_certificate_numbers(1, on=issue_date)
    cert = Certificate.objects.create(
        number=number,
        person=locked,
        run=run,
        reason=reason,
        issue_date=issue_date,
        valid_until=valid_until,
        route=route,
        elderly_start=elderly_start,
        copay_ratio=copay_ratio,
        printed_name=locked.name,
        printed_name_kana=locked.name_kana,
        registration_status=registration_status,
        ec_expiry=ec_expiry,
        replaces=replaces,
        state=CertificateState.ACTIVE,
        state_changed_at=now,
    )
    audit_event(
        action="certificate.issued",
        actor=acting_user,
        obj=cert,
        number=cert.number,
        person=locked.key,
        reason=reason,
        run=run.pk if run is not None else None,
        replaces=replaces.number if replaces is not None else None,
    )
    return cert
