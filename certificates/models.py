from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from members.models import Employer, Person, RegistrationStatusValue

from .constraints import NoOverlapConstraint


class IssueReason(models.TextChoices):
    """交付事由 (rules.md). The first seven come from a bulk run, the last two from applications."""

    UNREGISTERED = "未登録", "未登録"
    STATUS_UNKNOWN = "登録状況不明", "登録状況不明"
    DEREGISTERED = "登録解除", "登録解除"
    CARD_RETURNED = "カード返納", "カード返納"
    EC_EXPIRED = "電子証明書失効", "電子証明書失効"
    CONSIDERATION = "要配慮者", "要配慮者"
    RENEWAL = "更新", "更新"
    REISSUE_LOSS = "再交付(滅失・き損)", "再交付(滅失・き損)"
    REISSUE_CHANGE = "再交付(記載事項変更)", "再交付(記載事項変更)"


class Route(models.TextChoices):
    """送付先 / 返却先."""

    EMPLOYER = "事業主経由", "事業主経由"
    HOME = "自宅", "自宅"


class CopayRatio(models.TextChoices):
    TWO = "2割", "2割"
    THREE = "3割", "3割"


class CertificateState(models.TextChoices):
    ACTIVE = "有効", "有効"
    RETURN_PENDING = "返却待ち", "返却待ち"
    RETURNED = "返却済", "返却済"
    NO_RETURN = "返却不要", "返却不要"
    VOID = "無効", "無効"


# States of a certificate (or a 高齢受給者証) that no longer covers any day, whatever its dates.
NOT_COVERING = (CertificateState.VOID, CertificateState.RETURNED)


class RunState(models.TextChoices):
    CREATED = "作成", "作成"
    APPROVED = "承認", "承認"
    RUNNING = "実行中", "実行中"
    DONE = "完了", "完了"  # every target holds a certificate and its printed page
    # Issued, every PDF stored, but some certificates were left out of printing (a character no
    # font covers): the run lists who and what to do (documents.services._run_complete_if_done).
    PRINT_INCOMPLETE = "印刷未了", "印刷未了(未印刷の資格確認書あり)"
    FAILED = "失敗", "失敗"


class IssuanceRun(models.Model):
    """一括職権交付: a frozen target list, approved by a second person, then executed once."""

    status_date = models.DateField("基準日(登録状況)")
    issue_date = models.DateField("交付年月日")
    valid_until = models.DateField("有効期限(一律)")
    state = models.CharField(
        "状態", max_length=4, choices=RunState.choices, default=RunState.CREATED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="作成者", on_delete=models.PROTECT, related_name="+"
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
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="実行者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = models.DateTimeField("実行開始", null=True, blank=True)
    # Set once every target holds its certificate (before the PDFs are rendered): a resumed or
    # concurrent execute sees it and records "run.executed" only once.
    issued_at = models.DateTimeField("交付完了日時", null=True, blank=True)
    finished_at = models.DateTimeField("完了日時", null=True, blank=True)
    target_count = models.PositiveIntegerField("対象者数", default=0)
    issued_count = models.PositiveIntegerField("交付数", default=0)
    # Targets no longer qualified on the issue date when their batch was issued (rules.md:
    # execution re-checks rule 1; the reason is kept on the target).
    skipped_count = models.PositiveIntegerField("交付見送り数", default=0)
    # The high-water mark of executing: every target with a pk up to it holds its certificate, none
    # above it does (certificates.services._run_issue_batch commits both together, in target order).
    issued_through = models.BigIntegerField("交付済みの対象者(内部)", default=0, editable=False)
    # Frozen at creation: counts by 交付事由, by 事業所 and by 送付先; differences from the previous run.
    summary = models.JSONField("集計", default=dict, blank=True)
    error = models.TextField("エラー", blank=True)
    created_at = models.DateTimeField("作成日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    history = HistoricalRecords(
        verbose_name="一括交付の変更履歴", verbose_name_plural="一括交付の変更履歴"
    )

    class Meta:
        verbose_name = "一括職権交付"
        verbose_name_plural = "一括職権交付"
        ordering = ["-id"]
        permissions = [
            ("approve_issuancerun", "一括交付を承認できる"),
            ("execute_issuancerun", "一括交付を実行できる"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("issue_date")),
                name="issuancerun_expiry_after_issue",
            ),
            # A second person approves: never the one who prepared the run.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("created_by")),
                name="issuancerun_approver_not_creator",
            ),
            models.CheckConstraint(
                condition=Q(state__in=RunState.values), name="issuancerun_state_valid"
            ),
            # Past 作成 only through run_approve (issue 12): no path can write 承認 or a later state
            # without the approver and the moment of approval (a history screen, a stray update()).
            models.CheckConstraint(
                condition=Q(state=RunState.CREATED)
                | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="issuancerun_approved_state_needs_approval",
            ),
        ]

    def __str__(self) -> str:
        return f"一括交付 #{self.pk} ({self.issue_date} {self.get_state_display()})"

    def save(self, *args, **kwargs):
        # The same rule as issuancerun_approved_state_needs_approval, with a message (the database
        # check stays the guard for update() and raw SQL).
        if self.state != RunState.CREATED and (
            self.approved_by_id is None or self.approved_at is None
        ):
            raise ValidationError(
                f"一括交付 #{self.pk} を「{self.state}」にできません: 承認者・承認日時がありません"
                "(状態は承認・実行の操作でのみ変わります)"
            )
        if self.approved_by_id is not None and self.approved_by_id == self.created_by_id:
            raise ValidationError(f"一括交付 #{self.pk} は作成者が承認できません")
        super().save(*args, **kwargs)


class RunTarget(models.Model):
    """One line of a run's frozen target list (the preview the approver sees)."""

    run = models.ForeignKey(
        IssuanceRun,
        verbose_name="一括交付",
        on_delete=models.CASCADE,
        related_name="targets",
        db_index=False,  # runtarget_run_order leads with the run
    )
    person = models.ForeignKey(
        Person, verbose_name="加入者", on_delete=models.PROTECT, related_name="run_targets"
    )
    # The household's 被保険者 (the person themselves for a 本人): letters are per household.
    household = models.ForeignKey(
        Person, verbose_name="世帯(被保険者)", on_delete=models.PROTECT, related_name="+"
    )
    employer = models.ForeignKey(
        Employer,
        verbose_name="事業所",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField("交付事由", max_length=16, choices=IssueReason.choices)
    valid_until = models.DateField("有効期限")
    route = models.CharField("送付先", max_length=8, choices=Route.choices)
    elderly_start = models.DateField("高齢受給者証発効日", null=True, blank=True)
    copay_ratio = models.CharField(
        "一部負担金割合", max_length=2, choices=CopayRatio.choices, blank=True
    )
    # The status the letter's checklist is marked from (empty: no status on file).
    registration_status = models.CharField(
        "登録状況", max_length=8, choices=RegistrationStatusValue.choices, blank=True
    )
    ec_expiry = models.DateField("電子証明書有効期限", null=True, blank=True)
    replaces = models.ForeignKey(
        "Certificate",
        verbose_name="更新前の資格確認書",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Set when executing finds the target no longer qualified on the issue date (a loss recorded
    # after the list was frozen): the rule of certificates.rules.QUALIFICATION_CHECKS that failed.
    # A database default, as the list is frozen by INSERT … SELECT.
    skip_reason = models.CharField(
        "交付見送りの理由", max_length=32, blank=True, default="", db_default=""
    )

    class Meta:
        verbose_name = "交付対象者"
        verbose_name_plural = "交付対象者"
        ordering = ["run", "employer", "household", "person"]
        constraints = [
            models.UniqueConstraint(fields=["run", "person"], name="runtarget_run_person_unique")
        ]
        indexes = [
            # documents are grouped per 事業所 bundle, then household
            models.Index(fields=["run", "route", "employer", "household"], name="runtarget_bundle"),
            # executing walks a run's targets in pk order from its high-water mark: an index range
            # scan whatever the table's statistics say (issue 8)
            models.Index(fields=["run", "id"], name="runtarget_run_order"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.person_id} {self.reason}"


# Stored states that turn into 返却不要 when the 有効期限 has passed (Certificate.effective_state).
_LAPSE_ON_EXPIRY = (CertificateState.ACTIVE, CertificateState.RETURN_PENDING)


class CertificateQuerySet(models.QuerySet):
    def in_effective_state(self, state: str, today=None) -> "CertificateQuerySet":
        """Filter by the state as of today: the SQL twin of Certificate.effective_state."""
        today = today or timezone.localdate()
        if state == CertificateState.NO_RETURN:
            lapsed = Q(state__in=_LAPSE_ON_EXPIRY, valid_until__lt=today)
            return self.filter(Q(state=CertificateState.NO_RETURN) | lapsed)
        if state in _LAPSE_ON_EXPIRY:
            return self.filter(state=state, valid_until__gte=today)
        return self.filter(state=state)


class Certificate(models.Model):
    """資格確認書."""

    number = models.CharField("証明書番号", max_length=16, unique=True)
    person = models.ForeignKey(
        Person, verbose_name="加入者", on_delete=models.PROTECT, related_name="certificates"
    )
    run = models.ForeignKey(
        IssuanceRun,
        verbose_name="一括交付",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="certificates",
    )
    reason = models.CharField("交付事由", max_length=16, choices=IssueReason.choices)
    issue_date = models.DateField("交付年月日")
    valid_until = models.DateField("有効期限")
    # The last day it covers when its cover ended before its 有効期限: the day before its successor's
    # 交付年月日 (a renewal, a reissue) or before the 資格喪失年月日 (certificates.constraints; kept by
    # the issuing writer and certificates_require_return_for). Empty: it covers until its 有効期限.
    covers_until = models.DateField(
        "対象の最終日(置換・資格喪失)", null=True, blank=True, editable=False
    )
    route = models.CharField("送付先", max_length=8, choices=Route.choices)
    elderly_start = models.DateField("高齢受給者証発効日", null=True, blank=True)
    copay_ratio = models.CharField(
        "一部負担金割合", max_length=2, choices=CopayRatio.choices, blank=True
    )
    # Snapshot of the printed details, so a later name change does not rewrite history.
    printed_name = models.CharField("印字氏名", max_length=100)
    printed_name_kana = models.CharField("印字氏名カナ", max_length=100)
    registration_status = models.CharField(
        "登録状況(交付時)", max_length=8, choices=RegistrationStatusValue.choices, blank=True
    )
    ec_expiry = models.DateField("電子証明書有効期限(交付時)", null=True, blank=True)
    # Stored state; effective_state() derives the state as of today (an expired one is 返却不要).
    state = models.CharField(
        "状態", max_length=4, choices=CertificateState.choices, default=CertificateState.ACTIVE
    )
    state_changed_at = models.DateTimeField("状態変更日時", default=timezone.now)
    state_note = models.CharField("状態の理由", max_length=200, blank=True)
    return_due = models.DateField("返却期限", null=True, blank=True)
    return_route = models.CharField(
        "返却経路",
        max_length=8,
        choices=Route.choices,
        blank=True,
        help_text="事業主経由: 事業所経由で返却 / 自宅: 組合へ直接返却",
    )
    returned_on = models.DateField("返却日", null=True, blank=True)
    held_since = models.DateField(
        "送付保留日", null=True, blank=True, help_text="宛所不明で返戻され、住所訂正待ち。"
    )
    replaces = models.ForeignKey(
        "self",
        verbose_name="前の資格確認書",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
    )
    created_at = models.DateTimeField("作成日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    # The history is read by the certificate's id, date and user only (the 変更履歴 list and a
    # record's diff): the certificate's own indexes on 証明書番号, person, run and replaces are not
    # copied to it, where each would cost every issued and retired certificate an index entry.
    history = HistoricalRecords(
        verbose_name="資格確認書の変更履歴",
        verbose_name_plural="資格確認書の変更履歴",
        no_db_index=["number", "person", "run", "replaces"],
    )
    objects = CertificateQuerySet.as_manager()

    class Meta:
        verbose_name = "資格確認書"
        verbose_name_plural = "資格確認書"
        ordering = ["-id"]
        constraints = [
            # A person never holds two active certificates (rules.md). Enforced by the database so
            # that concurrent executes and reissues cannot both win.
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(state=CertificateState.ACTIVE),
                name="certificate_one_active_per_person",
            ),
            # A run issues at most one certificate per person, however often it is executed.
            models.UniqueConstraint(
                fields=["run", "person"],
                condition=Q(run__isnull=False),
                name="certificate_run_person_unique",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("issue_date")),
                name="certificate_expiry_after_issue",
            ),
            models.CheckConstraint(
                condition=Q(state__in=CertificateState.values), name="certificate_state_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state=CertificateState.RETURN_PENDING) | Q(return_due__isnull=False),
                name="certificate_return_pending_has_due",
            ),
            # A person never holds two certificates covering the same day (rules.md), except the
            # moment one replaces another: the replaced one's cover then ends the day before.
            # PostgreSQL: an exclusion constraint; SQLite: triggers (certificates.constraints).
            NoOverlapConstraint(name="certificate_no_overlapping_cover", states=NOT_COVERING),
            models.CheckConstraint(
                condition=Q(covers_until__isnull=True)
                | Q(covers_until__lt=models.F("valid_until")),
                name="certificate_cover_ends_early_only",
            ),
        ]
        indexes = [
            # overdue list: 返却待ち ordered by due date
            models.Index(fields=["state", "return_due"], name="certificate_state_due"),
            # expiry sweep and the selector's "valid on the issue date"
            models.Index(fields=["state", "valid_until"], name="certificate_state_valid_until"),
            # the admin's 氏名 search by prefix, as printed (certificates.admin.certificate_search_q)
            models.Index(
                fields=["printed_name"],
                name="certificate_printed_name",
                opclasses=["varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.printed_name}"

    def effective_state(self, today=None) -> str:
        """State as of today: a certificate past its 有効期限 is never 有効, and one awaiting return
        needs none once expired (notice: 有効期間を過ぎた資格確認書は返却不要) — both are 返却不要."""
        today = today or timezone.localdate()
        if self.state in _LAPSE_ON_EXPIRY and self.valid_until < today:
            return CertificateState.NO_RETURN
        return self.state


# --- the certificate's life after issue: returns, 返却督促, 宛所不明 ----------------------------------
# Moved from the fees app (issue 13, app boundaries); their tables keep the names they were created
# with (db_table), so no data moved (migrations certificates 0009_s13 / fees 0005_s13).


class ReturnReminder(models.Model):
    """A certificate included in a 返却督促 letter (one row per certificate and letter)."""

    certificate = models.ForeignKey(
        Certificate,
        verbose_name="資格確認書",
        on_delete=models.PROTECT,
        related_name="return_reminders",
    )
    document = models.ForeignKey(
        "documents.GeneratedDocument",
        verbose_name="督促状",
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="作成者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("作成日時", auto_now_add=True)

    class Meta:
        db_table = "fees_returnreminder"
        verbose_name = "返却督促"
        verbose_name_plural = "返却督促"
        ordering = ["-id"]
        indexes = [
            # the overdue list shows the count and date of the last reminder per certificate
            models.Index(fields=["certificate", "created_at"], name="returnreminder_cert"),
        ]

    def __str__(self) -> str:
        return f"{self.certificate_id} {timezone.localtime(self.created_at):%Y-%m-%d}"


class ReturnedMail(models.Model):
    """宛所不明の返戻: one envelope the post brought back, and how it was resolved (address corrected and
    sent again). The certificate's held_since / the addressee's address_unknown_since carry the
    current state; this row keeps the record and the resend's documents for the clerk to print."""

    certificate = models.ForeignKey(
        Certificate,
        verbose_name="資格確認書",
        on_delete=models.PROTECT,
        related_name="returned_mails",
    )
    returned_on = models.DateField("返戻日")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="登録者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    resolved_at = models.DateTimeField("住所訂正日時", null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="住所訂正者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The new letter and certificates sent to the corrected address (kind 再印刷); empty when the
    # certificate was no longer valid by then.
    document = models.ForeignKey(
        "documents.GeneratedDocument",
        verbose_name="再送帳票",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("登録日時", auto_now_add=True)

    class Meta:
        db_table = "fees_returnedmail"
        verbose_name = "返戻記録"
        verbose_name_plural = "返戻記録(宛所不明・再送)"
        ordering = ["-returned_on", "-id"]
        constraints = [
            # one open (unresolved) return per certificate: it is held until the address is fixed
            models.UniqueConstraint(
                fields=["certificate"],
                condition=Q(resolved_at__isnull=True),
                name="returnedmail_one_open_per_certificate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.certificate_id} {self.returned_on}"


class ReturnPendingCertificate(Certificate):
    """返却管理: certificates to be returned after 資格喪失 (admin screen only)."""

    class Meta:
        proxy = True
        verbose_name = "返却管理"
        verbose_name_plural = "返却管理(返却待ち・期限超過)"


class HeldCertificate(Certificate):
    """送付保留: certificates whose envelope came back 宛所不明, held until the address is corrected."""

    class Meta:
        proxy = True
        verbose_name = "送付保留"
        verbose_name_plural = "送付保留(宛所不明の返戻)"
