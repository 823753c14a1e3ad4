"""Writes to the registry: life events (資格喪失, 氏名変更, 75歳到達) and the two imports.

These are the only paths by which the admin, the management commands and the imports change a
person's qualification or name, so that a loss recorded anywhere has the same consequences (the
household's dependents follow, certificates become 返却待ち, an audit row is written).
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import connection, transaction
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
)
from .register_import import _LOSS_STAGE, _record_losses
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

    Returns the persons whose loss was recorded or changed (the person first, then the dependents
    by 枝番); recording the same loss again changes nothing. One call of the set-wise writer of
    losses (_losses_record), the nightly 75th birthdays' too: a set of one.
    """
    if reason not in LossReason.values:
        raise ValidationError({"loss_reason": f"喪失事由「{reason}」は指定できません"})
    Person.objects.select_for_update().only("pk").get(pk=person.pk)
    losses = Stage("person_losses", _LOSS_STAGE)
    losses.create()
    execute(
        f"""INSERT INTO {losses.table} (person_id, lost_on, reason, previous, member_id, step)
            SELECT p.id, %s, %s, p.lost_on, NULL, 1 FROM {qn(Person._meta.db_table)} p
            WHERE p.id = %s""",  # noqa: S608
        [param_date(lost_on), reason, person.pk],
    )
    ids = _losses_record(losses, acting_user=acting_user)
    if not ids:
        return []
    stored = Person.objects.in_bulk(ids)
    if person.pk in stored:  # the caller's object shows the loss, as a save() would have left it
        for field in ("lost_on", "loss_reason", "updated_at"):
            setattr(person, field, getattr(stored[person.pk], field))
        stored[person.pk] = person
    return [stored[pk] for pk in ids]


def _losses_record(losses: Stage, *, acting_user) -> list[int]:
    """The one writer of 資格喪失, for a staged set of losses: `losses` holds the primary ones
    (step 1: person, lost_on, reason, the previous lost_on). Refuses a loss before the person's
    資格取得; adds each 本人's dependents (step 2: same date, 被保険者の資格喪失) unless the
    dependent's own loss is already earlier — or, when the dependent's own loss is staged too (the
    nightly 75th birthdays), unless theirs comes first (earlier birthday, or the same one and the
    smaller id); refuses a dependent acquired after the member's loss; leaves out a primary loss
    already on file as staged; then writes persons, history rows, one audit row each and the
    certificates put up for return (register_import._record_losses, the import's writer) — a
    constant number of statements whatever the number of persons. Returns the ids of the persons
    changed: step 1 first, then the dependents, each by 枝番 and id. Drops the staging table."""
    now = timezone.now()
    person = qn(Person._meta.db_table)
    lt = losses.table
    _refuse_loss_before_acquired(lt, person)
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
    # the same loss recorded again changes nothing (its dependents still follow, above)
    execute(
        f"DELETE FROM {lt} WHERE step = 1 AND EXISTS (SELECT 1 FROM {person} p "  # noqa: S608
        f"WHERE p.id = {lt}.person_id AND p.lost_on = {lt}.lost_on "
        f"AND p.loss_reason = {lt}.reason)"
    )
    _refuse_dependent_acquired_after(lt, person)
    _record_losses(losses, (1, 2), now, acting_user)
    ids = [
        row[0]
        for row in fetch(
            f"SELECT l.person_id FROM {lt} l JOIN {person} p ON p.id = l.person_id "  # noqa: S608
            "ORDER BY l.step, p.edaban, p.id"
        )
    ]
    losses.drop()
    return ids


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

    Set-wise, whatever the number of persons: the night's losses are staged in a temporary table
    and written by _losses_record, the writer person_record_loss is one call of (persons, history
    rows, one audit row each, certificates put up for return), in a constant number of
    statements. When a dependent reaches 75 with their member, the earliest birthday comes first:
    a dependent whose own 75th birthday comes before (or with) their member's keeps it, one whose
    birthday comes after follows the member.
    """
    losses = Stage("late_elderly_losses", _LOSS_STAGE)
    losses.create()
    birthday = (
        "(p.age_cover_until + 1)"
        if connection.vendor == "postgresql"
        else "date(p.age_cover_until, '+1 day')"
    )
    execute(
        f"""INSERT INTO {losses.table} (person_id, lost_on, reason, previous, member_id, step)
            SELECT p.id, {birthday}, %s, NULL, NULL, 1 FROM {qn(Person._meta.db_table)} p
            WHERE p.lost_on IS NULL AND p.age_cover_until < %s""",  # noqa: S608
        [LossReason.AGE_75, param_date(on)],
    )
    ids = sorted(_losses_record(losses, acting_user=acting_user))
    audit_event(
        action="person.late_elderly_applied",
        actor=acting_user,
        on=on.isoformat(),
        persons=len(ids),
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
