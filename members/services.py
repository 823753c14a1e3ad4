"""Writes to the registry: life events (資格喪失, 氏名変更, 75歳到達) and the two imports.

These are the only paths by which the admin, the management commands and the imports change a
person's qualification or name, so that a loss recorded anywhere has the same consequences (the
household's dependents follow, certificates become 返却待ち, an audit row is written).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from certificates.lifecycle import certificates_require_return
from core.models import audit_event

from .dates import late_elderly_start
from .importing import (
    ImportRefused,
    MemberRecord,
    ParsedCsv,
    RowError,
    import_loss_reason,
    normalize_kana,
    validate_members,
    validate_registration_statuses,
)
from .models import (
    Employer,
    LossReason,
    Person,
    RegistrationSnapshot,
    RegistrationStatus,
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
# Imports


@dataclass
class MembersImportSummary:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    losses_recorded: int = 0  # persons who lost cover, dependents who followed included
    losses_kept: int = 0  # rows whose 資格喪失年月日 is later than the one already recorded
    employers_created: int = 0
    employers_updated: int = 0
    dry_run: bool = False
    # (line, 'new' | 'update' | 'skip', person) for previews; only the first rows are kept.
    preview: list[tuple[int, str, Person]] = field(default_factory=list, repr=False)


_PREVIEW_ROWS = 200
_PERSON_FIELDS = (
    "insured_type",
    "employer_id",
    "voluntary_until",
    "standard_remuneration",
    "name",
    "name_kana",
    "birth_date",
    "sex",
    "postal_code",
    "address",
    "acquired_on",
    "needs_consideration",
)


def _upsert_employers(wanted: dict[str, str], now) -> tuple[dict[str, int], int, int]:
    stored: dict[str, Employer] = {}
    codes = sorted(wanted)
    for i in range(0, len(codes), 900):
        stored.update((e.code, e) for e in Employer.objects.filter(code__in=codes[i : i + 900]))
    new = [Employer(code=c, name=n) for c, n in wanted.items() if c not in stored]
    Employer.objects.bulk_create(new, batch_size=_BATCH)
    renamed = [e for e in stored.values() if e.name != wanted[e.code]]
    for e in renamed:
        e.name = wanted[e.code]
        e.updated_at = now
    Employer.objects.bulk_update(renamed, ["name", "updated_at"], batch_size=_BATCH)
    ids = {e.code: e.pk for e in [*stored.values(), *new]}
    return ids, len(new), len(renamed)


def _column_adapters(model, attnames: list[str]):
    """Per column, the conversion Django's own INSERT would apply (dates and datetimes differ by
    backend; strings, integers, booleans and ids pass through)."""
    ops = connection.ops
    adapters = []
    for name in attnames:
        kind = model._meta.get_field(name).get_internal_type()
        if kind == "DateField":
            adapters.append(ops.adapt_datefield_value)
        elif kind == "DateTimeField":
            adapters.append(ops.adapt_datetimefield_value)
        else:
            adapters.append(None)
    return adapters


def _insert_rows(model, attnames: list[str], rows: list[tuple], *, returning_pk: bool) -> list:
    """Insert plain rows in batches, returning the new primary keys in row order when asked.

    Why not Model.objects.bulk_create: for 100,000 persons plus their history rows the ORM spends
    most of its time building model instances and compiling each value, while these rows are
    already validated tuples. PostgreSQL gets one array per column through UNNEST (as Django's own
    bulk_create does there: few parameters, one plan); other backends get multi-row VALUES under
    their parameter limit (SQLite: 999).
    """
    if not rows:
        return []
    qn = connection.ops.quote_name
    adapters = _column_adapters(model, attnames)
    # Identifiers come from the model metadata (quoted); every value is a query parameter.
    head = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(a) for a in attnames)}) "  # noqa: S608
    tail = f" RETURNING {qn(model._meta.pk.column)}" if returning_pk else ""
    unnest = connection.vendor == "postgresql"
    if unnest:
        # varchar[] rather than varchar(20)[]: a cast to varchar(n) would silently truncate.
        casts = [model._meta.get_field(a).db_type(connection).split("(")[0] for a in attnames]
        body = "SELECT * FROM UNNEST(" + ", ".join(f"%s::{c}[]" for c in casts) + ")"  # noqa: S608
        per_batch = 5000
    else:
        limit = connection.features.max_query_params or 65535
        per_batch = max(1, min(1000, limit // len(attnames)))
        one = "(" + ", ".join(["%s"] * len(attnames)) + ")"
    pks: list = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_batch):
            batch = [
                [
                    adapt(value) if adapt is not None and value is not None else value
                    for adapt, value in zip(adapters, row, strict=True)
                ]
                for row in rows[start : start + per_batch]
            ]
            if unnest:
                cursor.execute(head + body + tail, [list(col) for col in zip(*batch, strict=True)])
            else:
                values = "VALUES " + ", ".join([one] * len(batch))
                cursor.execute(head + values + tail, [v for row in batch for v in row])
            if returning_pk:
                pks.extend(r[0] for r in cursor.fetchall())
    return pks


def _create_persons(values: list[dict], *, now, acting_user) -> list[int]:
    """Insert new persons and their creation history ("+" rows of django-simple-history, by the
    importing user, reason 取込); returns the new ids in order."""
    fields = [f for f in Person._meta.concrete_fields if not f.primary_key]
    attnames = [f.attname for f in fields]
    defaults = {
        f.attname: (
            now
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            else f.get_default()
        )
        for f in fields
    }
    rows = [tuple(v.get(a, defaults[a]) for a in attnames) for v in values]
    pks = _insert_rows(Person, attnames, rows, returning_pk=True)
    if len(pks) != len(
        rows
    ):  # pragma: no cover - RETURNING is required (PostgreSQL, SQLite ≥ 3.35)
        raise RuntimeError("the database did not return the ids of the inserted persons")

    history = Person.history.model
    hist_names = [f.attname for f in history._meta.concrete_fields if f.attname != "history_id"]
    position = {a: i for i, a in enumerate(attnames)}
    extra = {
        "history_date": now,
        "history_change_reason": _IMPORT_REASON,
        "history_type": "+",
        "history_user_id": acting_user.pk if acting_user is not None else None,
    }
    hist_rows = []
    for pk, row in zip(pks, rows, strict=True):
        hist_rows.append(
            tuple(
                pk
                if a == "id"
                else row[position[a]]
                if a in position
                else extra[a]
                if a in extra
                else history._meta.get_field(a).get_default()
                for a in hist_names
            )
        )
    _insert_rows(history, hist_names, hist_rows, returning_pk=False)
    return pks


@transaction.atomic
def members_import(
    *, parsed: ParsedCsv, source_name: str = "", acting_user=None, dry_run: bool = False
) -> MembersImportSummary:
    """Import a members file (rules.md "Members import") whole or not at all.

    Validation is complete before anything is written (members.importing); writes are bulk inserts
    and updates in batches, with django-simple-history rows for every created or changed person. A
    資格喪失年月日 goes through `person_record_loss`, as in the admin. An empty 資格喪失年月日 never
    clears a recorded loss, and a later date than the recorded one does not move it (the 75歳 rule
    and the dependents' cascade may have recorded an earlier one); a clerk corrects such a loss in
    the admin. With `dry_run` everything is done and then rolled back.
    """
    plan = validate_members(parsed)
    now = timezone.now()
    summary = MembersImportSummary(rows=len(plan.records), dry_run=dry_run)
    employer_ids, summary.employers_created, summary.employers_updated = _upsert_employers(
        plan.employers, now
    )

    new_heads: list[tuple[MemberRecord, dict]] = []
    new_dependents: list[tuple[MemberRecord, dict]] = []
    to_update: list[Person] = []
    changed_fields: set[str] = set()
    by_line: dict[int, tuple[str, Person | None]] = {}
    for rec in plan.records:
        values = {
            "insured_type": rec.insured_type,
            "employer_id": employer_ids[rec.employer_code] if rec.employer_code else None,
            "voluntary_until": rec.voluntary_until,
            "standard_remuneration": rec.standard_remuneration,
            "name": rec.name,
            "name_kana": rec.name_kana,
            "birth_date": rec.birth_date,
            "sex": rec.sex,
            "postal_code": rec.postal_code,
            "address": rec.address,
            "acquired_on": rec.acquired_on,
            "needs_consideration": rec.needs_consideration,
        }
        current = plan.existing.get(rec.key)
        if current is None:
            kigo, bango, edaban = rec.key
            values.update(kigo=kigo, bango=bango, edaban=edaban, relationship=rec.relationship)
            if rec.relationship == Relationship.SELF:
                new_heads.append((rec, values))
            else:
                new_dependents.append((rec, values))
            by_line[rec.line] = ("new", None)
            continue
        diff = [f for f in _PERSON_FIELDS if getattr(current, f) != values[f]]
        if diff:
            for f in diff:
                setattr(current, f, values[f])
            current.updated_at = now
            changed_fields.update(diff)
            to_update.append(current)
            by_line[rec.line] = ("update", current)
        else:
            by_line[rec.line] = ("skip", current)

    # 本人 first: their new ids are the 家族's member_id.
    head_ids = {household: p.pk for household, p in plan.heads.items()}
    pks = _create_persons([v for _, v in new_heads], now=now, acting_user=acting_user)
    head_ids.update((rec.household, pk) for (rec, _), pk in zip(new_heads, pks, strict=True))
    new_ids = {rec.line: pk for (rec, _), pk in zip(new_heads, pks, strict=True)}
    for rec, values in new_dependents:
        values["member_id"] = head_ids[rec.household]
    pks = _create_persons([v for _, v in new_dependents], now=now, acting_user=acting_user)
    new_ids.update((rec.line, pk) for (rec, _), pk in zip(new_dependents, pks, strict=True))

    history = {"default_user": acting_user, "default_change_reason": _IMPORT_REASON}
    if to_update:
        bulk_update_with_history(
            to_update,
            Person,
            [*sorted(changed_fields), "updated_at"],
            batch_size=_BATCH,
            **history,
        )
    summary.created = len(new_heads) + len(new_dependents)
    summary.updated = len(to_update)
    summary.unchanged = len(plan.records) - summary.created - summary.updated

    # Persons are loaded as model instances only where a service or the preview needs them.
    created = {}
    wanted = [line for line, (kind, _) in sorted(by_line.items()) if kind == "new"][:_PREVIEW_ROWS]
    wanted += [rec.line for rec in plan.records if rec.lost_on and by_line[rec.line][0] == "new"]
    if wanted:
        ids = [new_ids[line] for line in wanted]
        for i in range(0, len(ids), 900):
            created.update(Person.objects.in_bulk(ids[i : i + 900]))
        for line in wanted:
            by_line[line] = ("new", created[new_ids[line]])

    # Losses: 本人 first, so that their dependents follow before the dependents' own rows are seen.
    lost_now = {p.pk: p.lost_on for p in plan.existing.values()}
    errors: list[RowError] = []
    for relationship in (Relationship.SELF, Relationship.DEPENDENT):
        for rec in plan.records:
            if rec.relationship != relationship or rec.lost_on is None:
                continue
            person = by_line[rec.line][1]
            current = lost_now.get(person.pk)
            if current is not None and current <= rec.lost_on:
                summary.losses_kept += current != rec.lost_on
                continue
            try:
                result = person_record_loss(
                    person=person,
                    lost_on=rec.lost_on,
                    reason=import_loss_reason(person, rec.lost_on),
                    acting_user=acting_user,
                )
            except ValidationError as exc:
                errors += [RowError(rec.line, "資格喪失年月日", m) for m in exc.messages]
                continue
            for p in result:
                lost_now[p.pk] = p.lost_on
            summary.losses_recorded += len(result)
    if errors:
        raise ImportRefused(errors)

    summary.preview = [(line, kind, p) for line, (kind, p) in sorted(by_line.items())][
        :_PREVIEW_ROWS
    ]
    audit_event(
        action="import.members",
        actor=acting_user,
        source=source_name,
        rows=summary.rows,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        losses_recorded=summary.losses_recorded,
        losses_kept=summary.losses_kept,
        employers_created=summary.employers_created,
        employers_updated=summary.employers_updated,
    )
    if dry_run:
        transaction.set_rollback(True)
    return summary


@dataclass
class StatusImportSummary:
    rows: int
    by_status: dict[str, int]
    snapshot: RegistrationSnapshot
    dry_run: bool = False


@transaction.atomic
def registration_status_import(
    *,
    parsed: ParsedCsv,
    as_of: date,
    source_name: str = "",
    acting_user=None,
    dry_run: bool = False,
) -> StatusImportSummary:
    """Import the monthly マイナ保険証 利用登録状況 file as a new dated snapshot (rules.md
    "Registration-status import"): earlier snapshots are never changed, so the status used by any
    past run can be reproduced. Whole or not at all; `dry_run` rolls back. A 基準日 after today is
    refused: the file cannot describe a day that has not come."""
    if as_of > timezone.localdate():
        raise ImportRefused(
            [RowError(None, "基準日", f"{as_of:%Y-%m-%d} は今日より後の日付です(基準日は今日以前)")]
        )
    records = validate_registration_statuses(parsed)
    snapshot = RegistrationSnapshot.objects.create(
        as_of=as_of, source_name=source_name[:255], row_count=len(records), imported_by=acting_user
    )
    RegistrationStatus.objects.bulk_create(
        [
            RegistrationStatus(
                snapshot=snapshot,
                person_id=rec.person_id,
                as_of=as_of,
                status=rec.status,
                ec_expiry=rec.ec_expiry,
            )
            for rec in records
        ],
        batch_size=1000,
    )
    # rules.md "No return needed": a certificate made unnecessary by a 登録済 status in this snapshot
    # becomes 返却不要 (except for 要配慮者), in the same transaction as the import.
    from certificates.lifecycle import certificates_apply_registration_snapshot

    certificates_apply_registration_snapshot(snapshot=snapshot, acting_user=acting_user)
    by_status = dict(Counter(rec.status for rec in records))
    audit_event(
        action="import.registration_status",
        actor=acting_user,
        obj=snapshot,
        as_of=as_of.isoformat(),
        source=source_name,
        rows=len(records),
        by_status=by_status,
    )
    if dry_run:
        transaction.set_rollback(True)
    return StatusImportSummary(
        rows=len(records), by_status=by_status, snapshot=snapshot, dry_run=dry_run
    )
