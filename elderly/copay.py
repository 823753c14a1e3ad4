"""一部負担金の割合 of a 高齢受給者 (健康保険法§74・§110, 施行令§34): the one definition.

rules.md "Age rules": 2割; 3割 when the household's 被保険者 is a 高齢受給者 on the day (their own start
month has come, not yet 75) with 標準報酬月額 ≥ 280,000 yen and no 基準収入額適用 holding for them on the
day. A member uses their own 標準報酬月額 (for a member holder the "member is a 高齢受給者" test is the
holder's own status, which the caller has already established). A dependent follows their member
(§110): a dependent of a member under 70 pays 2割 whatever the member earns.

Written as a query expression over members.Person so that the same text decides the ratio of one
person (`ratio_on`), of every 高齢受給者 in the nightly event detection (elderly.events), and of a
run's targets (certificates.rules). The member's facts are read with subqueries keyed on the
household's 被保険者 (the person themselves for a 本人).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import (
    Case,
    CharField,
    Exists,
    Expression,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThanOrEqual

from certificates.models import CopayRatio
from members.dates import ELDERLY_AGE, elderly_start, late_elderly_start
from members.models import IncomeBasisApplication, Person
from members.selectors import late_elderly_birth_cutoff

# 健康保険法施行令§34①: 70–74 pay 3割 when the 標準報酬月額 is 280,000 yen or more.
HIGH_INCOME_REMUNERATION = 280_000


def elderly_birth_cutoff(on: date) -> date:
    """The latest birth date whose 高齢受給者 start (members.dates.elderly_start) is on or before `on`.

    Starts are 1sts of months and grow with the birth date, so one cutoff decides every row: born on
    the 1st of `on`'s month 70 years earlier starts that very month (birthday on the 1st), born the
    next day a month later. Checked against members.dates itself, so the date law is not re-spelled.
    """
    first = on.replace(day=1)
    cutoff = date(first.year - ELDERLY_AGE, first.month, 1)
    if not (elderly_start(cutoff) <= on < elderly_start(cutoff + timedelta(days=1))):
        raise RuntimeError(f"高齢受給者の開始の境界が求まりません: {on}")  # pragma: no cover
    return cutoff


def late_birth_cutoff(on: date) -> date:
    """The latest birth date that is 75 or more on `on` (members.selectors' cutoff, checked here
    against members.dates.late_elderly_start: 29 February births reach 75 on 1 March)."""
    cutoff = late_elderly_birth_cutoff(on)
    if not (late_elderly_start(cutoff) <= on < late_elderly_start(cutoff + timedelta(days=1))):
        raise RuntimeError(f"75歳到達の境界が求まりません: {on}")  # pragma: no cover
    return cutoff


def household_member_id() -> Expression:
    """The household's 被保険者 of the outer Person row (themselves for a 本人)."""
    return Coalesce(OuterRef("member_id"), OuterRef("pk"))


def _member_value(field: str) -> Subquery:
    return Subquery(Person.objects.filter(pk=household_member_id()).values(field)[:1])


def income_basis_holds(on: date | Expression) -> Exists:
    """基準収入額適用 holds for the household's 被保険者 on the day (its window includes it)."""
    return Exists(
        IncomeBasisApplication.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=on),
            member_id=household_member_id(),
            valid_from__lte=on,
        )
    )


def member_is_elderly_on(on: date) -> Q:
    """The household's 被保険者 is a 高齢受給者 on the day: their start has come, not yet 75."""
    birth = _member_value("birth_date")
    return Q(LessThanOrEqual(birth, elderly_birth_cutoff(on))) & Q(
        GreaterThan(birth, late_birth_cutoff(on))
    )


def copay_ratio(on: date | Expression, *, member_elderly: Q | None = None) -> Case:
    """一部負担金の割合 ("2割" | "3割") of a 高齢受給者 (the outer Person row) on the day.

    `on` is a date, or an expression for a per-row day; with an expression the caller passes
    `member_elderly`, the test "the household's 被保険者 is a 高齢受給者 on that day" over its own
    columns (for a plain date it is derived from the birth date here)."""
    if member_elderly is None:
        if not isinstance(on, date):
            raise TypeError("copay_ratio: a per-row day needs member_elderly")
        member_elderly = member_is_elderly_on(on)
    high = Q(
        GreaterThanOrEqual(
            Coalesce(_member_value("standard_remuneration"), Value(0)),
            HIGH_INCOME_REMUNERATION,
        )
    )
    return Case(
        When(member_elderly & high & ~Q(income_basis_holds(on)), then=Value(CopayRatio.THREE)),
        default=Value(CopayRatio.TWO),
        output_field=CharField(),
    )


def ratio_on(person: Person, on: date) -> str:
    """The ratio of one person on a day, from the same expression (the single-person path)."""
    return (
        Person.objects.filter(pk=person.pk)
        .annotate(ratio=copay_ratio(on))
        .values_list("ratio", flat=True)
        .get()
    )
