"""Builders shared by the after-issue tests (returns, reissue, fees, schedule)."""

from __future__ import annotations

from datetime import date

from certificates.models import Certificate
from certificates.services import certificate_issue
from tests.certificates.factories import dependent, employer, member, snapshot  # noqa: F401


def issue(
    person,
    *,
    issue_date: date = date(2025, 12, 1),
    valid_until: date = date(2030, 11, 30),
    reason: str = "未登録",
    route: str | None = None,
    run=None,
) -> Certificate:
    """A certificate as a bulk run or reissue would leave it (stored 有効)."""
    household = person.household_member
    if route is None:
        route = "自宅" if household.insured_type == "任意継続" else "事業主経由"
    return certificate_issue(
        person=person,
        reason=reason,
        issue_date=issue_date,
        valid_until=valid_until,
        route=route,
        run=run,
    )


def refresh(obj):
    obj.refresh_from_db()
    return obj
