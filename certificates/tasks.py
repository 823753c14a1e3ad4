"""Scheduled work after issue (Celery beat; schedule in certificates/schedule.py). Thin: each task
takes primitives, calls one lifecycle/registry service, returns counts. All are safe to run twice."""

from datetime import date

from celery import shared_task
from django.utils import timezone


def _day(on: str | None) -> date:
    return date.fromisoformat(on) if on else timezone.localdate()


@shared_task(ignore_result=True)
def run_daily_jobs(on: str | None = None) -> dict[str, int]:
    from .lifecycle import daily_jobs_run

    return daily_jobs_run(today=_day(on))


@shared_task(ignore_result=True)
def apply_75th_birthdays(on: str | None = None) -> int:
    from members.services import persons_apply_75th_birthday

    return len(persons_apply_75th_birthday(on=_day(on)))


@shared_task(ignore_result=True)
def expire_certificates(on: str | None = None) -> int:
    from .lifecycle import certificates_expire

    return len(certificates_expire(today=_day(on)))


@shared_task(ignore_result=True)
def apply_registration_status(on: str | None = None) -> int:
    from .lifecycle import certificates_apply_registration_status

    return len(certificates_apply_registration_status(today=_day(on)))


@shared_task(ignore_result=True)
def mark_overdue_returns(on: str | None = None) -> int:
    from .lifecycle import certificates_mark_overdue

    return len(certificates_mark_overdue(today=_day(on)))


@shared_task(ignore_result=True)
def issue_run(run_id: int, user_id: int | None = None) -> int:
    """Issue the certificates of a run the admin marked 実行中 (certificates.services); resumable."""
    from django.contrib.auth import get_user_model

    from .services import run_issue_remaining

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return run_issue_remaining(run_id=run_id, acting_user=user).issued_count
