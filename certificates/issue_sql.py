"""Issuing a batch of a 一括職権交付 run in SQL: the certificates and their history rows are copied by
the database from the frozen RunTarget list (issue 8), not built as model objects in Python.

Nothing is decided here: every value comes from the run (交付年月日), the frozen target (交付事由,
有効期限, 送付先, 高齢受給者証, 登録状況, the certificate renewed) or the person (the printed names),
exactly as the ORM path wrote them before. The column lists are derived from the models, and a
column this module does not know fails loudly (tests/certificates/test_issue_sql.py) rather than
being left to a database default. Portable between PostgreSQL and SQLite except the zero padding of
the 証明書番号, which each spells its own way.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import connection

from members.dates import fiscal_year

from .models import Certificate, CertificateState
from .numbering import NUMBER_DIGITS


def _select_expressions(vendor: str) -> dict[str, str]:
    """Certificate column → SQL over `rt` (certificates_runtarget) and `p` (members_person)."""
    seq = "(%(first_seq)s + row_number() OVER (ORDER BY rt.id) - 1)"
    if vendor == "postgresql":
        padded = f"lpad({seq}::text, {NUMBER_DIGITS}, '0')"
    else:  # SQLite: no lpad; prefix zeros and keep the last digits
        padded = f"substr('{'0' * NUMBER_DIGITS}' || {seq}, -{NUMBER_DIGITS}, {NUMBER_DIGITS})"
    return {
        "number": f"%(year_prefix)s || {padded}",
        "person_id": "rt.person_id",
        "run_id": "rt.run_id",
        "reason": "rt.reason",
        "issue_date": "%(issue_date)s",
        "valid_until": "rt.valid_until",
        "covers_until": "NULL",  # a new certificate covers until its 有効期限
        "route": "rt.route",
        "elderly_start": "rt.elderly_start",
        "copay_ratio": "rt.copay_ratio",
        "printed_name": "p.name",
        "printed_name_kana": "p.name_kana",
        "registration_status": "rt.registration_status",
        "ec_expiry": "rt.ec_expiry",
        "state": "%(state)s",
        "state_changed_at": "%(now)s",
        "state_note": "''",
        "return_due": "NULL",
        "return_route": "''",
        "returned_on": "NULL",
        "held_since": "NULL",
        "replaces_id": "rt.replaces_id",
        "created_at": "%(now)s",
        "updated_at": "%(now)s",
    }


def certificate_columns() -> list[str]:
    return [f.column for f in Certificate._meta.concrete_fields if not f.primary_key]


# Where the certificate's own columns come from: a run's frozen targets (`rt`), or, for one
# certificate (a reissue), query parameters named like the columns.
_FROM = {
    "run": (
        "FROM certificates_runtarget rt JOIN members_person p ON p.id = rt.person_id "
        "WHERE rt.run_id = %(run_id)s AND rt.id > %(after_pk)s AND rt.id <= %(last_pk)s "
        "AND rt.skip_reason = '' ORDER BY rt.id"
    ),
    "one": "FROM members_person p WHERE p.id = %(person_id)s",
}


def _insert_sql(vendor: str, source: str = "run") -> str:
    expressions = _select_expressions(vendor)
    if source == "one":
        expressions = {
            c: f"%({c})s" if e == f"rt.{c}" else e.replace("ORDER BY rt.id", "ORDER BY p.id")
            for c, e in expressions.items()
        }
    columns = certificate_columns()
    unknown = set(columns) ^ set(expressions)
    if unknown:
        raise RuntimeError(f"issue_sql: certificate columns out of step with the model: {unknown}")
    # Composed from the model's column names and the constants above only: hence the noqa on S608.
    return (
        f"INSERT INTO {Certificate._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(expressions[c] for c in columns)} {_FROM[source]}"
    )


def insert_certificates(
    *,
    run_id: int | None,
    issue_date: date,
    numbers: tuple[str, str],
    now: datetime,
    after_pk: int = 0,
    last_pk: int = 0,
    one: dict | None = None,
) -> int:
    """Issue 有効 certificates numbered through the allocated block `numbers` (first, last): for
    every target of the run with after_pk < pk ≤ last_pk, in target order — or, with `one`, a
    single certificate whose own columns (person_id, reason, valid_until, …) `one` gives. Returns
    how many rows were inserted. The caller holds the locks and has allocated the numbers."""
    prefix, first_seq = numbers[0].split("-")
    if prefix != str(fiscal_year(issue_date)) or any(
        len(n) != len(prefix) + 1 + NUMBER_DIGITS for n in numbers
    ):
        raise ValueError(f"証明書番号の範囲が{NUMBER_DIGITS}桁に収まりません: {numbers}")
    params = {
        "run_id": run_id,
        "after_pk": after_pk,
        "last_pk": last_pk,
        "issue_date": issue_date,
        "year_prefix": f"{prefix}-",
        "first_seq": int(first_seq),
        "state": CertificateState.ACTIVE.value,
        "now": now,
    }
    if one is not None:
        params.update(one, run_id=run_id)
    with connection.cursor() as cur:
        cur.execute(_insert_sql(connection.vendor, "run" if one is None else "one"), params)
        return cur.rowcount


def insert_certificate_history(
    *, numbers: tuple[str, str], now: datetime, user_id: int | None, reason: str | None
) -> int:
    """django-simple-history's "+" (created) row for each certificate numbered within `numbers`
    (the block this write allocated: gap-free and locked, so the range is exactly its rows), as
    bulk_create_with_history would write it."""
    history = Certificate.history.model
    columns = [f.column for f in Certificate._meta.concrete_fields]
    history_columns = {f.column for f in history._meta.concrete_fields}
    missing = set(columns) - history_columns
    if missing:
        raise RuntimeError(f"issue_sql: history table lacks certificate columns: {missing}")
    # Composed from the models' column names only: hence the noqa on S608.
    sql = (
        f"INSERT INTO {history._meta.db_table} "  # noqa: S608
        f"({', '.join(columns)}, history_date, history_change_reason, history_type, "
        "history_user_id) "
        f"SELECT {', '.join('c.' + c for c in columns)}, %(now)s, %(reason)s, '+', %(user_id)s "
        f"FROM {Certificate._meta.db_table} c "
        "WHERE c.number >= %(first)s AND c.number <= %(last)s ORDER BY c.id"
    )
    with connection.cursor() as cur:
        cur.execute(
            sql,
            {
                "now": now,
                "reason": reason,
                "user_id": user_id,
                "first": numbers[0],
                "last": numbers[1],
            },
        )
        return cur.rowcount


def insert_issue_audit(*, numbers: tuple[str, str], now: datetime, user_id: int | None) -> int:
    """One "certificate.issued" AuditEvent per certificate numbered within `numbers`, in one
    INSERT … SELECT compiled from a queryset (JSONObject: the same on PostgreSQL and SQLite), with
    the detail certificate_issue always wrote: number, person key, reason, run, replaced number."""
    from django.db.models import CharField, DateTimeField, F, IntegerField, Value
    from django.db.models.functions import Cast, Concat, JSONObject

    from core.models import AuditEvent

    qs = (
        Certificate.objects.filter(number__gte=numbers[0], number__lte=numbers[1])
        .order_by("pk")
        .annotate(
            a_at=Value(now, output_field=DateTimeField()),
            a_actor=Value(user_id, output_field=IntegerField()),
            a_action=Value("certificate.issued", output_field=CharField()),
            a_type=Value(Certificate._meta.label, output_field=CharField()),
            a_id=Cast("pk", output_field=CharField()),
            a_detail=JSONObject(
                number=F("number"),
                person=Concat(
                    F("person__kigo"),
                    Value("・"),
                    F("person__bango"),
                    Value("・"),
                    F("person__edaban"),
                    output_field=CharField(),
                ),
                reason=F("reason"),
                run=F("run_id"),
                replaces=F("replaces__number"),
            ),
        )
        .values("a_at", "a_actor", "a_action", "a_type", "a_id", "a_detail")
    )
    compiler = qs.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    column = {
        "a_at": "at",
        "a_actor": "actor_id",
        "a_action": "action",
        "a_type": "object_type",
        "a_id": "object_id",
        "a_detail": "detail",
    }
    columns = ", ".join(column[alias] for _, _, alias in compiler.select)
    with connection.cursor() as cur:
        cur.execute(f"INSERT INTO {AuditEvent._meta.db_table} ({columns}) {sql}", params)  # noqa: S608
        return cur.rowcount
