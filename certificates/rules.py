"""The rules of 一括職権交付 (rules.md "Who receives a 資格確認書 ex officio"), each defined once, as a
Django query expression over members.Person.

The date law is stored on the person by members.dates (Person.household, age_cover_until,
elderly_from), so every rule here is a column comparison. The same expressions select a bulk run's
targets (certificates.selectors.issuance_targets, frozen by run_create with one INSERT … SELECT on
PostgreSQL and SQLite alike), decide a reissue's terms and explain one person's case in the admin
(「交付判定」). Nothing else spells these rules; tests/certificates/reference_rules.py keeps an
independent Python model of them that every table-driven test compares against.

Expressions refer to the person's fields directly and to their household's 被保険者 through
`household__…` (a 本人 is their own household, so one expression serves both).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, Least, NullIf

from members.dates import add_months, attain_date, month_end
from members.models import (
    IncomeBasisApplication,
    InsuredType,
    RegistrationStatus,
    RegistrationStatusValue,
)

from .models import (
    NOT_COVERING,
    Certificate,
    CopayRatio,
    IssueReason,
    Route,
)

# 健康保険法施行令§34①: 70–74 pay 3割 when the 標準報酬月額 is 280,000 yen or more.
HIGH_INCOME_REMUNERATION = 280_000

DEFAULT_RENEWAL_WINDOW_DAYS = 60
DEFAULT_EC_LAPSE_MONTHS = 3
VALIDITY_YEARS = 5  # 有効期間は5年以内 (MHLW)


def max_valid_until(issue_date: date) -> date:
    """The latest uniform expiry a run may have: the issue date + 5 years − 1 day, the period of
    民法§143 (2026-12-01 → 2031-11-30; issued 29 February → 28 February, the anniversary missing)
    — the same count as members.dates.attain_date."""
    return attain_date(issue_date, VALIDITY_YEARS)


# --- 送付先 / 返却先 --------------------------------------------------------------------------------

# 一般 members and their dependents: via the employer (bundled per 事業所); 任意継続 households deal
# with the society directly (mailed home, returned directly). The household's 種別 decides.
ROUTE_BY_INSURED_TYPE = {InsuredType.GENERAL: Route.EMPLOYER, InsuredType.VOLUNTARY: Route.HOME}


def route_for_insured_type(insured_type: str) -> str:
    """The route of a household of this 被保険者種別 (for one object already in hand)."""
    return ROUTE_BY_INSURED_TYPE[insured_type]


def route_expression(insured_type: str = "household__insured_type") -> Case:
    """The same rule as a query expression."""
    return Case(
        *(When(**{insured_type: t}, then=Value(r.value)) for t, r in ROUTE_BY_INSURED_TYPE.items()),
        output_field=CharField(),
    )


# --- rule 1: qualified on a date ----------------------------------------------------------------

# Each check holds when the person passes it; its label names what excludes them otherwise.
# 任意継続満了日 is the last covered day (rules.md "People").
QUALIFICATION_CHECKS = (
    ("資格取得前", lambda on: Q(acquired_on__lte=on)),
    ("資格喪失", lambda on: Q(lost_on__isnull=True) | Q(lost_on__gt=on)),
    ("75歳到達", lambda on: Q(age_cover_until__gte=on)),
    (
        "被保険者の資格喪失",
        lambda on: Q(household__lost_on__isnull=True) | Q(household__lost_on__gt=on),
    ),
    ("被保険者の75歳到達", lambda on: Q(household__age_cover_until__gte=on)),
    (
        "任意継続満了",
        lambda on: (
            Q(household__voluntary_until__isnull=True) | Q(household__voluntary_until__gte=on)
        ),
    ),
)


def qualified_on(on: date) -> Q:
    """Rule 1: 資格取得年月日 ≤ date, no 資格喪失年月日 on or before it, not yet 75, not past a
    任意継続満了日 — and the household's 被保険者 likewise (dependents follow their member)."""
    q = Q()
    for _, check in QUALIFICATION_CHECKS:
        q &= check(on)
    return q


# --- validity end ---------------------------------------------------------------------------


def validity_end(valid_until: date) -> Least:
    """The earliest of the run's uniform expiry, the day before the holder's 75th birthday, the day
    before their member's (a 本人 is their own member), and the 任意継続満了日. Every argument is
    non-NULL (SQLite's MIN() would return NULL otherwise): 一般 has no 満了日, hence the Coalesce."""
    run = Value(valid_until, output_field=DateField())
    return Least(
        run,
        F("age_cover_until"),
        F("household__age_cover_until"),
        Coalesce(F("household__voluntary_until"), run),
        output_field=DateField(),
    )


# --- 高齢受給者 and 一部負担金割合 --------------------------------------------------------------------


def _outer(expr):
    """`expr` as seen from inside a subquery over another model: its F() become OuterRef()."""
    if isinstance(expr, F) and not isinstance(expr, OuterRef):
        return OuterRef(expr.name)
    if hasattr(expr, "get_source_expressions"):
        copy = expr.copy()
        copy.set_source_expressions([_outer(e) for e in expr.get_source_expressions()])
        return copy
    return expr


def income_basis_holds(on) -> Exists:
    """基準収入額適用 (施行令§34②) holds for the household's 被保険者 on the day: one of their
    recorded windows includes it. `on` is a date or an expression over the person."""
    day = _outer(on)
    return Exists(
        IncomeBasisApplication.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=day),
            member_id=OuterRef("household_id"),
            valid_from__lte=day,
        )
    )


def copay_ratio_on(on) -> Case:
    """一部負担金の割合 of a 高齢受給者 on a date (an expression; 健康保険法§74, §110, 施行令§34).

    3割 when the household's 被保険者 is a 高齢受給者 on that date (their own start has come and they
    are not yet 75) with 標準報酬月額 ≥ 280,000 and no 基準収入額適用 holding for them on that date;
    else 2割. For a 本人 the household is themselves, so this is their own 標準報酬月額. The one place
    the ratio is decided: a bulk run's targets (elderly_ratio), reissues, the 交付判定 panel and the
    高齢受給者証 events (elderly.services) all use it."""
    three_tenths = (
        Q(household__elderly_from__lte=on)
        & Q(household__age_cover_until__gte=on)
        & Q(household__standard_remuneration__gte=HIGH_INCOME_REMUNERATION)
        & ~Q(income_basis_holds(on))
    )
    return Case(
        When(three_tenths, then=Value(CopayRatio.THREE.value)),
        default=Value(CopayRatio.TWO.value),
        output_field=CharField(),
    )


def elderly_start(cover_end) -> Case:
    """高齢受給者証発効日: the person's 高齢受給者 start when it falls on or before the validity end."""
    return Case(
        When(elderly_from__lte=cover_end, then=F("elderly_from")),
        default=Value(None),
        output_field=DateField(),
    )


def elderly_ratio(issue_date: date, cover_end) -> Case:
    """The ratio printed with the 発効日: the one in force from max(issue date, start); empty when
    there is no 発効日 within the validity."""
    on = Greatest(Value(issue_date, output_field=DateField()), F("elderly_from"))
    return Case(
        When(elderly_from__gt=cover_end, then=Value("")),
        default=copay_ratio_on(on),
        output_field=CharField(),
    )


# --- rule 3: the registration status ----------------------------------------------------------

# A status that gives no 交付事由 of its own (登録済, or an electronic certificate not lapsed yet).
NO_REASON = ""

REASON_BY_STATUS = {
    RegistrationStatusValue.NOT_REGISTERED: IssueReason.UNREGISTERED,
    RegistrationStatusValue.DEREGISTERED: IssueReason.DEREGISTERED,
    RegistrationStatusValue.CARD_RETURNED: IssueReason.CARD_RETURNED,
}


def ec_registration_lapse(ec_expiry: date, months: int = DEFAULT_EC_LAPSE_MONTHS) -> date:
    """The day the 保険証利用登録 lapses after the electronic certificate expired: the last day of the
    3rd month after the month of expiry (expired 2025-09-15 → lapses 2025-12-31)."""
    return month_end(add_months(ec_expiry.replace(day=1), months))


def ec_lapsed_through(issue_date: date, months: int = DEFAULT_EC_LAPSE_MONTHS) -> date:
    """The latest 電子証明書有効期限 whose registration has lapsed by the end of the issue month
    (lapse ≤ month_end(issue_date)). The lapse grows with the expiry date, so one cutoff decides
    every row; it is checked against ec_registration_lapse itself."""
    limit = month_end(issue_date)
    cutoff = month_end(add_months(limit.replace(day=1), -months))
    if not (
        ec_registration_lapse(cutoff, months)
        <= limit
        < ec_registration_lapse(cutoff + timedelta(days=1), months)
    ):
        raise RuntimeError(f"電子証明書の失効判定の境界が求まりません: {issue_date} {months}")
    return cutoff


def latest_status(status_date: date):
    """The person's latest registration status on or before the status date (a correlated
    subquery on the (person, -as_of, -snapshot) index; snapshots after the status date ignored)."""
    return RegistrationStatus.objects.filter(
        person_id=OuterRef("pk"), as_of__lte=status_date
    ).order_by("-as_of", "-snapshot_id")


def status_reason(*, status_date: date, issue_date: date, ec_lapse_months: int) -> Coalesce:
    """The 交付事由 the registration status gives: 登録状況不明 without a status on file, NO_REASON
    for 登録済 (and an electronic certificate whose registration has not lapsed by the end of the
    issue month). Computed inside the status subquery: one probe per person."""
    cutoff = ec_lapsed_through(issue_date, ec_lapse_months)
    of_row = Case(
        *(When(status=s, then=Value(r.value)) for s, r in REASON_BY_STATUS.items()),
        When(
            status=RegistrationStatusValue.EC_EXPIRED,
            ec_expiry__lte=cutoff,
            then=Value(IssueReason.EC_EXPIRED.value),
        ),
        default=Value(NO_REASON),
        output_field=CharField(),
    )
    reasons = latest_status(status_date).annotate(reason=of_row).values("reason")[:1]
    return Coalesce(
        Subquery(reasons, output_field=CharField()),
        Value(IssueReason.STATUS_UNKNOWN.value),
        output_field=CharField(),
    )


def has_reason(base: str) -> Q:
    """A 交付事由 from the status, or the 要配慮者 flag (issued even when 登録済)."""
    return ~Q(**{base: NO_REASON}) | Q(needs_consideration=True)


# --- rule 2: a certificate covering the issue date ----------------------------------------------


def covering_certificates(issue_date: date):
    """Rule 2's certificates: the person's certificates valid until the issue date or later,
    neither 無効 nor 返却済, whatever else their state (one due for return after a future loss
    still covers the days before the loss), and whose cover did not end before it (covers_until:
    ended by a successor or a loss, the column the no-overlap constraint reads — so a person who
    rejoins after a loss is not kept waiting for the old certificate's return). One issued after
    the issue date counts too: it covers days the new one would, and a person never holds two
    certificates covering the same day. The longest first (a correlated subquery)."""
    return (
        Certificate.objects.filter(
            Q(covers_until__isnull=True) | Q(covers_until__gte=issue_date),
            person_id=OuterRef("pk"),
            valid_until__gte=issue_date,
        )
        .exclude(state__in=NOT_COVERING)
        .order_by("-valid_until", "-pk")
    )


# The validity end of "no covering certificate": earlier than any, so one comparison decides.
NO_COVER = date.min


def cover_until(issue_date: date) -> Coalesce:
    """The validity end of the certificate covering the issue date, NO_COVER without one."""
    until = covering_certificates(issue_date).values("valid_until")[:1]
    return Coalesce(
        Subquery(until, output_field=DateField()),
        Value(NO_COVER, output_field=DateField()),
        output_field=DateField(),
    )


def renewal_limit(issue_date: date, renewal_window_days: int) -> date:
    """The last validity end a bulk run renews (更新): the issue date + the renewal window."""
    return issue_date + timedelta(days=renewal_window_days)


def not_blocked(*, cover_until: str, cover_end: str, limit: date) -> Q:
    """Rule 2: no covering certificate — or one expiring within the renewal window (≤ limit) that
    the new validity end outlasts (else re-running the same selection would issue again). One
    comparison, so the database probes the covering certificate once."""
    return Q(
        **{
            f"{cover_until}__lt": Least(
                Value(limit + timedelta(days=1), output_field=DateField()),
                F(cover_end),
                output_field=DateField(),
            )
        }
    )


def issue_reason(*, cover_until: str, base: str) -> Case:
    """更新 for a renewal; else the status's reason; 要配慮者 only when no other reason holds."""
    return Case(
        When(**{f"{cover_until}__gt": NO_COVER}, then=Value(IssueReason.RENEWAL.value)),
        default=Coalesce(NullIf(F(base), Value(NO_REASON)), Value(IssueReason.CONSIDERATION.value)),
        output_field=CharField(),
    )


def holds(q: Q) -> ExpressionWrapper:
    """A Q as a boolean column (for explaining one person's case)."""
    return ExpressionWrapper(q, output_field=BooleanField())


# --- the letter's checklist (a rule of the letter, not of the selection) -------------------------


class Status(NamedTuple):
    """A registration status as printed on the letter (status, electronic certificate expiry)."""

    status: str
    ec_expiry: date | None = None


def checklist_step(status: Status | None) -> str:
    """The letter's マイナ保険証 switch checklist: which やること the holder should do next.

    No valid card (no status on file, card returned) → "1→2"; card but not registered (未登録, 登録解除)
    → "2"; electronic certificate expired → "3→2". 登録済 (a 要配慮者) → "" (nothing to switch).
    """
    if status is None or status.status == RegistrationStatusValue.CARD_RETURNED:
        return "1→2"
    if status.status in (
        RegistrationStatusValue.NOT_REGISTERED,
        RegistrationStatusValue.DEREGISTERED,
    ):
        return "2"
    if status.status == RegistrationStatusValue.EC_EXPIRED:
        return "3→2"
    return ""
