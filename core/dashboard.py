"""本日の業務: the admin's home page counts, each linking to the filtered list where the work is, for
the roles that act on it; and the return recovery rate (certificates returned within 5 days and
within 30 days of the loss of qualification, per month of the loss), also as a CSV for auditors.

Every count is one indexed COUNT; the recovery rate is one GROUP BY over the certificates asked back
in the last 12 months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, F, Q
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone

from certificates.lifecycle import RETURN_DAYS

RECOVERY_DAYS_SHORT = RETURN_DAYS  # the notice: 資格喪失後5日以内に返却 (its one home)
RECOVERY_DAYS_MONTH = 30  # "within a month" counted as 30 days after the loss


@dataclass
class Item:
    label: str
    count: int
    url: str
    attention: bool = False


def _url(name: str, query: str = "") -> str:
    return reverse(name) + (f"?{query}" if query else "")


def today_items(user, *, today: date | None = None) -> list[Item]:
    """What each role may act on today (a user sees only the lists they may open)."""
    from certificates.models import IssuanceRun, RunState
    from certificates.returns import certificates_held, returns_overdue
    from documents.models import DocumentState, GeneratedDocument
    from fees.models import ApplicationState, InvoiceState, ReissueApplication
    from fees.selectors import applications_ready_to_issue

    today = today or timezone.localdate()
    items: list[Item] = []
    if user.has_perm("certificates.view_issuancerun"):
        # (label, the runs' state, the right needed to act on them besides viewing)
        run_queues = (
            ("承認待ちの一括交付", RunState.CREATED, "certificates.approve_issuancerun"),
            ("実行待ちの一括交付", RunState.APPROVED, "certificates.execute_issuancerun"),
            ("印刷未了の一括交付", RunState.PRINT_INCOMPLETE, None),
            ("失敗した一括交付", RunState.FAILED, None),
        )
        for label, state, right in run_queues:
            if right and not user.has_perm(right):
                continue
            runs = IssuanceRun.objects.filter(state=state)
            if state == RunState.CREATED:  # four eyes: nobody approves their own run
                runs = runs.exclude(created_by=user)
            url = _url("admin:certificates_issuancerun_changelist", f"state__exact={state}")
            items.append(Item(label, runs.count(), url, attention=True))
    if user.has_perm("elderly.view_elderlybatch"):
        # The 高齢受給者証 the nightly job listed (its day's events), awaiting a second person.
        from elderly.models import BatchState, ElderlyEvent

        items.append(
            Item(
                "承認待ちの高齢受給者証",
                ElderlyEvent.objects.filter(batch__state=BatchState.PREPARED).count(),
                _url(
                    "admin:elderly_elderlybatch_changelist",
                    f"state__exact={BatchState.PREPARED}",
                ),
                attention=True,
            )
        )
    if user.has_perm("documents.view_generateddocument"):
        items.append(
            Item(
                "作成に失敗した帳票",
                GeneratedDocument.objects.filter(state=DocumentState.FAILED).count(),
                _url(
                    "admin:documents_generateddocument_changelist",
                    f"state__exact={DocumentState.FAILED}",
                ),
                attention=True,
            )
        )
        items.append(
            Item(
                "印刷除外がある帳票",
                GeneratedDocument.objects.exclude(skipped=[]).count(),
                _url("admin:documents_generateddocument_changelist", "skipped=yes"),
                attention=True,
            )
        )
    if user.has_perm("fees.view_reissueapplication"):
        items.append(
            Item(
                "入金待ちの再交付申請",
                ReissueApplication.objects.filter(
                    state=ApplicationState.OPEN, invoice__state=InvoiceState.UNPAID
                ).count(),
                _url("admin:fees_reissueapplication_changelist", "ready=unpaid"),
            )
        )
        items.append(
            Item(
                "交付待ち(入金済・免除)",
                applications_ready_to_issue().count(),
                _url("admin:fees_reissueapplication_changelist", "ready=1"),
                attention=True,
            )
        )
    if user.has_perm("certificates.view_returnpendingcertificate"):
        overdue = returns_overdue(today=today)
        items.append(
            Item(
                "返却期限超過",
                overdue.count(),
                _url("admin:certificates_returnpendingcertificate_changelist", "status=overdue"),
                attention=True,
            )
        )
        items.append(
            Item(
                "督促状がまだの期限超過",
                overdue.filter(return_reminders__isnull=True).count(),
                _url("admin:certificates_returnpendingcertificate_changelist", "status=overdue"),
            )
        )
    if user.has_perm("certificates.view_heldcertificate"):
        items.append(
            Item(
                "宛所不明で再送待ち",
                certificates_held().count(),
                _url("admin:certificates_heldcertificate_changelist"),
                attention=True,
            )
        )
    return items


@dataclass
class RecoveryMonth:
    month: date
    asked: int
    within_short: int
    within_month: int

    @property
    def short_rate(self) -> float | None:
        return self.within_short / self.asked * 100 if self.asked else None

    @property
    def month_rate(self) -> float | None:
        return self.within_month / self.asked * 100 if self.asked else None


def recovery_rates(*, today: date | None = None, months: int = 12) -> list[RecoveryMonth]:
    """Per month of the loss of qualification (資格喪失年月日), of the certificates that were asked back
    because of it (返却期限 set, issued before the loss): how many came back within 5 days and within
    30 days of the loss. Newest month first."""
    from certificates.models import Certificate

    today = today or timezone.localdate()
    since = (today.replace(day=1) - timedelta(days=31 * (months - 1))).replace(day=1)
    rows = (
        Certificate.objects.filter(
            return_due__isnull=False,
            person__lost_on__isnull=False,
            person__lost_on__gte=since,
            issue_date__lte=F("person__lost_on"),
        )
        .annotate(month=TruncMonth("person__lost_on"))
        .values("month")
        .annotate(
            asked=Count("pk"),
            short=Count(
                "pk",
                filter=Q(
                    returned_on__isnull=False,
                    returned_on__lte=F("person__lost_on") + timedelta(days=RECOVERY_DAYS_SHORT),
                ),
            ),
            month_n=Count(
                "pk",
                filter=Q(
                    returned_on__isnull=False,
                    returned_on__lte=F("person__lost_on") + timedelta(days=RECOVERY_DAYS_MONTH),
                ),
            ),
        )
        .order_by("-month")
    )
    out = []
    for r in rows:
        month = r["month"]
        if hasattr(month, "date"):
            month = month.date()
        out.append(RecoveryMonth(month, r["asked"], r["short"], r["month_n"]))
    return out


RECOVERY_CSV_HEADER = (
    "喪失月",
    "返却依頼数",
    f"{RECOVERY_DAYS_SHORT}日以内の返却数",
    f"{RECOVERY_DAYS_SHORT}日以内の回収率(%)",
    f"{RECOVERY_DAYS_MONTH}日以内の返却数",
    f"{RECOVERY_DAYS_MONTH}日以内の回収率(%)",
)


def recovery_csv_rows(rates: list[RecoveryMonth]):
    for r in rates:
        yield [
            r.month.strftime("%Y-%m"),
            r.asked,
            r.within_short,
            "" if r.short_rate is None else f"{r.short_rate:.2f}",
            r.within_month,
            "" if r.month_rate is None else f"{r.month_rate:.2f}",
        ]
