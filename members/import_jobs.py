"""Large registry files uploaded in the admin run as a background job (a Celery task), not inside the
web request: the upload is stored, an ImportJob row is written, and the task is queued when that
row is committed. The task runs the same import services as the command line (members.register_import)
and keeps the job's phase and progress up to date from a connection of its own (PostgreSQL), so the
clerk's page — a plain page that reloads itself — shows it while the import's own transaction is
still open. The report at the end is the admin's usual one: the summary, or the refusal naming row
and column (never a value). The stored upload is deleted once the job has ended.

The job's life (claimed once, progress, refusal, failure, the upload deleted) is
`import_job_execute`, whatever the file: the registry files run by members.tasks, the fees app's
bank-transfer file (振込データ) by its own task and runner (fees.payments), so that this app does not
import the fees app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models import Q
from django.utils import timezone

MAX_SHOWN_ERRORS = 100


def background_threshold() -> int:
    """Uploads larger than this go to the background job (the preview → confirm flow holds the
    whole file in the web process, twice): settings.IMPORT_BACKGROUND_BYTES."""
    return settings.IMPORT_BACKGROUND_BYTES


class ImportKind(models.TextChoices):
    MEMBERS = "加入者", "加入者CSV"
    REGISTRATION_STATUS = "利用登録状況", "利用登録状況CSV"
    PAYMENTS = "振込データ", "振込データCSV"


class ImportJobState(models.TextChoices):
    PENDING = "待機", "待機"
    RUNNING = "処理中", "処理中"
    DONE = "完了", "完了"
    REFUSED = "中止", "中止（何も保存していません）"
    FAILED = "失敗", "失敗"


FINISHED = (ImportJobState.DONE, ImportJobState.REFUSED, ImportJobState.FAILED)


class ImportJob(models.Model):
    """One registry file imported in the background."""

    kind = models.CharField("取込の種類", max_length=8, choices=ImportKind.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="依頼者", on_delete=models.PROTECT, related_name="+"
    )
    source_name = models.CharField("ファイル名", max_length=255)
    stored_name = models.CharField("保存先", max_length=255, blank=True)
    as_of = models.DateField("基準日", null=True, blank=True)
    state = models.CharField(
        "状態", max_length=4, choices=ImportJobState.choices, default=ImportJobState.PENDING
    )
    phase = models.CharField("処理段階", max_length=32, blank=True)
    fraction = models.FloatField("進捗", default=0.0)
    summary = models.TextField("結果", blank=True)
    # The first refusals: [[row, column, message], …] (never a cell's value); error_total counts all.
    errors = models.JSONField("エラー", default=list, blank=True)
    error_total = models.PositiveIntegerField("エラー件数", default=0)
    # the record the import wrote, where it has one of its own (振込データ: the PaymentImport's id)
    result_id = models.PositiveBigIntegerField("取込結果の番号", null=True, blank=True)
    created_at = models.DateTimeField("依頼日時", auto_now_add=True)
    started_at = models.DateTimeField("開始日時", null=True, blank=True)
    finished_at = models.DateTimeField("終了日時", null=True, blank=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    class Meta:
        app_label = "members"
        verbose_name = "取込ジョブ"
        verbose_name_plural = "取込ジョブ"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ImportJobState.values), name="importjob_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ImportKind.values), name="importjob_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.source_name} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def percent(self) -> int:
        return 100 if self.state == ImportJobState.DONE else int(self.fraction * 100)


def import_job_create(*, user, kind: str, upload, as_of=None, task=None) -> ImportJob:
    """Store the upload and queue its import; the task (members.tasks.import_job_run_task unless
    another is given: a Celery task taking the job's id) starts once the job row is committed."""
    if kind not in ImportKind.values:
        raise ValueError(f"unknown import kind {kind!r}")
    stored = default_storage.save(f"imports/{timezone.now():%Y/%m}/upload.csv", upload)
    job = ImportJob.objects.create(
        kind=kind,
        requested_by=user,
        source_name=(upload.name or "")[:255],
        stored_name=stored,
        as_of=as_of,
    )
    if task is None:
        from .tasks import import_job_run_task as task

    transaction.on_commit(lambda: task.delay(job.pk))
    return job


class _ProgressWriter:
    """Writes a job's phase and progress on a connection of its own (autocommit), at most once a
    second per phase, so the page sees it while the import's transaction is open. On SQLite (one
    writer at a time) only the final state is written, by the job itself."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.conn = (
            connections.create_connection(DEFAULT_DB_ALIAS)
            if connection.vendor == "postgresql"
            else None
        )
        self._last = ("", 0.0)

    def __call__(self, phase: str, fraction: float) -> None:
        if self.conn is None:
            return
        now = time.monotonic()
        if phase == self._last[0] and now - self._last[1] < 1.0:
            return
        self._last = (phase, now)
        table = self.conn.ops.quote_name(ImportJob._meta.db_table)
        with self.conn.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET phase = %s, fraction = %s, updated_at = %s WHERE id = %s",  # noqa: S608
                [phase[:32], fraction, timezone.now(), self.job_id],
            )

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class JobOutcome:
    summary: str  # the report shown on the job's page
    result_id: int | None = None  # ImportJob.result_id


# run(job, stored file, progress) imports the file; it raises members.importing.ImportRefused for a
# file refused as a whole (nothing written), anything else for a failure.
Runner = Callable[[ImportJob, BinaryIO, Progress], JobOutcome]


def _run_registry_file(job: ImportJob, fh: BinaryIO, progress: Progress) -> JobOutcome:
    from .register_import import members_import, registration_status_import
    from .resources import members_summary_text, status_summary_text

    user = job.requested_by
    if job.kind == ImportKind.MEMBERS:
        summary = members_import(
            source=fh, source_name=job.source_name, acting_user=user, progress=progress
        )
        return JobOutcome(members_summary_text(summary))
    if job.kind == ImportKind.REGISTRATION_STATUS:
        summary = registration_status_import(
            source=fh,
            as_of=job.as_of,
            source_name=job.source_name,
            acting_user=user,
            progress=progress,
        )
        return JobOutcome(status_summary_text(summary))
    raise ValueError(f"not a registry file: {job.kind}")


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued members or registration-status job (members.tasks)."""
    return import_job_execute(job_id=job_id, run=_run_registry_file)


def import_job_execute(*, job_id: int, run: Runner) -> ImportJob:
    """Run a queued job with `run`. Idempotent: an ended job is left as it is; a job still running
    within the task time limit belongs to another worker; an older one to a worker that died
    (acks_late redelivers it), and is run again — the import is one transaction, so nothing of the
    first try was kept."""
    from .importing import ImportRefused

    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.finished:
            return job
        limit = timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 900))
        if job.state == ImportJobState.RUNNING and job.started_at > timezone.now() - limit:
            return job
        job.state = ImportJobState.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["state", "started_at", "updated_at"])

    progress = _ProgressWriter(job.pk)
    try:
        with default_storage.open(job.stored_name, "rb") as fh:
            outcome = run(job, fh, progress)
    except ImportRefused as exc:
        job.state = ImportJobState.REFUSED
        job.errors = [[e.row, e.column, e.message] for e in exc.errors[:MAX_SHOWN_ERRORS]]
        job.error_total = exc.total
        job.summary = exc.summary(limit=0).splitlines()[0]
    except Exception as exc:  # noqa: BLE001 - the job must end visibly, whatever happened
        job.state = ImportJobState.FAILED
        job.summary = f"取込に失敗しました（{exc.__class__.__name__}）。何も保存していません"
    else:
        job.state = ImportJobState.DONE
        job.summary = outcome.summary
        job.result_id = outcome.result_id
        job.fraction = 1.0
    finally:
        progress.close()
    job.phase = job.get_state_display()[:32]
    job.finished_at = timezone.now()
    job.save()
    try:
        default_storage.delete(job.stored_name)  # personal data: not kept after the job
    except OSError:
        pass
    return job
