"""The selection of a 一括職権交付 run as one SQL statement, for PostgreSQL (issue 8).

certificates.rules is the definition of the rules; certificates.selectors.issuance_targets applies it
person by person in Python (SQLite, the embedded default, uses that path). At 1.2 million persons
that costs tens of seconds of Python, so on PostgreSQL run_create freezes the target list with one
`INSERT INTO certificates_runtarget … SELECT` instead, built here. It is a second spelling of the
decision logic of rules.evaluate, kept honest three ways:

- the date law is not re-spelled: the 75th birthday and the 高齢受給者証発効日 of every birth date in
  play come from members.dates (passed in as arrays and joined), and the 電子証明書 lapse cutoff from
  rules.ec_registration_lapse; the SQL only compares dates;
- the status, reason, route and ratio strings are parameters taken from certificates.rules;
- tests/certificates/test_rules.py runs every table of boundary cases through both rules.evaluate and
  this SQL (one person at a time, in a real PostgreSQL), and test_selectors.py compares both paths on
  generated societies of thousands of persons, person by person, field by field.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date, timedelta

from django.conf import settings
from django.db import connection

from members.dates import LATE_ELDERLY_AGE, add_months, elderly_start, late_elderly_start, month_end

from . import rules
from .models import CertificateState, CopayRatio

# The columns every statement below yields, in this order (RunTarget's fields, by column name).
TARGET_COLUMNS = (
    "person_id",
    "household_id",
    "employer_id",
    "reason",
    "valid_until",
    "route",
    "elderly_start",
    "copay_ratio",
    "registration_status",
    "ec_expiry",
    "replaces_id",
)

# Rule by rule, as rules.evaluate states them. `h` holds one person with their household's facts.
# No user input is composed into the text (only the parameters are bound): hence the noqa on S608.
TARGETS_SQL = """
WITH ages AS (
    -- members.dates per birth date, day by day from first_birth: element (birth − first_birth + 1)
    SELECT %(late_starts)s::date[] AS late, %(elderly_starts)s::date[] AS elderly,
           %(first_birth)s::date AS first_birth
),
latest AS (
    -- the latest registration status on or before the status date (rules.md rule 3)
    SELECT DISTINCT ON (rs.person_id) rs.person_id, rs.status, rs.ec_expiry
    FROM members_registrationstatus rs
    WHERE rs.as_of <= %(status_date)s
    ORDER BY rs.person_id, rs.as_of DESC, rs.snapshot_id DESC
),
h AS (
    -- the holder with their household's 被保険者 `m` (the person themselves for a 本人): 種別,
    -- 事業所, 任意継続満了日 and 標準報酬月額 are the member's. Joining on the household id, never
    -- NULL, keeps PostgreSQL's hash join free of the skew a NULL member_id gives every 本人.
    SELECT p.id AS person_id,
           p.member_id IS NOT NULL AS dep,
           m.id AS household_id,
           m.employer_id,
           p.needs_consideration,
           m.insured_type,
           m.voluntary_until,
           m.standard_remuneration AS remuneration,
           a.late[p.birth_date - a.first_birth + 1] AS late_start,
           a.elderly[p.birth_date - a.first_birth + 1] AS elderly_start,
           a.late[m.birth_date - a.first_birth + 1] AS m_late_start,
           a.elderly[m.birth_date - a.first_birth + 1] AS m_elderly_start
    FROM members_person p
    CROSS JOIN ages a
    JOIN members_person m ON m.id = coalesce(p.member_id, p.id)
    -- rule 1 (rules.is_qualified_on): acquired, not lost, not 75 on the issue date; a dependent's
    -- member likewise not lost and not 75 (for a 本人, m is p: the same conditions again). Born
    -- before first_birth: 75 already (the array subscript is NULL, and so is the comparison).
    WHERE p.acquired_on <= %(issue_date)s
      AND (p.lost_on IS NULL OR p.lost_on > %(issue_date)s)
      AND %(issue_date)s < a.late[p.birth_date - a.first_birth + 1]
      AND (m.lost_on IS NULL OR m.lost_on > %(issue_date)s)
      AND %(issue_date)s < a.late[m.birth_date - a.first_birth + 1]
),
q AS (
    SELECT h.*, st.status, st.ec_expiry, c.id AS active_id, c.valid_until AS active_until,
           -- rules.status_reason
           CASE WHEN st.person_id IS NULL THEN %(r_status_unknown)s
                WHEN st.status = %(s_not_registered)s THEN %(r_unregistered)s
                WHEN st.status = %(s_deregistered)s THEN %(r_deregistered)s
                WHEN st.status = %(s_card_returned)s THEN %(r_card_returned)s
                WHEN st.status = %(s_ec_expired)s AND st.ec_expiry <= %(ec_lapsed_through)s
                THEN %(r_ec_expired)s
           END AS base,
           -- rules.validity_end (LEAST ignores NULLs)
           LEAST(%(run_valid_until)s::date,
                 h.late_start - 1,
                 CASE WHEN h.dep THEN h.m_late_start - 1 END,
                 CASE WHEN h.insured_type = %(voluntary)s THEN h.voluntary_until END) AS until
    FROM h
    LEFT JOIN latest st ON st.person_id = h.person_id
    -- rule 2: the active certificate valid on the issue date. certificate_one_active_per_person
    -- keeps it to one row per person, so rules.evaluate's lists reduce to this one certificate.
    LEFT JOIN certificates_certificate c
           ON c.person_id = h.person_id AND c.state = %(active)s
          AND c.valid_until >= %(issue_date)s
    WHERE (h.voluntary_until IS NULL OR h.voluntary_until >= %(issue_date)s)
),
t AS (
    SELECT q.*,
           CASE WHEN q.active_id IS NOT NULL THEN %(r_renewal)s
                WHEN q.base IS NOT NULL THEN q.base
                ELSE %(r_consideration)s END AS reason,
           CASE WHEN q.insured_type = %(voluntary)s THEN %(route_home)s
                ELSE %(route_employer)s END AS route,
           CASE WHEN q.elderly_start <= q.until THEN q.elderly_start END AS e_start
    FROM q
    -- an active certificate beyond the renewal window excludes; one within it is renewed, unless the
    -- new one would not run past it; no 交付事由 and no 要配慮者 flag excludes
    WHERE (q.active_id IS NULL OR q.active_until <= %(renewal_limit)s)
      AND (q.active_id IS NULL OR q.until > q.active_until)
      AND (q.base IS NOT NULL OR q.needs_consideration)
)
SELECT t.person_id,
       t.household_id,
       CASE WHEN t.route = %(route_employer)s THEN t.employer_id END AS employer_id,
       t.reason,
       t.until AS valid_until,
       t.route,
       t.e_start AS elderly_start,
       -- rules.copay_ratio on max(issue date, 発効日)
       CASE WHEN t.e_start IS NULL THEN ''
            WHEN NOT t.dep THEN
                CASE WHEN coalesce(t.remuneration, 0) >= %(high_income)s THEN %(ratio_high)s
                     ELSE %(ratio_low)s END
            WHEN t.m_elderly_start <= greatest(%(issue_date)s::date, t.e_start)
                 AND greatest(%(issue_date)s::date, t.e_start) < t.m_late_start
                 AND coalesce(t.remuneration, 0) >= %(high_income)s THEN %(ratio_high)s
            ELSE %(ratio_low)s END AS copay_ratio,
       coalesce(t.status, '') AS registration_status,
       t.ec_expiry,
       t.active_id AS replaces_id
FROM t
"""  # noqa: S608


def ec_lapsed_through(issue_date: date, months: int) -> date:
    """The latest 電子証明書有効期限 whose 保険証利用登録 has lapsed by the end of the issue month
    (rules.status_reason: lapse ≤ month_end(issue_date)). The lapse grows with the expiry date, so
    one cutoff decides every row; it is checked against rules.ec_registration_lapse itself."""
    limit = month_end(issue_date)
    cutoff = month_end(add_months(limit.replace(day=1), -months))
    if not (
        rules.ec_registration_lapse(cutoff, months)
        <= limit
        < rules.ec_registration_lapse(cutoff + timedelta(days=1), months)
    ):
        raise RuntimeError(f"電子証明書の失効判定の境界が求まりません: {issue_date} {months}")
    return cutoff


@functools.lru_cache(maxsize=8)
def _age_table(issue_date: date, latest_birth: date) -> tuple[date, str, str]:
    """Every birth date that can still be under 75 on the issue date, day by day up to the latest
    on file, with members.dates' 75th birthday and 高齢受給者証発効日 (about 27,400 days)."""
    first = add_months(issue_date, -12 * LATE_ELDERLY_AGE) - timedelta(days=3)
    late, elderly = [], []
    d = first
    while d <= latest_birth:
        late.append(late_elderly_start(d))
        elderly.append(elderly_start(d))
        d += timedelta(days=1)
    return first, _array_literal(late), _array_literal(elderly)


def _array_literal(dates: list[date]) -> str:
    """A date[] in PostgreSQL's text form: bound as one string, not 27,000 adapted values."""
    return "{" + ",".join(d.isoformat() for d in dates) + "}"


def selection_params(
    *,
    status_date: date,
    issue_date: date,
    valid_until: date,
    renewal_window_days: int | None = None,
    ec_lapse_months: int | None = None,
) -> dict:
    if renewal_window_days is None:
        renewal_window_days = settings.RENEWAL_WINDOW_DAYS
    if ec_lapse_months is None:
        ec_lapse_months = settings.EC_LAPSE_MONTHS
    with connection.cursor() as cur:
        cur.execute("SELECT max(birth_date) FROM members_person")
        (latest_birth,) = cur.fetchone()
    first, late, elderly = _age_table(issue_date, max(latest_birth or issue_date, issue_date))
    return {
        "first_birth": first,
        "late_starts": late,
        "elderly_starts": elderly,
        "status_date": status_date,
        "issue_date": issue_date,
        "run_valid_until": valid_until,
        "renewal_limit": issue_date + timedelta(days=renewal_window_days),
        "ec_lapsed_through": ec_lapsed_through(issue_date, ec_lapse_months),
        "high_income": rules.HIGH_INCOME_REMUNERATION,
        "active": CertificateState.ACTIVE.value,
        "voluntary": rules.VOLUNTARY,
        "s_not_registered": rules.NOT_REGISTERED,
        "s_deregistered": rules.DEREGISTERED,
        "s_card_returned": rules.CARD_RETURNED,
        "s_ec_expired": rules.EC_EXPIRED,
        "r_status_unknown": rules.R_STATUS_UNKNOWN,
        "r_unregistered": rules.R_UNREGISTERED,
        "r_deregistered": rules.R_DEREGISTERED,
        "r_card_returned": rules.R_CARD_RETURNED,
        "r_ec_expired": rules.R_EC_EXPIRED,
        "r_consideration": rules.R_CONSIDERATION,
        "r_renewal": rules.R_RENEWAL,
        "route_home": rules.ROUTE_HOME,
        "route_employer": rules.ROUTE_EMPLOYER,
        "ratio_high": CopayRatio.THREE.value,
        "ratio_low": CopayRatio.TWO.value,
    }


def insert_run_targets(*, run_id: int, params: dict) -> int:
    """Freeze a run's target list: one INSERT … SELECT. Returns how many targets."""
    columns = ", ".join(TARGET_COLUMNS)
    sql = (
        f"INSERT INTO certificates_runtarget (run_id, {columns}) "  # noqa: S608
        f"SELECT %(run_id)s, {columns} FROM ({TARGETS_SQL}) s ORDER BY s.person_id"
    )
    with connection.cursor() as cur:
        cur.execute(sql, {**params, "run_id": run_id})
        count = cur.rowcount
        # Statistics for what follows (the summary, executing, planning the PDF chunks): the table
        # has just grown by up to hundreds of thousands of rows, faster than autovacuum notices.
        cur.execute("ANALYZE certificates_runtarget")
        return count


def selected_rows(params: dict) -> Iterator[dict]:
    """The targets the statement selects, as dicts by column (tests compare them with the rules)."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM ({TARGETS_SQL}) s ORDER BY s.person_id", params)  # noqa: S608
        for row in cur.fetchall():
            yield dict(zip(TARGET_COLUMNS, row, strict=True))
