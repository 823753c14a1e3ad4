"""An independent model of the rules of 一括職権交付 (rules.md "Who receives a 資格確認書 ex
officio"), as pure Python functions over one person's facts: the reference the tests compare the
production rules (certificates.rules, query expressions) against. Not imported by the application.

Written from rules.md, not from certificates.rules: a rule changed in rules.md is changed here and
in certificates.rules, and the table-driven tests say whether both agree with the table.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from certificates.rules import Status
from members.dates import (
    add_months,
    elderly_start,
    is_late_elderly_on,
    late_elderly_start,
    month_end,
)

# 健康保険法施行令§34①: 70–74 pay 3割 when the 標準報酬月額 is 280,000 yen or more.
HIGH_INCOME_REMUNERATION = 280_000

GENERAL = "一般"
VOLUNTARY = "任意継続"

REGISTERED = "登録済"
NOT_REGISTERED = "未登録"
DEREGISTERED = "登録解除"
CARD_RETURNED = "カード返納"
EC_EXPIRED = "電子証明書失効"

# 交付事由
R_UNREGISTERED = "未登録"
R_STATUS_UNKNOWN = "登録状況不明"
R_DEREGISTERED = "登録解除"
R_CARD_RETURNED = "カード返納"
R_EC_EXPIRED = "電子証明書失効"
R_CONSIDERATION = "要配慮者"
R_RENEWAL = "更新"

ROUTE_EMPLOYER = "事業主経由"
ROUTE_HOME = "自宅"

DEFAULT_RENEWAL_WINDOW_DAYS = 60
DEFAULT_EC_LAPSE_MONTHS = 3


@dataclass(frozen=True)
class Holder:
    """What the rules need to know about one person (and, for a dependent, their member)."""

    birth_date: date
    acquired_on: date
    lost_on: date | None
    needs_consideration: bool
    # The household's 被保険者: the person themselves for a 本人.
    insured_type: str  # 一般 | 任意継続 (of the member)
    voluntary_until: date | None  # 任意継続満了日 (of the member)
    standard_remuneration: int | None  # 標準報酬月額 (of the member)
    is_dependent: bool = False
    member_birth_date: date | None = None
    member_lost_on: date | None = None


@dataclass(frozen=True)
class Decision:
    reason: str
    valid_until: date
    route: str
    elderly_start: date | None  # set only when it falls on or before valid_until
    copay_ratio: str  # "2割" | "3割" | "" (set only with elderly_start)
    renews: bool  # an active certificate expiring in the renewal window is replaced


def ec_registration_lapse(ec_expiry: date, months: int = DEFAULT_EC_LAPSE_MONTHS) -> date:
    """The day the 保険証利用登録 lapses after the electronic certificate expired: the last day of the
    3rd month after the month of expiry (expired 2025-09-15 → lapses 2025-12-31)."""
    return month_end(add_months(ec_expiry.replace(day=1), months))


def is_qualified_on(h: Holder, on: date) -> bool:
    """Rule 1: 資格取得年月日 ≤ date, no 資格喪失年月日 on or before it, not yet 75 — and for a
    dependent, their member still qualified (dependents follow their member)."""
    if h.acquired_on > on:
        return False
    if h.lost_on is not None and h.lost_on <= on:
        return False
    if is_late_elderly_on(h.birth_date, on):
        return False
    if h.voluntary_until is not None and h.voluntary_until < on:
        return False
    if h.is_dependent:
        if h.member_lost_on is not None and h.member_lost_on <= on:
            return False
        if h.member_birth_date is not None and is_late_elderly_on(h.member_birth_date, on):
            return False
    return True


def status_reason(
    status: Status | None, issue_date: date, ec_lapse_months: int = DEFAULT_EC_LAPSE_MONTHS
) -> str | None:
    """The 交付事由 given by the registration status alone (None: the status gives none)."""
    if status is None:
        return R_STATUS_UNKNOWN
    if status.status == NOT_REGISTERED:
        return R_UNREGISTERED
    if status.status == DEREGISTERED:
        return R_DEREGISTERED
    if status.status == CARD_RETURNED:
        return R_CARD_RETURNED
    if status.status == EC_EXPIRED:
        if status.ec_expiry is None:
            return None
        lapse = ec_registration_lapse(status.ec_expiry, ec_lapse_months)
        return R_EC_EXPIRED if lapse <= month_end(issue_date) else None
    return None  # 登録済


def validity_end(h: Holder, run_valid_until: date) -> date:
    """The earliest of the run's uniform expiry, the day before the holder's 75th birthday, for a
    dependent the day before their member's 75th birthday, and the 任意継続満了日."""
    candidates = [run_valid_until, late_elderly_start(h.birth_date) - timedelta(days=1)]
    if h.is_dependent and h.member_birth_date is not None:
        candidates.append(late_elderly_start(h.member_birth_date) - timedelta(days=1))
    if h.insured_type == VOLUNTARY and h.voluntary_until is not None:
        candidates.append(h.voluntary_until)
    return min(candidates)


def route_for(h: Holder) -> str:
    """一般 members and their dependents: via the employer; 任意継続 households: to the home."""
    return ROUTE_HOME if h.insured_type == VOLUNTARY else ROUTE_EMPLOYER


def copay_ratio(h: Holder, on: date) -> str:
    """一部負担金の割合 for a 高齢受給者 on a date (健康保険法§74, 施行令§34).

    A member uses their own 標準報酬月額. A dependent is 3割 only when their member is a 高齢受給者 too
    on that date (past the member's own start and not yet 75) with 標準報酬月額 ≥ 280,000; else 2割.
    """
    if not h.is_dependent:
        high = (h.standard_remuneration or 0) >= HIGH_INCOME_REMUNERATION
        return "3割" if high else "2割"
    if h.member_birth_date is None:
        return "2割"
    member_is_elderly = elderly_start(h.member_birth_date) <= on and not is_late_elderly_on(
        h.member_birth_date, on
    )
    high = (h.standard_remuneration or 0) >= HIGH_INCOME_REMUNERATION
    return "3割" if member_is_elderly and high else "2割"


def elderly_terms(h: Holder, issue_date: date, valid_until: date) -> tuple[date | None, str]:
    """高齢受給者証発効日 and 一部負担金割合, when the start falls on or before the validity end.
    The ratio is the one in force from max(issue date, start)."""
    start = elderly_start(h.birth_date)
    if start > valid_until:
        return None, ""
    return start, copay_ratio(h, max(issue_date, start))


def evaluate(
    h: Holder,
    status: Status | None,
    active_valid_untils: Sequence[date],
    *,
    issue_date: date,
    run_valid_until: date,
    renewal_window_days: int = DEFAULT_RENEWAL_WINDOW_DAYS,
    ec_lapse_months: int = DEFAULT_EC_LAPSE_MONTHS,
) -> Decision | None:
    """Is this person a target of the run, and on what terms? None when not a target.

    `active_valid_untils`: the 有効期限 of the person's active certificates.
    """
    if not is_qualified_on(h, issue_date):
        return None
    # Rule 2: an active certificate valid on the issue date excludes the person, unless it expires
    # within the renewal window (then the new one renews it).
    renewal_limit = issue_date + timedelta(days=renewal_window_days)
    blocking = [d for d in active_valid_untils if d >= issue_date]
    if any(d > renewal_limit for d in blocking):
        return None
    renews = bool(blocking)
    base = status_reason(status, issue_date, ec_lapse_months)
    if base is None and not h.needs_consideration:
        return None  # 登録済 (or an electronic certificate that has not lapsed yet)
    if renews:
        reason = R_RENEWAL
    elif base is not None:
        reason = base
    else:
        reason = R_CONSIDERATION
    valid_until = validity_end(h, run_valid_until)
    if renews and valid_until <= max(blocking):
        # The current certificate already runs to the end of the holder's cover (75th birthday,
        # 任意継続満了日): a "renewal" would add nothing, and re-running the same selection must
        # issue nothing new (rules.md, "Runs are idempotent").
        return None
    start, ratio = elderly_terms(h, issue_date, valid_until)
    return Decision(
        reason=reason,
        valid_until=valid_until,
        route=route_for(h),
        elderly_start=start,
        copay_ratio=ratio,
        renews=renews,
    )
