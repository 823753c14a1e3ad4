"""The two registry imports at the size of a whole register (rules.md "Members import",
"Registration-status import"): flat memory, set-wise writes, whole or not at all.

How an import runs, all inside one transaction:

1. the file is streamed (members.importing.CsvStream: encoding detected over the whole file first,
   then decoded and split as it is read); every row goes through the row validators of
   members.importing (the same messages, the same row numbers as ever) and the valid rows are loaded
   into a staging table in chunks of `staging.CHUNK_ROWS` (members.staging: a temporary table,
   `COPY` on PostgreSQL). Nothing but the current chunk and the first errors is held in memory;
2. the cross-row rules are checked in SQL over the staging table and the register (duplicate keys, one
   本人 per household, one name per 事業所記号, 家族 without 本人 in the file or the database, a
   本人家族区分 that would change, …). Any error refuses the file: the transaction is rolled back and
   nothing was written;
3. the rows are merged into the register with set-wise statements: 事業所 upserted, new persons
   inserted (本人 first, then 家族 pointing at them), changed persons updated, and the
   django-simple-history rows ("+" and "~", by the importing user, reason 取込) written with
   `INSERT … SELECT` from the rows just written;
4. 資格喪失年月日 are applied with person_record_loss's rules, set-wise (members.services has the
   per-person service the admin uses): a 本人's loss takes their dependents along (reason
   被保険者の資格喪失), a dependent's own earlier loss is kept, a recorded loss is never moved later or
   cleared; each recording gets its history row and its `person.loss_recorded` audit row, and the
   certificates of the persons who lost cover are put up for return
   (members.signals.persons_lost → certificates.receivers, only for persons who hold an active one).

`progress(phase, fraction)` is called as the import advances (the CLI's bar, the admin's job page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.db import analyze_if_stale
from core.models import AuditEvent, audit_event

from .dates import derived_person_fields
from .formats import MEMBER_COLUMNS, STATUS_COLUMNS
from .importing import (
    _STATUSES,
    CsvStream,
    ErrorCollector,
    ImportRefused,
    ParsedCsv,
    ParsedRows,
    RowError,
    _check_cells,
    _check_header,
    _member_row,
    _Row,
    import_loss_reason,
)
from .models import (
    Employer,
    LossReason,
    Person,
    RegistrationSnapshot,
    RegistrationStatus,
    RegistrationStatusValue,
    Relationship,
)
from .signals import persons_lost, registration_snapshot_imported
from .staging import (
    CHUNK_ROWS,
    Stage,
    distinct,
    execute,
    numbered,
    param_date,
    param_datetime,
    qn,
    scalar,
    serialize_registry_imports,
)

Progress = Callable[[str, float], None]
_IMPORT_REASON = "取込"
_PREVIEW_ROWS = 200
_AUDIT_BATCH = 2000

# Person columns an import sets from the file (and compares to decide 更新 / 変更なし).
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

# Derived columns the merge copies from the stage (members.dates computes them per row).
_DERIVED_DATES = ("age_cover_until", "elderly_from")

_MEMBER_STAGE = (
    ("line", "int"),
    ("kigo", "text"),
    ("bango", "text"),
    ("edaban", "text"),
    ("relationship", "text"),
    ("insured_type", "text"),
    ("employer_code", "text"),
    ("employer_name", "text"),
    ("name", "text"),
    ("name_kana", "text"),
    ("birth_date", "date"),
    ("sex", "text"),
    ("postal_code", "text"),
    ("address", "text"),
    ("acquired_on", "date"),
    ("lost_on", "date"),
    ("voluntary_until", "date"),
    ("standard_remuneration", "int"),
    ("needs_consideration", "bool"),
    ("loss_reason", "text"),  # the reason a loss in this row would be recorded with
    # The date law stored on the person, from members.dates.derived_person_fields (its only home).
    ("age_cover_until", "date"),
    ("elderly_from", "date"),
)
_MEMBER_STAGE_FILLED = (
    ("person_id", "int"),
    ("prev_lost_on", "date"),
    ("kind", "text"),  # NULL = new, 'update', 'skip'
)
_LOSS_STAGE = (
    ("person_id", "int"),
    ("lost_on", "date"),
    ("reason", "text"),
    ("previous", "date"),
    ("member_id", "int"),
    ("step", "int"),
)


def _noop(phase: str, fraction: float) -> None:
    pass


def _rows_of(source) -> CsvStream | ParsedRows:
    if isinstance(source, ParsedCsv):
        return ParsedRows(source)
    return CsvStream(source)


def _key_join(a: str, b: str) -> str:
    return f"{a}.kigo = {b}.kigo AND {a}.bango = {b}.bango AND {a}.edaban = {b}.edaban"


def _collect(errors: ErrorCollector, sql: str, params: list, build) -> None:
    """Add a query's errors: all counted, the first still fitting kept (query ordered by line)."""
    total = scalar(f"SELECT COUNT(*) FROM ({sql}) q", params)  # noqa: S608
    if not total:
        return
    room = errors.keep - len(errors.kept)
    if room > 0:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM ({sql}) q ORDER BY 1, 2 LIMIT {int(room)}", params)  # noqa: S608
            errors.kept.extend(build(row) for row in cursor.fetchall())
    errors.total += total


# ---------------------------------------------------------------------------------------------
# Members


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


@lru_cache(maxsize=1 << 16)  # a pure function of the date; a register repeats its birth dates
def _derived_dates(birth_date: date) -> tuple[date, date]:
    """age_cover_until and elderly_from of a row (the household is settled after the merge)."""
    derived = derived_person_fields(birth_date=birth_date, member_id=None, pk=None)
    return derived["age_cover_until"], derived["elderly_from"]


def _stage_file(
    stream, stage: Stage, errors: ErrorCollector, progress: Progress, columns, staged_row
) -> None:
    """The reading both registry imports share: the header, each row's cells (width, My Number,
    control characters), then `staged_row(line, cells, row_errors)`, the tuple to stage (or None);
    staged in chunks of CHUNK_ROWS with the reading's progress; a file of no rows is refused."""
    header_errors = _check_header(stream.header, columns)
    if header_errors:
        raise ImportRefused(header_errors)
    chunk: list[tuple] = []
    seen = 0
    for line, cells in stream.rows():
        seen += 1
        row, row_errors = _check_cells(line, cells, columns)
        # a row holding a 個人番号 is not looked at further: nothing of it is echoed
        if row is not None and not row_errors:
            staged = staged_row(line, row, row_errors)
            if staged is not None:
                chunk.append(staged)
        errors.extend(row_errors)
        if len(chunk) >= CHUNK_ROWS:
            stage.load(chunk)
            chunk = []
            progress("読込・検証", stream.fraction())
    stage.load(chunk)
    progress("読込・検証", 1.0)
    if not seen:
        raise ImportRefused([RowError(None, None, "データ行がありません")])


def _staged_member(line: int, row: dict[str, str], row_errors: list[RowError]) -> tuple | None:
    """A valid members row as the stage holds it (a row with any error is not staged)."""
    rec = _member_row(line, row, row_errors)
    if row_errors:
        return None
    kigo, bango, edaban = rec.key
    return (
        line,
        kigo,
        bango,
        edaban,
        rec.relationship,
        rec.insured_type,
        rec.employer_code,
        rec.employer_name,
        rec.name,
        rec.name_kana,
        rec.birth_date,
        rec.sex,
        rec.postal_code,
        rec.address,
        rec.acquired_on,
        rec.lost_on,
        rec.voluntary_until,
        rec.standard_remuneration,
        rec.needs_consideration,
        import_loss_reason(rec, rec.lost_on) if rec.lost_on else "",
        *_derived_dates(rec.birth_date),
    )


def _check_members(stage: Stage, errors: ErrorCollector) -> None:
    """The rules across rows, in the order they are reported: within the file (a duplicate key, a
    second 本人 of a household, a second name of a 事業所記号), then against the register (a
    本人家族区分 that would change, a 家族 whose 本人 is neither in the file nor stored, a 本人 whose
    household is stored under another 枝番, a 資格取得 after a recorded loss that the import keeps)."""
    s = stage.table
    person = qn(Person._meta.db_table)
    within = f"""
        WITH r AS (
            SELECT line, kigo, bango, relationship, employer_code, employer_name,
                   MIN(line) OVER (PARTITION BY kigo, bango, edaban) AS first_line
            FROM {s}
        ), nd AS (SELECT * FROM r WHERE line = first_line),
        h AS (
            SELECT line, MIN(line) OVER (PARTITION BY kigo, bango) AS head_line
            FROM nd WHERE relationship = %s
        ),
        e AS (
            SELECT line, employer_name,
                   FIRST_VALUE(employer_name) OVER (PARTITION BY employer_code ORDER BY line)
                       AS first_name,
                   MIN(line) OVER (PARTITION BY employer_code) AS first_line
            FROM nd WHERE employer_code <> ''
        )
        SELECT line, 0 AS seq, first_line AS other FROM r WHERE line <> first_line
        UNION ALL SELECT line, 1, head_line FROM h WHERE line <> head_line
        UNION ALL SELECT line, 2, first_line FROM e WHERE employer_name <> first_name
    """  # noqa: S608

    def build_within(row) -> RowError:
        line, seq, other = row
        if seq == 0:
            return RowError(
                line, "記号・番号・枝番", f"記号・番号・枝番が{other}行目と重複しています"
            )
        if seq == 1:
            return RowError(
                line, "枝番", f"同じ記号・番号の本人が{other}行目にもあります（本人は世帯に1人）"
            )
        return RowError(line, "事業所名称", f"同じ事業所記号の事業所名称が{other}行目と異なります")

    _collect(errors, within, [Relationship.SELF], build_within)

    changed = (
        f"EXISTS (SELECT 1 FROM {person} c "  # noqa: S608
        f"WHERE {_key_join('c', 's')} AND c.relationship <> s.relationship)"
    )
    against = f"""
        SELECT s.line, 0 AS seq, p.relationship AS info
        FROM {s} s JOIN {person} p ON {_key_join("p", "s")}
        WHERE p.relationship <> s.relationship
        UNION ALL
        SELECT s.line, 1, NULL FROM {s} s
        WHERE s.relationship = %s
          AND NOT EXISTS (SELECT 1 FROM {s} f
                          WHERE f.kigo = s.kigo AND f.bango = s.bango AND f.relationship = %s)
          AND NOT EXISTS (SELECT 1 FROM {person} h
                          WHERE h.kigo = s.kigo AND h.bango = s.bango AND h.relationship = %s)
          AND NOT {changed}
        UNION ALL
        SELECT s.line, 2, h.edaban FROM {s} s
        JOIN {person} h ON h.kigo = s.kigo AND h.bango = s.bango AND h.relationship = %s
        WHERE s.relationship = %s AND h.edaban <> s.edaban AND NOT {changed}
        UNION ALL
        SELECT s.line, 3, NULL FROM {s} s JOIN {person} p ON {_key_join("p", "s")}
        WHERE p.relationship = s.relationship AND p.lost_on IS NOT NULL AND s.lost_on IS NULL
          AND p.lost_on < s.acquired_on
    """  # noqa: S608
    self_, dep = Relationship.SELF, Relationship.DEPENDENT

    def build_against(row) -> RowError:
        line, seq, info = row
        if seq == 0:
            return RowError(
                line,
                "本人家族区分",
                f"登録済みの加入者は{info}です。本人家族区分は取込で変更できません",
            )
        if seq == 1:
            return RowError(
                line, "記号・番号", "同じ記号・番号の本人がファイルにも登録済みの加入者にもいません"
            )
        if seq == 2:
            return RowError(line, "枝番", f"この記号・番号の本人は枝番{info}で登録済みです")
        return RowError(
            line,
            "資格取得年月日",
            "登録済みの資格喪失年月日より後の資格取得年月日は指定できません",
        )

    _collect(errors, against, [dep, self_, self_, self_, self_], build_against)


def _merge_employers(stage: Stage, now) -> tuple[int, int]:
    s = stage.table
    emp = qn(Employer._meta.db_table)
    wanted = f"""(SELECT employer_code AS code, MIN(employer_name) AS name FROM {s}
                  WHERE employer_code <> '' GROUP BY employer_code)"""  # noqa: S608
    renamed = execute(
        f"""UPDATE {emp} SET name = w.name, updated_at = %s FROM {wanted} w
            WHERE {emp}.code = w.code AND {emp}.name <> w.name""",  # noqa: S608
        [param_datetime(now)],
    )
    fields = [f for f in Employer._meta.concrete_fields if not f.primary_key]
    exprs, params = [], []
    for f in fields:
        if f.attname in ("code", "name"):
            exprs.append(f"w.{f.attname}")
        elif f.attname in ("created_at", "updated_at"):
            exprs.append("%s")
            params.append(param_datetime(now))
        else:
            exprs.append("%s")
            params.append(f.get_db_prep_save(f.get_default(), connection))
    created = execute(
        f"""INSERT INTO {emp} ({", ".join(qn(f.column) for f in fields)})
            SELECT {", ".join(exprs)} FROM {wanted} w
            WHERE NOT EXISTS (SELECT 1 FROM {emp} e WHERE e.code = w.code)
            ORDER BY w.code""",  # noqa: S608
        params,
    )
    return created, renamed


def _staged(alias: str, column: str) -> str:
    """A person column as the stage row `alias` gives it: the 事業所 is looked up by its code (the
    事業所 merged just before), every other column is the stage's own."""
    if column == "employer_id":
        emp = qn(Employer._meta.db_table)
        return f"(SELECT e.id FROM {emp} e WHERE e.code = NULLIF({alias}.employer_code, ''))"  # noqa: S608
    return f"{alias}.{qn(column)}"


def _history_insert(select_from: str, where: str, params: list, *, kind: str, now, user, reason):
    """django-simple-history rows for the persons a statement just wrote, set-wise: each row is the
    person as stored now (`p`), as `Model.save()` would have recorded it."""
    history = Person.history.model
    person_columns = {f.attname: f.column for f in Person._meta.concrete_fields}
    names, exprs, values = [], [], []
    extra = {
        "history_date": param_datetime(now),
        "history_change_reason": reason,
        "history_type": kind,
        "history_user_id": user.pk if user is not None else None,
    }
    for f in history._meta.concrete_fields:
        if f.attname == "history_id":
            continue
        names.append(qn(f.column))
        if f.attname in person_columns:
            exprs.append(f"p.{qn(person_columns[f.attname])}")
        elif f.attname in extra:
            exprs.append("%s")
            values.append(extra[f.attname])
        else:
            exprs.append("%s")
            values.append(f.get_db_prep_save(f.get_default(), connection))
    table = qn(history._meta.db_table)
    return execute(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(exprs)} "  # noqa: S608
        f"FROM {select_from} WHERE {where}",
        [*values, *params],
    )


def _insert_new_persons(stage: Stage, now, user) -> int:
    """New persons, set-wise: 本人 first, each written with their own id as their household
    (staging.numbered hands the ids out in the INSERT), then 家族 pointing at their 本人."""
    s = stage.table
    person = qn(Person._meta.db_table)
    fields = [f for f in Person._meta.concrete_fields if not f.primary_key]
    from_stage = {c for c, _ in _MEMBER_STAGE} | {"employer_id"}
    inserted = 0
    for relationship in (Relationship.SELF, Relationship.DEPENDENT):
        is_self = relationship == Relationship.SELF
        exprs, params = [], []
        for f in fields:
            if f.attname in ("member_id", "household_id"):
                if is_self:
                    exprs.append("s.new_id" if f.attname == "household_id" else "NULL")
                else:
                    exprs.append("h.id")  # their 本人, stored or just inserted
            elif f.attname in ("lost_on", "loss_reason"):
                # a loss in the file is recorded afterwards, as person_record_loss does
                exprs.append("%s")
                params.append(None if f.attname == "lost_on" else "")
            elif f.attname in from_stage:
                exprs.append(_staged("s", f.attname))
            elif f.attname in ("created_at", "updated_at"):
                exprs.append("%s")
                params.append(param_datetime(now))
            else:
                exprs.append("%s")
                params.append(f.get_db_prep_save(f.get_default(), connection))
        columns = [qn(f.column) for f in fields]
        new_rows = f"SELECT * FROM {s} WHERE kind IS NULL AND relationship = %s"  # noqa: S608
        if is_self:
            columns.insert(0, qn(Person._meta.pk.column))
            exprs.insert(0, "s.new_id")
            source = f"({numbered(Person, new_rows, order='line')}) s"
            order = "s.new_id"
            joined = []
        else:
            # (the checks refused a 家族 whose 本人 is neither in the file nor stored)
            source = (
                f"({new_rows}) s JOIN {person} h"  # noqa: S608
                " ON h.kigo = s.kigo AND h.bango = s.bango AND h.relationship = %s"
            )
            order = "s.line"
            joined = [Relationship.SELF]
        inserted += execute(
            f"INSERT INTO {person} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(exprs)} FROM {source} ORDER BY {order}",
            [*params, relationship, *joined],
        )
    _history_insert(
        f"{s} s JOIN {person} p ON {_key_join('p', 's')}",
        "s.kind IS NULL",
        [],
        kind="+",
        now=now,
        user=user,
        reason=_IMPORT_REASON,
    )
    return inserted


def _update_persons(stage: Stage, now, user) -> int:
    s = stage.table
    person = qn(Person._meta.db_table)
    sets = ", ".join(f"{qn(f)} = {_staged('s', f)}" for f in (*_PERSON_FIELDS, *_DERIVED_DATES))
    updated = execute(
        f"UPDATE {person} SET {sets}, updated_at = %s FROM {s} s "  # noqa: S608
        f"WHERE s.kind = 'update' AND {person}.id = s.person_id",
        [param_datetime(now)],
    )
    _history_insert(
        f"{s} s JOIN {person} p ON p.id = s.person_id",
        "s.kind = 'update'",
        [],
        kind="~",
        now=now,
        user=user,
        reason=_IMPORT_REASON,
    )
    return updated


def _apply_losses(stage: Stage, summary: MembersImportSummary, now, user) -> None:
    """person_record_loss's rules for every loss in the file, set-wise (see the module docstring)."""
    s = stage.table
    person = qn(Person._meta.db_table)
    losses = Stage("import_stage_losses", _LOSS_STAGE)
    losses.create()
    lt = losses.table
    self_, dep = Relationship.SELF, Relationship.DEPENDENT
    recording = "s.lost_on IS NOT NULL AND (s.prev_lost_on IS NULL OR s.prev_lost_on > s.lost_on)"
    heads = f"{s} s JOIN {person} p ON {_key_join('p', 's')}"

    summary.losses_kept += scalar(
        f"SELECT COUNT(*) FROM {s} s WHERE s.relationship = %s AND s.lost_on IS NOT NULL"  # noqa: S608
        " AND s.prev_lost_on IS NOT NULL AND s.prev_lost_on < s.lost_on",
        [self_],
    )
    # A 本人's loss cannot precede a dependent's 資格取得 (person_record_loss refuses it).
    errors = ErrorCollector()
    _collect(
        errors,
        f"""SELECT s.line, 0 AS seq, MIN(d.edaban) AS edaban
            FROM {heads} JOIN {person} d ON d.member_id = p.id
            WHERE s.relationship = %s AND {recording}
              AND (d.lost_on IS NULL OR d.lost_on > s.lost_on) AND d.acquired_on > s.lost_on
            GROUP BY s.line""",  # noqa: S608
        [self_],
        lambda row: RowError(
            row[0],
            "資格喪失年月日",
            f"被扶養者（枝番{row[2]}）の資格取得年月日がこの資格喪失年月日より後です。"
            "被扶養者の資格取得年月日を先に訂正してください",
        ),
    )
    if errors:
        raise errors.refusal()

    execute(
        f"""INSERT INTO {lt} (person_id, lost_on, reason, previous, member_id, step)
            SELECT p.id, s.lost_on, s.loss_reason, s.prev_lost_on, NULL, 1 FROM {heads}
            WHERE s.relationship = %s AND {recording}""",  # noqa: S608
        [self_],
    )
    execute(
        f"""INSERT INTO {lt} (person_id, lost_on, reason, previous, member_id, step)
            SELECT d.id, l.lost_on, %s, d.lost_on, l.person_id, 2
            FROM {lt} l JOIN {person} d ON d.member_id = l.person_id
            WHERE l.step = 1 AND (d.lost_on IS NULL OR d.lost_on > l.lost_on)""",  # noqa: S608
        [LossReason.MEMBER_LOST],
    )
    _record_losses(losses, (1, 2), now, user, summary)

    # Then the dependents' own rows, against their loss as it stands now (a member's may have come).
    current = f"{s} s JOIN {person} p ON {_key_join('p', 's')}"
    summary.losses_kept += scalar(
        f"SELECT COUNT(*) FROM {current} WHERE s.relationship = %s AND s.lost_on IS NOT NULL"  # noqa: S608
        " AND p.lost_on IS NOT NULL AND p.lost_on < s.lost_on",
        [dep],
    )
    execute(
        f"""INSERT INTO {lt} (person_id, lost_on, reason, previous, member_id, step)
            SELECT p.id, s.lost_on, s.loss_reason, p.lost_on, NULL, 3 FROM {current}
            WHERE s.relationship = %s AND s.lost_on IS NOT NULL
              AND (p.lost_on IS NULL OR p.lost_on > s.lost_on)""",  # noqa: S608
        [dep],
    )
    _record_losses(losses, (3,), now, user, summary)
    losses.drop()


def _record_losses(losses: Stage, steps: tuple[int, ...], now, user, summary=None) -> int:
    """Write the losses staged in `losses` (rows of _LOSS_STAGE with a step in `steps`) set-wise:
    the persons' columns, their history rows, one audit row each and their certificates put up
    for return. Also the writer of persons_apply_75th_birthday (members.services). Returns how
    many persons changed."""
    lt = losses.table
    person = qn(Person._meta.db_table)
    in_steps = f"l.step IN ({', '.join(str(int(x)) for x in steps)})"
    count = execute(
        f"UPDATE {person} SET lost_on = l.lost_on, loss_reason = l.reason, updated_at = %s "  # noqa: S608
        f"FROM {lt} l WHERE {in_steps} AND {person}.id = l.person_id",
        [param_datetime(now)],
    )
    if not count:
        return 0
    if summary is not None:
        summary.losses_recorded += count
    _history_insert(
        f"{lt} l JOIN {person} p ON p.id = l.person_id",
        in_steps,
        [],
        kind="~",
        now=now,
        user=user,
        reason=None,
    )
    # One audit row per recording, as person_record_loss writes them, in bounded batches.
    label = Person._meta.label
    for step in steps:
        last = 0
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT person_id, lost_on, reason, previous, member_id FROM {lt} l "  # noqa: S608
                    "WHERE l.step = %s AND l.person_id > %s ORDER BY l.person_id LIMIT %s",
                    [step, last, _AUDIT_BATCH],
                )
                batch = cursor.fetchall()
            if not batch:
                break
            last = batch[-1][0]
            events = []
            for pid, lost_on, reason, previous, member_id in batch:
                detail = {
                    "lost_on": _iso(lost_on),
                    "reason": reason,
                    "previous_lost_on": _iso(previous) if previous else None,
                }
                if member_id is not None:
                    detail["member_id"] = member_id
                events.append(
                    AuditEvent(
                        action="person.loss_recorded",
                        actor=user,
                        object_type=label,
                        object_id=str(pid),
                        detail=detail,
                    )
                )
            AuditEvent.objects.bulk_create(events)
    # Their certificates (members.signals.persons_lost; certificates.receivers), all at once.
    persons_lost.send(
        sender=Person,
        persons=Person.objects.filter(
            pk__in=RawSQL(f"SELECT l.person_id FROM {lt} l WHERE {in_steps}", [])  # noqa: S608, S611 (stage table, int steps)
        ),
        acting_user=user,
    )
    return count


def _iso(value) -> str:
    return _as_date(value).isoformat()


def _as_date(value) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _preview(stage: Stage) -> list[tuple[int, str, Person]]:
    from .selectors import person_ids_by_keys

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT line, kind, kigo, bango, edaban FROM {stage.table} "  # noqa: S608
            f"ORDER BY line LIMIT {_PREVIEW_ROWS}"
        )
        rows = cursor.fetchall()
    ids = person_ids_by_keys([(k, b, e) for *_, k, b, e in rows])
    persons = Person.objects.in_bulk(list(ids.values()))
    return [
        (line, kind or "new", persons[ids[(k, b, e)]])
        for line, kind, k, b, e in rows
        if (k, b, e) in ids
    ]


@transaction.atomic
def members_import(
    *,
    source=None,
    parsed: ParsedCsv | None = None,
    source_name: str = "",
    acting_user=None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> MembersImportSummary:
    """Import a members file (rules.md "Members import") whole or not at all.

    `source` is a path, bytes or a seekable binary file (streamed), or `parsed` a file the admin has
    already read. An empty 資格喪失年月日 never clears a recorded loss, and a later date than the
    recorded one does not move it (the 75歳 rule and the dependents' cascade may have recorded an
    earlier one); a clerk corrects such a loss in the admin. With `dry_run` everything is done and
    then rolled back.
    """
    progress = progress or _noop
    serialize_registry_imports()
    now = timezone.now()
    stage = Stage("import_stage_members", _MEMBER_STAGE, _MEMBER_STAGE_FILLED)
    stage.create()
    errors = ErrorCollector()
    with _rows_of(parsed if parsed is not None else source) as stream:
        _stage_file(stream, stage, errors, progress, MEMBER_COLUMNS, _staged_member)
    stage.index("kigo", "bango", "edaban")
    stage.index("employer_code")
    progress("ファイル内・登録済みとの照合", 0.0)
    _check_members(stage, errors)
    if errors:
        raise errors.refusal()

    summary = MembersImportSummary(rows=stage.rows, dry_run=dry_run)
    progress("反映", 0.0)
    summary.employers_created, summary.employers_updated = _merge_employers(stage, now)
    s = stage.table
    person = qn(Person._meta.db_table)
    diff = " OR ".join(distinct(_staged(s, f), f"p.{qn(f)}") for f in _PERSON_FIELDS)
    execute(
        f"UPDATE {s} SET person_id = p.id, prev_lost_on = p.lost_on, "  # noqa: S608
        f"kind = CASE WHEN {diff} THEN 'update' ELSE 'skip' END "
        f"FROM {person} p WHERE {_key_join('p', s)}"
    )
    stage.index("person_id")  # also refreshes the statistics: kind and person_id are now known
    summary.created = _insert_new_persons(stage, now, acting_user)
    progress("反映", 0.5)
    summary.updated = _update_persons(stage, now, acting_user)
    summary.unchanged = summary.rows - summary.created - summary.updated
    _apply_losses(stage, summary, now, acting_user)
    progress("反映", 0.9)

    summary.preview = _preview(stage)
    stage.drop()
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
    # the planner must see the new rows before the next run is selected (core.db)
    transaction.on_commit(
        lambda: analyze_if_stale(Person, Person.history.model, Employer, AuditEvent)
    )
    progress("完了", 1.0)
    if dry_run:
        transaction.set_rollback(True)
    return summary


# ---------------------------------------------------------------------------------------------
# Registration status

_STATUS_STAGE = (
    ("line", "int"),
    ("kigo", "text"),
    ("bango", "text"),
    ("edaban", "text"),
    ("status", "text"),
    ("ec_expiry", "date"),
    ("ok", "bool"),  # the row itself is valid (a row with a key is staged for the duplicate check)
)


@dataclass
class StatusImportSummary:
    rows: int
    by_status: dict[str, int]
    snapshot: RegistrationSnapshot
    dry_run: bool = False


def _staged_status(line: int, row: dict[str, str], row_errors: list[RowError]) -> tuple | None:
    """A status row with a key is staged even when it is refused (`ok` false): the duplicate-key
    check needs every key of the file."""
    r = _Row(line, row, row_errors)
    key = r.key()
    status = r.choice("登録状況", _STATUSES)
    ec_expiry = r.date("電子証明書有効期限")
    if status == RegistrationStatusValue.EC_EXPIRED and not row["電子証明書有効期限"].strip():
        r.error(
            "電子証明書有効期限", "登録状況が電子証明書失効の行には電子証明書有効期限が必要です"
        )
    return None if key is None else (line, *key, status, ec_expiry, not row_errors)


def _check_statuses(stage: Stage, row_errors: ErrorCollector) -> ErrorCollector:
    """Duplicates go with their row's own errors (line order); unknown persons come after."""
    s = stage.table
    person = qn(Person._meta.db_table)
    dups = ErrorCollector()
    _collect(
        dups,
        f"""SELECT line, 1 AS seq, first_line FROM (
                SELECT line, MIN(line) OVER (PARTITION BY kigo, bango, edaban) AS first_line
                FROM {s}) d WHERE line <> first_line""",  # noqa: S608
        [],
        lambda row: RowError(
            row[0], "記号・番号・枝番", f"記号・番号・枝番が{row[2]}行目と重複しています"
        ),
    )
    errors = ErrorCollector()
    merged = sorted(
        [(e.row, 0, i, e) for i, e in enumerate(row_errors.kept)]
        + [(e.row, 1, i, e) for i, e in enumerate(dups.kept)],
        key=lambda t: t[:3],
    )
    errors.kept = [e for *_, e in merged][: errors.keep]
    errors.total = row_errors.total + dups.total
    _collect(
        errors,
        f"""SELECT s.line, 0 AS seq FROM {s} s
            WHERE s.ok = %s
              AND NOT EXISTS (SELECT 1 FROM {s} o
                              WHERE {_key_join("o", "s")} AND o.line < s.line)
              AND NOT EXISTS (SELECT 1 FROM {person} p WHERE {_key_join("p", "s")})""",  # noqa: S608
        [True],
        lambda row: RowError(row[0], "記号・番号・枝番", "該当する加入者が登録されていません"),
    )
    return errors


@transaction.atomic
def registration_status_import(
    *,
    as_of: date,
    source=None,
    parsed: ParsedCsv | None = None,
    source_name: str = "",
    acting_user=None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> StatusImportSummary:
    """Import the monthly マイナ保険証 利用登録状況 file as a new dated snapshot (rules.md
    "Registration-status import"): earlier snapshots are never changed, so the status used by any
    past run can be reproduced. Whole or not at all; `dry_run` rolls back. A 基準日 after today is
    refused: the file cannot describe a day that has not come."""
    if as_of > timezone.localdate():
        raise ImportRefused(
            [RowError(None, "基準日", f"{as_of:%Y-%m-%d} は今日より後の日付です(基準日は今日以前)")]
        )
    progress = progress or _noop
    serialize_registry_imports()
    stage = Stage("import_stage_statuses", _STATUS_STAGE)
    stage.create()
    row_errors = ErrorCollector()
    with _rows_of(parsed if parsed is not None else source) as stream:
        _stage_file(stream, stage, row_errors, progress, STATUS_COLUMNS, _staged_status)
    stage.index("kigo", "bango", "edaban", "line")
    progress("登録済みとの照合", 0.0)
    errors = _check_statuses(stage, row_errors)
    if errors:
        raise errors.refusal()

    s = stage.table
    person = qn(Person._meta.db_table)
    rows = scalar(f"SELECT COUNT(*) FROM {s}")  # noqa: S608
    snapshot = RegistrationSnapshot.objects.create(
        as_of=as_of, source_name=source_name[:255], row_count=rows, imported_by=acting_user
    )
    progress("反映", 0.0)
    status_table = qn(RegistrationStatus._meta.db_table)
    execute(
        f"INSERT INTO {status_table} (snapshot_id, person_id, as_of, status, ec_expiry) "  # noqa: S608
        f"SELECT %s, p.id, %s, s.status, s.ec_expiry FROM {s} s "
        f"JOIN {person} p ON {_key_join('p', 's')} ORDER BY s.line",
        [snapshot.pk, param_date(as_of)],
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status, COUNT(*) FROM {s} GROUP BY status")  # noqa: S608
        by_status = dict(cursor.fetchall())
    stage.drop()
    # rules.md "No return needed": a certificate made unnecessary by a 登録済 status in this snapshot
    # becomes 返却不要 (except for 要配慮者), in the same transaction as the import
    # (certificates.receivers, connected first); rules.md "The monthly cycle": the month's draft run
    # is prepared after commit (elderly.monthly).
    registration_snapshot_imported.send(
        sender=RegistrationSnapshot, snapshot=snapshot, acting_user=acting_user
    )
    audit_event(
        action="import.registration_status",
        actor=acting_user,
        obj=snapshot,
        as_of=as_of.isoformat(),
        source=source_name,
        rows=rows,
        by_status=by_status,
    )
    transaction.on_commit(lambda: analyze_if_stale(RegistrationStatus, RegistrationSnapshot))
    progress("完了", 1.0)
    if dry_run:
        transaction.set_rollback(True)
    return StatusImportSummary(rows=rows, by_status=by_status, snapshot=snapshot, dry_run=dry_run)
