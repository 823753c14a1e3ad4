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
