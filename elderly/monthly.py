"""The month's run prepares itself (rules.md "The monthly cycle").

After each registration-status import commits, a draft 一括職権交付 for that status date is created
through certificates.services.run_create (so it is the same selection, summary and diff against the
previous run as a run made by hand) and waits in 作成 for a supervisor's approval. What happened is
kept per snapshot in MonthlyPreparation: the draft, or why none was made (switched off with
MONTHLY_RUN_AUTO=0, no importing user to name as its creator, an approved run still issuing…).
The import itself never fails because of this step.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.models import audit_event
from members.dates import add_months
from members.models import RegistrationSnapshot

from .models import MonthlyPreparation, MonthlyPreparationState

logger = logging.getLogger(__name__)


def monthly_run_dates(snapshot: RegistrationSnapshot, *, today=None):
    """(status date, issue date, uniform expiry) of the month's draft: issued MONTHLY_RUN_LEAD_DAYS
    after the import (time to approve and print), valid MONTHLY_RUN_VALIDITY_MONTHS months less a
    day (within the 5-year cap: issue date + 5 years − 1 day at most)."""
    today = today or timezone.localdate()
    issue = max(today, snapshot.as_of) + timedelta(days=settings.MONTHLY_RUN_LEAD_DAYS)
    until = add_months(issue, settings.MONTHLY_RUN_VALIDITY_MONTHS) - timedelta(days=1)
    return snapshot.as_of, issue, until


def monthly_run_after_import(*, snapshot: RegistrationSnapshot, acting_user=None) -> None:
    """The import's hook: prepare the draft once the import has committed (a dry run, rolled back,
    prepares nothing)."""
    snapshot_id = snapshot.pk
    user_id = acting_user.pk if acting_user is not None else None
    transaction.on_commit(lambda: monthly_run_prepare(snapshot_id=snapshot_id, user_id=user_id))


def monthly_run_prepare(*, snapshot_id: int, user_id: int | None = None) -> MonthlyPreparation:
    """Prepare (once per snapshot) the draft run for the snapshot's status date."""
    from django.contrib.auth import get_user_model

    from certificates.services import run_create

    snapshot = RegistrationSnapshot.objects.get(pk=snapshot_id)
    existing = MonthlyPreparation.objects.filter(snapshot=snapshot).first()
    if existing is not None:
        return existing
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None

    def record(state: str, message: str, run=None, summary=None) -> MonthlyPreparation:
        with transaction.atomic():
            prep = MonthlyPreparation.objects.create(
                snapshot=snapshot, run=run, state=state, message=message, summary=summary or {}
            )
            audit_event(
                action=f"monthly_run.{'prepared' if run else 'not_prepared'}",
                actor=user,
                obj=prep,
                snapshot=snapshot.pk,
                status_date=snapshot.as_of.isoformat(),
                run=run.pk if run else None,
                message=message,
            )
        return prep

    if not settings.MONTHLY_RUN_AUTO:
        return record(MonthlyPreparationState.OFF, "MONTHLY_RUN_AUTO=0: 下書きは作成しません")
    if user is None:
        return record(
            MonthlyPreparationState.SKIPPED,
            "取込者が記録されていないため下書きを作成しません(取込時に --by で事務担当者を指定してください)",
        )
    status_date, issue_date, valid_until = monthly_run_dates(snapshot)
    try:
        run = run_create(
            status_date=status_date,
            issue_date=issue_date,
            valid_until=valid_until,
            acting_user=user,
        )
    except (ValidationError, PermissionDenied) as exc:
        message = "; ".join(getattr(exc, "messages", [str(exc)]))
        logger.info("monthly run not prepared for snapshot %s: %s", snapshot.pk, message)
        return record(MonthlyPreparationState.SKIPPED, f"下書きを作成できませんでした: {message}")
    return record(
        MonthlyPreparationState.PREPARED,
        f"一括交付 #{run.pk}(基準日 {status_date:%Y-%m-%d}、交付年月日 {issue_date:%Y-%m-%d}、"
        f"有効期限 {valid_until:%Y-%m-%d}、対象者 {run.target_count}人)を承認待ちで作成しました",
        run=run,
        summary=run.summary,
    )


def on_registration_snapshot_imported(sender, *, snapshot, acting_user=None, **kwargs) -> None:
    """members.signals.registration_snapshot_imported → the month's draft after commit."""
    monthly_run_after_import(snapshot=snapshot, acting_user=acting_user)
