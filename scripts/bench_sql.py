"""The hand-written SQL the benchmark measures the project against (scripts/bench.py).

`RAW_ISSUE_SQL` is one `INSERT … SELECT` that applies the rules of certificates/rules.py (rules.md
"Who receives a 資格確認書 ex officio") to the whole registry in PostgreSQL and inserts one 有効
certificate per target. It is the floor the project's run_create + run_execute is compared with, so
it does only what the rules need for a seeded society: it selects, computes 交付事由, 有効期限,
送付先, 高齢受給者証発効日 and 一部負担金割合, numbers the rows and inserts them. It writes no run, no
frozen target list, no history rows and no audit events, and it does not retire the certificates a
renewal replaces (a freshly seeded society holds none; the selection itself does handle them).

The age rules are spelled out in SQL exactly as members/dates.py states them (年齢計算ニ関スル法律:
an age is reached the day before the birthday; 29 February births in a common year):

- 75th birthday (後期高齢者医療 starts, cover here ends) = birth + 75 years, or 1 March when the
  birth is 29 February and the 75th year has no 29 February (PostgreSQL's `+ interval` gives 28 Feb);
- 高齢受給者証発効日 = first day of the month after the month of (70th birthday − 1 day).

The benchmark checks, before reporting the ratio, that this SQL and the project select the same
persons with the same 交付事由, 有効期限, 送付先, 発効日 and 割合 (scripts/bench_child.py verify-issue).
"""

from __future__ import annotations


def _late_start(birth: str) -> str:
    """SQL for members.dates.late_elderly_start(birth): the 75th birthday itself."""
    return (
        f"(({birth} + interval '75 years')::date + CASE WHEN extract(month FROM {birth}) = 2 "
        f"AND extract(day FROM {birth}) = 29 "
        f"AND extract(day FROM {birth} + interval '75 years') = 28 THEN 1 ELSE 0 END)"
    )


def _elderly_start(birth: str) -> str:
    """SQL for members.dates.elderly_start(birth). (birth + 70y − 1 day) differs from the Python
    attain_date only for a 29 February birth in a common year (27 vs 28 Feb): same month, same
    result."""
    return (
        f"(date_trunc('month', ({birth} + interval '70 years')::date - 1) "
        f"+ interval '1 month')::date"
    )


# Parameters: issue_date, status_date, valid_until, renewal_limit (issue_date + window days),
# lapse_months (EC_LAPSE_MONTHS), high_income (280,000 yen).
# Composed from the constants of this module only (no input): hence the noqa on S608.
SELECTION_SQL = f"""
WITH latest AS (
    -- the latest registration status on or before the status date (rules.md rule 3)
    SELECT DISTINCT ON (rs.person_id) rs.person_id, rs.status, rs.ec_expiry
    FROM members_registrationstatus rs
    WHERE rs.as_of <= %(status_date)s
    ORDER BY rs.person_id, rs.as_of DESC, rs.snapshot_id DESC
),
active AS (
    -- rule 2: active certificates valid on the issue date
    SELECT c.person_id,
           max(c.valid_until) AS blocking_max,
           bool_or(c.valid_until > %(renewal_limit)s) AS blocked,
           (array_agg(c.id ORDER BY c.valid_until DESC, c.id DESC)
               FILTER (WHERE c.valid_until <= %(renewal_limit)s))[1] AS replaces_id
    FROM certificates_certificate c
    WHERE c.state = '有効' AND c.valid_until >= %(issue_date)s
    GROUP BY c.person_id
),
h AS (
    -- the holder's facts; a dependent takes 種別, 任意継続満了日 and 標準報酬月額 from the member
    SELECT p.id AS person_id, p.name, p.name_kana, p.needs_consideration,
           p.member_id IS NOT NULL AS dep,
           CASE WHEN p.member_id IS NULL THEN p.insured_type ELSE m.insured_type END
               AS insured_type,
           CASE WHEN p.member_id IS NULL THEN p.voluntary_until ELSE m.voluntary_until END
               AS voluntary_until,
           CASE WHEN p.member_id IS NULL THEN p.standard_remuneration
                ELSE m.standard_remuneration END AS remuneration,
           m.lost_on AS m_lost,
           {_late_start("p.birth_date")} AS late_start,
           {_late_start("m.birth_date")} AS m_late_start,
           {_elderly_start("p.birth_date")} AS e_start,
           {_elderly_start("m.birth_date")} AS m_e_start
    FROM members_person p
    LEFT JOIN members_person m ON m.id = p.member_id
    WHERE p.acquired_on <= %(issue_date)s
      AND (p.lost_on IS NULL OR p.lost_on > %(issue_date)s)
),
q AS (
    SELECT h.*, st.status, st.ec_expiry,
           a.blocking_max, a.replaces_id,
           CASE WHEN st.person_id IS NULL THEN '登録状況不明'
                WHEN st.status IN ('未登録', '登録解除', 'カード返納') THEN st.status
                WHEN st.status = '電子証明書失効' AND st.ec_expiry IS NOT NULL
                     AND date_trunc('month', st.ec_expiry)
                         + make_interval(months => %(lapse_months)s)
                         <= date_trunc('month', %(issue_date)s::date)
                THEN '電子証明書失効'
           END AS base,
           LEAST(%(valid_until)s::date,
                 h.late_start - 1,
                 CASE WHEN h.dep THEN h.m_late_start - 1 END,
                 CASE WHEN h.insured_type = '任意継続' THEN h.voluntary_until END) AS until
    FROM h
    LEFT JOIN latest st ON st.person_id = h.person_id
    LEFT JOIN active a ON a.person_id = h.person_id
    WHERE %(issue_date)s < h.late_start                       -- not yet 75
      AND (h.voluntary_until IS NULL OR h.voluntary_until >= %(issue_date)s)
      AND (NOT h.dep OR ((h.m_lost IS NULL OR h.m_lost > %(issue_date)s)
                         AND %(issue_date)s < h.m_late_start))  -- dependents follow the member
      AND a.blocked IS NOT TRUE
),
t AS (
    SELECT q.*,
           CASE WHEN q.blocking_max IS NOT NULL THEN '更新'
                WHEN q.base IS NOT NULL THEN q.base
                ELSE '要配慮者' END AS reason,
           CASE WHEN q.insured_type = '任意継続' THEN '自宅' ELSE '事業主経由' END AS route,
           CASE WHEN q.e_start <= q.until THEN q.e_start END AS elderly_start
    FROM q
    WHERE (q.base IS NOT NULL OR q.needs_consideration)
      AND (q.blocking_max IS NULL OR q.until > q.blocking_max)
)
SELECT t.person_id, t.reason, t.until AS valid_until, t.route, t.elderly_start,
       CASE WHEN t.elderly_start IS NULL THEN ''
            WHEN NOT t.dep THEN
                CASE WHEN coalesce(t.remuneration, 0) >= %(high_income)s THEN '3割' ELSE '2割' END
            WHEN t.m_e_start <= greatest(%(issue_date)s::date, t.elderly_start)
                 AND greatest(%(issue_date)s::date, t.elderly_start) < t.m_late_start
                 AND coalesce(t.remuneration, 0) >= %(high_income)s THEN '3割'
            ELSE '2割' END AS copay_ratio,
       t.name, t.name_kana, coalesce(t.status, '') AS registration_status, t.ec_expiry,
       t.replaces_id
FROM t
"""  # noqa: S608

RAW_ISSUE_SQL = f"""
INSERT INTO certificates_certificate (
    number, person_id, run_id, reason, issue_date, valid_until, route, elderly_start,
    copay_ratio, printed_name, printed_name_kana, registration_status, ec_expiry, state,
    state_changed_at, state_note, return_route, replaces_id, created_at, updated_at)
SELECT %(number_prefix)s || lpad((row_number() OVER (ORDER BY s.person_id))::text, 7, '0'),
       s.person_id, NULL, s.reason, %(issue_date)s, s.valid_until, s.route, s.elderly_start,
       s.copay_ratio, s.name, s.name_kana, s.registration_status, s.ec_expiry, '有効',
       now(), '', '', s.replaces_id, now(), now()
FROM ({SELECTION_SQL}) s
"""  # noqa: S608

# The raw selection kept for the comparison with the project's certificates (not timed).
SAVE_SELECTION_SQL = f"CREATE TABLE bench_raw_selection AS {SELECTION_SQL}"

# Rows where the two differ, both ways; 0 and 0 means the same selection on the same terms.
COMPARE_SQL = """
WITH project AS (
    SELECT person_id, reason, valid_until, route, elderly_start, copay_ratio
    FROM certificates_certificate WHERE run_id = %(run_id)s
), raw AS (
    SELECT person_id, reason, valid_until, route, elderly_start, copay_ratio
    FROM bench_raw_selection
)
SELECT (SELECT count(*) FROM (SELECT * FROM raw EXCEPT SELECT * FROM project) x) AS only_raw,
       (SELECT count(*) FROM (SELECT * FROM project EXCEPT SELECT * FROM raw) y) AS only_project
"""


# --- issue 18: the renewal, the nightly jobs -----------------------------------------------------

# The certificate columns, written out by hand (the baselines do not read the project's models).
CERT_COLUMNS = (
    "id, number, reason, issue_date, valid_until, route, elderly_start, copay_ratio, "
    "printed_name, printed_name_kana, registration_status, ec_expiry, state, state_changed_at, "
    "state_note, return_due, return_route, returned_on, held_since, created_at, updated_at, "
    "person_id, run_id, replaces_id, covers_until"
)

# A renewal by hand: the selection kept once (the run's frozen list), one UPDATE … FROM retiring
# the certificates it supersedes (expired before the issue date, or the one a target renews), one
# INSERT … SELECT of the new certificates. Like RAW_ISSUE_SQL, no history or audit rows.
RAW_RENEWAL_SQL = [
    f"CREATE TEMP TABLE bench_renewal ON COMMIT DROP AS {SELECTION_SQL}",  # noqa: S608
    """
    UPDATE certificates_certificate c
    SET state = '返却不要',
        state_note = CASE WHEN c.valid_until < %(issue_date)s THEN '有効期限切れ' ELSE '更新' END,
        state_changed_at = now(), updated_at = now(),
        -- the renewed certificate's cover ends the day before its successor's (no-overlap constraint)
        covers_until = CASE
            WHEN c.id = s.replaces_id
                 AND GREATEST(c.issue_date, %(issue_date)s::date) - 1
                     < COALESCE(c.covers_until, c.valid_until)
            THEN GREATEST(c.issue_date, %(issue_date)s::date) - 1
            ELSE c.covers_until END
    FROM bench_renewal s
    WHERE c.person_id = s.person_id AND c.state = '有効'
      AND (c.valid_until < %(issue_date)s OR c.id = s.replaces_id)
    """,
    RAW_ISSUE_SQL.replace(f"FROM ({SELECTION_SQL}) s", "FROM bench_renewal s"),
]


def _changed_rows(action: str, detail: str) -> str:
    """The history and audit rows of the certificates an UPDATE … RETURNING c.* changed."""
    return f"""
    , history AS (
        INSERT INTO certificates_historicalcertificate ({CERT_COLUMNS}, history_date,
            history_change_reason, history_type, history_user_id)
        SELECT {CERT_COLUMNS}, now(), NULL, '~', NULL FROM changed
    )
    INSERT INTO core_auditevent (at, actor_id, action, object_type, object_id, detail)
    SELECT now(), NULL, '{action}', 'certificates.Certificate', changed.id::text, {detail}
    FROM changed
    """  # noqa: S608


# The person columns, written out by hand (as CERT_COLUMNS).
PERSON_COLUMNS = (
    "id, kigo, bango, edaban, relationship, member_id, insured_type, employer_id, "
    "voluntary_until, standard_remuneration, name, name_kana, birth_date, sex, postal_code, "
    "address, acquired_on, lost_on, loss_reason, needs_consideration, address_unknown_since, "
    "household_id, age_cover_until, elderly_from, sex_on_back, created_at, updated_at"
)

# The 75th birthdays by hand (高齢者医療確保法§52, rules.md): everyone without a loss whose 75th
# birthday (age_cover_until + 1) has come loses cover on it, a member's dependents follow unless
# their own birthday comes first (earlier, or the same with the smaller id); the persons, their
# history and audit rows, then their 有効 certificates (返却不要 when expired, 返却済 when held
# after a 宛所不明 return, else 返却待ち due 5 days later by the household's route) with their
# history and audit rows. Two statements.
RAW_LATE_ELDERLY_SQL = [
    f"""
    CREATE TEMP TABLE bench_late_elderly ON COMMIT DROP AS
    WITH heads AS (
        SELECT p.id, p.age_cover_until + 1 AS lost_on, p.birth_date FROM members_person p
        WHERE p.lost_on IS NULL AND p.age_cover_until < %(today)s
    ), deps AS (
        SELECT d.id, h.lost_on, d.lost_on AS previous, h.id AS member_id
        FROM heads h JOIN members_person d ON d.member_id = h.id
        WHERE (d.lost_on IS NULL OR d.lost_on > h.lost_on)
          AND NOT EXISTS (SELECT 1 FROM heads o WHERE o.id = d.id
                          AND (o.birth_date < h.birth_date
                               OR (o.birth_date = h.birth_date AND o.id < h.id)))
    ), losses AS (
        SELECT id, lost_on, '75歳到達' AS reason, NULL::date AS previous, NULL::bigint AS member_id
        FROM heads WHERE id NOT IN (SELECT id FROM deps)
        UNION ALL SELECT id, lost_on, '被保険者の資格喪失', previous, member_id FROM deps
    ), changed AS (
        UPDATE members_person p SET lost_on = l.lost_on, loss_reason = l.reason,
               updated_at = now()
        FROM losses l WHERE p.id = l.id
        RETURNING p.*, l.previous, l.member_id AS loss_member
    ), history AS (
        INSERT INTO members_historicalperson ({PERSON_COLUMNS}, history_date,
            history_change_reason, history_type, history_user_id)
        SELECT {PERSON_COLUMNS}, now(), NULL, '~', NULL FROM changed
    ), audit AS (
        INSERT INTO core_auditevent (at, actor_id, action, object_type, object_id, detail)
        SELECT now(), NULL, 'person.loss_recorded', 'members.Person', changed.id::text,
               jsonb_build_object('lost_on', changed.lost_on, 'reason', changed.loss_reason,
                                  'previous_lost_on', changed.previous)
               || CASE WHEN changed.loss_member IS NULL THEN '{{}}'::jsonb
                       ELSE jsonb_build_object('member_id', changed.loss_member) END
        FROM changed
    )
    SELECT changed.id, changed.lost_on, changed.loss_reason, hh.insured_type FROM changed
    JOIN members_person hh ON hh.id = changed.household_id
    """,  # noqa: S608
    f"""
    WITH changed AS (
        UPDATE certificates_certificate c SET
            state = CASE WHEN c.valid_until < l.lost_on OR c.valid_until < %(today)s THEN '返却不要'
                         WHEN c.held_since IS NOT NULL THEN '返却済' ELSE '返却待ち' END,
            state_note = CASE
                WHEN c.valid_until < l.lost_on OR c.valid_until < %(today)s THEN '有効期限切れ'
                WHEN c.held_since IS NOT NULL THEN '宛所不明で返戻され組合で保管中に資格喪失'
                ELSE '資格喪失(' || l.loss_reason || ')' END,
            returned_on = CASE WHEN c.valid_until >= l.lost_on AND c.valid_until >= %(today)s
                               THEN c.held_since END,
            return_due = CASE WHEN c.valid_until >= l.lost_on AND c.valid_until >= %(today)s
                                   AND c.held_since IS NULL THEN l.lost_on + 5
                              ELSE c.return_due END,
            return_route = CASE WHEN c.valid_until >= l.lost_on AND c.valid_until >= %(today)s
                                     AND c.held_since IS NULL
                                THEN CASE WHEN l.insured_type = '任意継続' THEN '自宅'
                                          ELSE '事業主経由' END
                                ELSE c.return_route END,
            state_changed_at = now(), updated_at = now()
        FROM bench_late_elderly l
        WHERE c.person_id = l.id AND c.state = '有効'
        RETURNING c.*, l.lost_on AS loss_date
    ) {
        _changed_rows(
            "certificate.return_required",
            "jsonb_build_object('state', changed.state, 'lost_on', changed.loss_date, "
            "'return_due', changed.return_due, 'return_route', changed.return_route)",
        )
    }
    """,  # noqa: S608
]

# The nightly jobs by hand, on PostgreSQL: each change one statement (UPDATE … RETURNING feeding the
# history and audit INSERTs). Parameter: today.
RAW_NIGHTLY_SQL = {
    "75歳到達": RAW_LATE_ELDERLY_SQL,
    "有効期限切れ": [
        f"""
        WITH changed AS (
            UPDATE certificates_certificate c
            SET state = '返却不要', state_note = '{note}', state_changed_at = now(),
                updated_at = now()
            WHERE c.state = '{was}' AND c.valid_until < %(today)s
            RETURNING c.*
        ) {
            _changed_rows(
                "certificate.expired",
                f"jsonb_build_object('previous_state', '{was}', 'valid_until', changed.valid_until)",
            )
        }
        """  # noqa: S608
        for was, note in (("有効", "有効期限切れ"), ("返却待ち", "有効期限切れ(未返却)"))
    ],
    "マイナ保険証登録": [
        f"""
        WITH latest AS (
            SELECT DISTINCT ON (rs.person_id) rs.person_id, rs.status, rs.as_of, rs.snapshot_id
            FROM members_registrationstatus rs
            WHERE rs.as_of <= %(today)s
            ORDER BY rs.person_id, rs.as_of DESC, rs.snapshot_id DESC
        ), changed AS (
            UPDATE certificates_certificate c
            SET state = '返却不要', state_note = 'マイナ保険証登録', state_changed_at = now(),
                updated_at = now()
            FROM latest l, members_person p
            WHERE c.state = '有効' AND c.valid_until >= %(today)s
              AND l.person_id = c.person_id AND l.status = '登録済'
              AND p.id = c.person_id AND NOT p.needs_consideration
              AND l.as_of > coalesce(
                  (SELECT r.status_date FROM certificates_issuancerun r WHERE r.id = c.run_id),
                  c.issue_date)
            RETURNING c.*, l.as_of AS status_as_of, l.snapshot_id AS status_snapshot
        ) {
            _changed_rows(
                "certificate.no_return_registered",
                "jsonb_build_object('status_as_of', changed.status_as_of, "
                "'snapshot', changed.status_snapshot)",
            )
        }
        """  # noqa: S608
    ],
    "返却期限超過": [
        """
        INSERT INTO core_auditevent (at, actor_id, action, object_type, object_id, detail)
        SELECT now(), NULL, 'certificate.return_overdue', 'certificates.Certificate', c.id::text,
               jsonb_build_object('number', c.number, 'return_due', c.return_due,
                                  'as_of', %(today)s::date)
        FROM certificates_certificate c
        WHERE c.state = '返却待ち' AND c.return_due < %(today)s AND c.valid_until >= %(today)s
          AND NOT EXISTS (
              SELECT 1 FROM core_auditevent a
              WHERE a.action = 'certificate.return_overdue'
                AND a.object_type = 'certificates.Certificate' AND a.object_id = c.id::text)
        """
    ],
}
