"""Writes to the registry: life events (資格喪失, 氏名変更, 75歳到達) and the two imports.

These are the only paths by which the admin, the management commands and the imports change a
person's qualification or name, so that a loss recorded anywhere has the same consequences (the
household's dependents follow, certificates become 返却待ち, an audit row is written).
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.models import audit_event
from core.text_safety import check_texts

from .importing import (
    normalize_kana,
    normalize_postal_code,
)
from .models import (
    LossReason,
    Person,
    Relationship,
)
from .signals import persons_lost
from .staging import Stage, execute, fetch, param_date, qn

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

    if changed:
        persons_lost.send(
            sender=Person,
            persons=Person.objects.filter(pk__in=[p.pk for p in changed]),
            acting_user=acting_user,
        )
    return changed


@transaction.atomic
def person_change_name(*, person: Person, name: str, name_kana: str, acting_user=None) -> Person:
    """氏名/氏名カナ change. 氏名 is kept exactly as given (𠮷, 髙, 﨑 …); 氏名カナ is normalised to
    full-width katakana. Certificates already issued keep their printed name (a 記載事項変更 reissue
    is applied for separately, rules.md "After issue")."""
    check_texts({"氏名": name, "氏名カナ": name_kana})  # no My Number, no control characters
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
def person_correct_address(*, person: Person, postal_code: str, address: str, acting_user=None):
    """The corrected 郵便番号・住所 of a person (an envelope's addressee after a 宛所不明 return): saved
    with the members' one postal-code normaliser, the 宛所不明 flag cleared. Runs inside the caller's
    transaction (certificates.returns.address_correct_and_resend, which then sends the household's held
    certificates again) and returns the saved person and the date the address had been unknown since
    (None if it was not flagged)."""
    check_texts({"郵便番号": postal_code, "住所": address})
    try:
        code = normalize_postal_code(postal_code or "")
    except ValueError as exc:
        raise ValidationError({"postal_code": str(exc)}) from None
    if not code:
        raise ValidationError({"postal_code": "郵便番号を入力してください"})
    address = (address or "").strip()
    if not address:
        raise ValidationError({"address": "住所を入力してください"})
    stored = Person.objects.select_for_update().get(pk=person.pk)
    unknown_since = stored.address_unknown_since
    stored.postal_code = code
    stored.address = address
    stored.address_unknown_since = None
    stored._history_user = acting_user
    stored.save(update_fields=["postal_code", "address", "address_unknown_since", "updated_at"])
    audit_event(
        action="person.address_corrected",
        actor=acting_user,
        obj=stored,
        was_unknown_since=unknown_since.isoformat() if unknown_since else None,
    )
    return stored, unknown_since


@transaction.atomic
def persons_apply_75th_birthday(*, on: date, acting_user=None) -> list[Person]:
    """後期高齢者医療 (高齢者医療確保法§52): cover ends on the 75th birthday itself. Everyone whose
    75th birthday is on or before `on` (age_cover_until, the day before it, earlier than `on`) and
    who has no loss yet gets lost_on = that birthday, reason 75歳到達; a member's dependents follow
    on the same date (被保険者の資格喪失), as person_record_loss does. Running it again changes
    nothing.

    Set-wise, whatever the number of persons: the losses are staged in a temporary table (the
    import's, members.register_import) and written by the import's writer of losses (persons,
    history rows, one audit row each, certificates put up for return), in a constant number of
    statements. The persons are taken in the order earliest birthday first: a dependent whose own
    75th birthday comes before (or with) their member's keeps it, one whose birthday comes after
    follows the member.
    """
    from .register_import import _LOSS_STAGE, _record_losses

    now = timezone.now()
    person = qn(Person._meta.db_table)
    losses = Stage("late_elderly_losses", _LOSS_STAGE)
    losses.create()
    lt = losses.table
    birthday = (
        "(p.age_cover_until + 1)"
        if connection.vendor == "postgresql"
        else "date(p.age_cover_until, '+1 day')"
    )
    execute(
        f"""INSERT INTO {lt} (person_id, lost_on, reason, previous, member_id, step)
            SELECT p.id, {birthday}, %s, NULL, NULL, 1 FROM {person} p
            WHERE p.lost_on IS NULL AND p.age_cover_until < %s""",  # noqa: S608
        [LossReason.AGE_75, param_date(on)],
    )
    _refuse_loss_before_acquired(lt, person)
    # A member's dependents follow, unless the dependent's own 75th birthday comes first (earlier
    # birthday, or the same one and the smaller id: the order of the single-person path).
    execute(
        f"""INSERT INTO {lt} (person_id, lost_on, reason, previous, member_id, step)
            SELECT d.id, l.lost_on, %s, d.lost_on, l.person_id, 2
            FROM {lt} l JOIN {person} h ON h.id = l.person_id
            JOIN {person} d ON d.member_id = l.person_id
            WHERE l.step = 1 AND (d.lost_on IS NULL OR d.lost_on > l.lost_on)
              AND (NOT EXISTS (SELECT 1 FROM {lt} o WHERE o.step = 1 AND o.person_id = d.id)
                   OR h.birth_date < d.birth_date
                   OR (h.birth_date = d.birth_date AND h.id < d.id))""",  # noqa: S608
        [LossReason.MEMBER_LOST],
    )
    execute(
        f"DELETE FROM {lt} WHERE step = 1 AND person_id IN "  # noqa: S608
        f"(SELECT person_id FROM {lt} WHERE step = 2)"
    )
    _refuse_dependent_acquired_after(lt, person)
    count = _record_losses(losses, (1, 2), now, acting_user)
    ids = [row[0] for row in fetch(f"SELECT person_id FROM {lt} ORDER BY person_id")]  # noqa: S608
    losses.drop()
    audit_event(
        action="person.late_elderly_applied",
        actor=acting_user,
        on=on.isoformat(),
        persons=count,
    )
    return list(Person.objects.in_bulk(ids).values()) if ids else []


def _refuse_loss_before_acquired(lt: str, person: str) -> None:
    """person_record_loss's refusal of a loss before the 資格取得, for a staged set."""
    row = next(
        fetch(
            f"SELECT p.kigo, p.bango, p.edaban FROM {lt} l JOIN {person} p ON p.id = l.person_id "  # noqa: S608
            "WHERE l.lost_on < p.acquired_on ORDER BY p.id LIMIT 1"
        ),
        None,
    )
    if row is not None:
        raise ValidationError(
            {"lost_on": f"{_key(row)}: 資格喪失年月日が資格取得年月日より前です"},
            code="lost_before_acquired",
        )


def _refuse_dependent_acquired_after(lt: str, person: str) -> None:
    """person_record_loss's refusal when a dependent's 資格取得 comes after the member's loss."""
    row = next(
        fetch(
            f"SELECT p.kigo, p.bango, p.edaban FROM {lt} l JOIN {person} p ON p.id = l.person_id "  # noqa: S608
            "WHERE l.step = 2 AND p.acquired_on > l.lost_on ORDER BY p.id LIMIT 1"
        ),
        None,
    )
    if row is not None:
        raise ValidationError(
            {
                "lost_on": f"被扶養者（{_key(row)}）の資格取得年月日が"
                "この資格喪失年月日より後です。被扶養者の資格取得年月日を先に訂正してください"
            },
            code="dependent_acquired_after_loss",
        )


def _key(row) -> str:
    kigo, bango, edaban = row
    return f"記号{kigo} 番号{bango} 枝番{edaban}"


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
