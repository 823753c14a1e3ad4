"""The nightly jobs: each a management command and a Celery task; running twice changes nothing."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from certificates import tasks
from certificates.models import CertificateState
from core.models import AuditEvent
from tests.fees.builders import dependent, issue, member, refresh, snapshot

pytestmark = pytest.mark.django_db


def _today():
    return timezone.localdate()


def _years_ago(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _world():
    """A member who turned 75 three days ago (with a dependent), an expired certificate, a registered
    holder and a return that is overdue."""
    t = _today()
    birthday75 = t - timedelta(days=3)
    old = member(birth_date=_years_ago(birthday75, 75))
    spouse = dependent(old, birth_date=date(1960, 1, 10))
    c_old = issue(
        old, issue_date=t - timedelta(days=200), valid_until=birthday75 - timedelta(days=1)
    )
    c_spouse = issue(
        spouse, issue_date=t - timedelta(days=200), valid_until=t + timedelta(days=400)
    )
    expired = issue(member(), issue_date=t - timedelta(days=400), valid_until=t - timedelta(days=1))
    registered = member()
    c_reg = issue(
        registered, issue_date=t - timedelta(days=60), valid_until=t + timedelta(days=400)
    )
    snapshot(t - timedelta(days=2), [(registered, "登録済", None)])
    leaver = member()
    c_leaver = issue(leaver, issue_date=t - timedelta(days=60), valid_until=t + timedelta(days=400))
    call_command("expire_certificates", stdout=StringIO())  # the old one is simply expired already
    from members.services import person_record_loss

    person_record_loss(person=leaver, lost_on=t - timedelta(days=9), reason="退職")
    return {
        "old": old,
        "spouse": spouse,
        "c_old": c_old,
        "c_spouse": c_spouse,
        "expired": expired,
        "c_reg": c_reg,
        "c_leaver": c_leaver,
        "birthday75": birthday75,
    }


def test_run_daily_jobs_applies_every_step_and_a_second_run_changes_nothing(clerk):
    w = _world()
    out = StringIO()
    call_command("run_daily_jobs", "--by", "clerk", stdout=out)
    text = out.getvalue()
    assert "75歳到達: 2件" in text  # the member and the dependent who follows
    assert "マイナ保険証登録: 1件" in text
    assert "返却期限超過: 1件" in text
    old, spouse = refresh(w["old"]), refresh(w["spouse"])
    assert old.lost_on == w["birthday75"] and old.loss_reason == "75歳到達"
    assert spouse.lost_on == w["birthday75"] and spouse.loss_reason == "被保険者の資格喪失"
    c_spouse = refresh(w["c_spouse"])
    assert c_spouse.state == CertificateState.RETURN_PENDING
    assert c_spouse.return_due == w["birthday75"] + timedelta(days=5)
    assert refresh(w["c_reg"]).state == CertificateState.NO_RETURN
    assert refresh(w["expired"]).state == CertificateState.NO_RETURN
    snapshot_of_events = AuditEvent.objects.exclude(action="person.late_elderly_applied").count()
    states = {
        c.pk: c.state for c in map(refresh, [w["c_old"], c_spouse, w["c_reg"], w["c_leaver"]])
    }

    out2 = StringIO()
    call_command("run_daily_jobs", stdout=out2)
    assert "75歳到達: 0件" in out2.getvalue()
    assert "有効期限切れ: 0件" in out2.getvalue()
    assert "マイナ保険証登録: 0件" in out2.getvalue()
    assert "返却期限超過: 0件" in out2.getvalue()
    assert (
        AuditEvent.objects.exclude(action="person.late_elderly_applied").count()
        == snapshot_of_events
    )
    assert {
        c.pk: c.state for c in map(refresh, [w["c_old"], c_spouse, w["c_reg"], w["c_leaver"]])
    } == states


def test_each_job_is_its_own_command_and_safe_twice():
    w = _world()
    for name, first, second in [
        ("apply_75th_birthdays", "75歳到達: 2件", "75歳到達: 0件"),
        ("expire_certificates", "有効期限切れ:", "有効期限切れ: 0件"),
        ("apply_registration_status", "返却不要: 1件", "返却不要: 0件"),
        ("mark_overdue_returns", "返却期限超過: 1件", "返却期限超過: 0件"),
    ]:
        out = StringIO()
        call_command(name, stdout=out)
        assert first in out.getvalue(), (name, out.getvalue())
        out = StringIO()
        call_command(name, stdout=out)
        assert second in out.getvalue(), (name, out.getvalue())
    assert refresh(w["c_leaver"]).state == CertificateState.RETURN_PENDING


def test_commands_refuse_a_bad_date_or_user():
    with pytest.raises(CommandError, match="日付"):
        call_command("run_daily_jobs", "--date", "2026-02-30")
    with pytest.raises(CommandError, match="存在しません"):
        call_command("expire_certificates", "--by", "nobody")


def test_expiry_on_a_given_date_through_the_task():
    t = _today()
    c = issue(member(), issue_date=t - timedelta(days=10), valid_until=t + timedelta(days=5))
    assert tasks.expire_certificates.delay((t + timedelta(days=5)).isoformat()).get() == 0
    assert tasks.expire_certificates.delay((t + timedelta(days=6)).isoformat()).get() == 1
    assert tasks.expire_certificates.delay((t + timedelta(days=6)).isoformat()).get() == 0
    assert refresh(c).state == CertificateState.NO_RETURN


def test_daily_task_runs_the_same_steps():
    _world()
    counts = tasks.run_daily_jobs.delay().get()
    assert counts["75歳到達"] == 2 and counts["返却期限超過"] == 1
    again = tasks.run_daily_jobs.delay().get()
    assert again == {
        "75歳到達": 0,
        "有効期限切れ": 0,
        "マイナ保険証登録": 0,
        "返却期限超過": 0,
        # the elderly app's step (certificates.lifecycle.DAILY_STEPS)
        "高齢受給者証の返却(資格喪失)": 0,
        "高齢受給者証の返却期限超過": 0,
        "高齢受給者証の交付リスト": 0,
    }


def test_beat_schedule_is_wired_into_settings():
    entry = settings.CELERY_BEAT_SCHEDULE["certificates-daily-jobs"]
    assert entry["task"] == "certificates.tasks.run_daily_jobs"
    assert entry["task"] in tasks.run_daily_jobs.app.tasks
