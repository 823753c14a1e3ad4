"""Run services: create, approve, execute — states, roles, resumption after a crash, conflicts."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from certificates import issue_sql, services
from certificates.models import Certificate, IssuanceRun, RunState, RunTarget
from certificates.services import (
    certificate_issue,
    run_approve,
    run_create,
    run_execute,
)
from core.models import AuditEvent

from . import society

pytestmark = pytest.mark.django_db

N = len(society.EXPECTED)


def create(user, **kw):
    args = dict(
        status_date=society.STATUS_DATE,
        issue_date=society.ISSUE,
        valid_until=society.RUN_UNTIL,
        acting_user=user,
    )
    args.update(kw)
    return run_create(**args)


def test_run_create_freezes_targets_with_letter_facts(clerk):
    people = society.build()
    run = create(clerk)
    assert run.state == RunState.CREATED and run.target_count == N == run.targets.count()
    t = RunTarget.objects.get(run=run, person=people["10-5-00"])
    assert (t.registration_status, t.ec_expiry) == ("電子証明書失効", date(2026, 9, 1))
    dep = RunTarget.objects.get(run=run, person=people["10-1-01"])
    assert dep.household == people["10-1-00"] and dep.employer.code == "E100"
    assert dep.registration_status == ""  # no status on file
    home = RunTarget.objects.get(run=run, person=people["10-6-01"])
    assert home.employer is None and home.route == "自宅" and home.household == people["10-6-00"]
    assert (
        RunTarget.objects.get(run=run, person=people["10-10-00"]).replaces == people["old-renewed"]
    )
    assert run.summary["by_reason"]["更新"] == 1
    assert AuditEvent.objects.filter(action="run.created", object_id=str(run.pk)).exists()


def test_uniform_expiry_is_at_most_the_issue_date_plus_five_years_minus_one_day(clerk):
    # rules.md: 2026-12-01 → 2031-11-30 at the latest (2031-12-01 would be five years and a day)
    society.build()
    with pytest.raises(ValidationError, match="2031-11-30まで"):
        create(clerk, valid_until=date(2031, 12, 1))
    assert not IssuanceRun.objects.exists()
    assert create(clerk, valid_until=date(2031, 11, 30)).pk


@pytest.mark.parametrize(
    ("issue", "latest"),
    [
        (date(2026, 12, 1), date(2031, 11, 30)),
        (date(2028, 2, 29), date(2033, 2, 28)),  # 民法§143②: no 29 February in 2033
        (date(2027, 3, 1), date(2032, 2, 29)),  # the day before 1 March of a leap year
        (date(2026, 1, 1), date(2030, 12, 31)),
    ],
)
def test_five_year_cap_at_its_boundaries(issue, latest):
    from certificates.rules import max_valid_until

    assert max_valid_until(issue) == latest


@pytest.mark.parametrize("who", ["auditor", "outsider"])
def test_only_clerks_and_supervisors_create_runs(request, who):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied, match="権限がない"):
        create(user)
    assert IssuanceRun.objects.count() == 0


def test_approve_requires_the_supervisor_role_and_another_person(clerk, clerk2, supervisor):
    society.build()
    run = create(supervisor)
    with pytest.raises(PermissionDenied, match="承認者の権限"):
        run_approve(run=run, acting_user=clerk2)
    with pytest.raises(PermissionDenied, match="作成した"):
        run_approve(run=run, acting_user=supervisor)
    run.refresh_from_db()
    assert run.state == RunState.CREATED and run.approved_by is None


def test_database_refuses_the_creator_as_approver(supervisor):
    from django.db import IntegrityError, transaction

    run = create(supervisor)
    with pytest.raises(IntegrityError), transaction.atomic():
        IssuanceRun.objects.filter(pk=run.pk).update(approved_by=supervisor)


def test_execute_is_for_supervisors_and_approved_runs(clerk, supervisor):
    society.build()
    run = create(clerk)
    with pytest.raises(ValidationError, match="承認されていない"):
        run_execute(run=run)
    run_approve(run=run, acting_user=supervisor)
    with pytest.raises(PermissionDenied, match="承認者の権限"):
        run_execute(run=run, acting_user=clerk)
    assert Certificate.objects.filter(run=run).count() == 0


def test_execute_issues_in_batches_and_hands_over_to_documents(
    clerk, supervisor, django_capture_on_commit_callbacks, monkeypatch
):
    society.build()
    run = create(clerk)
    run_approve(run=run, acting_user=supervisor)
    scheduled = []
    import documents.services

    monkeypatch.setattr(
        documents.services, "run_documents_schedule", lambda run_id: scheduled.append(run_id)
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = run_execute(run=run, acting_user=supervisor, batch_size=4)
    assert scheduled == [run.pk]
    assert run.state == RunState.RUNNING and run.issued_at is not None  # documents set 完了
    assert run.issued_count == N == Certificate.objects.filter(run=run).count()
    assert AuditEvent.objects.filter(action="run.batch_issued").count() == -(-N // 4)
    assert AuditEvent.objects.filter(action="run.executed").count() == 1
    numbers = sorted(Certificate.objects.filter(run=run).values_list("number", flat=True))
    assert numbers == [f"2026-{i:07d}" for i in range(1, N + 1)]  # gap-free


def test_execute_resumes_after_a_crash_without_duplicates(clerk, supervisor, monkeypatch):
    society.build()
    run = create(clerk)
    run_approve(run=run, acting_user=supervisor)
    # crash after the batch's certificates are inserted, before its history rows: all rolled back
    real = issue_sql.insert_certificate_history
    calls = {"n": 0}

    def crash_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(issue_sql, "insert_certificate_history", crash_on_third_batch)
    with pytest.raises(RuntimeError):
        run_execute(run=run, batch_size=5)
    run.refresh_from_db()
    # an error inside the process is shown on the run; executing again resumes
    assert run.state == RunState.FAILED and "worker killed" in run.error
    assert run.issued_at is None and run.issued_count == 10
    assert Certificate.objects.filter(run=run).count() == 10  # two committed batches

    monkeypatch.setattr(issue_sql, "insert_certificate_history", real)
    run = run_execute(run=run, batch_size=5)
    assert Certificate.objects.filter(run=run).count() == N
    assert Certificate.objects.filter(run=run).values("person").distinct().count() == N
    numbers = sorted(Certificate.objects.filter(run=run).values_list("number", flat=True))
    assert numbers == [f"2026-{i:07d}" for i in range(1, N + 1)]  # the crashed batch rolled back
    assert AuditEvent.objects.filter(action="run.executed", object_id=str(run.pk)).count() == 1
    # and a third execute while documents are still pending issues nothing more
    run_execute(run=run)
    assert Certificate.objects.filter(run=run).count() == N
    assert AuditEvent.objects.filter(action="run.executed", object_id=str(run.pk)).count() == 1


def test_certificate_issued_after_run_creation_fails_the_run_clearly(clerk, supervisor):
    people = society.build()
    run = create(clerk)
    run_approve(run=run, acting_user=supervisor)
    other = certificate_issue(
        person=people["10-3-00"],
        reason="再交付(記載事項変更)",
        issue_date=date(2026, 11, 20),
        valid_until=date(2027, 11, 30),
        route="事業主経由",
    )
    with pytest.raises(ValidationError, match=other.number):
        run_execute(run=run)
    run.refresh_from_db()
    assert run.state == RunState.FAILED and other.number in run.error
    assert Certificate.objects.filter(run=run).count() == 0  # the conflicting batch issued nothing
    # the clerk sorts the conflict out, then executes again: the run finishes
    Certificate.objects.filter(pk=other.pk).update(state="無効")
    run = run_execute(run=run)
    assert run.issued_count == N and run.error == ""


def test_only_one_approved_run_at_a_time_and_stale_lists_are_refused(clerk, supervisor):
    society.build()
    a = create(clerk)
    b = create(clerk)
    run_approve(run=a, acting_user=supervisor)
    with pytest.raises(ValidationError, match=f"#{a.pk}"):
        run_approve(run=b, acting_user=supervisor)
    with pytest.raises(ValidationError, match="交付が終わっていない"):
        create(clerk)
    run_execute(run=a)
    with pytest.raises(ValidationError, match="古くなっています"):
        run_approve(run=b, acting_user=supervisor)
    b.refresh_from_db()
    assert b.state == RunState.CREATED
    c = create(clerk)  # after A issued, a fresh run is allowed
    assert c.target_count == 0


def test_finished_run_cannot_be_executed_again(clerk, supervisor):
    society.build()
    run = create(clerk)
    run_approve(run=run, acting_user=supervisor)
    run_execute(run=run)
    IssuanceRun.objects.filter(pk=run.pk).update(state=RunState.DONE)
    with pytest.raises(ValidationError, match="既に完了"):
        run_execute(run=run)


def test_execute_resumes_a_run_left_running_by_a_killed_process(clerk, supervisor):
    society.build()
    run = create(clerk)
    run_approve(run=run, acting_user=supervisor)
    # what a killed worker leaves behind: the run 実行中 after one committed batch
    services.run_execute_begin(run=run, acting_user=supervisor)
    issued, _ = services._run_issue_batch(run_id=run.pk, acting_user=supervisor, batch_size=7)
    assert issued == 7
    run.refresh_from_db()
    assert run.state == RunState.RUNNING
    run = run_execute(run=run, acting_user=supervisor)
    assert Certificate.objects.filter(run=run).count() == N == run.issued_count
    assert AuditEvent.objects.filter(action="run.resumed", object_id=str(run.pk)).count() == 1
