from django.conf import settings
from django.db import models, transaction


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
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"


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
