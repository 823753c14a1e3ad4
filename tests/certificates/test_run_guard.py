"""A run's state moves only through its services (issue 12): no 承認 or later without the approver
and the moment of approval — not through save(), not through update(), not through a history screen."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from certificates.models import IssuanceRun, RunState


@pytest.fixture
def run(db, clerk):
    return IssuanceRun.objects.create(
        status_date=date(2025, 11, 1),
        issue_date=date(2025, 12, 2),
        valid_until=date(2030, 12, 1),
        created_by=clerk,
    )


@pytest.mark.parametrize("state", [s for s in RunState.values if s != RunState.CREATED])
def test_save_refuses_a_state_past_created_without_an_approval(run, supervisor, state):
    run.state = state
    run.approved_by = supervisor  # an approver alone is not an approval
    with pytest.raises(ValidationError, match="承認者・承認日時がありません"):
        run.save()
    run.refresh_from_db()
    assert run.state == RunState.CREATED


@pytest.mark.parametrize("state", [s for s in RunState.values if s != RunState.CREATED])
def test_the_database_refuses_it_too(run, supervisor, state):
    with pytest.raises(IntegrityError), transaction.atomic():
        IssuanceRun.objects.filter(pk=run.pk).update(state=state, approved_by=supervisor)
    run.refresh_from_db()
    assert run.state == RunState.CREATED


def test_the_creator_cannot_be_the_approver_on_save(run, clerk):
    from django.utils import timezone

    run.state, run.approved_by, run.approved_at = RunState.APPROVED, clerk, timezone.now()
    with pytest.raises(ValidationError, match="作成者"):
        run.save()


@pytest.mark.parametrize("role", ["clerk", "supervisor", "auditor"])
def test_the_history_screen_of_a_run_saves_nothing(client, run, supervisor, request, role):
    """The reproduction of issue 12: a clerk POSTed state=承認 and an approver to their own run's
    history record view; an auditor changed a person the same way."""
    user = request.getfixturevalue(role)
    client.force_login(user)
    record = run.history.order_by("history_id").first()
    url = reverse("admin:certificates_issuancerun_simple_history", args=[run.pk, record.history_id])
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    response = client.post(
        url,
        {
            "status_date": "2025-11-01",
            "issue_date": "2025-12-02",
            "valid_until": "2030-12-01",
            "state": RunState.APPROVED,
            "created_by": run.created_by_id,
            "approved_by": supervisor.pk,
            "target_count": "0",
            "issued_count": "0",
            "summary": "{}",
        },
    )
    assert response.status_code == 403
    run.refresh_from_db()
    assert (run.state, run.approved_by, run.history.count()) == (RunState.CREATED, None, 1)
