"""Certificate state changes over a set, in SQL: retiring the certificates a run's batch supersedes,
and the nightly jobs' state changes (certificates.lifecycle). Issue 18: Django's bulk_update builds
`SET state = CASE WHEN id = 1 THEN … WHEN id = 2 …` over the whole batch, which PostgreSQL
evaluates row by row against every branch (a renewal run of 30,000 certificates took 756 s);
saving row by row costs a few queries per certificate.

Here a change is a handful of statements whatever the number of rows: the rows are chosen and
locked by one `SELECT … FOR UPDATE` (`locked_ids`), then `set_state` writes one `UPDATE … WHERE
id IN (the set)` per target state, one `INSERT … SELECT` of their django-simple-history "~" rows
(the row after the change, as a save() or bulk_update_with_history writes it) and, where the
change is an audited business event, one `INSERT … SELECT` of their audit events. Nothing is
decided here: the callers say which rows and which state, note and audit detail. The column lists
come from the models, as in certificates.issue_sql. Portable between PostgreSQL and SQLite; only
the spelling of "the id is in this set" differs (an array parameter, a JSON array).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection

from core.models import AuditEvent

from .models import Certificate, CertificateState

CERT = Certificate._meta.db_table

# The certificate retired because it expired before the new one starts (also lifecycle's note).
NOTE_EXPIRED = "有効期限切れ"


def in_set(ids: Sequence[int], *, column: str = "c.id") -> tuple[str, object]:
    """SQL for "`column` is one of `ids`" and its one parameter."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", list(ids)
    # `column` is a constant of this package's callers, never input.
    return f"{column} IN (SELECT value FROM json_each(%s))", json.dumps(list(ids))  # noqa: S608


def in_persons(person_ids: Sequence[int]) -> tuple[str, object]:
    """SQL for "the certificate c belongs to one of `person_ids`" and its one parameter."""
    return in_set(person_ids, column="c.person_id")


def locked_ids(where: str, params: Sequence = ()) -> list[int]:
    """Ids of the certificates `c` matching `where` (SQL over the alias c, %s parameters), in id
    order, locked for this transaction on PostgreSQL (SQLite serialises its writers)."""
    lock = " FOR UPDATE OF c" if connection.vendor == "postgresql" else ""
    # `where` is composed by this package's callers from constants and %s placeholders only.
    sql = f"SELECT c.id FROM {CERT} c WHERE {where} ORDER BY c.id{lock}"  # noqa: S608
    with connection.cursor() as cur:
        cur.execute(sql, list(params))
        return [row[0] for row in cur.fetchall()]


@dataclass(frozen=True)
class Audit:
    """One audit event per changed certificate: `action`, a detail of fixed values and of the
    certificate's own columns ({key in the detail: column of certificates_certificate})."""

    action: str
    constants: Mapping[str, object] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)


def _json_object(items: list[tuple[str, str]]) -> str:
    """SQL building a JSON object from (key parameter, value SQL) pairs."""
    fn = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
    return f"{fn}({', '.join(f'{k}, {v}' for k, v in items)})" if items else f"{fn}()"


def _constant(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def insert_audit_events(
    ids: Sequence[int], *, audit: Audit, now: datetime, user_id: int | None
) -> int:
    """The audit event of each certificate in `ids`, as core.models.audit_event writes it."""
    if not ids:
        return 0
    known = {f.column for f in Certificate._meta.concrete_fields}
    unknown = set(audit.columns.values()) - known
    if unknown:
        raise RuntimeError(f"retire_sql: audit detail names unknown certificate columns {unknown}")
    pairs: list[tuple[str, str]] = []
    params: list[object] = [now, user_id, audit.action, Certificate._meta.label]
    for key, value in audit.constants.items():
        pairs.append(("%s", "%s"))
        params += [key, _constant(value)]
    for key, column in audit.columns.items():
        pairs.append(("%s", f"c.{column}"))
        params.append(key)
    ids_sql, id_param = in_set(ids)
    # Composed from the models' table and column names and constants only: hence the noqa.
    sql = (
        f"INSERT INTO {AuditEvent._meta.db_table} "  # noqa: S608
        "(at, actor_id, action, object_type, object_id, detail) "
        f"SELECT %s, %s, %s, %s, CAST(c.id AS TEXT), {_json_object(pairs)} "
        f"FROM {CERT} c WHERE {ids_sql} ORDER BY c.id"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [*params, id_param])
        return cur.rowcount


def insert_history(
    ids: Sequence[int], *, now: datetime, user_id: int | None, reason: str | None
) -> int:
    """django-simple-history's "~" (changed) row of each certificate in `ids`: the row as it is
    now, as a save() with history or bulk_update_with_history records it."""
    if not ids:
        return 0
    history = Certificate.history.model
    columns = [f.column for f in Certificate._meta.concrete_fields]
    missing = set(columns) - {f.column for f in history._meta.concrete_fields}
    if missing:
        raise RuntimeError(f"retire_sql: history table lacks certificate columns: {missing}")
    ids_sql, id_param = in_set(ids)
    # Composed from the models' column names only: hence the noqa on S608.
    sql = (
        f"INSERT INTO {history._meta.db_table} "  # noqa: S608
        f"({', '.join(columns)}, history_date, history_change_reason, history_type, "
        "history_user_id) "
        f"SELECT {', '.join('c.' + c for c in columns)}, %s, %s, '~', %s "
        f"FROM {CERT} c WHERE {ids_sql} ORDER BY c.id"
    )
    with connection.cursor() as cur:
        cur.execute(sql, [now, reason, user_id, id_param])
        return cur.rowcount


def set_state(
    ids: Sequence[int],
    *,
    state: str,
    note: str,
    now: datetime,
    user_id: int | None = None,
    history_reason: str | None = None,
    also: Mapping[str, object] | None = None,
    audit: Audit | None = None,
) -> int:
    """Move the certificates `ids` (locked by the caller, see locked_ids) to `state` with
    `state_note` = note, state_changed_at = updated_at = now, and the further columns in `also`;
    then write their history rows and, with `audit`, their audit events. Three statements at
    most, whatever the number of rows. Returns how many changed."""
    if not ids:
        return 0
    known = {f.column for f in Certificate._meta.concrete_fields}
    extra = dict(also or {})
    if set(extra) - known:
        raise RuntimeError(f"retire_sql: unknown certificate columns {set(extra) - known}")
    if state not in CertificateState.values:
        raise ValueError(f"retire_sql: unknown certificate state {state!r}")
    assignments = ["state = %s", "state_note = %s", "state_changed_at = %s", "updated_at = %s"]
    assignments += [f"{column} = %s" for column in extra]
    ids_sql, id_param = in_set(ids)
    # Composed from the model's column names only: hence the noqa on S608.
    sql = f"UPDATE {CERT} AS c SET {', '.join(assignments)} WHERE {ids_sql}"  # noqa: S608
    with connection.cursor() as cur:
        cur.execute(sql, [state, note, now, now, *extra.values(), id_param])
        changed = cur.rowcount
    if changed != len(ids):
        raise RuntimeError(f"retire_sql: {len(ids)} certificates to change, {changed} changed")
    insert_history(ids, now=now, user_id=user_id, reason=history_reason)
    if audit is not None:
        insert_audit_events(ids, audit=audit, now=now, user_id=user_id)
    return changed


def end_cover(ids: Sequence[int], *, before: date, now: datetime) -> list[int]:
    """The certificates `ids` stop covering from the day `before` (a successor starts then):
    their last covered day (covers_until) becomes the day before — or the day before their own
    交付年月日 when they had not begun, an empty cover — where it was later. No history row: the
    caller's state change writes it, or insert_history for those whose state stays. Returns the
    ids changed (certificates.constraints: the one exception to "never two covering a day")."""
    if not ids:
        return []
    ids_sql, id_param = in_set(ids)
    # Composed from the model's table name only: hence the noqa on S608.
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT c.id, c.issue_date, COALESCE(c.covers_until, c.valid_until) "  # noqa: S608
            f"FROM {CERT} c WHERE {ids_sql} ORDER BY c.id",
            [id_param],
        )
        rows = cur.fetchall()
    by_end: dict[date, list[int]] = {}
    for pk, issue_date, end in rows:
        issue_date, end = _as_date(issue_date), _as_date(end)
        last = max(issue_date, before) - timedelta(days=1)
        if last < end:
            by_end.setdefault(last, []).append(pk)
    for last, group in sorted(by_end.items()):
        group_sql, group_param = in_set(group)
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE {CERT} AS c SET covers_until = %s, updated_at = %s WHERE {group_sql}",  # noqa: S608
                [last, now, group_param],
            )
    return sorted(pk for group in by_end.values() for pk in group)


def _as_date(value) -> date:
    """A DATE column as read by a raw cursor (SQLite returns the ISO text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value
