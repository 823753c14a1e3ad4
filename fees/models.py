"""Fees: reissue applications (記載事項変更, 滅失・き損), the reissue fee, its invoices and bank-transfer
imports. The certificate's own life after issue (returns, 返却督促, 宛所不明) is in certificates.models.

Rules: rules.md "After issue"; the seed notice (返却は5日以内, 手数料1,000円, 振込確認後の交付).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from certificates.models import Certificate


def _local(moment):
    """Titles show Japan time, as every screen (TIME_ZONE), not the stored UTC."""
    from django.utils import timezone

    return timezone.localtime(moment) if moment else timezone.localtime()


class ReissueKind(models.TextChoices):
    CHANGE = "記載事項変更", "記載事項変更(資格確認書交付申請書)"
    LOSS = "滅失・き損", "滅失・き損(資格確認書(再)交付申請書)"


class ApplicationRoute(models.TextChoices):
    """How the form reached the society: via the employer, or directly (任意継続 households)."""

    EMPLOYER = "事業主経由", "事業主経由"
    DIRECT = "直接", "直接(任意継続)"


class ApplicationState(models.TextChoices):
    # Open: a loss application waiting for its fee (or, after payment, for the clerk to issue).
    OPEN = "受付", "受付(交付前)"
    ISSUED = "交付済", "交付済"
    # A loss report without a reissue (not wanted, or the holder is no longer qualified): the old
    # certificate is 無効 and nothing else happens.
    CLOSED = "完了", "完了(再交付なし)"
    CANCELLED = "取消", "取消"


class ReissueApplication(models.Model):
    """資格確認書交付申請書 (記載事項変更) or 資格確認書(再)交付申請書・滅失届 (滅失・き損)."""

    kind = models.CharField("申請種別", max_length=8, choices=ReissueKind.choices)
    route = models.CharField("届出経路", max_length=8, choices=ApplicationRoute.choices)
    received_on = models.DateField("受付日")
    certificate = models.ForeignKey(
        Certificate,
        verbose_name="対象の資格確認書",
        on_delete=models.PROTECT,
        related_name="reissue_applications",
    )
    reissue_requested = models.BooleanField(
        "再交付を希望",
        default=True,
        help_text="滅失・き損で再交付を希望しない場合は外す(無効化のみ)。",
    )
    # 記載事項変更: the new printed details (empty: the registry already holds them).
    new_name = models.CharField("新しい氏名", max_length=100, blank=True)
    new_name_kana = models.CharField("新しい氏名カナ", max_length=100, blank=True)
    note = models.TextField("備考", blank=True, help_text="警察への届出、き損の状況など。")
    state = models.CharField(
        "状態", max_length=4, choices=ApplicationState.choices, default=ApplicationState.OPEN
    )
    # The certificate this application produced. One-to-one: an application never issues twice,
    # even when the clerk clicks twice or two workers race (the database refuses the second).
    new_certificate = models.OneToOneField(
        Certificate,
        verbose_name="再交付した資格確認書",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reissue_application",
    )
    # The new certificate's 資格確認書 + 送付状 (kind 再交付).
    document = models.ForeignKey(
        "documents.GeneratedDocument",
        verbose_name="交付帳票",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    issued_at = models.DateTimeField("交付日時", null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="交付処理者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cancelled_at = models.DateTimeField("取消日時", null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="取消者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cancel_reason = models.CharField("取消理由", max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="受付者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("登録日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    history = HistoricalRecords(
        verbose_name="再交付申請の変更履歴", verbose_name_plural="再交付申請の変更履歴"
    )

    class Meta:
        verbose_name = "再交付申請"
        verbose_name_plural = "再交付申請(記載事項変更・滅失・き損)"
        ordering = ["-received_on", "-id"]
        constraints = [
            # A double submission never opens a second application for the same certificate.
            models.UniqueConstraint(
                fields=["certificate"],
                condition=Q(state="受付"),
                name="reissueapplication_one_open_per_certificate",
            ),
            # Nor a second (non-cancelled) one of the same kind, once the first has been processed.
            models.UniqueConstraint(
                fields=["certificate", "kind"],
                condition=~Q(state="取消"),
                name="reissueapplication_one_per_certificate_kind",
            ),
            models.CheckConstraint(
                condition=~Q(state="交付済") | Q(new_certificate__isnull=False),
                name="reissueapplication_issued_has_certificate",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ReissueKind.values), name="reissueapplication_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(state__in=ApplicationState.values),
                name="reissueapplication_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(route__in=ApplicationRoute.values),
                name="reissueapplication_route_valid",
            ),
        ]
        indexes = [
            # the clerks' worklist: open applications by kind, oldest first
            models.Index(fields=["state", "kind", "received_on"], name="reissueapp_state_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.certificate.number})"


class InvoiceState(models.TextChoices):
    UNPAID = "未入金", "未入金"
    PAID = "入金済", "入金済"
    WAIVED = "免除", "免除"
    CANCELLED = "取消", "取消"


class PaymentSource(models.TextChoices):
    CLERK = "窓口確認", "担当者による確認"
    TRANSFER_IMPORT = "振込データ取込", "振込データ取込"


class PaymentImport(models.Model):
    """One bank-transfer file import. Matching rows are applied; the rest are listed here, never applied."""

    source_name = models.CharField("ファイル名", max_length=255)
    sha256 = models.CharField("SHA-256", max_length=64)
    row_count = models.PositiveIntegerField("行数", default=0)
    applied_count = models.PositiveIntegerField("入金反映", default=0)
    rejected_count = models.PositiveIntegerField("不一致(未反映)", default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="取込者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("取込日時", auto_now_add=True)

    class Meta:
        verbose_name = "振込データ取込"
        verbose_name_plural = "振込データ取込(入金消込)"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.source_name} ({_local(self.created_at):%Y-%m-%d %H:%M})"

    def applied_rows(self):
        return self.rows.filter(applied=True)

    def rejected_rows(self):
        return self.rows.filter(applied=False)


class PaymentImportRow(models.Model):
    """One row of an imported file as it was settled: applied (its invoice 入金済), or listed with
    the reason it was not, for the clerk to settle by hand. The rows are written a chunk at a time,
    so a file of any size is imported in flat memory."""

    payment_import = models.ForeignKey(
        PaymentImport, verbose_name="振込データ取込", on_delete=models.CASCADE, related_name="rows"
    )
    row = models.PositiveIntegerField("行")
    number = models.CharField("請求書番号", max_length=16)
    amount = models.BigIntegerField("入金額")
    paid_on = models.DateField("入金日")
    applied = models.BooleanField("反映")
    reason = models.CharField("理由(未反映)", max_length=200, blank=True)

    class Meta:
        verbose_name = "振込データの行"
        verbose_name_plural = "振込データの行"
        ordering = ["payment_import", "row"]
        constraints = [
            models.UniqueConstraint(
                fields=["payment_import", "row"], name="paymentimportrow_one_per_line"
            ),
            models.CheckConstraint(
                condition=Q(applied=True, reason="") | Q(applied=False) & ~Q(reason=""),
                name="paymentimportrow_reason_iff_listed",
            ),
        ]
        indexes = [
            models.Index(
                fields=["payment_import", "applied", "row"], name="paymentimportrow_listed"
            )
        ]

    def __str__(self) -> str:
        return f"{self.row}行目 {self.number}"


class Invoice(models.Model):
    """請求書 for the 滅失・き損 reissue fee. Numbered "YYYY-NNNNNN" per 年度, without gaps."""

    number = models.CharField("請求書番号", max_length=16, unique=True)
    fiscal_year = models.PositiveIntegerField("年度")
    # One invoice per application: a second submission can never bill twice.
    application = models.OneToOneField(
        ReissueApplication,
        verbose_name="再交付申請",
        on_delete=models.PROTECT,
        related_name="invoice",
    )
    amount = models.PositiveIntegerField("請求金額(円)")
    issued_on = models.DateField("請求日")
    state = models.CharField(
        "状態", max_length=4, choices=InvoiceState.choices, default=InvoiceState.UNPAID
    )
    paid_on = models.DateField("入金日", null=True, blank=True)
    paid_amount = models.PositiveIntegerField("入金額(円)", null=True, blank=True)
    payment_source = models.CharField(
        "入金確認方法", max_length=8, choices=PaymentSource.choices, blank=True
    )
    payment_import = models.ForeignKey(
        PaymentImport,
        verbose_name="振込データ取込",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    # The 請求書 PDF (kind 請求書).
    document = models.ForeignKey(
        "documents.GeneratedDocument",
        verbose_name="請求書PDF",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    waive_reason = models.CharField("免除理由", max_length=200, blank=True)
    cancel_reason = models.CharField("取消理由", max_length=200, blank=True)
    # Who made the last state change and when (the full trail is in the history and the audit events).
    state_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="状態変更者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    state_changed_at = models.DateTimeField("状態変更日時", null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="作成者",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("作成日時", auto_now_add=True)
    updated_at = models.DateTimeField("更新日時", auto_now=True)

    history = HistoricalRecords(
        verbose_name="請求書の変更履歴", verbose_name_plural="請求書の変更履歴"
    )

    class Meta:
        verbose_name = "請求書"
        verbose_name_plural = "請求書(再交付手数料)"
        ordering = ["-id"]
        permissions = [("waive_invoice", "手数料を免除できる")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=InvoiceState.values), name="invoice_state_valid"
            ),
            # 入金済 only with the full amount received on a known date.
            models.CheckConstraint(
                condition=~Q(state="入金済")
                | Q(paid_on__isnull=False, paid_amount=models.F("amount")),
                name="invoice_paid_in_full",
            ),
            # A waiver always carries its reason.
            models.CheckConstraint(
                condition=~Q(state="免除") | ~Q(waive_reason=""), name="invoice_waiver_has_reason"
            ),
        ]
        indexes = [
            # the unpaid list, oldest first
            models.Index(fields=["state", "issued_on"], name="invoice_state_issued"),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.get_state_display()})"
