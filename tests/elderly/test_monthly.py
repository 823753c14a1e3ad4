"""rules.md "The monthly cycle": after each registration-status import the month's run is prepared
as a draft awaiting a supervisor's approval (switchable off), through the real import command."""

from datetime import date, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import override_settings

from certificates.models import IssuanceRun, RunState
from certificates.services import run_approve, run_create
from elderly.models import MonthlyPreparation
from elderly.monthly import monthly_run_dates
from members.models import RegistrationSnapshot
from tests.certificates.factories import member

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 3)


@pytest.fixture
def people(db):
    # A new joiner not registered, one registered (not a target), one with no status row at all.
    return (
        member(kigo="10", bango="1", acquired_on=date(2026, 11, 1)),
        member(kigo="10", bango="2"),
        member(kigo="10", bango="3"),
    )


def import_status(tmp_path, captured, *args, rows=("10,1,00,未登録,", "10,2,00,登録済,")):
    path = tmp_path / "status.csv"
    header = "記号,番号,枝番,登録状況,電子証明書有効期限"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    with mock.patch("django.utils.timezone.localdate", return_value=TODAY), captured(execute=True):
        call_command(
            "import_registration_status",
            str(path),
            "--as-of",
            "2026-11-30",
            *args,
            stdout=StringIO(),
        )


def test_a_status_import_prepares_the_months_draft_run(
    tmp_path, people, clerk, supervisor, django_capture_on_commit_callbacks
):
    import_status(tmp_path, django_capture_on_commit_callbacks, "--by", clerk.username)
    prep = MonthlyPreparation.objects.get()
    run = prep.run
    assert prep.state == "作成" and run.state == RunState.CREATED and run.created_by == clerk
    assert run.status_date == date(2026, 11, 30)
    assert run.issue_date == TODAY + timedelta(days=7)
    assert run.valid_until == date(2028, 12, 9)  # 24 months less a day
    assert run.target_count == 2  # 未登録 and 登録状況不明; the 登録済 member is not a target
    assert prep.summary["by_reason"] == {"未登録": 1, "登録状況不明": 1}
    # a supervisor approves it like any run; the clerk who imported cannot
    run_approve(run=run, acting_user=supervisor)


def test_the_second_month_shows_the_diff_against_last_month(
    tmp_path, people, clerk, supervisor, django_capture_on_commit_callbacks
):
    import_status(tmp_path, django_capture_on_commit_callbacks, "--by", clerk.username)
    first = MonthlyPreparation.objects.get().run
    import_status(
        tmp_path,
        django_capture_on_commit_callbacks,
        "--by",
        clerk.username,
        rows=("10,1,00,未登録,", "10,2,00,登録解除,", "10,3,00,登録済,"),
    )
    second = MonthlyPreparation.objects.order_by("-pk").first().run
    assert second.summary["previous"] == {
        "run_id": first.pk,
        "targets": 2,
        "common": 1,
        "new": 1,
        "dropped": 1,
    }


@override_settings(MONTHLY_RUN_AUTO=False)
def test_switched_off_prepares_nothing_and_says_so(
    tmp_path, people, clerk, django_capture_on_commit_callbacks
):
    import_status(tmp_path, django_capture_on_commit_callbacks, "--by", clerk.username)
    assert not IssuanceRun.objects.exists()
    assert MonthlyPreparation.objects.get().state == "無効"


def test_a_dry_run_prepares_nothing(tmp_path, people, clerk, django_capture_on_commit_callbacks):
    import_status(tmp_path, django_capture_on_commit_callbacks, "--by", clerk.username, "--dry-run")
    assert not IssuanceRun.objects.exists() and not MonthlyPreparation.objects.exists()


def test_without_an_importing_user_the_draft_is_not_made_and_the_import_stands(
    tmp_path, people, django_capture_on_commit_callbacks
):
    import_status(tmp_path, django_capture_on_commit_callbacks)
    assert RegistrationSnapshot.objects.count() == 1
    prep = MonthlyPreparation.objects.get()
    assert prep.state == "見送り" and "--by" in prep.message and prep.run is None


def test_an_approved_run_still_issuing_blocks_the_draft_with_its_reason(
    tmp_path, people, clerk, supervisor, django_capture_on_commit_callbacks
):
    busy = run_create(
        status_date=date(2026, 11, 1),
        issue_date=date(2026, 11, 2),
        valid_until=date(2027, 11, 1),
        acting_user=clerk,
    )
    run_approve(run=busy, acting_user=supervisor)
    import_status(tmp_path, django_capture_on_commit_callbacks, "--by", clerk.username)
    prep = MonthlyPreparation.objects.get()
    assert prep.state == "見送り" and f"#{busy.pk}" in prep.message
    assert RegistrationSnapshot.objects.count() == 1


@override_settings(MONTHLY_RUN_VALIDITY_MONTHS=60, MONTHLY_RUN_LEAD_DAYS=0)
def test_the_longest_validity_stays_inside_the_five_year_cap():
    snap = RegistrationSnapshot(as_of=date(2026, 11, 30))
    _, issue, until = monthly_run_dates(snap, today=date(2026, 12, 1))
    assert (issue, until) == (date(2026, 12, 1), date(2031, 11, 30))
