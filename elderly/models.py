"""高齢受給者 (70–74): the 高齢受給者証 and the events that issue it (rules.md
"高齢受給者証 (70–74), as events"), and the draft run prepared after each registration-status import
(rules.md "The monthly cycle")."""

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from certificates.models import NOT_COVERING, CertificateState, CopayRatio, Route
from members.models import Person


class ElderlyEventKind(models.TextChoices):
    """Why a 高齢受給者証 is issued (rules.md's table, plus a 資格確認書 holder who has none yet)."""

    REACHING_70 = "70歳到達", "70歳到達"
    NEW_DEPENDENT = "被扶養者認定", "被扶養者認定(70〜74歳)"
    MEMBER_CHANGE = "被保険者変更", "世帯の被保険者の変更"
    REMUNERATION = "標準報酬月額変更", "標準報酬月額の変更(割合変更)"
    MEMBER_ELDERLY = "被保険者の高齢受給者到達", "被保険者の高齢受給者到達(割合変更)"
    INCOME_BASIS = "基準収入額適用", "基準収入額適用"
    INCOME_BASIS_END = "基準収入額適用終了", "基準収入額適用の終了"
    YEARLY = "年次判定", "年次の負担割合判定"
    NEW_HOLDER = "資格確認書交付", "資格確認書の交付(70〜74歳)"


class ElderlyCardQuerySet(models.QuerySet):
    def covering(self, on: date) -> "ElderlyCardQuerySet":
        """Cards in force on the day: effective on or before it, valid until on or after it, not
        superseded by then, neither 無効 nor 返却済."""
        return self.filter(
            Q(superseded_from__isnull=True) | Q(superseded_from__gt=on),
            effective_from__lte=on,
            valid_until__gte=on,
        ).exclude(state__in=NOT_COVERING)


class ElderlyCard(models.Model):
    """高齢受給者証 (施行規則§52): numbered, for one person, from one event."""

    number = models.CharField("高齢受給者証番号", max_length=16, unique=True)
    person = models.ForeignKey(
        Person, verbose_name="加入者", on_delete=models.PROTECT, related_name="elderly_cards"
    )
    # The household's 被保険者 when it was issued (a change of member re-issues the card).
    household = models.ForeignKey(
        Person, verbose_name="世帯(被保険者)", on_delete=models.PROTECT, related_name="+"
    )
    certificate = models.ForeignKey(
        "certificates.Certificate",
        verbose_name="資格確認書",
        on_delete=models.PROTECT,
        related_name="elderly_cards",
    )
    event = models.CharField("交付事由", max_length=16, choices=ElderlyEventKind.choices)
    issue_date = models.DateField("交付年月日")
    effective_from = models.DateField("発効期日")
    valid_until = models.DateField("有効期限")
    copay_ratio = models.CharField("一部負担金の割合", max_length=2, choices=CopayRatio.choices)
    route = models.CharField("送付先", max_length=8, choices=Route.choices)
    state = models.CharField(
        "状態", max_length=4, choices=CertificateState.choices, default=CertificateState.ACTIVE
    )
    state_changed_at = models.DateTimeField("状態変更日時", default=timezone.now)
    state_note = models.CharField("状態の理由", max_length=200, blank=True)
    # Set when a newer card takes over: from that day this one is no longer in force and must be
    # returned (返却待ち from that day, not before, like a certificate after a loss).
    superseded_from = models.DateField("次の証の発効日", null=True, blank=True)
    return_due = models.DateField("返却期限", null=True, blank=True)
    return_route = models.CharField("返却経路", max_length=8, choices=Route.choices, blank=True)
    returned_on = models.DateField("返却日", null=True, blank=True)
    replaces = models.OneToOneField(
        "self",
        verbose_name="前の高齢受給者証",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
    )
    batch = models.ForeignKey(
        "ElderlyBatch",
        verbose_name="交付リスト",
        on_delete=models.PROTECT,
        related_name="cards",
    )
    created_at = models.DateTimeField("作成日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    history = HistoricalRecords(
        verbose_name="高齢受給者証の変更履歴", verbose_name_plural="高齢受給者証の変更履歴"
    )
    objects = ElderlyCardQuerySet.as_manager()

    class Meta:
        verbose_name = "高齢受給者証"
        verbose_name_plural = "高齢受給者証"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("effective_from")),
                name="elderlycard_until_after_from",
            ),
            models.CheckConstraint(
                condition=Q(state__in=CertificateState.values), name="elderlycard_state_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state=CertificateState.RETURN_PENDING) | Q(return_due__isnull=False),
                name="elderlycard_return_pending_has_due",
            ),
            # One card per person and effective date: the same event detected twice issues nothing.
            models.UniqueConstraint(
                fields=["person", "effective_from"],
                condition=Q(state=CertificateState.ACTIVE),
                name="elderlycard_one_active_per_day",
            ),
        ]
        indexes = [
            # the detection job: a person's card in force on a day
            models.Index(fields=["person", "effective_from"], name="elderlycard_person_from"),
            # overdue returns
            models.Index(fields=["state", "return_due"], name="elderlycard_state_due"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.person_id}"

    @staticmethod
    def state_as_of(
        state: str, superseded_from: date | None, valid_until: date, today: date
    ) -> str:
        """As of today, like a certificate's: a replaced card is 返却待ち only from the day its
        successor takes effect, and 返却不要 once its own 有効期限 has passed (exports use this on
        plain values)."""
        if state == CertificateState.RETURN_PENDING and (
            superseded_from is not None and today < superseded_from
        ):
            return CertificateState.ACTIVE
        if (
            state in (CertificateState.ACTIVE, CertificateState.RETURN_PENDING)
            and valid_until < today
        ):
            return CertificateState.NO_RETURN
        return state

    def effective_state(self, today: date | None = None) -> str:
        return self.state_as_of(
            self.state, self.superseded_from, self.valid_until, today or timezone.localdate()
        )

    def is_overdue(self, today: date | None = None) -> bool:
        today = today or timezone.localdate()
        return (
            self.effective_state(today) == CertificateState.RETURN_PENDING
            and self.return_due is not None
            and self.return_due < today
        )


class BatchState(models.TextChoices):
    PREPARED = "承認待ち", "承認待ち"
    ISSUED = "交付済", "交付済"
    EMPTY = "対象なし", "対象なし"


class ElderlyBatch(models.Model):
    """The list of 高齢受給者証 the nightly job found to issue on one day: prepared (by the job or a
    clerk), approved by a supervisor who did not prepare it, then issued and rendered at once."""

    detected_on = models.DateField("検出日")
    state = models.CharField(
        "状態", max_length=4, choices=BatchState.choices, default=BatchState.PREPARED
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="作成者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="空欄: 夜間処理",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="承認者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    approved_at = models.DateTimeField("承認日時", null=True, blank=True)
    event_count = models.PositiveIntegerField("件数", default=0)
    summary = models.JSONField("集計", default=dict, blank=True)
    pdf = models.FileField("PDF", upload_to="elderly/%Y/%m/", blank=True)
    page_count = models.PositiveIntegerField("ページ数", null=True, blank=True)
    skipped = models.JSONField("印刷除外", default=list, blank=True)
    created_at = models.DateTimeField("作成日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    history = HistoricalRecords(
        verbose_name="高齢受給者証交付リストの変更履歴",
        verbose_name_plural="高齢受給者証交付リストの変更履歴",
    )

    class Meta:
        verbose_name = "高齢受給者証の交付リスト"
        verbose_name_plural = "高齢受給者証の交付リスト"
        ordering = ["-id"]
        permissions = [("approve_elderlybatch", "高齢受給者証の交付を承認できる")]
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("prepared_by")),
                name="elderlybatch_approver_not_preparer",
            ),
            models.CheckConstraint(
                condition=Q(state__in=BatchState.values), name="elderlybatch_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"高齢受給者証 交付リスト #{self.pk} ({self.detected_on} {self.state})"


class ElderlyEvent(models.Model):
    """One line of a batch: who gets a 高齢受給者証, why, from when, at which ratio (the preview)."""

    batch = models.ForeignKey(
        ElderlyBatch, verbose_name="交付リスト", on_delete=models.CASCADE, related_name="events"
    )
    person = models.ForeignKey(
        Person, verbose_name="加入者", on_delete=models.PROTECT, related_name="elderly_events"
    )
    household = models.ForeignKey(
        Person, verbose_name="世帯(被保険者)", on_delete=models.PROTECT, related_name="+"
    )
    certificate = models.ForeignKey(
        "certificates.Certificate",
        verbose_name="資格確認書",
        on_delete=models.PROTECT,
        related_name="+",
    )
    kind = models.CharField("事由", max_length=16, choices=ElderlyEventKind.choices)
    effective_from = models.DateField("発効期日")
    valid_until = models.DateField("有効期限")
    copay_ratio = models.CharField("一部負担金の割合", max_length=2, choices=CopayRatio.choices)
    route = models.CharField("送付先", max_length=8, choices=Route.choices)
    replaces = models.ForeignKey(
        ElderlyCard,
        verbose_name="置き換える高齢受給者証",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    card = models.OneToOneField(
        ElderlyCard,
        verbose_name="交付した高齢受給者証",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="source_event",
    )
    # With ELDERLY_RATIO_ON_CERTIFICATE=1 the event re-issues the 資格確認書 printing the new ratio
    # (施行規則§52) instead of a 高齢受給者証.
    new_certificate = models.OneToOneField(
        "certificates.Certificate",
        verbose_name="再交付した資格確認書",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    detail = models.CharField("内容", max_length=200, blank=True)

    class Meta:
        verbose_name = "高齢受給者証の交付事由"
        verbose_name_plural = "高齢受給者証の交付事由"
        ordering = ["batch", "household", "person"]
        constraints = [
            # The same event found again (the job run twice, or on the next night) is not listed
            # twice: one line per person, effective date and kind across all batches.
            models.UniqueConstraint(
                fields=["person", "effective_from", "kind"], name="elderlyevent_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.kind} {self.effective_from}"


class MonthlyPreparationState(models.TextChoices):
    PREPARED = "作成", "下書きを作成"
    SKIPPED = "見送り", "見送り"
    OFF = "無効", "自動作成しない設定"


class MonthlyPreparation(models.Model):
    """What happened after one registration-status import (rules.md "The monthly cycle"): the draft
    run prepared for its status date, or why none was."""

    snapshot = models.OneToOneField(
        "members.RegistrationSnapshot",
        verbose_name="利用登録状況の取込",
        on_delete=models.PROTECT,
        related_name="monthly_preparation",
    )
    run = models.ForeignKey(
        "certificates.IssuanceRun",
        verbose_name="一括交付(下書き)",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    state = models.CharField("結果", max_length=4, choices=MonthlyPreparationState.choices)
    message = models.TextField("内容", blank=True)
    # Counts by 交付事由 and the difference from the previous run, as frozen with the run.
    summary = models.JSONField("集計", default=dict, blank=True)
    created_at = models.DateTimeField("作成日時", auto_now_add=True)

    class Meta:
        verbose_name = "月次の一括交付準備"
        verbose_name_plural = "月次の一括交付準備"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"月次準備 {self.snapshot_id} {self.state}"
