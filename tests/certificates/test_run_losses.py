"""A 資格喪失年月日 already on file when a run issues: the new certificate is put up for return."""

from datetime import date, timedelta

import pytest

from certificates.models import Certificate, CertificateState, Route
from certificates.services import run_approve, run_create, run_execute
from members.services import person_record_loss

from .factories import dependent, member, snapshot

pytestmark = pytest.mark.django_db

STATUS_DATE = date(2026, 10, 31)
ISSUE = date(2026, 12, 1)
UNTIL = date(2028, 11, 30)


def _run(clerk, supervisor):
    run = run_create(
        status_date=STATUS_DATE, issue_date=ISSUE, valid_until=UNTIL, acting_user=clerk
    )
    run_approve(run=run, acting_user=supervisor)
    return run


def test_future_loss_imported_before_the_run_makes_the_new_certificate_return_pending(
    clerk, supervisor
):
    leaving = member(lost_on=ISSUE + timedelta(days=40))
    staying = member()
    snapshot(STATUS_DATE, [(leaving, "未登録", None), (staying, "未登録", None)])
    run = _run(clerk, supervisor)
    run_execute(run=run, acting_user=supervisor)

    left = Certificate.objects.get(person=leaving, run=run)
    assert left.state == CertificateState.RETURN_PENDING
    assert left.return_due == ISSUE + timedelta(days=45)
    assert left.return_route == Route.EMPLOYER
    assert Certificate.objects.get(person=staying, run=run).state == CertificateState.ACTIVE


def test_loss_recorded_after_the_list_was_frozen_is_applied_when_issuing(clerk, supervisor):
    head = member(insured_type="任意継続", voluntary_until=date(2027, 6, 30))
    child = dependent(head)
    snapshot(STATUS_DATE, [(head, "未登録", None), (child, "未登録", None)])
    run = _run(clerk, supervisor)
    # the member retires after approval: the dependent follows (members.services)
    person_record_loss(person=head, lost_on=ISSUE + timedelta(days=10), reason="退職")
    run_execute(run=run, acting_user=supervisor)

    certs = Certificate.objects.filter(run=run).order_by("person_id")
    assert certs.count() == 2  # the frozen list is issued whole
    for cert in certs:
        assert cert.state == CertificateState.RETURN_PENDING
        assert cert.return_due == ISSUE + timedelta(days=15)
        assert cert.return_route == Route.HOME  # 任意継続 households return directly


@pytest.mark.parametrize(
    ("lost_on", "skipped"),
    [(ISSUE - timedelta(days=1), True), (ISSUE, True), (ISSUE + timedelta(days=1), False)],
)
def test_execution_rechecks_rule_1_for_a_loss_recorded_after_approval(
    clerk, supervisor, lost_on, skipped
):
    """rules.md: a frozen target no longer qualified on the issue date is skipped, with the reason
    kept on the target and counted on the run; the run never adds anyone."""
    from certificates.models import RunTarget
    from documents.selectors import run_targets_for_planning

    head = member()
    child = dependent(head)
    other = member()
    snapshot(STATUS_DATE, [(p, "未登録", None) for p in (head, child, other)])
    run = _run(clerk, supervisor)
    person_record_loss(person=head, lost_on=lost_on, reason="退職")  # the dependent follows
    late = member()  # joins after the list was frozen: never added
    snapshot(STATUS_DATE, [(late, "未登録", None)])
    run = run_execute(run=run, acting_user=supervisor, batch_size=2)

    reasons = dict(RunTarget.objects.filter(run=run).values_list("person_id", "skip_reason"))
    assert set(reasons) == {head.pk, child.pk, other.pk}
    if skipped:
        assert reasons == {head.pk: "資格喪失", child.pk: "資格喪失", other.pk: ""}
        assert (run.issued_count, run.skipped_count) == (1, 2)
        assert list(Certificate.objects.filter(run=run).values_list("person_id", flat=True)) == [
            other.pk
        ]
        assert len(run_targets_for_planning(run_id=run.pk)) == 1
    else:
        assert set(reasons.values()) == {""}
        assert (run.issued_count, run.skipped_count) == (3, 0)
    assert not Certificate.objects.filter(person=late).exists()


def test_execute_output_counts_the_skipped_targets(clerk, supervisor):
    from io import StringIO

    from django.core.management import call_command

    head = member()
    snapshot(STATUS_DATE, [(head, "未登録", None), (member(), "未登録", None)])
    run = _run(clerk, supervisor)
    person_record_loss(person=head, lost_on=ISSUE, reason="退職")
    out = StringIO()
    call_command("issuance_run", "execute", str(run.pk), "--by", "supervisor", stdout=out)
    lines = out.getvalue().splitlines()
    assert f"一括交付 #{run.pk}: 交付 1/2件" in lines[0]
    assert lines[1] == "交付見送り(資格なし): 1件（資格喪失 1件）"
