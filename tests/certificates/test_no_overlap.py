"""The database refuses two certificates of one person covering the same day, except where one
replaces the other (rules.md; certificates.constraints: an exclusion constraint on PostgreSQL,
triggers on SQLite). Every write goes through the database's check: a direct INSERT or UPDATE, the
issuing writer, a reissue, a renewal run and a recorded loss. Runs on both databases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction

from certificates.lifecycle import (
    certificate_require_return_after_change,
    certificates_require_return,
)
from certificates.models import Certificate, CertificateState
from certificates.services import certificate_issue, run_approve, run_create, run_execute

from .factories import member, snapshot

pytestmark = pytest.mark.django_db

ISSUE = date(2026, 12, 1)
UNTIL = date(2031, 11, 30)
_numbers = iter(range(1, 10_000))


def _row(person, *, issue=ISSUE, until=UNTIL, state=CertificateState.NO_RETURN, **extra):
    """A certificate written directly (no service): the database alone decides. 返却不要 by default,
    a covering state the one-active unique constraint does not look at."""
    return Certificate.objects.create(
        number=f"2026-9{next(_numbers):06d}",
        person=person,
        reason="未登録",
        issue_date=issue,
        valid_until=until,
        route="事業主経由",
        printed_name=person.name,
        printed_name_kana=person.name_kana,
        state=state,
        return_due=until if state == CertificateState.RETURN_PENDING else None,
        **extra,
    )


def _refused(**kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(**kwargs)


def _issue(person, *, issue=ISSUE, until=UNTIL, replaces=None):
    return certificate_issue(
        person=person,
        reason="未登録",
        issue_date=issue,
        valid_until=until,
        route="事業主経由",
        replaces=replaces,
    )


def test_a_second_certificate_overlapping_by_one_day_is_refused():
    p = member()
    _row(p, until=date(2027, 3, 31))
    _refused(person=p, issue=date(2027, 3, 31))  # shares 31 March
    _refused(person=p, issue=date(2026, 6, 1), until=ISSUE)  # shares 1 December
    _refused(person=p, issue=date(2027, 1, 1), until=date(2027, 1, 31))  # inside
    _refused(person=p, state=CertificateState.RETURN_PENDING)  # 返却待ち covers too
    _row(p, issue=date(2027, 4, 1))  # the next day: no shared day
    _row(p, issue=date(2026, 1, 1), until=date(2026, 11, 30))  # the day before
    assert Certificate.objects.filter(person=p).count() == 3


def test_another_person_and_the_states_that_cover_nothing_are_not_refused():
    p = member()
    _row(p)
    _row(member())  # another person, the same days
    _row(p, state=CertificateState.VOID)
    _row(p, state=CertificateState.RETURNED)
    assert Certificate.objects.filter(person=p).count() == 3


def test_an_update_that_makes_two_cover_the_same_day_is_refused():
    p = member()
    old = _row(p, covers_until=ISSUE - timedelta(days=1), issue=date(2025, 12, 1))
    voided = _row(p, state=CertificateState.VOID)
    _row(p)
    with pytest.raises(IntegrityError), transaction.atomic():
        Certificate.objects.filter(pk=old.pk).update(covers_until=None)  # its cover back
    with pytest.raises(IntegrityError), transaction.atomic():
        Certificate.objects.filter(pk=voided.pk).update(state=CertificateState.NO_RETURN)
    with pytest.raises(IntegrityError), transaction.atomic():
        Certificate.objects.filter(pk=old.pk).update(
            valid_until=date(2026, 12, 1), covers_until=None
        )


def test_a_cover_can_only_end_before_the_validity():
    p = member()
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(p, covers_until=UNTIL)


def test_the_writer_refused_by_the_database_when_a_covering_certificate_is_not_replaced():
    """A 返却待ち certificate (記載事項変更) is not 有効, so the writer's own check does not see it:
    issuing beside it without `replaces` is refused by the database, nothing written."""
    p = member()
    old = _issue(p)
    certificate_require_return_after_change(certificate=old, received_on=ISSUE)
    with pytest.raises(IntegrityError), transaction.atomic():
        _issue(p, issue=date(2027, 1, 5))
    assert Certificate.objects.filter(person=p).count() == 1


def test_a_reissue_replacing_a_certificate_ends_its_cover_the_day_before():
    p = member()
    old = _issue(p)
    certificate_require_return_after_change(certificate=old, received_on=date(2027, 1, 5))
    new = _issue(p, issue=date(2027, 1, 5), replaces=old)
    old.refresh_from_db()
    assert old.state == CertificateState.RETURN_PENDING
    assert old.covers_until == date(2027, 1, 4)
    assert new.covers_until is None
    # the change is in the old one's history
    assert old.history.order_by("-history_id").first().covers_until == date(2027, 1, 4)


def test_a_replacement_on_the_first_day_leaves_the_old_one_covering_nothing():
    p = member()
    old = _issue(p)
    new = _issue(p, replaces=old)
    old.refresh_from_db()
    assert old.state == CertificateState.NO_RETURN
    assert old.covers_until == ISSUE - timedelta(days=1)  # before its first day: no day
    assert new.state == CertificateState.ACTIVE
    # and a third certificate beside the new one is still refused
    _refused(person=p, issue=date(2028, 1, 1), until=date(2028, 1, 31))


def test_a_loss_ends_the_cover_the_day_before_and_a_later_certificate_fits():
    p = member()
    cert = _issue(p)
    certificates_require_return(person=p, lost_on=date(2027, 6, 1))
    cert.refresh_from_db()
    assert cert.state == CertificateState.RETURN_PENDING
    assert cert.covers_until == date(2027, 5, 31)
    _refused(person=p, issue=date(2027, 5, 31), until=date(2027, 8, 31))
    _row(p, issue=date(2027, 6, 1), until=date(2027, 8, 31))  # rejoined: from the loss date


def test_a_renewal_run_replaces_and_three_repeats_add_nothing(clerk, supervisor):
    persons = [member() for _ in range(3)]
    snapshot(date(2026, 11, 15), [(p, "未登録", None) for p in persons])

    def run(issue, until):
        r = run_create(
            status_date=date(2026, 11, 15), issue_date=issue, valid_until=until, acting_user=clerk
        )
        run_approve(run=r, acting_user=supervisor)
        return run_execute(run=r, acting_user=supervisor)

    run(ISSUE, date(2027, 1, 31))
    renewal = date(2027, 1, 4)
    for _ in range(3):
        run(renewal, UNTIL)
    for p in persons:
        certs = list(Certificate.objects.filter(person=p).order_by("issue_date"))
        assert [c.issue_date for c in certs] == [ISSUE, renewal]
        assert certs[0].covers_until == renewal - timedelta(days=1)
        assert certs[1].covers_until is None


def test_rule_2_counts_a_certificate_starting_after_the_issue_date(clerk):
    """README "Known limits / deviations": rules.md's covering certificate is "issued on or before"
    the issue date; the selection also counts one issued after it, which would otherwise give the
    person a second certificate covering the later one's days (refused by the database). Such a
    person is excluded with the reason 有効な資格確認書あり, and one without it is a target."""
    from certificates.selectors import issuance_decision

    later, plain = member(), member()
    snapshot(date(2026, 11, 15), [(later, "未登録", None), (plain, "未登録", None)])
    _issue(later, issue=date(2027, 1, 1), until=UNTIL)  # starts a month after ISSUE
    run = run_create(
        status_date=date(2026, 11, 15), issue_date=ISSUE, valid_until=UNTIL, acting_user=clerk
    )
    assert list(run.targets.values_list("person_id", flat=True)) == [plain.pk]
    decision = issuance_decision(
        person_id=later.pk, status_date=date(2026, 11, 15), issue_date=ISSUE, valid_until=UNTIL
    )
    assert decision.target is None and decision.excluded_by == ["有効な資格確認書あり"]
    # the literal reading would have issued 2026-12-01…2031-11-30 beside it: the database refuses
    _refused(person=later, state=CertificateState.NO_RETURN)
