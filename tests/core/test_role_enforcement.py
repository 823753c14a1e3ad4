"""Roles outside the admin: `--by` must name a user holding the role the action needs; a clerk cannot
approve a run or waive a fee (the supervisor can: the same calls, another user)."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.utils import timezone

from certificates.models import IssuanceRun
from core.roles import AUDITOR, CLERK, SUPERVISOR, RoleError, user_for_role
from tests.core.conftest import make_certificate, make_person


@pytest.fixture
def run(db, clerk):
    return IssuanceRun.objects.create(
        status_date=date(2025, 11, 1),
        issue_date=date(2025, 12, 2),
        valid_until=date(2030, 12, 1),
        created_by=clerk,
    )


def test_user_for_role_names_the_user_and_the_missing_role(clerk, outsider, auditor):
    assert user_for_role("clerk", CLERK, SUPERVISOR) == clerk
    with pytest.raises(RoleError, match="「outsider」には承認者の権限がありません"):
        user_for_role("outsider", SUPERVISOR)
    with pytest.raises(RoleError, match="「nobody」は存在しません"):
        user_for_role("nobody", AUDITOR)
    auditor.is_active = False
    auditor.save()
    with pytest.raises(RoleError, match="無効化"):
        user_for_role("auditor", AUDITOR)


def test_a_clerk_cannot_approve_a_run_through_the_command(run, clerk2):
    with pytest.raises(CommandError, match="承認者"):
        call_command("issuance_run", "approve", str(run.pk), "--by", clerk2.username)
    run.refresh_from_db()
    assert (run.state, run.approved_by) == ("作成", None)


def test_an_auditor_cannot_approve_either(run, auditor):
    with pytest.raises(CommandError, match="承認者"):
        call_command("issuance_run", "approve", str(run.pk), "--by", auditor.username)
    run.refresh_from_db()
    assert run.state == "作成"


def test_a_supervisor_can_approve_the_same_run(run, supervisor):
    call_command("issuance_run", "approve", str(run.pk), "--by", supervisor.username)
    run.refresh_from_db()
    assert (run.state, run.approved_by) == ("承認", supervisor)


def test_a_clerk_cannot_execute_a_run(run, supervisor, clerk2):
    call_command("issuance_run", "approve", str(run.pk), "--by", supervisor.username)
    with pytest.raises(CommandError, match="承認者"):
        call_command("issuance_run", "execute", str(run.pk), "--by", clerk2.username)
    run.refresh_from_db()
    assert run.state == "承認"


@pytest.fixture
def unpaid_invoice(employer, clerk):
    from fees.models import ReissueApplication
    from fees.services import reissue_application_receive_loss

    person = make_person(employer=employer, bango="1")
    today = timezone.localdate()
    cert = make_certificate(person, "2025-0000001", issue_date=today, valid_until=date(2030, 12, 1))
    app = reissue_application_receive_loss(
        certificate=cert, route="事業主経由", received_on=today, acting_user=clerk
    )
    return ReissueApplication.objects.get(pk=app.pk).invoice


def test_a_clerk_cannot_waive_a_fee(unpaid_invoice, clerk):
    from fees.services import invoice_waive

    with pytest.raises(PermissionDenied):
        invoice_waive(invoice=unpaid_invoice, reason="生活困窮", acting_user=clerk)
    unpaid_invoice.refresh_from_db()
    assert unpaid_invoice.state == "未入金"
    assert unpaid_invoice.waive_reason == ""


def test_a_supervisor_can_waive_the_same_fee(unpaid_invoice, supervisor):
    from fees.services import invoice_waive

    invoice_waive(invoice=unpaid_invoice, reason="生活困窮", acting_user=supervisor)
    unpaid_invoice.refresh_from_db()
    assert unpaid_invoice.state == "免除"
