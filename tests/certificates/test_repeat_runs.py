"""Runs are idempotent (rules.md): repeating the same selection issues nothing new, also to people
whose known future loss makes their certificate due for return (issue 14 item 1) — a certificate
covering the issue date blocks whatever its state's label. On PostgreSQL and SQLite."""

from datetime import date

import pytest

from certificates.models import Certificate
from certificates.services import run_approve, run_create, run_execute

from .factories import dependent, member, snapshot

pytestmark = pytest.mark.django_db

ISSUE = date(2026, 12, 1)


def _run(clerk, supervisor):
    run = run_create(
        status_date=date(2026, 11, 15),
        issue_date=ISSUE,
        valid_until=date(2031, 11, 30),
        acting_user=clerk,
    )
    run_approve(run=run, acting_user=supervisor)
    return run_execute(run=run, acting_user=supervisor)


@pytest.mark.parametrize("lost_on", [date(2026, 12, 2), date(2027, 3, 31)])
def test_three_repeats_issue_one_certificate_each_also_with_a_future_loss(
    clerk, supervisor, lost_on
):
    leaving = member(lost_on=lost_on)
    follower = dependent(leaving, lost_on=lost_on)
    staying = member()
    snapshot(date(2026, 11, 1), [(p, "未登録", None) for p in (leaving, follower, staying)])
    first = _run(clerk, supervisor)
    assert first.target_count == 3
    for _ in range(2):
        again = _run(clerk, supervisor)
        assert again.target_count == 0
    for p in (leaving, follower, staying):
        assert Certificate.objects.filter(person=p).count() == 1, p
