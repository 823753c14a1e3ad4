"""The approver's preview shows who changed since the list was frozen
(certificates.selectors.run_changes_since_frozen): the same rule expressions as the selection,
over the frozen persons, with the rule that would now exclude each, counted; a loss on the issue
date recorded before approval is a warning on the approval page. Runs on both databases."""

from datetime import date, timedelta

import pytest
from django.urls import reverse

from certificates.models import RunTarget
from certificates.selectors import run_changes_since_frozen
from certificates.services import certificate_issue, run_approve, run_create, run_execute
from members.services import person_record_loss

from .factories import dependent, member, snapshot

pytestmark = pytest.mark.django_db

STATUS_DATE = date(2026, 10, 31)
ISSUE = date(2026, 12, 1)
UNTIL = date(2028, 11, 30)


def _society():
    head = member()
    child = dependent(head)
    later = member()
    other = member()
    registered = member()
    snapshot(STATUS_DATE, [(p, "未登録", None) for p in (head, child, later, other, registered)])
    return head, child, later, other, registered


def _create(clerk):
    return run_create(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=UNTIL, acting_user=clerk
    )


def test_nobody_changed_right_after_creation(clerk):
    _society()
    changes = run_changes_since_frozen(_create(clerk))
    assert (changes.total, changes.by_rule, changes.rows) == (0, [], [])


def test_each_change_is_listed_with_the_rule_that_now_excludes_it(clerk):
    head, child, later, other, registered = _society()
    run = _create(clerk)
    # after the list was frozen: a loss on the issue date (the dependent follows), a loss the
    # day after (still qualified: not listed), a certificate issued by hand, and a status file
    # on the status date now saying 登録済
    person_record_loss(person=head, lost_on=ISSUE, reason="退職")
    person_record_loss(person=later, lost_on=ISSUE + timedelta(days=1), reason="退職")
    certificate_issue(
        person=other, reason="未登録", issue_date=ISSUE, valid_until=UNTIL, route="事業主経由"
    )
    snapshot(STATUS_DATE, [(registered, "登録済", None)])
    changes = run_changes_since_frozen(run)
    assert changes.total == 4
    assert dict(changes.by_rule) == {
        "資格喪失": 2,
        "被保険者の資格喪失": 2,  # a 本人 is their own 被保険者
        "有効な資格確認書あり": 1,
        "登録済(交付事由なし)": 1,
    }
    by_key = {r["key"]: r["excluded_by"] for r in changes.rows}
    assert by_key == {
        head.key: ["資格喪失", "被保険者の資格喪失"],
        child.key: ["資格喪失", "被保険者の資格喪失"],
        other.key: ["有効な資格確認書あり"],
        registered.key: ["登録済(交付事由なし)"],
    }
    assert (changes.unqualified, changes.lost_on_issue_date) == (2, 2)
    # the frozen list itself is unchanged
    assert RunTarget.objects.filter(run=run).count() == run.target_count == 5


def test_the_rows_shown_are_bounded_but_the_counts_are_whole(clerk):
    persons = [member() for _ in range(5)]
    snapshot(STATUS_DATE, [(p, "未登録", None) for p in persons])
    run = _create(clerk)
    for p in persons:
        person_record_loss(person=p, lost_on=ISSUE - timedelta(days=3), reason="退職")
    changes = run_changes_since_frozen(run, limit=2)
    assert changes.total == 5 and len(changes.rows) == 2
    assert dict(changes.by_rule) == {"資格喪失": 5, "被保険者の資格喪失": 5}
    assert changes.lost_on_issue_date == 0 and changes.unqualified == 5


def test_the_preview_and_the_approval_page_warn_of_a_loss_on_the_issue_date(
    client, clerk, supervisor
):
    head, *_ = _society()
    run = _create(clerk)
    client.force_login(supervisor)
    page = client.get(reverse("admin:certificates_issuancerun_change", args=[run.pk]))
    assert "作成後に対象から外れた人はいません" in page.content.decode()
    approve = client.get(reverse("admin:certificates_run_approve", args=[run.pk]))
    assert "作成後に変わった対象者" not in approve.content.decode()

    person_record_loss(person=head, lost_on=ISSUE, reason="退職")
    html = client.get(
        reverse("admin:certificates_issuancerun_change", args=[run.pk])
    ).content.decode()
    assert 'id="changes-warning"' in html
    assert "(うち交付年月日に資格喪失 2人)" in html
    assert head.key in html and "実行時に交付を見送ります" in html
    approve = client.get(reverse("admin:certificates_run_approve", args=[run.pk])).content.decode()
    assert "作成後に変わった対象者が 2人います" in approve
    assert "うち交付年月日に資格喪失 2人" in approve

    # executing skips them, as the warning said; afterwards the page no longer lists changes
    run_approve(run=run, acting_user=supervisor)
    run = run_execute(run=run, acting_user=supervisor)
    assert run.skipped_count == 2
    html = client.get(
        reverse("admin:certificates_issuancerun_change", args=[run.pk])
    ).content.decode()
    assert "作成後に変わった対象者" not in html
