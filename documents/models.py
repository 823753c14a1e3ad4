from django.db import models
from django.db.models import Q

from certificates.models import IssuanceRun
from members.models import Employer


class DocumentKind(models.TextChoices):
    BUNDLE = "一括交付", "一括交付(事業所別・世帯別)"
    REPRINT = "再印刷", "再印刷"
    REISSUE = "再交付", "再交付"
    INVOICE = "請求書", "請求書"
    REMINDER = "返却督促", "返却督促"


class DocumentState(models.TextChoices):
    PENDING = "待機", "待機"
    RENDERING = "処理中", "処理中"
    STORED = "完了", "完了"
    FAILED = "失敗", "失敗"


class GeneratedDocument(models.Model):
    """A rendered PDF file (or the chunk that will become one) with its outcome.

    For a bulk run each chunk (one 事業所 bundle, or a few hundred 自宅 households) is one row; a Celery
    task renders it, stores the file and records sha256 and page count here. The run's progress is read
    from these rows, never from Celery's result backend.
    """

    kind = models.CharField("種別", max_length=8, choices=DocumentKind.choices)
    run = models.ForeignKey(
        IssuanceRun,
        verbose_name="一括交付",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="documents",
    )
    chunk_no = models.PositiveIntegerField("チャンク番号", null=True, blank=True)
    # A 事業所 bundle chunk: its employer, and which part of that employer's bundle it is (a large
    # 事業所 is split into several chunks, each with its own part of the 対象者一覧表).
    employer = models.ForeignKey(
        Employer,
        verbose_name="事業所",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    part_no = models.PositiveIntegerField("分冊番号", default=1)
    part_count = models.PositiveIntegerField("分冊数", default=1)
    label = models.CharField("内容", max_length=200)
    # Primary keys of what the chunk renders (RunTarget ids for a run chunk; Certificate or Invoice ids
    # otherwise): fixed when the chunk is planned so a redelivered task renders exactly the same set.
    item_ids = models.JSONField("対象ID", default=list)
    state = models.CharField(
        "状態", max_length=4, choices=DocumentState.choices, default=DocumentState.PENDING
    )
    attempts = models.PositiveIntegerField("試行回数", default=0)
    error = models.TextField("エラー", blank=True)
    # Items left out because a character of their name or address has no glyph in any font.
    skipped = models.JSONField("印刷除外", default=list, blank=True)
    file = models.FileField("ファイル", upload_to="documents/%Y/%m/", blank=True)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    page_count = models.PositiveIntegerField("ページ数", null=True, blank=True)
    certificate_pages = models.PositiveIntegerField("資格確認書ページ数", null=True, blank=True)
    started_at = models.DateTimeField("開始日時", null=True, blank=True)
    # The task message that holds the current attempt (its Celery task id): a second message for the
    # same chunk (two executes, a resume) leaves a chunk being rendered alone; the same message
    # redelivered after its worker died takes the chunk back.
    claimed_by = models.CharField("処理中のタスク", max_length=64, blank=True, editable=False)
    finished_at = models.DateTimeField("完了日時", null=True, blank=True)
    created_at = models.DateTimeField("作成日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    class Meta:
        verbose_name = "帳票"
        verbose_name_plural = "帳票(PDF)"
        ordering = ["-id"]
        permissions = [("download_generateddocument", "帳票をダウンロードできる")]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "chunk_no"],
                condition=Q(run__isnull=False),
                name="generateddocument_run_chunk_unique",
            ),
            models.CheckConstraint(
                condition=Q(state__in=DocumentState.values), name="generateddocument_state_valid"
            ),
        ]
        indexes = [
            # run progress: count chunks of a run by state
            models.Index(fields=["run", "state"], name="generateddocument_run_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label}"
