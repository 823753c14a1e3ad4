from django.conf import settings
from django.db import models, transaction
from django.db.models import Q


class AuditEvent(models.Model):
    """A business event (run approved, document downloaded, export made…), written in the same
    transaction as the change it describes. Field-level history lives in django-simple-history."""

    at = models.DateTimeField("日時", auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="実行者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField("操作", max_length=64)
    object_type = models.CharField("対象種別", max_length=64, blank=True)
    object_id = models.CharField("対象ID", max_length=64, blank=True)
    detail = models.JSONField("詳細", default=dict, blank=True)

    class Meta:
        verbose_name = "業務イベント"
        verbose_name_plural = "業務イベント"
        ordering = ["-at", "-id"]
        indexes = [
            # auditors filter the trail by action and period
            models.Index(fields=["action", "at"], name="auditevent_action_at"),
            # "everything that happened to this object"
            models.Index(fields=["object_type", "object_id"], name="auditevent_object"),
        ]

    def __str__(self) -> str:
        from django.utils import timezone

        from .audit_labels import action_label, object_type_label

        at = timezone.localtime(self.at) if self.at else None  # Japan time, as every screen
        when = f"{at:%Y-%m-%d %H:%M} " if at else ""
        target = (
            f" {object_type_label(self.object_type)}#{self.object_id}" if self.object_id else ""
        )
        return f"{when}{action_label(self.action)}{target}"


def audit_event(
    *, action: str, actor=None, obj: models.Model | None = None, **detail
) -> AuditEvent:
    """Record a business event. Call inside the transaction of the change it describes."""
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail,
    )


class NumberSequence(models.Model):
    """Gap-free counters (証明書番号, 請求書番号 per 年度). Allocation locks the row, so concurrent
    runs on PostgreSQL never hand out the same number."""

    name = models.CharField(max_length=32)
    year = models.PositiveIntegerField()
    last = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "year"], name="numbersequence_name_year_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.year}: {self.last}"

    @classmethod
    def allocate(cls, name: str, year: int, count: int = 1) -> range:
        """Reserve `count` consecutive numbers; returns them as a range."""
        with transaction.atomic():
            cls.objects.get_or_create(name=name, year=year)
            seq = cls.objects.select_for_update().get(name=name, year=year)
            start = seq.last + 1
            seq.last += count
            seq.save(update_fields=["last"])
        return range(start, start + count)


class ExportJobState(models.TextChoices):
    PENDING = "待機", "待機"
    RUNNING = "処理中", "処理中"
    DONE = "完了", "完了"
    FAILED = "失敗", "失敗"


class ExportJob(models.Model):
    """A large CSV export from the admin, written to storage by a Celery task (core.tasks), then
    downloaded by the user who asked for it. The rows are re-selected in the task from the admin
    changelist's own filters, so the file holds exactly what the filtered list showed."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="依頼者", on_delete=models.PROTECT, related_name="+"
    )
    dataset = models.CharField(
        "データ種別", max_length=100
    )  # admin datasets are named after their model (history models are long)
    model_label = models.CharField("モデル", max_length=100)
    encoding = models.CharField("文字コード", max_length=16)
    # The changelist's query string (filters, search, ordering), as a dict of lists.
    query = models.JSONField("絞り込み条件", default=dict, blank=True)
    # Primary keys the user ticked; empty with select_across = every row of the filtered list.
    selected = models.JSONField("選択した行", default=list, blank=True)
    select_across = models.BooleanField("絞り込み結果の全件", default=False)
    state = models.CharField(
        "状態", max_length=4, choices=ExportJobState.choices, default=ExportJobState.PENDING
    )
    row_count = models.PositiveIntegerField("件数", null=True, blank=True)
    substitution_count = models.PositiveIntegerField("置換した箇所", default=0)
    file = models.FileField("ファイル", upload_to="exports/%Y/%m/", blank=True)
    # Every cell CP932 could not hold (row number and column, never the value).
    report = models.FileField("置換レポート", upload_to="exports/%Y/%m/", blank=True)
    error = models.TextField("エラー", blank=True)
    started_at = models.DateTimeField("開始日時", null=True, blank=True)
    finished_at = models.DateTimeField("完了日時", null=True, blank=True)
    created_at = models.DateTimeField("依頼日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    class Meta:
        verbose_name = "CSV出力ジョブ"
        verbose_name_plural = "CSV出力ジョブ"
        ordering = ["-id"]
        permissions = [("export_csv", "CSVを出力できる")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ExportJobState.values), name="exportjob_state_valid"
            ),
        ]
        indexes = [
            # "my exports" list in the admin
            models.Index(fields=["requested_by", "-created_at"], name="exportjob_user_created"),
        ]

    def __str__(self) -> str:
        return f"CSV出力 #{self.pk} {self.dataset} ({self.get_state_display()})"
