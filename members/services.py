"""Writes to the registry: life events (資格喪失, 氏名変更, 75歳到達) and the two imports.

These are the only paths by which the admin, the management commands and the imports change a
person's qualification or name, so that a loss recorded anywhere has the same consequences (the
household's dependents follow, certificates become 返却待ち, an audit row is written).
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from certificates.lifecycle import certificates_require_return
from core.models import audit_event

from .dates import late_elderly_start
from .importing import (
    normalize_kana,
)
from .models import (
    LossReason,
    Person,
    Relationship,
)
from .selectors import persons_reaching_late_elderly

_BATCH = 500
_IMPORT_REASON = "取込"


# ---------------------------------------------------------------------------------------------
# Life events


@transaction.atomic
def person_record_loss(
    *, person: Person, lost_on: date, reason: str, acting_user=None
) -> list[Person]:
    """Record 資格喪失 on `lost_on`. A 本人's dependents lose this society's cover on the same date
    (rules.md "Dependents follow their member"; reason 被保険者の資格喪失), except a dependent whose
    own loss is already earlier, which is never moved. Every person who lost cover has their
    still-valid certificates put to 返却待ち (施行規則§51).

    Returns the persons whose loss was recorded or changed (the person first); recording the same
    loss again changes nothing.
    """
    if reason not in LossReason.values:
        raise ValidationError({"loss_reason": f"喪失事由「{reason}」は指定できません"})
    stored = (
        Person.objects.select_for_update()
        .only("lost_on", "loss_reason", "acquired_on")
        .get(pk=person.pk)
    )
    if lost_on < stored.acquired_on:
        raise ValidationError(
            {"lost_on": "資格喪失年月日が資格取得年月日より前です"}, code="lost_before_acquired"
        )

    changed: list[Person] = []
    if stored.lost_on != lost_on or stored.loss_reason != reason:
        person.lost_on = lost_on
        person.loss_reason = reason
        person._history_user = acting_user
        person.save(update_fields=["lost_on", "loss_reason", "updated_at"])
        audit_event(
            action="person.loss_recorded",
            actor=acting_user,
            obj=person,
            lost_on=lost_on.isoformat(),
            reason=reason,
            previous_lost_on=stored.lost_on.isoformat() if stored.lost_on else None,
        )
        changed.append(person)

    if person.relationship == Relationship.SELF:
        dependents = Person.objects.select_for_update().filter(
            Q(lost_on__isnull=True) | Q(lost_on__gt=lost_on), member_id=person.pk
        )
        for dep in dependents.order_by("edaban"):
            if dep.acquired_on > lost_on:
                raise ValidationError(
                    {
                        "lost_on": f"被扶養者（枝番{dep.edaban}）の資格取得年月日が"
                        "この資格喪失年月日より後です。被扶養者の資格取得年月日を先に訂正してください"
                    },
                    code="dependent_acquired_after_loss",
                )
            previous = dep.lost_on
            dep.member = person  # the household is known: no query in certificates_require_return
            dep.lost_on = lost_on
            dep.loss_reason = LossReason.MEMBER_LOST
            dep._history_user = acting_user
            dep.save(update_fields=["lost_on", "loss_reason", "updated_at"])
            audit_event(
                action="person.loss_recorded",
                actor=acting_user,
                obj=dep,
                lost_on=lost_on.isoformat(),
                reason=LossReason.MEMBER_LOST,
                previous_lost_on=previous.isoformat() if previous else None,
                member_id=person.pk,
            )
            changed.append(dep)

    for lost in changed:
        certificates_require_return(person=lost, lost_on=lost.lost_on, acting_user=acting_user)
    return changed


@transaction.atomic
def person_change_name(*, person: Person, name: str, name_kana: str, acting_user=None) -> Person:
    """氏名/氏名カナ change. 氏名 is kept exactly as given (𠮷, 髙, 﨑 …); 氏名カナ is normalised to
    full-width katakana. Certificates already issued keep their printed name (a 記載事項変更 reissue
    is applied for separately, rules.md "After issue")."""
    if not name.strip():
        raise ValidationError({"name": "氏名を入力してください"})
    if len(name) > Person._meta.get_field("name").max_length:
        raise ValidationError({"name": "氏名は100文字以内で入力してください"})
    try:
        kana = normalize_kana(name_kana)
    except ValueError as exc:
        raise ValidationError({"name_kana": str(exc)}) from None
    stored = Person.objects.select_for_update().only("name", "name_kana").get(pk=person.pk)
    fields = [f for f, v in (("name", name), ("name_kana", kana)) if getattr(stored, f) != v]
    if not fields:
        return person
    person.name = name
    person.name_kana = kana
    person._history_user = acting_user
    person.save(update_fields=[*fields, "updated_at"])
    audit_event(action="person.name_changed", actor=acting_user, obj=person, fields=fields)
    return person


@transaction.atomic
def persons_apply_75th_birthday(*, on: date, acting_user=None) -> list[Person]:
    """後期高齢者医療 (高齢者医療確保法§52): cover ends on the 75th birthday itself. Everyone whose
    75th birthday is on or before `on` and who has no loss yet gets lost_on = that birthday, reason
    75歳到達; a member's dependents follow. Running it again changes nothing.

    The search is one query; persons are processed earliest birthday first so a dependent's own
    earlier 75th birthday is recorded before their member's cascade could reach them.
    """
    changed: list[Person] = []
    done: set[int] = set()
    for person in persons_reaching_late_elderly(on=on):
        if person.pk in done:
            continue  # already lost cover through their member's 75th birthday
        result = person_record_loss(
            person=person,
            lost_on=late_elderly_start(person.birth_date),
            reason=LossReason.AGE_75,
            acting_user=acting_user,
        )
        done.update(p.pk for p in result)
        changed.extend(result)
    audit_event(
        action="person.late_elderly_applied",
        actor=acting_user,
        on=on.isoformat(),
        persons=len(changed),
    )
    return changed


# ---------------------------------------------------------------------------------------------
# Imports: members.register_import (streamed, staged, merged set-wise)

from .register_import import (  # noqa: E402
    MembersImportSummary,
    StatusImportSummary,
    members_import,
    registration_status_import,
)

__all__ = [
    "MembersImportSummary",
    "StatusImportSummary",
    "members_import",
    "person_change_name",
    "person_record_loss",
    "persons_apply_75th_birthday",
    "registration_status_import",
]
