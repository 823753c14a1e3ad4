"""Writes of the core app: the audit record of every export, and the background export job.

Admin actions, the export_csv command and the Celery task call only these."""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.test import RequestFactory
from django.utils import timezone

from .exports import Dataset, ExportError, export_to_file
from .models import AuditEvent, ExportJob, ExportJobState, audit_event

logger = logging.getLogger(__name__)

EXPORT_ACTION = "export.csv"
EXPORT_DOWNLOAD_ACTION = "export.downloaded"


@transaction.atomic
def export_record(
    *,
    actor,
    dataset: str,
    encoding: str,
    row_count: int,
    filters: dict,
    via: str,
    completed: bool = True,
    substitution_count: int = 0,
    job: ExportJob | None = None,
) -> AuditEvent:
    """Log one export (who, what, filters, how many rows, encoding). Written when the rows have been
    produced; `completed=False` when the stream was interrupted (the client went away)."""
    return audit_event(
        action=EXPORT_ACTION,
        actor=actor,
        obj=job,
        dataset=dataset,
        encoding=encoding,
        row_count=row_count,
        filters=filters,
        via=via,
        completed=completed,
        substitution_count=substitution_count,
    )


def user_can_export(user, model) -> bool:
    """Exports need the export permission (監査) and view permission on the model exported."""
    opts = model._meta
    return user.is_active and (
        user.has_perm("core.export_csv")
        and user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
    )


@transaction.atomic
def export_job_create(
    *,
    user,
    dataset: Dataset,
    model,
    encoding: str,
    query: dict,
    selected: list[str],
    select_across: bool,
) -> ExportJob:
    """Queue a background export of an admin changelist; the task starts after commit."""
    if not user_can_export(user, model):
        raise PermissionDenied("CSV出力の権限がありません")
    job = ExportJob.objects.create(
        requested_by=user,
        dataset=dataset.name,
        model_label=model._meta.label,
        encoding=encoding,
        query=query,
        selected=[str(pk) for pk in selected],
        select_across=select_across,
    )
    from .tasks import export_job_run_task

    transaction.on_commit(lambda: export_job_run_task.delay(job.pk))
    return job


def changelist_queryset(*, model, user, query: dict, selected: list[str], select_across: bool):
    """The rows the admin changelist of `model` showed `user` with these filters: rebuilt through
    the ModelAdmin itself, so custom list filters, search and the admin's own queryset rules apply
    exactly as on screen (and the user's permissions are checked again when the job runs)."""
    model_admin = admin.site._registry.get(model)
    if model_admin is None:
        raise PermissionDenied(f"{model._meta.label} は管理画面にありません")
    params = QueryDict(mutable=True)
    for key, values in query.items():
        params.setlist(key, values)
    request = RequestFactory().get("/", params)
    request.user = user
    if not model_admin.has_view_permission(request):
        raise PermissionDenied("閲覧権限がありません")
    changelist = model_admin.get_changelist_instance(request)
    qs: QuerySet = changelist.get_queryset(request)
    if not select_across:
        qs = qs.filter(pk__in=selected)
    return qs


def _safe_storage_name(job: ExportJob) -> str:
    stamp = timezone.localtime(job.created_at).strftime("%Y%m%d-%H%M%S")
    return f"{job.dataset}-{stamp}-{job.pk}.csv"


def export_job_run(*, job_id: int) -> ExportJob:
    """Write the job's CSV to storage. Idempotent: a finished job is left as it is (a redelivered
    task must not export twice)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.state == ExportJobState.DONE:
            return job
        # A job still "running" within the task time limit is being written by another worker; an
        # older one belongs to a worker that died (acks_late redelivers it) and is started again.
        limit = timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 900))
        if job.state == ExportJobState.RUNNING and job.started_at > timezone.now() - limit:
            return job
        job.state = ExportJobState.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["state", "started_at", "updated_at"])

    from .exports import dataset_for_model

    tmp_dir = tempfile.mkdtemp(prefix="export-")
    csv_path = Path(tmp_dir) / "export.csv"
    report_path = Path(tmp_dir) / "report.txt"
    try:
        model = apps.get_model(job.model_label)
        user = job.requested_by
        if not user_can_export(user, model):
            raise PermissionDenied("CSV出力の権限がありません")
        dataset = dataset_for_model(model)
        qs = changelist_queryset(
            model=model,
            user=user,
            query=job.query,
            selected=job.selected,
            select_across=job.select_across,
        )
        with report_path.open("w", encoding="utf-8") as report:

            def on_substitution(row_no: int, column: str, kind: str) -> None:
                report.write(f"{row_no}行目(データ行) 列「{column}」: {kind}\n")

            with csv_path.open("wb") as fh:
                result = export_to_file(
                    dataset, qs, fh, encoding=job.encoding, on_substitution=on_substitution
                )
        with transaction.atomic():
            name = _safe_storage_name(job)
            with csv_path.open("rb") as fh:
                job.file.save(name, File(fh), save=False)
            if result.substitution_count:
                with report_path.open("rb") as fh:
                    job.report.save(name.replace(".csv", "-report.txt"), File(fh), save=False)
            job.state = ExportJobState.DONE
            job.row_count = result.row_count
            job.substitution_count = result.substitution_count
            job.finished_at = timezone.now()
            job.save(
                update_fields=[
                    "file",
                    "report",
                    "state",
                    "row_count",
                    "substitution_count",
                    "finished_at",
                    "updated_at",
                ]
            )
            export_record(
                actor=user,
                dataset=dataset.name,
                encoding=job.encoding,
                row_count=result.row_count,
                filters={"query": job.query, "selected": job.selected, "all": job.select_across},
                via="admin-job",
                substitution_count=result.substitution_count,
                job=job,
            )
    except Exception as exc:
        # The message names the kind of failure only: an exception text may quote row values.
        ExportJob.objects.filter(pk=job.pk).update(
            state=ExportJobState.FAILED,
            error=str(exc)
            if isinstance(exc, (PermissionDenied, ExportError))
            else type(exc).__name__,
            finished_at=timezone.now(),
        )
        logger.error("CSV出力ジョブ #%s が失敗しました: %s", job.pk, type(exc).__name__)
        job.refresh_from_db()
    finally:
        for path in (csv_path, report_path):
            if path.exists():
                path.unlink()
        os.rmdir(tmp_dir)
    return job


@transaction.atomic
def export_job_download_record(*, job: ExportJob, user) -> AuditEvent:
    return audit_event(
        action=EXPORT_DOWNLOAD_ACTION,
        actor=user,
        obj=job,
        dataset=job.dataset,
        row_count=job.row_count,
    )
